"""The public Python API: `lock`, `unlock`, `list_servers` (and their `a`-prefixed async twins).

The magics, the panel and scripts all come through here. The sync functions run the async engine on the
shared background loop thread, so they work in a script, a notebook cell, a widget callback or a thread;
Ctrl-C (a kernel interrupt) cancels the run and still returns every row.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import time
import uuid
import warnings
from collections.abc import Coroutine
from dataclasses import dataclass
from os import PathLike
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pandas as pd

from .bulk import Action, CancelToken, EngineSettings, ProgressCallback, run_bulk
from .client import AsyncScpClient, ScpClient
from .credentials import Secret
from .errors import ScpUsageError
from .ids import ids_from, normalise_id
from .journal import Journal, default_journal_dir
from .loop_thread import background_loop, wait_for
from .results import ServerResult, count_outcomes, summary_line, to_frame, utc_iso
from .retry import RetryBudget, RetryPolicy
from .servers import servers_frame
from .versions import ScpDeprecationWarning

logger = logging.getLogger(__name__)
T = TypeVar("T")
JournalOption = str | PathLike[str] | bool | None


@dataclass(frozen=True)
class Connection:
    """Where and as whom: everything needed to build a client (None means: resolve as the client does)."""

    endpoint: str | None = None
    region: str | None = None
    environment: str | None = None
    access_key: str | None = None
    secret_key: str | Secret | None = None
    accept_language: str = "en-US"
    transport: httpx.AsyncBaseTransport | None = None

    def __repr__(self) -> str:  # the dataclass repr would show secret_key
        return f"Connection(endpoint={self.endpoint!r}, region={self.region!r}, environment={self.environment!r})"

    def client(self, *, retries: int, timeout: float, concurrency: int) -> AsyncScpClient:
        return AsyncScpClient(
            endpoint=self.endpoint, region=self.region, environment=self.environment,
            access_key=self.access_key, secret_key=self.secret_key, accept_language=self.accept_language,
            transport=self.transport, retry=RetryPolicy(retries=retries),
            timeout=httpx.Timeout(timeout, connect=min(timeout, 5.0)), max_connections=max(concurrency, 10),
        )  # fmt: skip


def _check_range(name: str, value: float, low: float, high: float) -> None:
    if not low <= value <= high:
        raise ScpUsageError(f"{name} must be between {low:g} and {high:g}, not {value!r}.")


def plan_ids(ids: Any) -> tuple[list[str], int]:
    """Normalised ids in request order, each once, and how many duplicates were dropped."""
    raw = [normalise_id(i) for i in ids_from(ids)]
    unique = list(dict.fromkeys(i for i in raw if i))
    if not unique:
        raise ScpUsageError("No server ids given: pass one or more server ids (UUIDs).")
    return unique, len([i for i in raw if i]) - len(unique)


def _open_journal(option: JournalOption, action: str, run_id: str) -> Journal | None:
    if option is False:
        return None
    explicit = isinstance(option, str | PathLike)
    path = (
        Path(option)
        if isinstance(option, str | PathLike)
        else default_journal_dir() / f"{_stamp()}-{action}-{run_id}.jsonl"
    )
    try:
        return Journal(path)
    except OSError as exc:
        if explicit:
            raise ScpUsageError(f"Cannot write the journal {path}: {exc.strerror or exc}.") from None
        warnings.warn(f"No journal for this run: cannot write {path} ({exc.strerror or exc}).", stacklevel=4)
        return None


def _stamp() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")


async def arun(
    action: Action,
    ids: Any,
    *,
    api_version: str | None = None,
    endpoint: str | None = None,
    region: str | None = None,
    environment: str | None = None,
    access_key: str | None = None,
    secret_key: str | Secret | None = None,
    accept_language: str = "en-US",
    concurrency: int = 16,
    retries: int = 3,
    timeout: float = 15.0,
    verify: bool = True,
    verify_timeout: float = 10.0,
    preflight: bool = False,
    dry_run: bool = False,
    journal: JournalOption = True,
    progress: ProgressCallback | None = None,
    cancel: CancelToken | None = None,
    client: AsyncScpClient | ScpClient | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
) -> pd.DataFrame:
    """Run `action` on every id and return the result DataFrame (see `lock` for the options)."""
    if action not in ("lock", "unlock"):
        raise ScpUsageError(f"action must be 'lock' or 'unlock', not {action!r}.")
    server_ids, duplicates = plan_ids(ids)
    _check_range("concurrency", concurrency, 1, 1000)
    _check_range("retries", retries, 0, 20)
    _check_range("timeout", timeout, 0.001, 3600)
    _check_range("verify_timeout", verify_timeout, 0, 3600)

    owned = client is None
    if isinstance(client, ScpClient):
        client = client.aclient
    if client is None:
        connection = Connection(endpoint, region, environment, access_key, secret_key, accept_language, transport)
        client = connection.client(retries=retries, timeout=timeout, concurrency=concurrency)
    try:
        choice = await client.resolve_version(api_version, warn=False)
        run_id = uuid.uuid4().hex[:12]
        settings = EngineSettings(concurrency, verify, verify_timeout, preflight, dry_run)
        started = time.time()
        header = {
            "run_id": run_id, "action": action, "api_version": choice.number, "endpoint": client.endpoint,
            "started_at": utc_iso(started), "dry_run": dry_run, "verify": verify, "preflight": preflight,
            "duplicates": duplicates, "warning": choice.warning, "ids": server_ids,
        }  # fmt: skip
        journal_file = _open_journal(journal, action, run_id)
        token = cancel or CancelToken()
        budget = RetryBudget()
        try:
            if journal_file is not None:
                journal_file.start(header)
            results: list[ServerResult] = await run_bulk(
                client, action, server_ids, settings, version=choice,
                cancel=token.bind(asyncio.get_running_loop()), journal=journal_file, progress=progress,
                budget=budget,
            )  # fmt: skip
            elapsed = time.time() - started
            counts = count_outcomes(r.outcome for r in results)
            footer = {
                "finished_at": utc_iso(time.time()), "elapsed_s": round(elapsed, 3), "counts": counts,
                "cancelled": token.cancelled, "summary": summary_line(counts, elapsed, duplicates=duplicates),
                "retries": budget.spent, "retries_denied": budget.denied,
            }  # fmt: skip
            if journal_file is not None:
                journal_file.end(footer)
        finally:
            if journal_file is not None:
                journal_file.close()
        attrs = {k: v for k, v in header.items() if k != "ids"}
        attrs.update(footer, journal=str(journal_file.path) if journal_file else None, complete=True)
        return to_frame(results, attrs)
    finally:
        if owned:
            await client.aclose()


def _warn_from(frame: pd.DataFrame) -> pd.DataFrame:
    if frame.attrs.get("warning"):
        warnings.warn(str(frame.attrs["warning"]), ScpDeprecationWarning, stacklevel=3)
    return frame


def _blocking(coro: Coroutine[Any, Any, T], cancel: CancelToken) -> T:
    """Run on the background loop; a KeyboardInterrupt cancels the run and still waits for its rows."""
    future = background_loop().submit(coro)
    try:
        return wait_for(future)
    except KeyboardInterrupt:
        cancel.cancel()
        logger.info("interrupted: finishing the requests in flight, marking the rest cancelled")
        return wait_for(future)


async def alock(ids: Any, **options: Any) -> pd.DataFrame:
    """Async `lock`: `df = await scp_widgets.alock(ids)`. Same options as `lock`."""
    return _warn_from(await arun("lock", ids, **options))


async def aunlock(ids: Any, **options: Any) -> pd.DataFrame:
    """Async `unlock`. Same options as `lock`."""
    return _warn_from(await arun("unlock", ids, **options))


def lock(ids: Any, **options: Any) -> pd.DataFrame:
    """Lock servers; one DataFrame row per requested server, whatever happened to it.

    `ids`: a string (commas/whitespace), any iterable, a Series or a DataFrame column. Options:
    `api_version` (default: the CURRENT one), `endpoint` / `region` / `environment`, `access_key` /
    `secret_key` (default: environment, then ~/.scpconf), `concurrency` (16), `retries` (3), `timeout`
    (15 s), `verify` (read `locked` back, True), `verify_timeout` (10 s), `preflight` (skip servers already
    in the wanted state, False), `dry_run`, `journal` (True: a new file under the state dir; a path; or
    False), `progress` (callback), `cancel` (a `CancelToken`), `client`, `transport`.
    """
    cancel = options.pop("cancel", None) or CancelToken()
    return _warn_from(_blocking(arun("lock", ids, cancel=cancel, **options), cancel))


def unlock(ids: Any, **options: Any) -> pd.DataFrame:
    """Unlock servers; same options and result as `lock`."""
    cancel = options.pop("cancel", None) or CancelToken()
    return _warn_from(_blocking(arun("unlock", ids, cancel=cancel, **options), cancel))


async def alist_servers(
    *,
    client: AsyncScpClient | ScpClient | None = None,
    api_version: str | None = None,
    page_size: int = 100,
    **options: Any,
) -> pd.DataFrame:
    """Async `list_servers`."""
    filters = {k: options.pop(k) for k in list(options) if k not in _CONNECTION_KEYS}
    if isinstance(filters.get("state"), str):  # SCP states are upper case; `state="active"` means ACTIVE
        filters["state"] = str(filters["state"]).upper()
    if isinstance(client, ScpClient):
        client = client.aclient
    owned = client is None
    if client is None:
        client = Connection(**options).client(retries=3, timeout=30.0, concurrency=4)
    try:
        choice = await client.resolve_version(api_version, warn=False)
        servers = await client.list_servers(page_size=page_size, version=choice, **filters)
    finally:
        if owned:
            await client.aclose()
    frame = servers_frame(servers)
    frame.attrs.update(endpoint=client.endpoint, api_version=choice.number, warning=choice.warning)
    return _warn_from(frame)


def list_servers(**options: Any) -> pd.DataFrame:
    """The fleet as a DataFrame (id, name, state, locked, server_type, vcpus, ram, vpc_id, ip, created_at).

    Filters: `name`, `state`, `vpc_id`, `server_type_id`, `ip`, ... Connection options as for `lock`.
    """
    return background_loop().run(alist_servers(**options))


_CONNECTION_KEYS = frozenset(Connection.__dataclass_fields__)
