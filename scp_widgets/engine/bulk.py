"""The bulk engine: many servers, bounded concurrency, retries, read-back, cancel, and a journal.

Every requested server ends with exactly one `ServerResult`, whatever happens: a failure, a cancel, an
interrupt. Workers pull ids in request order; when a cancel arrives they stop pulling, the calls in flight
are ended at once (their rows say the change may have been applied, and are read back when verify is on),
and every id not started is marked `cancelled`. When the run's `RunGuard` stops sending (the service is
gone, rejects the credentials or throttles everything), the ids not sent yet end with one sentence saying
so, and nothing is claimed about them.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from scp_widgets.client.errors import Aborted, NotSent, RetryCancelled, ScpApiError, ScpRequestError
from scp_widgets.client.ids import is_valid_id
from scp_widgets.client.retry import RetryBudget
from scp_widgets.client.run_guard import RunGuard
from scp_widgets.client.scp_client import AsyncScpClient
from scp_widgets.client.versions import VersionChoice
from scp_widgets.engine.journal import Journal
from scp_widgets.engine.readback import StateReader
from scp_widgets.engine.result_table import ResultTable
from scp_widgets.engine.results import (
    NOT_SENT_CODE,
    Outcome,
    ServerResult,
    message_for_error,
    ordered_counts,
    outcome_for_error,
)
from scp_widgets.engine.settings import RunOptions

logger = logging.getLogger(__name__)
Action = Literal["lock", "unlock"]
_DONE = {"lock": Outcome.LOCKED, "unlock": Outcome.UNLOCKED}
_ALREADY = {"lock": Outcome.ALREADY_LOCKED, "unlock": Outcome.ALREADY_UNLOCKED}


@dataclass(frozen=True)
class Progress:
    """A snapshot of a run. `done` servers have their final outcome (`last` is the one that just finished,
    None when the snapshot comes from a send or an accept); `sent` went out at least once; `accepted` got a
    2xx for the change. `rate` and `retry_in` are set only while the run is held back (see the fields)."""

    done: int
    total: int
    counts: dict[str, int]
    elapsed_s: float
    last: ServerResult | None = None
    sent: int = 0
    accepted: int = 0
    #: The client-side send rate (requests/s) while the service's throttling holds it down, else None.
    rate: float | None = None
    #: Seconds until the next retry while calls wait to retry (or on a Retry-After), else None.
    retry_in: float | None = None
    #: A run over several regions: each region's own snapshot, by region (empty for one endpoint).
    regions: Mapping[str, Progress] = field(default_factory=dict)

    @property
    def fraction(self) -> float:
        return self.done / self.total if self.total else 1.0


ProgressCallback = Callable[[Progress], None]

#: Seconds between two progress reports from sends and accepts (a finish always reports): counting is a
#: few additions per server, and the callback runs at most this often for them, so speed is not paid for it.
EVENT_INTERVAL = 0.05


@dataclass
class _Run:
    client: AsyncScpClient
    action: Action
    options: RunOptions
    version: VersionChoice
    cancel: asyncio.Event
    journal: Journal | None
    progress: ProgressCallback | None
    budget: RetryBudget
    reader: StateReader
    guard: RunGuard
    started: float = field(default_factory=time.monotonic)
    done: int = 0
    total: int = 0
    counts: dict[str, int] = field(default_factory=dict)
    sent: int = 0
    accepted: int = 0
    _reported: float = 0.0
    _trailing: bool = False

    def new_result(self, server_id: str) -> ServerResult:
        return ServerResult(
            server_id, self.action, Outcome.CANCELLED, api_version=self.version.number,
            endpoint=self.client.endpoint, started_at=time.time(),
        )  # fmt: skip

    def on_sent(self, server_id: str) -> None:
        """Just before the first change request of a server goes out (written ahead, for a crash)."""
        if self.journal is not None:
            self.journal.sent(server_id)
        self.sent += 1
        self._report_now()

    def on_accepted(self, result: ServerResult) -> None:
        """Just after the service accepted a change (2xx), before the read-back."""
        if self.journal is not None:
            self.journal.accepted(result)
        self.accepted += 1
        self._report_now()

    def finish(self, result: ServerResult) -> ServerResult:
        if result.finished_at is None:
            result.finished_at = time.time()
        if result.started_at is None:
            result.started_at = result.finished_at
        if self.journal is not None:
            self.journal.result(result)
        self.done += 1
        self.counts[str(result.outcome)] = self.counts.get(str(result.outcome), 0) + 1
        self._report(result)
        return result

    def _report_now(self) -> None:
        """A send or an accept: report at most every EVENT_INTERVAL, and once more after a quiet spell, so
        the last counts show even when nothing else happens for a while (a long wait on retries)."""
        if self.progress is None:
            return
        wait = EVENT_INTERVAL - (time.monotonic() - self._reported)
        if wait <= 0:
            self._report(None)
        elif not self._trailing:
            self._trailing = True
            asyncio.get_running_loop().call_later(wait, self._report_trailing)

    def _report_trailing(self) -> None:
        self._trailing = False
        if self.done < self.total:
            self._report(None)

    def _report(self, last: ServerResult | None) -> None:
        if self.progress is None:
            return
        now = time.monotonic()
        self._reported = now
        snapshot = ordered_counts(self.counts)
        progress = Progress(
            self.done, self.total, snapshot, now - self.started, last, sent=self.sent, accepted=self.accepted,
            rate=self.client.limiter.rate, retry_in=self.guard.retry_in(),
        )  # fmt: skip
        try:
            self.progress(progress)
        except Exception:  # a broken progress display must not stop the run or lose rows
            logger.exception("progress callback failed")


async def run_bulk(
    client: AsyncScpClient,
    action: Action,
    server_ids: Sequence[str],
    options: RunOptions,
    *,
    version: VersionChoice,
    cancel: asyncio.Event | None = None,
    journal: Journal | None = None,
    progress: ProgressCallback | None = None,
    budget: RetryBudget | None = None,
) -> ResultTable:
    """Run `action` on every (de-duplicated) id; one result per id, in order. Malformed ids are not sent.

    `options.concurrency` workers send the state changes; each accepted change is then read back in the
    background (batched by the `StateReader`), so a worker moves on to its next server at once.
    """
    budget = budget or RetryBudget()
    cancel = cancel or asyncio.Event()
    guard = RunGuard(cancel, unanswered_limit=max(8, options.concurrency))
    reader = StateReader(
        client, version, budget, concurrency=options.concurrency, guard=guard, expected=len(server_ids),
        max_wait=options.verify_timeout,
    )  # fmt: skip
    run = _Run(
        client, action, options, version, cancel, journal, progress, budget, reader, guard, total=len(server_ids),
    )  # fmt: skip
    results = ResultTable(len(server_ids))  # a finished row is filed by column, not kept as an object
    queue = iter(enumerate(server_ids))

    def finish(index: int, result: ServerResult) -> None:
        results.put(index, run.finish(result))

    read_backs = _ReadBacks(run, finish)
    reads_first = options.preflight or options.dry_run
    known = await reader.snapshot([i for i in server_ids if is_valid_id(i)]) if reads_first else {}
    if options.dry_run:
        reader.sends_done()  # a dry run sends no change: its reads need not wait for any

    async def worker() -> None:
        for index, server_id in queue:
            if run.cancel.is_set():
                finish(index, _cancelled(run.new_result(server_id), "cancelled before it was sent"))
                continue
            result, follow = await _send(run, server_id, known.get(server_id))
            if follow is not None and options.verify:
                read_backs.start(index, result, follow)
            else:
                finish(index, result)

    guard.start()
    workers = [asyncio.create_task(worker()) for _ in range(min(options.concurrency, len(server_ids)) or 1)]
    try:
        await asyncio.gather(*workers)
        reader.sends_done()
        await read_backs.wait()
    except BaseException:
        # Interrupted from outside (task cancelled): stop everything, but still account for every id.
        run.cancel.set()
        pollers = read_backs.close()
        for task in [*workers, *pollers]:
            task.cancel()
        await asyncio.gather(*workers, *pollers, return_exceptions=True)
        raise
    finally:
        read_backs.close()
        await reader.close()
        await guard.close()
        for index, server_id in enumerate(server_ids):
            if not results.filled(index):
                finish(index, _cancelled(run.new_result(server_id), "cancelled while in flight"))
    return results


class _ReadBacks:
    """The run's read-backs. An accepted change's first read waits as an entry in `_waiting` with one watcher
    shared by all (`StateReader.watch`), not as a task or a future: while listings gather readers
    (readback.py) tens of thousands wait at once, and at 50,000 servers every full garbage collection walked
    each waiting read with the GIL held: about 11 objects for a poller task, 7 for a future with a callback,
    1 now (the row). A poller task starts only for a server that first read does not settle
    (and for a failed change's check)."""

    def __init__(self, run: _Run, finish: Callable[[int, ServerResult], None]) -> None:
        self._run = run
        self._finish = finish
        self._tasks: set[asyncio.Task[None]] = set()  # running pollers (a finished one leaves, unless it failed)
        self._first = 0  # first reads not answered yet
        self._settled = asyncio.Event()
        self._settled.set()
        self._closed = False
        # First reads waiting: the row, its index and when its read began, by server (three dicts, not a
        # tuple per server: each tuple was one more object for every full garbage collection to walk).
        self._waiting: dict[str, ServerResult] = {}
        self._rows: dict[str, int] = {}
        self._since: dict[str, float] = {}
        self._watcher = self._first_read  # one bound method for every watch, not one per server

    def start(self, index: int, result: ServerResult, follow: Follow) -> None:
        if follow != "verify":
            self._poll(index, result, follow, None)
            return
        if result.server_id in self._waiting:  # the same id twice (run_bulk de-duplicates; never lose a row)
            since, future = time.monotonic(), self._run.reader.request(result.server_id, patient=True)
            future.add_done_callback(lambda done: self._answered(index, result, since, _answer_of(done)))
        else:
            server_id = result.server_id
            self._waiting[server_id], self._rows[server_id] = result, index
            self._since[server_id] = time.monotonic()
            self._run.reader.watch(server_id, self._watcher)
        self._first += 1
        self._settled.clear()

    def _first_read(self, server_id: str, answer: dict[str, Any] | BaseException) -> None:
        result, index, since = self._waiting.pop(server_id), self._rows.pop(server_id), self._since.pop(server_id)
        self._answered(index, result, since, answer)

    def _answered(self, index: int, result: ServerResult, since: float, answer: dict[str, Any] | BaseException) -> None:
        self._first -= 1
        if not self._first:
            self._settled.set()
        try:  # on an error the poller reads again, and says why if it cannot
            locked = None if isinstance(answer, BaseException) else _locked_of(answer, result.server_id)
        except ValueError:
            locked = None
        if self._closed:
            return
        if locked is (self._run.action == "lock"):
            result.locked, result.outcome = locked, _DONE[self._run.action]
            self._finish(index, result)
            return
        result.locked = locked if locked is not None else result.locked
        self._poll(index, result, "verify", since)

    def _poll(self, index: int, result: ServerResult, follow: Follow, since: float | None) -> None:
        task = asyncio.create_task(self._read_back(index, result, follow, since))
        self._tasks.add(task)
        task.add_done_callback(_forget_if_clean(self._tasks))

    async def _read_back(self, index: int, result: ServerResult, follow: Follow, since: float | None) -> None:
        await (_read_back(self._run, result, since) if follow == "verify" else _check_failed(self._run, result))
        self._finish(index, result)

    async def wait(self) -> None:
        """Until every read-back has finished (a poller that raised raises here)."""
        while self._first or self._tasks:
            await self._settled.wait()
            if self._tasks:
                await asyncio.gather(*list(self._tasks))

    def close(self) -> list[asyncio.Task[None]]:
        """No more rows from first reads (the run is ending); the pollers still running."""
        self._closed = True
        return list(self._tasks)


def _answer_of(future: asyncio.Future[dict[str, Any]]) -> dict[str, Any] | BaseException:
    if future.cancelled():
        return asyncio.CancelledError()
    return future.exception() or future.result()


def _forget_if_clean(tasks: set[asyncio.Task[None]]) -> Callable[[asyncio.Task[None]], None]:
    """Drop a finished read-back from the run's set (at 50,000 servers the finished ones were most of the
    heap every full garbage collection walked, each pause holding the GIL); one that raised stays, for
    the final gather to raise its error."""

    def forget(task: asyncio.Task[None]) -> None:
        if not task.cancelled() and task.exception() is None:
            tasks.discard(task)

    return forget


def _cancelled(result: ServerResult, why: str) -> ServerResult:
    result.outcome, result.message = Outcome.CANCELLED, why
    return result


#: What follows a sent change: "verify" (accepted: poll until the new state shows), "check" (failed or
#: cancelled after it went out, so it may have been applied: read once), or None (nothing to read).
Follow = Literal["verify", "check"] | None
#: Failures after which the change may still have been applied (a lost reply, a cut-off attempt).
_UNSURE = frozenset({Outcome.SERVER_ERROR, Outcome.NETWORK_ERROR, Outcome.THROTTLED, Outcome.CANCELLED})


async def _send(run: _Run, server_id: str, known: dict[str, Any] | None) -> tuple[ServerResult, Follow]:
    """Preflight, then the state change. Returns the result so far and what read-back it needs."""
    result = run.new_result(server_id)
    wanted = run.action == "lock"
    if not is_valid_id(server_id):
        result.outcome, result.error_code = Outcome.INVALID_ID, "INVALID_ID"
        result.message = "not a server id (expected a UUID like 2a9be312-5d4b-4bc8-b2ae-35100fa9241f); not sent"
        return result, None
    try:
        if run.options.preflight or run.options.dry_run:
            # A dry run reads too (a signed GET), so a wrong key or an unknown server shows before the real run.
            current = known or await run.reader.read(server_id)
            if run.options.preflight and _already(current, server_id, wanted):
                result.outcome, result.http_status, result.locked = _ALREADY[run.action], 200, wanted
                return result, None
            if run.options.dry_run:
                result.outcome, result.message = Outcome.PLANNED, f"dry run: would {run.action} this server"
                locked = current.get("locked")
                result.http_status, result.locked = 200, locked if isinstance(locked, bool) else None
                return result, None
        change = run.client.lock if wanted else run.client.unlock
        if not run.guard.stopped:  # else the request raises NotSent at once: nothing goes out
            result.sent_at = time.time()
            run.on_sent(server_id)
        accepted = await change(server_id, cancel=run.cancel, version=run.version, budget=run.budget, guard=run.guard)
        result.answered_at = time.time()
        result.http_status, result.attempts, result.request_id = (
            accepted.status, accepted.attempts, accepted.request_id,
        )  # fmt: skip
        result.outcome = _DONE[run.action]  # accepted; the read-back (when on) confirms or downgrades it
        run.on_accepted(result)
        return result, "verify"
    except NotSent as exc:
        _fail(result, exc)
        return result, None
    except Aborted as exc:
        result.attempts = exc.attempts
        if not exc.in_flight:
            return _cancelled(result, "cancelled before it was sent"), None
        _cancelled(result, "cancelled while the request was in flight: the change may have been applied")
        result.error_code = "CANCELLED_IN_FLIGHT"
    except RetryCancelled as exc:
        _fail(result, exc.last)
        result.outcome, result.message = Outcome.CANCELLED, f"cancelled while waiting to retry: {result.message}"
    except ScpRequestError as exc:
        _fail(result, exc)
    if result.sent_at is not None and result.attempts > 0:
        result.answered_at = time.time()
    return result, "check" if result.outcome in _UNSURE and result.attempts > 0 else None


def _fail(result: ServerResult, error: ScpRequestError) -> None:
    result.outcome = outcome_for_error(error)
    result.message = message_for_error(error)
    result.attempts = max(result.attempts, error.attempts)
    if isinstance(error, ScpApiError):
        result.http_status, result.error_code, result.request_id = error.status, error.code, error.request_id
    else:
        result.error_code = NOT_SENT_CODE if isinstance(error, NotSent) else "NETWORK_ERROR"


def _locked_of(server: dict[str, Any], server_id: str) -> bool:
    """`locked` of the server asked for, or ValueError saying why the answer proves nothing."""
    if str(server.get("id", "")).lower() != server_id:
        raise ValueError(f"the service answered for another server ({str(server.get('id'))[:40]!r})")
    locked = server.get("locked")
    if not isinstance(locked, bool):
        raise ValueError(f"the service's `locked` is not true or false ({str(locked)[:40]!r})")
    return locked


def _already(server: dict[str, Any], server_id: str, wanted: bool) -> bool:
    """Preflight: skip only when the answer proves the wanted state; anything doubtful is sent."""
    try:
        return _locked_of(server, server_id) is wanted
    except ValueError:
        return False


async def _check_failed(run: _Run, result: ServerResult) -> None:
    """A failed or cut-off change may have been applied all the same: one read says whether it was."""
    try:
        result.locked = _locked_of(await run.reader.read(result.server_id), result.server_id)
    except (ScpRequestError, ValueError):
        return
    if result.locked is (run.action == "lock"):
        result.outcome, result.message, result.error_code = _DONE[run.action], None, None


async def _read_back(run: _Run, result: ServerResult, since: float | None = None) -> None:
    """Poll `locked` until it shows the wanted state or the deadline passes (then `unverified`). `since`: when
    the first read (in `_ReadBacks`) began, which did not settle it; the deadline counts from then."""
    wanted = run.action == "lock"
    deadline = (since or time.monotonic()) + run.options.verify_timeout
    pause = 0.025  # the first per-server pause is 0.05 s (see StateReader.next_pause)
    last_error: str | None = None
    if since is not None and not run.cancel.is_set():  # pause as after any read that did not settle it
        pause = run.reader.next_pause(result.server_id, pause)
        if time.monotonic() + pause <= deadline:
            await asyncio.sleep(pause)
    # The first poll gets one whole attempt even past the deadline (its own timeout says why it failed, 1 s sooner).
    budget, cut = run.options.timeout + 1.0, False
    while True:
        after_cancel = run.cancel.is_set()  # a read begun after the cancel still gets a moment (RunGuard)
        try:
            # A read throttled or retried past the deadline (Retry-After: 20 against verify_timeout=3) ends there.
            async with asyncio.timeout(max(budget, deadline - time.monotonic())):
                answer = await run.reader.read(result.server_id, patient=True)
            result.locked, last_error = _locked_of(answer, result.server_id), None
            if result.locked is wanted:
                result.outcome = _DONE[run.action]
                return
        except ScpRequestError as exc:
            last_error = message_for_error(exc)
        except ValueError as exc:
            last_error = str(exc)
        except TimeoutError:  # no new answer: what was read before stands
            cut = True
            last_error = last_error or (None if result.locked is not None else "no read finished in time")
        else:
            cut = False
        budget = 0.0
        if run.cancel.is_set() and not after_cancel:
            continue
        pause = run.reader.next_pause(result.server_id, pause)
        if time.monotonic() + pause > deadline or run.cancel.is_set():
            break
        await asyncio.sleep(pause)
    result.outcome = Outcome.UNVERIFIED
    waited = f"{run.options.verify_timeout:g} s"
    if run.cancel.is_set():  # cut short, not failed: accepted, not yet verified (amber; a retry reads it first)
        result.outcome = Outcome.ACCEPTED
        result.message = (
            f"accepted ({result.http_status}), not yet verified: the read-back was cancelled before it confirmed "
            "the change"
        )
    elif result.locked is not None and last_error is None and not cut:
        result.message = (
            f"accepted ({result.http_status}), but locked still read {str(result.locked).lower()} after {waited}"
        )
    elif result.locked is not None and last_error is None:  # the next read (maybe retrying) never answered
        result.message = (
            f"accepted ({result.http_status}), but not confirmed in {waited}: locked read "
            f"{str(result.locked).lower()}, and the read after it had no answer yet when the time was up"
        )
    elif result.locked is not None:  # the reads after the last answer failed: it never read false "after" it
        result.message = (
            f"accepted ({result.http_status}), but the state could not be read back in {waited} (locked read "
            f"{str(result.locked).lower()}, then: {last_error})"
        )
    else:  # one sentence, the read-back's own reason last (it was two messages run together)
        result.message = (
            f"accepted ({result.http_status}), but the state could not be read back in {waited} ({last_error})"
        )
