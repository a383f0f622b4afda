"""The cancel handle a run takes: set from any thread (a button, a signal handler), seen on the run's loop."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable


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


def _running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None
