"""`held_interrupt()`: a Ctrl-C in the main thread waits until a short critical step is whole.

A KeyboardInterrupt raised inside `import pandas` leaves numpy or pandas half-imported for the whole process
(a kernel then needs a restart), and one raised while the shared loop thread starts can leave a half-built
event loop. The run's first call does both in the caller's thread, so it holds Ctrl-C for those steps and
then lets the interrupt act as it would have (the run is cancelled and still returns every row).
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator
from types import FrameType
from typing import Any


@contextlib.contextmanager
def held_interrupt() -> Iterator[None]:
    """Defer SIGINT in the main thread to the end of the block, then hand it to the handler it was meant for.
    Elsewhere (another thread, no Python handler to take over) the block runs as it is."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    arrived: list[FrameType | None] = []

    def hold(signum: int, frame: FrameType | None) -> None:
        arrived.append(frame)

    previous: Any = signal.getsignal(signal.SIGINT)
    if previous is None:  # a handler set outside Python (an embedding host's) could not be put back
        yield
        return
    try:
        signal.signal(signal.SIGINT, hold)
    except (ValueError, OSError):  # not the main interpreter, or signals unavailable: nothing to hold
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
    if arrived and callable(previous):
        previous(signal.SIGINT, arrived[0])  # Python's default handler raises KeyboardInterrupt here
    elif arrived and previous == signal.SIG_DFL:
        raise KeyboardInterrupt
