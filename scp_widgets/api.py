"""The public Python API: `lock`, `unlock`, `list_servers` (and their `a`-prefixed async twins).

The magics, the panel and scripts all come through here. The sync functions run the async engine on the
shared background loop thread, so they work in a script, a notebook cell, a widget callback or a thread;
Ctrl-C (a kernel interrupt) cancels the run and still returns every row.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import inspect
import logging
import time
import uuid
import warnings
from collections.abc import Callable, Coroutine, Mapping, Sequence
from dataclasses import dataclass, replace
from os import PathLike
from pathlib import Path
from typing import Any, ParamSpec, TypeVar, cast

import httpx
import pandas as pd

from scp_widgets.client.credentials import Secret, as_secret, resolve_credentials, wrap_secret
from scp_widgets.client.endpoints import resolve_endpoint
from scp_widgets.client.errors import ScpUsageError
from scp_widgets.client.ids import ids_from, normalise_id
from scp_widgets.client.loop_thread import background_loop, wait_for
from scp_widgets.client.retry import RetryBudget, RetryPolicy
from scp_widgets.client.scp_client import AsyncScpClient, ScpClient, precheck_version
from scp_widgets.client.versions import BUILTIN_CATALOG, ScpDeprecationWarning, VersionChoice, choose_version
from scp_widgets.engine.bulk import Action, CancelToken, ProgressCallback, run_bulk
from scp_widgets.engine.history import prune_quietly
from scp_widgets.engine.journal import Journal, JournalWarning, default_journal_dir
from scp_widgets.engine.results import ServerResult, count_not_sent, count_outcomes, summary_line, to_frame, utc_iso
from scp_widgets.engine.servers import servers_frame
from scp_widgets.engine.settings import JournalOption, RunOptions, optional_text, version_text
from scp_widgets.fleet import plan as fleet

logger = logging.getLogger(__name__)
T = TypeVar("T")


#: Connections beyond the workers' own, for the read-back's listings: with exactly `concurrency` connections the
#: workers, each asking again the moment it is done, kept the pool busy and a listing waited for every send to
#: finish, so no server was confirmed (nor journaled as final) until the last request had gone out.
READ_BACK_CONNECTIONS = 4


@dataclass(frozen=True)
class Connection:
    """Where and as whom: everything needed to build a client (None means: resolve as the client does).

    A `secret_key` given as a string is wrapped in `Secret` at once, so no frame or repr holds it in clear.
    """

    endpoint: str | None = None
    region: str | None = None
    environment: str | None = None
    access_key: str | None = None
    secret_key: str | Secret | None = None
    accept_language: str = "en-US"
    transport: httpx.AsyncBaseTransport | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "secret_key", as_secret(self.secret_key))
        for name in ("endpoint", "region", "environment", "access_key", "accept_language"):
            optional_text(name, getattr(self, name))

    def __repr__(self) -> str:  # the dataclass repr would show secret_key
        return f"Connection(endpoint={self.endpoint!r}, region={self.region!r}, environment={self.environment!r})"

    def resolved(self) -> Connection:
        """The endpoint and credentials looked up now (arguments, environment, ~/.scpconf) in the caller's
        thread, so a missing credential or endpoint is a `ScpUsageError` there, before any run starts."""
        endpoint = resolve_endpoint(self.endpoint, region=self.region, environment=self.environment)
        credentials = resolve_credentials(self.access_key, self.secret_key)
        return replace(
            self, endpoint=endpoint, region=None, environment=None,
            access_key=credentials.access_key, secret_key=credentials.secret_key,
        )  # fmt: skip

    def client(self, *, retries: int, timeout: float, concurrency: int) -> AsyncScpClient:
        return AsyncScpClient(
            endpoint=self.endpoint, region=self.region, environment=self.environment,
            access_key=self.access_key, secret_key=self.secret_key, accept_language=self.accept_language,
            transport=self.transport, retry=RetryPolicy(retries=retries),
            timeout=httpx.Timeout(timeout, connect=min(timeout, 5.0)),
            max_connections=max(concurrency, 10) + READ_BACK_CONNECTIONS,
        )  # fmt: skip


def plan_ids(ids: Any) -> tuple[list[str], int]:
    """Normalised ids in request order, each once, and how many duplicates were dropped."""
    raw = [normalise_id(i) for i in ids_from(ids)]
    unique = list(dict.fromkeys(i for i in raw if i))
    if not unique:
        raise ScpUsageError("No server ids given: pass one or more server ids (UUIDs).")
    return unique, len([i for i in raw if i]) - len(unique)


def _open_journal(option: JournalOption, header: dict[str, Any], *, fsync: bool) -> Journal | None:
    """Open, take and start the run's journal, or one usage error before anything is sent."""
    if option is False:
        return None
    if isinstance(option, str | PathLike):
        path = Path(option)
    else:
        folder = default_journal_dir()
        prune_quietly(folder)
        path = folder / f"{_stamp()}-{header['action']}-{header['run_id']}.jsonl"
    return Journal.open(path, header, fsync=fsync)


def _stamp() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")


async def arun(
    action: Action,
    ids: Any,
    options: RunOptions | None = None,
    *,
    connection: Connection | None = None,
    client: AsyncScpClient | ScpClient | None = None,
    progress: ProgressCallback | None = None,
    cancel: CancelToken | None = None,
) -> pd.DataFrame:
    """Run `action` on every id and return the result DataFrame (the engine under `lock` and `alock`)."""
    if action not in ("lock", "unlock"):
        raise ScpUsageError(f"action must be 'lock' or 'unlock', not {action!r}.")
    options = options or RunOptions()
    server_ids, duplicates = plan_ids(ids)

    owned = client is None
    if isinstance(client, ScpClient):
        client = client.aclient
    if client is None:
        client = (connection or Connection()).client(
            retries=options.retries, timeout=options.timeout, concurrency=options.concurrency
        )
    token = cancel or CancelToken()
    cancelled = token.bind(asyncio.get_running_loop())
    try:
        choice = await _version_unless_cancelled(client, options.api_version, cancelled)
        run_id = uuid.uuid4().hex[:12]
        started = time.time()
        header = {
            "run_id": run_id, "action": action, "api_version": choice.number, "endpoint": client.endpoint,
            "started_at": utc_iso(started), "dry_run": options.dry_run, "verify": options.verify,
            "preflight": options.preflight, "duplicates": duplicates, "warning": choice.warning, "ids": server_ids,
            "concurrency": options.concurrency, "retries": options.retries, "timeout": options.timeout,
        }  # fmt: skip
        journal_file = _open_journal(options.journal, header, fsync=options.journal_fsync)
        budget = RetryBudget()
        try:
            results: list[ServerResult] = await run_bulk(
                client, action, server_ids, options, version=choice,
                cancel=cancelled, journal=journal_file, progress=progress,
                budget=budget,
            )  # fmt: skip
            elapsed = time.time() - started
            counts = count_outcomes(r.outcome for r in results)
            not_sent = count_not_sent(r.error_code for r in results)
            footer = {
                "finished_at": utc_iso(time.time()), "elapsed_s": round(elapsed, 3), "counts": counts,
                "cancelled": token.cancelled, "not_sent": not_sent,
                "summary": summary_line(counts, elapsed, duplicates=duplicates, not_sent=not_sent),
                "retries": budget.spent, "retries_denied": budget.denied,
            }  # fmt: skip
            if journal_file is not None:
                journal_file.end(footer)
        finally:
            if journal_file is not None:
                journal_file.close()
        attrs = {k: v for k, v in header.items() if k != "ids"}
        attrs.update(footer, journal=str(journal_file.path) if journal_file else None, complete=True)
        if journal_file is not None and journal_file.error:  # the run is whole; only its record on disk is not
            attrs.update(journal_error=journal_file.error, summary=f"{attrs['summary']}; {journal_file.error}")
        return to_frame(results, attrs)
    finally:
        if owned:
            await client.aclose()


async def _version_unless_cancelled(
    client: AsyncScpClient, requested: str | None, cancelled: asyncio.Event
) -> VersionChoice:
    """The version to send. Asking the service (`GET /`) may wait seconds on a dead endpoint: a cancel or a
    Ctrl-C stops that wait, and the built-in table names the version (the run then sends nothing anyway)."""
    lookup = asyncio.ensure_future(client.resolve_version(requested, warn=False))
    stop = asyncio.ensure_future(cancelled.wait())
    await asyncio.wait({lookup, stop}, return_when=asyncio.FIRST_COMPLETED)
    stop.cancel()
    if lookup.done():
        return lookup.result()
    lookup.cancel()
    await asyncio.gather(lookup, return_exceptions=True)
    return choose_version(requested, BUILTIN_CATALOG, client.today)


def _warn_from(frame: pd.DataFrame, stacklevel: int) -> pd.DataFrame:
    """Show the run's deprecation warning in the caller's thread, at the user's line (`stacklevel` frames up)."""
    if frame.attrs.get("warning"):
        warnings.warn(str(frame.attrs["warning"]), ScpDeprecationWarning, stacklevel=stacklevel)
    if frame.attrs.get("journal_error"):
        warning = f"{frame.attrs['journal_error']}; the returned frame is complete."
        warnings.warn(warning, JournalWarning, stacklevel=stacklevel)
    return frame


def _blocking(coro: Coroutine[Any, Any, T], cancel: CancelToken) -> T:
    """Run on the background loop; a KeyboardInterrupt cancels the run and still waits for its rows."""
    future = background_loop().submit(coro)
    try:
        return wait_for(future)
    except KeyboardInterrupt:
        cancel.cancel()
        logger.info("interrupted: ending the requests in flight, marking the rest cancelled")
        return wait_for(future)


def _request(
    ids: Any,
    *,
    api_version: str | float | None = None,
    endpoint: str | None = None,
    region: str | None = None,
    environment: str | None = None,
    access_key: str | None = None,
    secret_key: str | Secret | None = None,
    concurrency: int = 16,
    retries: int = 3,
    timeout: float = 15.0,
    verify: bool = True,
    verify_timeout: float = 10.0,
    preflight: bool = False,
    dry_run: bool = False,
    journal: JournalOption = True,
    journal_fsync: bool = False,
    progress: ProgressCallback | None = None,
    cancel: CancelToken | None = None,
    client: AsyncScpClient | ScpClient | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
    accept_language: str = "en-US",
    where: str | None = None,
    regions: str | Sequence[str] | None = None,
    endpoints: Mapping[str, str] | None = None,
) -> _Request:
    """Returns one DataFrame row per requested server, whatever happened to it (see README: the result).

    ids: server ids (UUIDs): a string (commas, spaces or new lines between), any iterable, a pandas Series,
        Index or a DataFrame with an `id` or `server_id` column. Duplicates are sent once.
    api_version: the API version to send, e.g. "1.3" (default: the CURRENT one); a retired one is refused.
    endpoint: the service base URL (default: SCP_ENDPOINT); or `region` + `environment` (e.g. "kr-west1", "e").
    access_key, secret_key: default: SCP_ACCESS_KEY / SCP_SECRET_KEY, then ~/.scpconf/credentials.json.
    concurrency: requests in flight at once, 1 to 1000 (16).
    retries: retries of a retryable failure (429, 503, a timeout...), 0 to 20 (3).
    timeout: per-request timeout in seconds (15).
    verify: read the lock state back until it shows the change (True); verify_timeout: for how long (10 s).
    preflight: read the state first; servers already in the wanted state are not sent (False).
    dry_run: read the state and return `planned` rows; send nothing that changes a server (False).
    journal: True: a JSON Lines journal under the user state folder; a path; or False for none.
    journal_fsync: fsync every journal line, for power loss, not only a killed process (False).
    progress: called with a `Progress` as servers finish; cancel: a `CancelToken` to stop sending.
    client: an `ScpClient` / `AsyncScpClient` to reuse (then the connection options are not used).
    transport: an httpx transport (tests, the in-process emulator); accept_language: "en-US".
    regions: several regions at once, e.g. ["kr-west1", "kr-east1"]: each id goes to the region whose listing
        holds it (an id in none is `not_found`, never sent); the frame gains `name` and `region` columns.
    endpoints: {region: URL} (default: SCP_ENDPOINTS, then each region's official host in `environment`).
    where: a rule instead of ids, a pandas DataFrame.query over `list_servers`, e.g. "state == 'ACTIVE'".

    A mistake in these arguments raises one `ScpUsageError` (a ValueError) before anything is sent.
    """
    connection = Connection(endpoint, region, environment, access_key, secret_key, accept_language, transport)
    plan = None  # fleet-wide (regions=, endpoints=, where=): the fleet module checks and routes
    if where is not None or regions is not None or endpoints is not None:
        plan = fleet.make_plan(connection, where=where, regions=regions, endpoints=endpoints, client=client, ids=ids)
    elif client is None:
        connection = connection.resolved()
    elif connection != Connection(accept_language=accept_language):
        raise ScpUsageError("client= already says where and as whom: drop the endpoint and key options, or client=.")
    options = RunOptions(
        api_version=version_text(api_version), concurrency=concurrency, retries=retries, timeout=timeout,
        verify=verify, verify_timeout=verify_timeout, preflight=preflight, dry_run=dry_run, journal=journal,
        journal_fsync=journal_fsync,
    )  # fmt: skip
    precheck_version(options.api_version, dt.date.today())
    if plan is None or plan.where is None:
        plan_ids(ids)  # "no ids" is a mistake of the call, found here rather than on the loop thread
    token = cancel or CancelToken()
    return _Request(ids, options, connection if client is None else None, client, progress, token, plan)


@dataclass(frozen=True)
class _Request:
    """One checked call of lock / unlock / alock / aunlock."""

    ids: Any
    options: RunOptions
    connection: Connection | None
    client: AsyncScpClient | ScpClient | None
    progress: ProgressCallback | None
    cancel: CancelToken
    plan: fleet.FleetPlan | None = None

    def run(self, action: Action) -> Coroutine[Any, Any, pd.DataFrame]:
        if self.plan is not None:
            return fleet.arun_fleet(
                action, self.ids, self.plan, self.options, progress=self.progress, cancel=self.cancel
            )
        return arun(
            action, self.ids, self.options, connection=self.connection, client=self.client,
            progress=self.progress, cancel=self.cancel,
        )  # fmt: skip


_OPTIONS = tuple(inspect.signature(_request).parameters)[1:]
P = ParamSpec("P")
R = TypeVar("R")


def _options_of(template: Callable[P, Any]) -> Callable[[Callable[..., R]], Callable[P, R]]:
    """Give a public function the template's spelled-out, typed keyword arguments and their documentation.

    One list of options for four functions: mypy checks calls against it (ParamSpec), and `inspect.signature`
    (Jupyter's signature help, `help()`) shows it instead of `**options`.
    """

    def apply(func: Callable[..., R]) -> Callable[P, R]:
        own = inspect.signature(func, eval_str=True)
        func.__signature__ = inspect.signature(template, eval_str=True).replace(  # type: ignore[attr-defined]
            return_annotation=own.return_annotation
        )
        func.__doc__ = f"{func.__doc__}\n\n{template.__doc__}"
        return cast(Callable[P, R], func)

    return apply


def _short(error: ScpUsageError) -> ScpUsageError:
    """The error without the frames below the public function (the loop thread, concurrent.futures...)."""
    return error.with_traceback(None)


def _prepare(name: str, ids: Any, options: dict[str, Any]) -> _Request:
    """Check a call's arguments, the secret wrapped first."""
    wrap_secret(options)
    unknown = [key for key in options if key not in _OPTIONS]
    if unknown:
        raise ScpUsageError(f"{name}() has no option {unknown[0]!r}; its options: {', '.join(_OPTIONS)}.")
    return _request(ids, **options)


def _sync(name: str, action: Action, ids: Any, options: dict[str, Any]) -> pd.DataFrame:
    try:
        request = _prepare(name, ids, options)
        return _warn_from(_blocking(request.run(action), request.cancel), stacklevel=4)
    except ScpUsageError as exc:  # one sentence from the caller's call, not 40 lines of loop-thread machinery
        raise _short(exc) from None


async def _async(name: str, action: Action, ids: Any, options: dict[str, Any]) -> pd.DataFrame:
    try:
        request = _prepare(name, ids, options)
        return _warn_from(await request.run(action), stacklevel=4)
    except ScpUsageError as exc:
        raise _short(exc) from None


@_options_of(_request)
def lock(ids: Any = None, **options: Any) -> pd.DataFrame:
    """Lock servers: `df = scp_widgets.lock(ids)`."""
    return _sync("lock", "lock", ids, options)


@_options_of(_request)
def unlock(ids: Any = None, **options: Any) -> pd.DataFrame:
    """Unlock servers: `df = scp_widgets.unlock(ids)`; the same options and result as `lock`."""
    return _sync("unlock", "unlock", ids, options)


@_options_of(_request)
async def alock(ids: Any = None, **options: Any) -> pd.DataFrame:
    """Async `lock`: `df = await scp_widgets.alock(ids)` (in a notebook cell or an async function)."""
    return await _async("alock", "lock", ids, options)


@_options_of(_request)
async def aunlock(ids: Any = None, **options: Any) -> pd.DataFrame:
    """Async `unlock`: `df = await scp_widgets.aunlock(ids)`."""
    return await _async("aunlock", "unlock", ids, options)


async def alist_servers(
    *,
    client: AsyncScpClient | ScpClient | None = None,
    api_version: str | None = None,
    page_size: int = 100,
    **options: Any,
) -> pd.DataFrame:
    """Async `list_servers`."""
    wrap_secret(options)
    try:
        frame = await _listing(client, api_version, page_size, options)
    except ScpUsageError as exc:
        raise _short(exc) from None
    return _warn_from(frame, stacklevel=3)


async def _listing(
    client: AsyncScpClient | ScpClient | None, api_version: str | None, page_size: int, options: dict[str, Any]
) -> pd.DataFrame:
    if fleet.wanted(options):  # regions=, endpoints= or where=: one frame over all of them
        return await fleet.alist_options(client, api_version, page_size, options)
    filters = {k: options.pop(k) for k in list(options) if k not in _CONNECTION_KEYS}
    if isinstance(filters.get("state"), str):  # SCP states are upper case; `state="active"` means ACTIVE
        filters["state"] = str(filters["state"]).upper()
    if isinstance(client, ScpClient):
        client = client.aclient
    owned = client is None
    if client is None:
        client = Connection(**options).client(retries=3, timeout=30.0, concurrency=4)
    try:
        choice = await client.resolve_version(version_text(api_version), warn=False)
        servers = await client.list_servers(page_size=page_size, version=choice, **filters)
    finally:
        if owned:
            await client.aclose()
    frame = servers_frame(servers)
    frame.attrs.update(endpoint=client.endpoint, api_version=choice.number, warning=choice.warning)
    return frame


def list_servers(
    *,
    client: AsyncScpClient | ScpClient | None = None,
    api_version: str | None = None,
    page_size: int = 100,
    **options: Any,
) -> pd.DataFrame:
    """The fleet as a DataFrame (id, name, state, locked, server_type, vcpus, ram, vpc_id, ip, created_at).

    Filters: `name` (part of the name), `state` (any case), `vpc_id`, `server_type_id`, `ip`, ...
    Connection options as for `lock`; `page_size` (100). `regions=[...]` (and `endpoints=`): one frame over
    several regions, with a `region` column; `where=`: only the rows a DataFrame.query rule keeps.
    """
    wrap_secret(options)
    try:
        frame = background_loop().run(_listing(client, api_version, page_size, options))
    except ScpUsageError as exc:
        raise _short(exc) from None
    return _warn_from(frame, stacklevel=3)  # here, in the caller's thread, where a notebook shows it


_CONNECTION_KEYS = frozenset(Connection.__dataclass_fields__)
