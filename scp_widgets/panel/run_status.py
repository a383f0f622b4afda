"""The panel's run status: a progress bar with the counts (and one line per region), and one status line.

Progress comes from the loop thread once per finished server; the bar and counts are redrawn at most ~10
times a second (`Throttle`), and the bar's colour at the end says how the run went. The rows a running table
shows are the newest few of each section (`RecentRows`), so a redraw costs the same at 50 servers and at
50,000.
"""

from __future__ import annotations

import html
from collections import deque
from collections.abc import Callable, Mapping

import ipywidgets as w
import pandas as pd

from scp_widgets.engine.bulk import Progress
from scp_widgets.engine.results import SECTIONS, Section, ServerResult, section_of
from scp_widgets.panel.chooser import fill
from scp_widgets.panel.status import Level, common_failure, status_line
from scp_widgets.views.progress import Throttle, label, settled
from scp_widgets.views.results_view import level_of

_BAR_STYLES = {"ok": "success", "warn": "warning", "error": "danger"}
_BAR_COLOURS = {
    "": "var(--jp-brand-color1,#1976d2)", "success": "var(--jp-success-color1,#388e3c)",
    "warning": "#b45309", "danger": "var(--jp-error-color1,#d32f2f)",
}  # fmt: skip
#: Rows per section a running table shows: the newest; the whole frame replaces them at the end.
STREAM_ROWS = 100


def verdict(frame: pd.DataFrame) -> tuple[Level, str]:
    """The status line after a run: the one reason when everything failed alike, else a deprecation note."""
    failure = None if frame.attrs.get("cancelled") else common_failure(frame)
    if failure:
        return "error", failure
    if frame.attrs.get("warning"):
        return "warn", str(frame.attrs["warning"])
    return "info", ""


class RecentRows:
    """The newest `limit` finished rows of each section, and how many rows each section holds in all."""

    def __init__(self, limit: int = STREAM_ROWS) -> None:
        self._rows: dict[Section, deque[ServerResult]] = {s: deque(maxlen=limit) for s in SECTIONS}
        self.totals: dict[Section, int] = dict.fromkeys(SECTIONS, 0)

    def add(self, row: ServerResult) -> None:
        section = section_of(str(row.outcome))
        self._rows[section].append(row)
        self.totals[section] += 1

    def rows(self) -> list[ServerResult]:
        return [row for section in SECTIONS for row in self._rows[section]]

    def __len__(self) -> int:
        return sum(self.totals.values())


class ProgressBar:
    """The run's bar, drawn as HTML with the progressbar role and its values (IntProgress has neither, so a
    screen reader hears nothing); `value`, `max` and `bar_style` as on IntProgress, `widget` to lay out."""

    def __init__(self) -> None:
        self.widget = w.HTML(layout=w.Layout(width="240px", min_width="0"))
        self._value, self._max, self._style = 0, 1, ""
        self._draw()

    @property
    def value(self) -> int:
        return self._value

    @value.setter
    def value(self, value: int) -> None:
        self._value = value
        self._draw()

    @property
    def max(self) -> int:
        return self._max

    @max.setter
    def max(self, value: int) -> None:
        self._max = max(value, 1)
        self._draw()

    @property
    def bar_style(self) -> str:
        return self._style

    @bar_style.setter
    def bar_style(self, style: str) -> None:
        self._style = style
        self._draw()

    def _draw(self) -> None:
        percent = 100 * min(self._value, self._max) / self._max
        style = f" bar-{self._style}" if self._style else ""
        self.widget.value = (
            f'<div class="scp-bar" role="progressbar" aria-label="Run progress" aria-valuemin="0" '
            f'aria-valuemax="{self._max}" aria-valuenow="{self._value}" style="height:14px;border-radius:3px;'
            f'background:var(--jp-layout-color3,#bdbdbd);overflow:hidden;margin:4px 0">'
            f'<div class="progress-bar{style}" style="height:100%;width:{percent:.1f}%;'
            f'background:{_BAR_COLOURS[self._style]}"></div></div>'
        )


class RunStatus:
    """The bar, its counts and the status line (three widgets the panel lays out)."""

    def __init__(self) -> None:
        self.progress_bar = ProgressBar()
        self.counts_label = w.HTML(layout=w.Layout(min_width="0"))
        self.status_html = w.HTML(layout=fill())
        self.recent = RecentRows()
        self._throttle = Throttle()

    def start(self, total: int) -> None:
        self.recent = RecentRows()
        self._throttle = Throttle()
        self.progress_bar.bar_style = ""
        self.progress_bar.max, self.progress_bar.value = max(total, 1), 0
        self.show_label(f"0/{total}")

    def offer(self, progress: Progress, draw_rows: Callable[[RecentRows], None]) -> None:
        """On the loop thread, once per event: keep the newest rows, redraw at most ~10 times a second."""
        if progress.last is not None:
            self.recent.add(progress.last)

        def draw(latest: Progress) -> None:
            self.show_progress(latest)
            if len(self.recent):
                draw_rows(self.recent)

        self._throttle.offer(progress, draw)

    def show_progress(self, progress: Progress) -> None:
        self.progress_bar.max = max(progress.total, 1)
        self.progress_bar.value = settled(progress)
        self.show_label(label(progress), progress.regions)

    def finish(self, frame: pd.DataFrame) -> None:
        self.progress_bar.max = max(len(frame), 1)
        self.progress_bar.value = len(frame)
        counts = {str(k): int(v) for k, v in frame["outcome"].value_counts().items() if v}
        self.show_label(label(Progress(len(frame), len(frame), counts, 0.0)))
        self.progress_bar.bar_style = _BAR_STYLES[level_of(frame)]

    def show_label(self, text: str, regions: Mapping[str, Progress] | None = None) -> None:
        lines = "".join(
            f"<div style='font-size:11px;color:var(--jp-ui-font-color2,#616161)'>"
            f"{html.escape(name)}: {html.escape(label(part))}</div>"
            for name, part in sorted((regions or {}).items())
        )
        self.counts_label.value = f"<span style='font-variant-numeric:tabular-nums'>{html.escape(text)}</span>{lines}"

    def say(self, level: Level, text: str) -> None:
        self.status_html.value = status_line(level, text)
