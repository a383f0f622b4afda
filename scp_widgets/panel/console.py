"""`LockConsole`: the lock panel with pictures beside its table, the page `scp-widgets app` serves.

    from scp_widgets.panel.console import LockConsole
    LockConsole()                    # the panel; the fleet's lock coverage and the last run's timeline beside it
    LockConsole(read_only=True)      # list, history and charts only: no Lock, no Unlock, and the API refuses

`read_only=None` follows `SCP_WIDGETS_READ_ONLY` (what `scp-widgets app --read-only` sets for its kernels).
Charts are drawn by `RunCharts` (Vega-Lite specs in `Output` widgets, which JupyterLab and Voila draw); the
coverage comes from its own listing, refreshed with the panel's list and after every run.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import ipywidgets as w
import pandas as pd

from scp_widgets.api import alist_servers
from scp_widgets.client.loop_thread import background_loop
from scp_widgets.engine.read_only import read_only as read_only_setting
from scp_widgets.panel.jobs import Jobs
from scp_widgets.panel.lock_panel import LockPanel
from scp_widgets.panel.run_charts import RunCharts

#: LockPanel options that also say where and as whom to list (the coverage's own listing uses them).
_LISTING = ("endpoint", "region", "environment", "access_key", "secret_key", "transport", "endpoints")
READ_ONLY_NOTE = "Read-only console: list, history and charts; locking and unlocking are turned off here."


class LockConsole(w.VBox):  # type: ignore[misc]  # ipywidgets ships no type hints
    """The operator's console: `LockPanel`, the run's timeline and the fleet's coverage."""

    def __init__(
        self, *, read_only: bool | None = None, regions: str | Sequence[str] | None = None, **panel_options: Any
    ) -> None:
        self.read_only = read_only_setting() if read_only is None else read_only
        self._listing = {k: panel_options[k] for k in _LISTING if panel_options.get(k) is not None}
        if regions:
            self._listing["regions"] = regions
        self._jobs = Jobs()
        self._charted: pd.DataFrame | None = None
        self.panel = LockPanel(regions=regions, **panel_options)
        self.charts = RunCharts()
        children: list[w.Widget] = [self.panel, self.charts]
        if self.read_only:
            for button in self.change_buttons:
                button.layout.display = "none"
            children.insert(0, w.HTML(f"<div class='scp-read-only'>{READ_ONLY_NOTE}</div>"))
        super().__init__(children, layout=w.Layout(width="auto", min_width="0"))
        self.add_class("scp-console")
        # a run ends with Cancel disabled again (after panel.results is set and running is False)
        self.panel.cancel_button.observe(lambda _: self._maybe_chart_run(), names="disabled")
        self.panel.refresh_button.on_click(lambda _: self.refresh_coverage())
        self.refresh_coverage()

    @property
    def change_buttons(self) -> tuple[w.Button, ...]:
        """The buttons that change servers (hidden in a read-only console)."""
        area = self.panel.results_area
        return (self.panel.lock_button, self.panel.unlock_button, area.retry_button, area.resume_button)

    def refresh_coverage(self) -> None:
        """List the fleet again in the background and redraw the coverage (callable from any thread, the
        loop's own included: a run's end is seen there)."""
        future = asyncio.run_coroutine_threadsafe(alist_servers(**self._listing), background_loop().loop)
        self._jobs.track(future, self._draw_coverage, self._listing_failed)

    def wait(self, timeout: float | None = None) -> None:
        """Block until the panel's work and the console's listings are done and shown."""
        self.panel.wait(timeout)
        self._jobs.wait(timeout)

    def _maybe_chart_run(self) -> None:
        frame = self.panel.results
        if frame is None or frame is self._charted or self.panel.running:
            return
        self._charted = frame
        self.charts.show_run(frame)
        self.refresh_coverage()  # the run changed lock states

    def _draw_coverage(self, servers: pd.DataFrame) -> None:
        self.charts.show_coverage(servers)

    def _listing_failed(self, reason: str) -> None:
        self.charts.failed("the fleet's coverage", reason)
