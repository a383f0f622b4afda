"""One background event loop in a daemon thread, shared by every blocking call.

A Jupyter kernel already runs an event loop in the main thread, so `asyncio.run` fails in a cell or a
widget callback. Running coroutines on our own loop thread makes the sync API behave the same in a script,
a cell, a callback or another thread, and leaves the kernel free while a panel run goes on.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


class LoopThread:
    def __init__(self, name: str = "scp-widgets-loop") -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._serve, name=name, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_forever()

    def in_loop_thread(self) -> bool:
        return threading.current_thread() is self._thread

    def submit(self, coro: Coroutine[Any, Any, T]) -> concurrent.futures.Future[T]:
        if self.in_loop_thread():
            coro.close()
            raise RuntimeError("blocking scp-widgets calls cannot run on its own loop thread; await the async API")
        return asyncio.run_coroutine_threadsafe(coro, self.loop)

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run `coro` on the loop thread and wait; a Ctrl-C cancels it there too (else a listing of a dead
        service would go on for minutes after the cell returned)."""
        future = self.submit(coro)
        try:
            return wait_for(future)
        except KeyboardInterrupt:
            future.cancel()
            raise


def wait_for(future: concurrent.futures.Future[T]) -> T:
    """The future's result, waiting in short slices so Ctrl-C / a kernel interrupt gets through.

    A simulated interrupt (ipykernel, `_thread.interrupt_main`) is only delivered while the main thread
    runs Python code, never inside one long lock wait.
    """
    while True:
        try:
            return future.result(timeout=0.1)
        except concurrent.futures.TimeoutError:
            continue


_shared: LoopThread | None = None
_shared_lock = threading.Lock()


def background_loop() -> LoopThread:
    """The process-wide loop thread, started on first use."""
    global _shared
    with _shared_lock:
        if _shared is None or not _shared._thread.is_alive():
            _shared = LoopThread()
        return _shared
