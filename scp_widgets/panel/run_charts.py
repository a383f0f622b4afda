"""`RunCharts`: a run's timeline and the fleet's lock coverage, side by side, for a panel to show beside its
table.

    charts = RunCharts()
    charts.show_run(result)            # a lock/unlock result frame: its timeline
    charts.show_coverage(servers)      # a list_servers() frame: servers per region and state
    charts.clear()

Each picture is drawn into an `Output` widget as a Vega-Lite spec (JupyterLab and Voila draw it natively,
offline); a picture with nothing to show is hidden, and so is the whole box while both are. A chart that
fails to draw leaves one muted line, never an exception in the caller's callback. The specs carry only the
columns they draw (see `views.charts`): no endpoint, key or message enters the widget state.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import ipywidgets as w
import pandas as pd

from scp_widgets.views import charts

logger = logging.getLogger(__name__)
_shared_drawer: ThreadPoolExecutor | None = None
_drawer_lock = threading.Lock()


def _drawer() -> ThreadPoolExecutor:
    """One drawing thread for every panel, started on first use: drawings land in the order asked, so the
    newest run's picture is the one left, and a notebook of many panels holds one thread, not one each."""
    global _shared_drawer
    with _drawer_lock:
        if _shared_drawer is None:
            _shared_drawer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="scp-widgets-charts")
        return _shared_drawer


class RunCharts(w.HBox):  # type: ignore[misc]  # ipywidgets ships no type hints
    """The last run's timeline and the fleet's coverage; hidden while there is nothing to draw."""

    def __init__(self, *, run_title: str = "Last run", coverage_title: str = "Fleet") -> None:
        self.timeline_output = w.Output(layout=w.Layout(min_width="0"))
        self.coverage_output = w.Output(layout=w.Layout(min_width="0"))
        self.timeline_box = w.VBox([w.HTML(f"<b>{run_title}</b>"), self.timeline_output])
        self.timeline_box.add_class("scp-timeline")
        self.coverage_box = w.VBox([w.HTML(f"<b>{coverage_title}</b>"), self.coverage_output])
        self.coverage_box.add_class("scp-coverage")
        self.error = w.HTML()
        super().__init__(
            [self.timeline_box, self.coverage_box, self.error],
            layout=w.Layout(flex_flow="row wrap", width="auto", min_width="0"),
        )
        self.add_class("scp-run-charts")
        self._last: Future[bool] | None = None
        self.clear()

    def show_run_soon(self, frame: pd.DataFrame | None) -> None:
        """`show_run` on the drawing thread: a panel's results table and buttons do not wait for the picture
        (a 10,000-row run's timeline costs a few tenths of a second)."""
        self._last = _drawer().submit(self.show_run, frame)

    def show_coverage_soon(self, servers: pd.DataFrame | None) -> None:
        self._last = _drawer().submit(self.show_coverage, servers)

    def wait(self, timeout: float | None = None) -> None:
        """Block until every drawing asked for so far is done (for tests and scripts)."""
        last = self._last
        if last is not None:
            last.result(timeout)

    def show_run(self, frame: pd.DataFrame | None) -> bool:
        """Draw `frame`'s timeline (a lock/unlock result); an empty or missing frame hides it. True if drawn."""
        return self._draw(self.timeline_box, self.timeline_output, frame, charts.timeline, "the run's timeline")

    def show_coverage(self, servers: pd.DataFrame | None) -> bool:
        """Draw the lock coverage of `servers` (a list_servers() frame); empty or missing hides it."""
        return self._draw(self.coverage_box, self.coverage_output, servers, charts.coverage, "the fleet's coverage")

    def clear(self) -> None:
        """Hide both pictures (and so the box)."""
        for box, output in ((self.timeline_box, self.timeline_output), (self.coverage_box, self.coverage_output)):
            output.outputs = ()
            box.layout.display = "none"
        self.error.value = ""
        self._fit()

    def failed(self, what: str, reason: object) -> None:
        """Say in one muted line that `what` could not be drawn (or listed)."""
        self.error.value = f"<span class='scp-muted'>Could not draw {what}: {reason}</span>"
        self._fit()

    @property
    def hidden(self) -> bool:
        return bool(self.layout.display == "none")

    def _draw(
        self, box: w.VBox, output: w.Output, frame: pd.DataFrame | None, draw: Callable[[pd.DataFrame], Any], what: str
    ) -> bool:
        if frame is None or frame.empty:
            output.outputs = ()
            box.layout.display = "none"
            self._fit()
            return False
        try:  # a picture that fails must not cost the caller its run (this often runs inside a callback)
            chart = draw(frame)
        except Exception as exc:
            logger.exception("drawing %s failed", what)
            self.failed(what, exc)
            return False
        # Set, not clear_output() + append: that asks a front end and leaves this trait as it was. The spec is
        # not schema-checked here (0.8 s for a 2,000-row timeline on a run's critical path): views/charts
        # builds it from fixed code, which the tests validate.
        bundle = charts.native_bundle(chart.to_dict(validate=False))
        output.outputs = ({"output_type": "display_data", "data": bundle, "metadata": {}},)
        box.layout.display = None
        self.error.value = ""
        self._fit()
        return True

    def _fit(self) -> None:
        shown = any(b.layout.display != "none" for b in (self.timeline_box, self.coverage_box)) or self.error.value
        self.layout.display = None if shown else "none"
