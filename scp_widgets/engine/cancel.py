"""The cancel handle a run takes: set from any thread (a button, a signal handler), seen on the run's loop."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


class CancelToken:
    """Thread-safe cancel handle: call `cancel()` from anywhere (a button, a signal handler, a thread)."""

    def __init__(self) -> None:
        self._flag = threading.Event()
        self._listeners: list[Callable[[], None]] = []
        self._lock = threading.Lock()

    @property
    def cancelled(self) -> bool:
        return self._flag.is_set()

    def cancel(self) -> None:
        with self._lock:
            self._flag.set()
            listeners = list(self._listeners)
        for listener in listeners:
            listener()

    def bind(self, loop: asyncio.AbstractEventLoop) -> asyncio.Event:
        """An asyncio.Event on `loop` that is set when this token is cancelled (now or later)."""
        event = asyncio.Event()

        def wake() -> None:
            # On the loop's own thread (a progress callback) set it now, so no worker starts another server.
            if _running_loop() is loop:
                event.set()
            else:
                loop.call_soon_threadsafe(event.set)

        with self._lock:
            self._listeners.append(wake)
            if self._flag.is_set():
                event.set()
        return event


async def unless_cancelled(work: Coroutine[Any, Any, T], cancelled: asyncio.Event) -> T | None:
    """`work`'s result, or None when `cancelled` is set first: the work is then stopped and awaited. For the
    waits before a run sends (a version lookup, a listing), which a dead endpoint can stretch to minutes."""
    task = asyncio.ensure_future(work)
    stop = asyncio.ensure_future(cancelled.wait())
    await asyncio.wait({task, stop}, return_when=asyncio.FIRST_COMPLETED)
    stop.cancel()
    if task.done():
        return task.result()
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    return None


def _running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None
