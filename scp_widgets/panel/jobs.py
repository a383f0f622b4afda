"""The panel's background work: futures on the shared loop whose results are shown when done.

A callback of a future runs on the loop thread, where an exception would only reach a log: every result
is shown or turned into one sentence for the panel, and `wait` lets tests and scripts wait until it is.
"""

from __future__ import annotations

import concurrent.futures
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from scp_widgets.client.errors import ScpError, ScpRequestError
from scp_widgets.engine.results import message_for_error

logger = logging.getLogger(__name__)


def describe(exc: BaseException) -> str:
    """One line for the panel, never a traceback."""
    if isinstance(exc, ScpRequestError):
        return message_for_error(exc)
    if isinstance(exc, ScpError):
        return str(exc)
    logger.error("scp-widgets panel: unexpected error", exc_info=exc)  # the traceback goes to the log only
    return f"{type(exc).__name__}: {exc}"


class _Job:
    """A background future plus an event set once its results are on screen (what `wait` waits for)."""

    def __init__(self, future: concurrent.futures.Future[Any]) -> None:
        self.future = future
        self.shown = threading.Event()


class Jobs:
    """The futures a panel started, each shown (or its failure said) exactly once."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._jobs: list[_Job] = []

    def track(
        self, future: concurrent.futures.Future[Any], show: Callable[[Any], None], fail: Callable[[str], None]
    ) -> None:
        job = _Job(future)
        with self._lock:
            self._jobs = [j for j in self._jobs if not j.shown.is_set()] + [job]

        def done(f: concurrent.futures.Future[Any]) -> None:
            try:
                show(f.result())
            except BaseException as exc:  # a cancelled future too: the panel must hear of it
                fail(describe(exc))
            finally:
                job.shown.set()

        future.add_done_callback(done)

    def wait(self, timeout: float | None = None) -> None:
        """Block until the work started so far is done and shown."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._lock:
            jobs = list(self._jobs)
        for job in jobs:
            left = None if deadline is None else max(0.0, deadline - time.monotonic())
            if not job.shown.wait(left):
                raise TimeoutError(f"the panel was still busy after {timeout} s")
