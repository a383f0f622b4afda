"""One run against one endpoint: resolve the version, open the journal, run the bulk engine, build the frame.

`arun` is the engine under `lock` / `alock` and under each region of a fleet run; `run_blocking` runs a
coroutine on the shared background loop so the sync API works in a script, a cell or a widget callback.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import threading
import time
import uuid
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from concurrent.futures import Future
from os import PathLike
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from scp_widgets.client.errors import ScpUsageError
from scp_widgets.client.ids import ids_from, normalise_id
from scp_widgets.client.loop_thread import background_loop, wait_for
from scp_widgets.client.retry import RetryBudget
from scp_widgets.client.scp_client import AsyncScpClient, ScpClient
from scp_widgets.client.versions import BUILTIN_CATALOG, VersionChoice, choose_version
from scp_widgets.engine.bulk import Action, ProgressCallback, run_bulk
from scp_widgets.engine.cancel import CancelToken, unless_cancelled
from scp_widgets.engine.connection import Connection
from scp_widgets.engine.held_interrupt import held_interrupt
from scp_widgets.engine.journal import Journal
from scp_widgets.engine.results import NOT_SENT_CODE, Outcome, ServerResult, count_outcomes, summary_line, utc_iso
from scp_widgets.engine.settings import JournalOption, RunOptions, RunOutcome, settings_record
from scp_widgets.engine.state_dirs import default_journal_dir

if TYPE_CHECKING:  # the frame is built at the end (results.to_frame); nothing before it needs pandas
    import pandas as pd

logger = logging.getLogger(__name__)
T = TypeVar("T")


def plan_ids(ids: Any) -> tuple[list[str], int]:
    """Normalised ids in request order, each once, and how many duplicates were dropped."""
    raw = [normalise_id(i) for i in ids_from(ids)]
    unique = list(dict.fromkeys(i for i in raw if i))
    if not unique:
        raise ScpUsageError("No server ids given: pass one or more server ids (UUIDs).")
    return unique, len([i for i in raw if i]) - len(unique)


def open_journal(option: JournalOption, header: dict[str, Any], *, fsync: bool) -> Journal | None:
    """Open, take and start the run's journal, or one usage error before anything is sent."""
    if option is False:
        return None
    if isinstance(option, str | PathLike):
        path = Path(option)
    else:
        from scp_widgets.engine.retention import prune_quietly  # not imported when journal=False

        folder = default_journal_dir()
        prune_quietly(folder)
        path = folder / journal_name(str(header["action"]), str(header["run_id"]))
    return Journal.open(path, header, fsync=fsync)


def journal_results(
    action: Action, results: list[ServerResult], options: RunOptions, tags: Mapping[str, str]
) -> Path | None:
    """A journal of rows decided without a request (a fleet run's servers in no listing): every row a run
    returns is on disk, so its history and `read_journal` hold them too. None when journaling is off."""
    if not results or options.journal is False:
        return None
    ids = [r.server_id for r in results]
    header = {"run_id": uuid.uuid4().hex[:12], "action": action, "started_at": utc_iso(time.time()), "ids": ids,
              "settings": settings_record(options), **tags}  # fmt: skip
    journal = open_journal(options.journal, header, fsync=options.journal_fsync)
    if journal is None:
        return None
    with journal:
        for result in results:
            journal.result(result)
        counts = count_outcomes(r.outcome for r in results)
        not_sent = len(results)
        summary = summary_line(counts, 0.0, not_sent=not_sent)
        journal.end({"finished_at": utc_iso(time.time()), "counts": counts, "not_sent": not_sent, "summary": summary})
    return journal.path


def journal_name(kind: str, run_id: str) -> str:
    """`20261204T044558Z-lock-9ba6c2d2afe7.jsonl`: sorted by time in a folder listing."""
    return f"{dt.datetime.now(dt.UTC).strftime('%Y%m%dT%H%M%SZ')}-{kind}-{run_id}.jsonl"


async def arun(
    action: Action,
    ids: Any,
    options: RunOptions | None = None,
    *,
    connection: Connection | None = None,
    client: AsyncScpClient | ScpClient | None = None,
    progress: ProgressCallback | None = None,
    cancel: CancelToken | None = None,
    tags: Mapping[str, str] | None = None,
    sending: threading.Event | None = None,
    ready: Callable[[], Awaitable[None]] | None = None,
) -> pd.DataFrame:
    """Run `action` on every id and return the result DataFrame (the engine under `lock` and `alock`).
    `tags` go into the journal's header and the frame's attrs (a fleet run's id and this part's region).
    `sending` is set once the requests start (the client made, the version known), or when the run ends first.
    `ready` is awaited once the version is known and the journal open, before the first request: a fleet run's
    regions start together, or none does (if it raises, the journal ends saying nothing was sent)."""
    try:
        return await _arun(action, ids, options, connection, client, progress, cancel, tags, sending, ready)
    finally:
        if sending is not None:
            sending.set()


async def _arun(
    action: Action,
    ids: Any,
    options: RunOptions | None,
    connection: Connection | None,
    client: AsyncScpClient | ScpClient | None,
    progress: ProgressCallback | None,
    cancel: CancelToken | None,
    tags: Mapping[str, str] | None,
    sending: threading.Event | None,
    ready: Callable[[], Awaitable[None]] | None,
) -> pd.DataFrame:
    if action not in ("lock", "unlock"):
        raise ScpUsageError(f"action must be 'lock' or 'unlock', not {action!r}.")
    started = time.time()  # the summary's time is the wall time of the whole call: discovery included
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
        header = {
            "run_id": run_id, "action": action, "api_version": choice.number, "endpoint": client.endpoint,
            "started_at": utc_iso(started), "dry_run": options.dry_run, "verify": options.verify,
            "preflight": options.preflight, "duplicates": duplicates, "warning": choice.warning, "ids": server_ids,
            "concurrency": options.concurrency, "retries": options.retries, "timeout": options.timeout,
            "settings": settings_record(options), **(tags or {}),
        }  # fmt: skip
        journal_file = open_journal(options.journal, header, fsync=options.journal_fsync)
        if ready is not None:
            await _ready_or_end(ready, journal_file, action, server_ids, started)
        budget = RetryBudget()
        if sending is not None:
            sending.set()
        try:
            results = await run_bulk(
                client, action, server_ids, options, version=choice,
                cancel=cancelled, journal=journal_file, progress=progress,
                budget=budget,
            )  # fmt: skip
            elapsed = time.time() - started
            counts, not_sent = results.counts(), results.not_sent()
            outcome = RunOutcome(
                counts=counts, elapsed_s=round(elapsed, 3), retries_spent=budget.spent, retries_denied=budget.denied,
                cancelled=token.cancelled, not_sent=not_sent,
                summary=summary_line(counts, elapsed, duplicates=duplicates, not_sent=not_sent),
            )  # fmt: skip
            footer = {"finished_at": utc_iso(time.time()), **outcome.record()}
            if journal_file is not None:
                journal_file.end(footer)
        finally:
            if journal_file is not None:
                journal_file.close()
        attrs: dict[str, Any] = {k: v for k, v in header.items() if k != "ids"}
        attrs.update(footer, journal=str(journal_file.path) if journal_file else None, complete=True)
        attrs.update(settings=options, outcome=outcome)  # the typed pair: what was asked, what happened
        if journal_file is not None and journal_file.error:  # the run is whole; only its record on disk is not
            attrs.update(journal_error=journal_file.error, summary=f"{attrs['summary']}; {journal_file.error}")
        return results.frame(attrs, release=True)
    finally:
        if owned:
            await client.aclose()


async def _ready_or_end(
    ready: Callable[[], Awaitable[None]], journal: Journal | None, action: Action, ids: list[str], started: float
) -> None:
    """Wait for `ready`; if it raises, nothing is sent, and the journal (already started) says so: a cancelled
    row per server, not sent (`resume_cancelled` of its history row sends them), then its end."""
    try:
        await ready()
    except BaseException as exc:
        if journal is not None:
            with journal:
                now = time.time()
                why = f"not sent: {exc}"
                for server_id in ids:
                    journal.result(
                        ServerResult(server_id, action, Outcome.CANCELLED, error_code=NOT_SENT_CODE, message=why,
                                     started_at=now, finished_at=now)
                    )  # fmt: skip
                counts = {str(Outcome.CANCELLED): len(ids)}
                outcome = RunOutcome(
                    counts=counts, elapsed_s=round(now - started, 3), retries_spent=0, retries_denied=0,
                    cancelled=False, not_sent=len(ids), summary=f"{summary_line(counts, now - started)}; {why}",
                )  # fmt: skip
                journal.end({"finished_at": utc_iso(time.time()), **outcome.record()})
        raise


async def _version_unless_cancelled(
    client: AsyncScpClient, requested: str | None, cancelled: asyncio.Event
) -> VersionChoice:
    """The version to send. Asking the service (`GET /`) may wait seconds on a dead endpoint: a cancel or a
    Ctrl-C stops that wait, and the built-in table names the version (the run then sends nothing anyway)."""
    choice = await unless_cancelled(client.resolve_version(requested, warn=False), cancelled)
    return choice if choice is not None else choose_version(requested, BUILTIN_CATALOG, client.today)


def run_blocking(
    coro: Coroutine[Any, Any, T],
    cancel: CancelToken,
    meanwhile: Callable[[], object] | None = None,
    after: threading.Event | None = None,
) -> T:
    """Run on the background loop; a KeyboardInterrupt cancels the run and still waits for its rows.

    `meanwhile` runs in the caller's thread while the run goes on, once `after` is set (or the run is over):
    a first call imports pandas there once its requests are in flight, not while the loop thread makes its
    client (both need the one GIL). Its failure is logged; the run still returns."""
    future: Future[T] | None = None
    try:
        with held_interrupt():  # the loop thread (on a first call) and the run start whole
            future = background_loop().submit(coro)
    except KeyboardInterrupt:  # a Ctrl-C as the run starts: it runs cancelled, and every row says so
        cancel.cancel()
        if future is None:
            future = background_loop().submit(coro)
    try:
        if meanwhile is not None:
            while after is not None and not after.wait(0.05) and not future.done():
                pass  # short waits: a Ctrl-C gets through
            try:
                with held_interrupt():  # a Ctrl-C inside `import pandas` would break pandas for the process
                    meanwhile()
            except Exception as exc:  # the run's own frame building meets any real problem and reports it
                logger.debug("while waiting: %s", exc)
        return wait_for(future)
    except KeyboardInterrupt:
        cancel.cancel()
        logger.info("interrupted: ending the requests in flight, marking the rest cancelled")
        return wait_for(future)
