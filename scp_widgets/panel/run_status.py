"""The panel's run status: a progress bar with the counts, and one status line.

Progress comes from the loop thread once per finished server; the bar and counts are redrawn at most ~10
times a second (`Throttle`), and the bar's colour at the end says how the run went.
"""

from __future__ import annotations

import html
from collections.abc import Callable

import ipywidgets as w
import pandas as pd

from scp_widgets.engine.bulk import Progress
from scp_widgets.engine.results import ServerResult
from scp_widgets.panel.chooser import fill
from scp_widgets.panel.status import Level, common_failure, status_line
from scp_widgets.views.progress import Throttle, label, settled
from scp_widgets.views.results_view import level_of

_BAR_STYLES = {"ok": "success", "warn": "warning", "error": "danger"}


def verdict(frame: pd.DataFrame) -> tuple[Level, str]:
    """The status line after a run: the one reason when everything failed alike, else a deprecation note."""
    failure = None if frame.attrs.get("cancelled") else common_failure(frame)
    if failure:
        return "error", failure
    if frame.attrs.get("warning"):
        return "warn", str(frame.attrs["warning"])
    return "info", ""


class RunStatus:
    """The bar, its counts and the status line (three widgets the panel lays out)."""

    def __init__(self) -> None:
        self.progress_bar = w.IntProgress(value=0, min=0, max=1, layout=w.Layout(width="240px"))
        self.counts_label = w.HTML(layout=w.Layout(min_width="0"))
        self.status_html = w.HTML(layout=fill())
        self._rows: list[ServerResult] = []
        self._throttle = Throttle()

    def start(self, total: int) -> None:
        self._rows = []
        self._throttle = Throttle()
        self.progress_bar.bar_style = ""
        self.progress_bar.max, self.progress_bar.value = max(total, 1), 0
        self.show_label(f"0/{total}")

    def offer(self, progress: Progress, draw_rows: Callable[[list[ServerResult]], None]) -> None:
        """On the loop thread, once per event: keep every finished row, redraw at most ~10 times a second."""
        if progress.last is not None:
            self._rows.append(progress.last)

        def draw(latest: Progress) -> None:
            self.show_progress(latest)
            if self._rows:
                draw_rows(list(self._rows))

        self._throttle.offer(progress, draw)

    def show_progress(self, progress: Progress) -> None:
        self.progress_bar.max = max(progress.total, 1)
        self.progress_bar.value = settled(progress)
        self.show_label(label(progress))

    def finish(self, frame: pd.DataFrame) -> None:
        self.progress_bar.max = max(len(frame), 1)
        self.progress_bar.value = len(frame)
        counts = {str(k): int(v) for k, v in frame["outcome"].value_counts().items() if v}
        self.show_label(label(Progress(len(frame), len(frame), counts, 0.0)))
        self.progress_bar.bar_style = _BAR_STYLES[level_of(frame)]

    def show_label(self, text: str) -> None:
        self.counts_label.value = f"<span style='font-variant-numeric:tabular-nums'>{html.escape(text)}</span>"

    def say(self, level: Level, text: str) -> None:
        self.status_html.value = status_line(level, text)
