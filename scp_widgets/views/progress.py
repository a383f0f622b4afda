"""Progress of a bulk run while it goes: an HTML bar in a kernel, a text bar in a terminal, or nothing.

`update` is the engine's progress callback, so it runs on the background loop thread; the HTML bar is one
display output updated in place (no widget models, so nothing closed is left in a saved notebook), and
`close` turns it into the run's summary line, so the cell keeps no empty output either.
"""

from __future__ import annotations

import asyncio
import html
import sys
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, Protocol, TextIO

from scp_widgets.engine.results import summary_line

if TYPE_CHECKING:
    from scp_widgets.engine.bulk import Progress

#: Seconds between two redraws: about ten a second is smooth and cheap (one widget message each).
MIN_INTERVAL = 0.1
_BAR_WIDTH = 30


class ProgressDisplay(Protocol):
    def update(self, progress: Progress) -> None: ...

    def close(self, summary: str = "") -> None: ...


def counts_text(done: int, total: int, counts: Mapping[str, int]) -> str:
    """e.g. '412/1000 · 410 locked, 2 not_found' (the magics' bar and the panel's counts line)."""
    text = f"{done}/{total}"
    return f"{text} · {summary_line(counts)}" if any(counts.values()) else text


_CHANGED = ("locked", "unlocked")


def settled(progress: Progress) -> int:
    """Servers past their change: finished, or accepted and being read back (what the bar shows)."""
    accepted_done = sum(progress.counts.get(o, 0) for o in (*_CHANGED, "unverified"))
    return min(progress.total, progress.done + max(0, progress.accepted - accepted_done))


def stages_text(progress: Progress) -> str:
    """'64 sent · 64 accepted · 11 verified', plus 'retrying in 3 s' or the held-back rate when known."""
    verified = sum(progress.counts.get(o, 0) for o in _CHANGED)
    parts = [f"{progress.sent} sent", f"{progress.accepted} accepted", f"{verified} verified"]
    if progress.retry_in is not None and progress.done < progress.total:
        parts.append(f"retrying in {max(1, round(progress.retry_in))} s")
    if progress.rate is not None and progress.done < progress.total:
        rate = progress.rate  # under 10/s the decimals matter (a throttled run can be held at 0.5/s)
        parts.append(f"held at {rate:.0f} requests/s" if rate >= 10 else f"held at {rate:.2g} requests/s")
    return " · ".join(parts)


def label(progress: Progress) -> str:
    """'412/1000 · 410 locked, 2 not_found', then the stages once something was sent."""
    text = counts_text(progress.done, progress.total, progress.counts)
    return f"{text} · {stages_text(progress)}" if progress.sent else text


class Throttle:
    """Lets through at most one redraw per MIN_INTERVAL, but always the last one (the engine calls back once
    per server, from its loop thread; a browser or a terminal cannot use 1,000 updates a second)."""

    def __init__(self) -> None:
        self._last = 0.0
        self._scheduled = False
        self.pending: Progress | None = None

    def due(self, progress: Progress) -> bool:
        now = time.monotonic()
        if progress.done < progress.total and now - self._last < MIN_INTERVAL:
            self.pending = progress
            return False
        self._last, self.pending = now, None
        return True

    def offer(self, progress: Progress, draw: Callable[[Progress], None]) -> None:
        """Draw now if due; else draw the held state once MIN_INTERVAL has passed (when called on an event
        loop, as the engine's callbacks are), so a run that goes quiet still shows its latest counts."""
        if self.due(progress):
            draw(progress)
            return
        if self._scheduled:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return  # no loop: `close` (or the next update) draws what is pending
        self._scheduled = True

        def flush() -> None:
            self._scheduled = False
            pending = self.pending
            if pending is not None and self.due(pending):
                draw(pending)

        loop.call_later(MIN_INTERVAL, flush)


class NoProgress:
    """`--quiet`: show nothing while it runs; what must be said at the end is printed."""

    def update(self, progress: Progress) -> None:
        pass

    def close(self, summary: str = "") -> None:
        if summary:
            print(summary)


class TextProgress:
    """A one-line bar redrawn with '\\r' (terminal IPython); ends with a newline once something was drawn."""

    def __init__(self, title: str, stream: TextIO | None = None) -> None:
        self._title = title
        self._stream = stream or sys.stderr
        self._throttle = Throttle()
        self._drawn = False

    def update(self, progress: Progress) -> None:
        self._throttle.offer(progress, self._draw)

    def _draw(self, progress: Progress) -> None:
        filled = round(_BAR_WIDTH * progress.fraction)
        bar = "█" * filled + "░" * (_BAR_WIDTH - filled)
        self._stream.write(f"\r{self._title} {bar} {label(progress)}")
        self._stream.flush()
        self._drawn = True

    def close(self, summary: str = "") -> None:
        if self._throttle.pending is not None:
            self._draw(self._throttle.pending)
        if self._drawn:
            self._stream.write("\n")
            self._stream.flush()
        if summary:
            print(summary)


def bar_html(title: str, progress: Progress) -> str:
    """A themed bar and the counts line, as plain HTML (no widget)."""
    percent = 100 * settled(progress) / progress.total if progress.total else 100
    track = "var(--jp-layout-color3, #bdbdbd)"
    fill = "var(--jp-brand-color1, #1976d2)"
    return (
        f'<div class="scp-progress" style="display:flex;align-items:center;gap:8px;flex-wrap:wrap">'
        f"<b>{html.escape(title)}</b>"
        f'<span style="display:inline-block;width:240px;max-width:100%;height:10px;border-radius:5px;'
        f'background:{track};overflow:hidden"><span style="display:block;height:100%;width:{percent:.1f}%;'
        f'background:{fill}"></span></span>'
        f'<span style="font-variant-numeric:tabular-nums">{html.escape(label(progress))}</span></div>'
    )


class HtmlProgress:
    """One HTML output, shown at the first update and redrawn in place; at the end it becomes the summary."""

    def __init__(self, title: str) -> None:
        self._title = title
        self._throttle = Throttle()
        self._handle: Any = None

    def update(self, progress: Progress) -> None:
        self._throttle.offer(progress, self._show)

    def _show(self, progress: Progress) -> None:
        from IPython.display import HTML, display

        view = HTML(bar_html(self._title, progress))  # type: ignore[no-untyped-call]
        if self._handle is None:
            self._handle = display(view, display_id=True)  # type: ignore[no-untyped-call]
        else:
            self._handle.update(view)

    def close(self, summary: str = "") -> None:
        """The bar's output becomes `summary` (the bar stays as it was when there is none, e.g. an error)."""
        if self._handle is None:
            if summary:
                print(summary)
            return
        if summary:
            lines = "".join(f"<div>{html.escape(line)}</div>" for line in summary.splitlines())
            self._handle.update({"text/plain": summary, "text/html": lines}, raw=True)
        elif self._throttle.pending is not None:
            self._show(self._throttle.pending)


def in_kernel(shell: object) -> bool:
    """True inside a Jupyter kernel (which shows HTML and updates it in place), False in a terminal."""
    return type(shell).__name__ == "ZMQInteractiveShell"


def progress_display(shell: object, title: str, *, quiet: bool = False) -> ProgressDisplay:
    """The right display for where we run: nothing if quiet, HTML in a kernel, else text on stderr."""
    if quiet:
        return NoProgress()
    if in_kernel(shell):
        return HtmlProgress(title)
    return TextProgress(title)
