"""`RunGuard`: one bulk run's watch over its requests.

- Cancel reaches requests in flight: every attempt runs under an `asyncio.timeout` the guard knows, and a
  cancel reschedules them all to now, so they end within a tick instead of when the service answers.
  Requests made after the cancel (the final read-backs) must end within `AFTER_CANCEL_S` of it.
- It stops the run sending when the service is gone (`unanswered_limit` connect failures or timeouts in a
  row, with no answer in between), rejects the credentials (`credential_limit` 401s in a row with no success),
  or throttled a call past its patience with nothing accepted meanwhile; `check()` then raises `NotSent`.
- It knows when the run's retries will next wake (for `Progress.retry_in`).
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import TracebackType

from scp_widgets.client.errors import NotSent, StopReason

AFTER_CANCEL_S = 1.0
CREDENTIAL_LIMIT = 5


class RunGuard:
    def __init__(
        self,
        cancel: asyncio.Event,
        *,
        unanswered_limit: int = 16,
        credential_limit: int = CREDENTIAL_LIMIT,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.cancel = cancel
        self.unanswered_limit = max(1, unanswered_limit)
        self.credential_limit = max(1, credential_limit)
        self._clock = clock
        self._scopes: set[asyncio.Timeout] = set()
        self._unanswered = 0
        self._rejected = 0
        self._last_success = clock()
        self._stop: tuple[StopReason, str] | None = None
        self._waits: dict[int, float] = {}
        self._wait_ids = itertools.count()
        self._watcher: asyncio.Task[None] | None = None
        self._cancelled_at: float | None = None

    # -- cancel --------------------------------------------------------------------------------------------

    def start(self) -> None:
        """Watch the cancel event (one task per run, not per request)."""
        self._watcher = asyncio.get_running_loop().create_task(self._watch())

    async def close(self) -> None:
        if self._watcher is not None:
            self._watcher.cancel()
            await asyncio.gather(self._watcher, return_exceptions=True)

    async def _watch(self) -> None:
        await self.cancel.wait()
        now = self._cancelled_at = asyncio.get_running_loop().time()
        for scope in list(self._scopes):
            if not scope.expired():
                scope.reschedule(now)

    @property
    def cancelled(self) -> bool:
        return self.cancel.is_set()

    def deadline_at(self, when: float | None) -> GuardedTimeout:
        """`asyncio.timeout_at(when)` that a cancel ends at once (None: no deadline but the cancel)."""
        if self.cancel.is_set():
            soon = (self._cancelled_at or asyncio.get_running_loop().time()) + AFTER_CANCEL_S
            when = soon if when is None else min(when, soon)
        return GuardedTimeout(self._scopes, when)

    # -- giving up early ------------------------------------------------------------------------------------

    def not_sent(self) -> NotSent:
        """The error for a call the stopped run will not send."""
        assert self._stop is not None
        return NotSent(*self._stop)

    @property
    def stopped(self) -> bool:
        return self._stop is not None

    def on_success(self) -> None:
        self._unanswered = self._rejected = 0
        self._last_success = self._clock()

    def on_unanswered(self) -> None:
        """A connect failure or a timeout."""
        self._unanswered += 1
        if self._unanswered >= self.unanswered_limit:
            self._halt(
                "unanswered",
                f"not sent: the service did not answer {self._unanswered} requests in a row "
                "(refused connections or timeouts), so the run stopped sending",
            )

    def on_answer(self, status: int) -> None:
        self._unanswered = 0
        if status != 401:  # any other answer (a 404, a 403 too) means the signature was accepted
            self._rejected = 0
            return
        self._rejected += 1
        if self._rejected >= self.credential_limit:
            self._halt(
                "credentials",
                f"not sent: the service rejected the credentials ({self._rejected} requests in a row got 401); "
                "check the secret key and the machine clock",
            )

    def on_throttled_out(self, patience: float) -> None:
        """A call gave up after being throttled for `patience` s; stop if nothing was accepted meanwhile."""
        if self._clock() - self._last_success >= patience:
            self._halt(
                "throttled", f"not sent: the service throttled every request for {patience:g} s, so the run stopped"
            )

    def _halt(self, reason: StopReason, message: str) -> None:
        if self._stop is None:
            self._stop = (reason, message)

    # -- retry waits -----------------------------------------------------------------------------------------

    @contextmanager
    def waiting(self, seconds: float) -> Iterator[None]:
        key = next(self._wait_ids)
        self._waits[key] = self._clock() + seconds
        try:
            yield
        finally:
            del self._waits[key]

    def retry_in(self) -> float | None:
        """Seconds until the soonest retry wakes, None when no call is waiting to retry."""
        if not self._waits:
            return None
        return max(0.0, min(self._waits.values()) - self._clock())


class GuardedTimeout:
    """`asyncio.timeout_at` registered with the guard while it runs (a class, not a generator-based context
    manager: it wraps every attempt of a bulk run, and costs a fraction of one)."""

    __slots__ = ("_scope", "_scopes")

    def __init__(self, scopes: set[asyncio.Timeout], when: float | None) -> None:
        self._scopes = scopes
        self._scope = asyncio.timeout_at(when)

    async def __aenter__(self) -> asyncio.Timeout:
        scope = await self._scope.__aenter__()
        self._scopes.add(scope)
        return scope

    async def __aexit__(
        self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._scopes.discard(self._scope)
        await self._scope.__aexit__(et, ev, tb)  # raises TimeoutError when the deadline ended the attempt
