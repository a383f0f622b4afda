"""Progress of a bulk run while it goes: a widget bar in a kernel, a text bar in a terminal, or nothing.

`update` is the engine's progress callback, so it runs on the background loop thread. Widgets are only
touched by setting traits there (safe from any thread); the text bar only writes to a stream.
"""

from __future__ import annotations

import html
import sys
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Protocol, TextIO

from .results import summary_line

if TYPE_CHECKING:
    from .bulk import Progress

#: Seconds between two redraws: about ten a second is smooth and cheap (one widget message each).
MIN_INTERVAL = 0.1
_BAR_WIDTH = 30


class ProgressDisplay(Protocol):
    def update(self, progress: Progress) -> None: ...

    def close(self) -> None: ...


def counts_text(done: int, total: int, counts: Mapping[str, int]) -> str:
    """e.g. '412/1000 · 410 locked, 2 not_found' (the magics' bar and the panel's counts line)."""
    text = f"{done}/{total}"
    return f"{text} · {summary_line(counts)}" if any(counts.values()) else text


def label(progress: Progress) -> str:
    return counts_text(progress.done, progress.total, progress.counts)


class Throttle:
    """Lets through at most one redraw per MIN_INTERVAL, but always the last one (the engine calls back once
    per server, from its loop thread; a browser or a terminal cannot use 1,000 updates a second)."""

    def __init__(self) -> None:
        self._last = 0.0
        self.pending: Progress | None = None

    def due(self, progress: Progress) -> bool:
        now = time.monotonic()
        if progress.done < progress.total and now - self._last < MIN_INTERVAL:
            self.pending = progress
            return False
        self._last, self.pending = now, None
        return True


class NoProgress:
    """`--quiet`: show nothing."""

    def update(self, progress: Progress) -> None:
        pass

    def close(self) -> None:
        pass


class TextProgress:
    """A one-line bar redrawn with '\\r' (terminal IPython); ends with a newline once something was drawn."""

    def __init__(self, title: str, stream: TextIO | None = None) -> None:
        self._title = title
        self._stream = stream or sys.stderr
        self._throttle = Throttle()
        self._drawn = False

    def update(self, progress: Progress) -> None:
        if self._throttle.due(progress):
            self._draw(progress)

    def _draw(self, progress: Progress) -> None:
        filled = round(_BAR_WIDTH * progress.fraction)
        bar = "█" * filled + "░" * (_BAR_WIDTH - filled)
        self._stream.write(f"\r{self._title} {bar} {label(progress)}")
        self._stream.flush()
        self._drawn = True

    def close(self) -> None:
        if self._throttle.pending is not None:
            self._draw(self._throttle.pending)
        if self._drawn:
            self._stream.write("\n")
            self._stream.flush()


class WidgetProgress:
    """An IntProgress and an HTML label; removed from the output at the end (the summary line replaces it)."""

    def __init__(self, title: str) -> None:
        import ipywidgets
        from IPython.display import display

        self._bar = ipywidgets.IntProgress(value=0, min=0, max=1, description=title, bar_style="info")
        self._label = ipywidgets.HTML("starting…")
        self._box = ipywidgets.HBox([self._bar, self._label])
        self._throttle = Throttle()
        self._handle: Any = display(self._box, display_id=True)  # type: ignore[no-untyped-call]

    def update(self, progress: Progress) -> None:
        if self._throttle.due(progress):
            self._bar.max = max(progress.total, 1)
            self._bar.value = progress.done
            self._label.value = html.escape(label(progress))

    def close(self) -> None:
        # Replace the output with nothing, so a saved notebook keeps no reference to a closed widget.
        if self._handle is not None:
            self._handle.update({"text/plain": ""}, raw=True)
        self._box.close()
        self._bar.close()
        self._label.close()


def in_kernel(shell: object) -> bool:
    """True inside a Jupyter kernel (which can show widgets), False in a terminal or a plain shell."""
    if type(shell).__name__ != "ZMQInteractiveShell":
        return False
    try:
        import ipywidgets  # noqa: F401
    except ImportError:
        return False
    return True


def progress_display(shell: object, title: str, *, quiet: bool = False) -> ProgressDisplay:
    """The right display for where we run: nothing if quiet, widgets in a kernel, else text on stderr."""
    if quiet:
        return NoProgress()
    if in_kernel(shell):
        return WidgetProgress(title)
    return TextProgress(title)
