"""The public Python API: `lock`, `unlock`, `list_servers` (and their `a`-prefixed async twins).

The magics, the panel and scripts all come through here. The sync functions run the async engine on the
shared background loop thread, so they work in a script, a notebook cell, a widget callback or a thread;
Ctrl-C (a kernel interrupt) cancels the run and still returns every row.
"""

from __future__ import annotations

import datetime as dt
import importlib
import inspect
import logging
import threading
import warnings
from collections.abc import Callable, Coroutine, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar, cast

import httpx

from scp_widgets.client.credentials import Secret, wrap_secret
from scp_widgets.client.errors import ScpError, ScpUsageError
from scp_widgets.client.loop_thread import background_loop
from scp_widgets.client.scp_client import AsyncScpClient, ScpClient, precheck_version
from scp_widgets.client.versions import BUILTIN_CATALOG, ScpDeprecationWarning
from scp_widgets.engine import retention
from scp_widgets.engine.bulk import Action, ProgressCallback
from scp_widgets.engine.cancel import CancelToken
from scp_widgets.engine.connection import Connection
from scp_widgets.engine.journal import JournalWarning
from scp_widgets.engine.read_only import refuse_change
from scp_widgets.engine.results import to_frame
from scp_widgets.engine.runner import arun, plan_ids, run_blocking
from scp_widgets.engine.settings import JournalOption, RunOptions, check_unlock_confirmed, flag, version_text
from scp_widgets.engine.state_dirs import default_journal_dir

if TYPE_CHECKING:  # imported where used: a lock() of given ids sends before pandas is loaded (FRAME_IMPORTS)
    import pandas as pd

    from scp_widgets.fleet import plan as fleet

#: What the caller's thread imports while its blocking run sends: the frame needs pandas at the end (the package
#: adds its `frame.scp` accessor). A first call in a fresh process overlaps these imports with its requests.
FRAME_IMPORTS: list[str] = ["pandas"]

logger = logging.getLogger(__name__)
T = TypeVar("T")


def _warn_from(frame: pd.DataFrame, stacklevel: int) -> pd.DataFrame:
    """Show the run's deprecation warning in the caller's thread, at the user's line (`stacklevel` frames up)."""
    if frame.attrs.get("warning"):
        warnings.warn(str(frame.attrs["warning"]), ScpDeprecationWarning, stacklevel=stacklevel)
    if frame.attrs.get("journal_error"):
        warning = f"{frame.attrs['journal_error']}; the returned frame is complete."
        warnings.warn(warning, JournalWarning, stacklevel=stacklevel)
    return frame


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
    confirm: bool = False,
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
    confirm: an unlock of more than 25 servers (SCP_WIDGETS_CONFIRM_ABOVE) is refused unless True (False).
    where: a rule instead of ids over `list_servers`' columns, e.g. "state == 'ACTIVE' and not locked" (the
        rule language: README, Fleet-wide; it is data, never run as code).

    A mistake in these arguments raises one `ScpUsageError` (a ValueError) before anything is sent.
    """
    connection = Connection(endpoint, region, environment, access_key, secret_key, accept_language, transport)
    plan = None  # fleet-wide (regions=, endpoints=, where=): the fleet module checks and routes
    if where is not None or regions is not None or endpoints is not None:
        from scp_widgets.fleet import plan as fleet

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
    confirmed = flag("confirm", confirm) or options.dry_run
    return _Request(ids, options, connection if client is None else None, client, progress, token, plan, confirmed)


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
    confirmed: bool = False

    def run(self, action: Action, sending: threading.Event | None = None) -> Coroutine[Any, Any, pd.DataFrame]:
        """The run's coroutine; an unconfirmed unlock of many given ids is refused here, in the caller's thread
        (a rule's matches are counted after the listing, before anything is sent). `sending`: see `arun`."""
        unconfirmed = action == "unlock" and not self.confirmed
        if unconfirmed and (self.plan is None or self.plan.where is None):
            check_unlock_confirmed(len(plan_ids(self.ids)[0]), confirm=False)
        if self.plan is not None:
            from scp_widgets.fleet import plan as fleet

            return fleet.arun_fleet(
                action, self.ids, self.plan, self.options, progress=self.progress, cancel=self.cancel,
                confirmed=not unconfirmed,
            )  # fmt: skip
        return arun(
            action, self.ids, self.options, connection=self.connection, client=self.client,
            progress=self.progress, cancel=self.cancel, sending=sending,
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
        own = inspect.signature(func)  # its return annotation stays a string: pandas is not imported yet
        func.__signature__ = inspect.signature(template, eval_str=True).replace(  # type: ignore[attr-defined]
            return_annotation=own.return_annotation
        )
        func.__doc__ = f"{func.__doc__}\n\n{template.__doc__}"
        return cast(Callable[P, R], func)

    return apply


E = TypeVar("E", bound=BaseException)


def _short(error: E) -> E:
    """The error without the frames below the public function (the loop thread, concurrent.futures...)."""
    return error.with_traceback(None)


def _prepare(name: str, ids: Any, options: dict[str, Any]) -> _Request:
    """Check a call's arguments, the secret wrapped first."""
    refuse_change(f"{name}()")
    wrap_secret(options)
    unknown = [key for key in options if key not in _OPTIONS]
    if unknown:
        raise ScpUsageError(f"{name}() has no option {unknown[0]!r}; its options: {', '.join(_OPTIONS)}.")
    return _request(ids, **options)


def _sync(name: str, action: Action, ids: Any, options: dict[str, Any]) -> pd.DataFrame:
    try:
        request = _prepare(name, ids, options)
        # A fleet run lists (with pandas) before it sends: its caller's thread imports at once.
        sending = threading.Event() if request.plan is None else None
        coro = request.run(action, sending)
        frame = run_blocking(coro, request.cancel, meanwhile=_import_frame_modules, after=sending)
        return _warn_from(frame, stacklevel=4)
    except ScpUsageError as exc:  # one sentence from the caller's call, not 40 lines of loop-thread machinery
        raise _short(exc) from None


def _import_frame_modules() -> None:
    for name in FRAME_IMPORTS:
        importlib.import_module(name)


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


def prune_journals(days: float | None = None, *, dry_run: bool = False) -> list[Path]:
    """Retention as a command: delete the journals in the default journal folder whose every run finished
    more than `days` ago (default: SCP_WIDGETS_JOURNAL_DAYS, else 90); returns the files deleted (with
    `dry_run=True`, those it would delete). A file with an unfinished run, or one that cannot be read, stays.
    Runs do this by themselves when they start; `history()` and `read_journal` never delete anything."""
    if days is not None and (isinstance(days, bool) or not isinstance(days, int | float) or days < 0):
        raise ScpUsageError(f"days must be a number of days, 0 or more, not {days!r}.")
    return retention.prune_journals(default_journal_dir(), days=days, dry_run=dry_run)


def api_versions(*, today: dt.date | None = None) -> pd.DataFrame:
    """The API versions the client knows, with each one's status on `today` (default: the reader's today):
    version, status (CURRENT, SUPPORTED, DEPRECATED within 90 days of its end, RETIRED, PLANNED), ends,
    days_left, usable. A service's `GET /` may offer more; runs ask it first."""
    import pandas as pd

    day = today or dt.date.today()
    rows = [
        {
            "version": v.number, "status": str(v.status_on(day)), "ends": v.ends,
            "days_left": (v.ends - day).days if v.ends else None, "usable": v.status_on(day).callable,
        }
        for v in BUILTIN_CATALOG
    ]  # fmt: skip
    frame = pd.DataFrame(rows).astype({"days_left": "Int64"})
    frame.attrs["today"] = day.isoformat()
    return frame


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
    except ScpError as exc:  # a usage mistake, or the service's refusal, in one sentence with a short traceback
        raise _short(exc) from None
    return _warn_from(frame, stacklevel=3)


async def _listing(
    client: AsyncScpClient | ScpClient | None, api_version: str | None, page_size: int, options: dict[str, Any]
) -> pd.DataFrame:
    from scp_widgets.engine.listing import alist_one
    from scp_widgets.fleet import plan as fleet

    if fleet.wanted(options):  # regions=, endpoints= or where=: one frame over all of them
        return await fleet.alist_options(client, api_version, page_size, options)
    return await alist_one(client, api_version, page_size, options)


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
    several regions, with a `region` column; `where=`: only the rows a rule keeps (README: the rule language).
    """
    wrap_secret(options)
    try:
        frame = background_loop().run(_listing(client, api_version, page_size, options))
    except ScpError as exc:  # a usage mistake, or the service's refusal, in one sentence with a short traceback
        raise _short(exc) from None
    return _warn_from(frame, stacklevel=3)  # here, in the caller's thread, where a notebook shows it


# -- reruns ----------------------------------------------------------------------------------------------


def _rerun(frame: pd.DataFrame, ids: list[str], what: str, options: dict[str, Any]) -> pd.DataFrame:
    from scp_widgets.engine import rerun

    action = rerun.action_of(frame)
    if not ids:  # nothing to do is not a mistake in a script: an empty frame that says so
        summary = f"no {what} rows: nothing sent"
        count, other = rerun.other_kind(frame, what)
        if count:  # after an interrupt, retry_failed finds cancelled rows: say which call sends them
            sender = "resume_cancelled" if other == "cancelled" else "retry_failed"
            summary += f" ({count:,} {other} rows: {sender} sends them)"
        result = to_frame([], {"action": action, "counts": {}, "summary": summary})
    else:
        run = lock if action == "lock" else unlock
        result = run(ids, **{**rerun.same_settings(frame), **options})
    result.attrs["rerun_of"] = frame.attrs.get("run_id")
    return result


def retry_failed(frame: pd.DataFrame, **options: Any) -> pd.DataFrame:
    """Send the failed rows of `frame` again (same action and settings); returns the new run's frame."""
    from scp_widgets.engine import rerun

    frame = rerun.check_frame(frame)
    return _rerun(frame, rerun.failed_ids(frame), "failed", options)


def resume_cancelled(frame: pd.DataFrame, **options: Any) -> pd.DataFrame:
    """Send the cancelled rows of `frame` (same action and settings); returns the new run's frame."""
    from scp_widgets.engine import rerun

    frame = rerun.check_frame(frame)
    return _rerun(frame, rerun.cancelled_ids(frame), "cancelled", options)
