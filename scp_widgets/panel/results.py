"""The panel's results area: the run's summary, outcome chips, a sort, the rows (the results view), and
the actions on a finished run: Retry failed, Resume cancelled, Copy failed ids, Download CSV, the journal.

Rows stream in while a run goes (`stream`), the finished run replaces them (`show`), and `clear` empties
the area when the next run starts. Copy and downloads happen in the browser (a clipboard call and data
links), so nothing runs in the kernel for them.
"""

from __future__ import annotations

import html
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import quote

import ipywidgets as w
import pandas as pd

from scp_widgets.engine.rerun import cancelled_ids, failed_ids
from scp_widgets.engine.results import SECTIONS, Section, sections, to_frame
from scp_widgets.panel.run_charts import RunCharts
from scp_widgets.panel.run_status import STREAM_ROWS, RecentRows
from scp_widgets.views.results_view import CSS, SORT_LABELS, copy_button, run_html, summary_html

#: Data links above this size are left out (the browser would hold them in the page and the widget state, and
#: encoding them costs the kernel a second at 10,000 rows): say so instead.
MAX_LINK_BYTES = 1_000_000
#: While a run goes, seconds between redraws of a long table, at least; and at most this share of the loop
#: thread's time goes to redrawing it (the sends share that thread: a 50,000-row run must not slow down).
STREAM_INTERVAL = 0.5
STREAM_SHARE = 0.05
_CHIP_TITLES = {
    "all": "All", "failed": "Failed", "unfinished": "Did not finish", "cancelled": "Cancelled",
    "succeeded": "Succeeded",
}  # fmt: skip


def data_link(data: bytes | None, filename: str, mime: str, text: str, title: str = "", instead: str = "") -> str:
    """A download link holding `data`; past MAX_LINK_BYTES (or None: known to be too large) a note saying
    what to do `instead`."""
    if data is None or len(data) > MAX_LINK_BYTES:
        return (
            f"<span title='{html.escape(title)}'>{html.escape(text)}: too large for a link{html.escape(instead)}</span>"
        )
    # Percent-encoded, not base64: the text stays readable, and no long base64 run (the shape of a
    # signature, which the saved-notebook checks look for) enters the widget state.
    encoded = quote(data.decode("utf-8", errors="replace"), safe="")
    return (
        f'<a class="scp-link" download="{html.escape(filename)}" href="data:{mime},{encoded}" '
        f'title="{html.escape(title or filename)}">{html.escape(text)}</a>'
    )


def links_html(frame: pd.DataFrame) -> str:
    """Copy failed ids, Download CSV and the journal, as one line."""
    attrs = frame.attrs
    run = f"scp-{attrs.get('action', 'run')}-{attrs.get('run_id', 'results')}"
    parts = []
    failed = failed_ids(frame)
    if failed:
        label = f"❐ Copy failed ids ({len(failed)})"
        parts.append(copy_button("\n".join(failed), label, "Copy the failed ids", "jupyter-button scp-action"))
    # Sized from a sample first: building a CSV too large for a link costs the kernel 0.3 s at 10,000 rows.
    sample = len(frame.head(50).to_csv(index=False).encode("utf-8")) * len(frame) / max(1, min(50, len(frame)))
    csv = frame.to_csv(index=False).encode("utf-8") if sample <= 2 * MAX_LINK_BYTES else None
    csv_instead = "; use panel.results.to_csv(path)"
    parts.append(data_link(csv, f"{run}.csv", "text/csv;charset=utf-8", "↓ Download CSV", instead=csv_instead))
    journals = attrs.get("journals") or ([attrs["journal"]] if attrs.get("journal") else [])
    for journal in journals:  # a run over several regions wrote one journal per region
        path = Path(str(journal))
        try:
            content = path.read_bytes()
        except OSError:
            parts.append(
                f"<span title='{html.escape(str(path))}'>journal: {html.escape(path.name)} (unreadable)</span>"
            )
        else:
            link = data_link(
                content, path.name, "application/x-ndjson", f"journal: {path.name}", str(path), "; copy its path"
            )
            parts.append(link)
            parts.append(copy_button(str(path), "❐", "Copy the journal's path"))
    if not journals:
        parts.append("<span class='scp-muted'>no journal for this run</span>")
    body = " &nbsp;·&nbsp; ".join(parts[1:]) if failed else " &nbsp;·&nbsp; ".join(parts)
    if failed:
        body = f"{parts[0]} {body}"
    links = f"<div class='scp-links' style='overflow-wrap:anywhere'>{body}</div>"
    return f"<div class='scp-run'><style>{CSS}</style>{links}</div>"


class ResultsArea(w.VBox):  # type: ignore[misc]  # ipywidgets ships no type hints
    def __init__(self, on_retry: Callable[[], None], on_resume: Callable[[], None]) -> None:
        self.summary_html = w.HTML(layout=w.Layout(width="auto", min_width="0"))
        self.chips = w.ToggleButtons(
            options=[("All", "all")], value="all", style={"button_width": "auto"}, layout=w.Layout(width="auto")
        )
        self.sort_dropdown = w.Dropdown(
            options=[(label, key) for key, label in SORT_LABELS.items()], value="attention", description="Sort",
            layout=w.Layout(width="220px"), style={"description_width": "36px"},
        )  # fmt: skip
        fit = w.Layout(width="auto")  # the count in the label must never be cut ("Resume cancel…")
        self.retry_button = w.Button(description="Retry failed", icon="redo", tooltip="Retry failed", layout=fit)
        self.resume_button = w.Button(
            description="Resume cancelled", icon="play", tooltip="Resume cancelled", layout=w.Layout(width="auto")
        )
        self.links_html = w.HTML(layout=w.Layout(width="auto", min_width="0"))
        self.table_html = w.HTML(layout=w.Layout(width="auto", min_width="0"))
        self.charts = RunCharts()  # the last run's timeline and the fleet's coverage, under the table
        self.retry_button.on_click(lambda _: on_retry())
        self.resume_button.on_click(lambda _: on_resume())
        self.chips.observe(lambda _: self._redraw(), names="value")
        self.sort_dropdown.observe(lambda _: self._redraw(), names="value")
        wrap = w.Layout(flex_flow="row wrap", align_items="center", width="auto")
        self.toolbar = w.HBox([self.chips, self.sort_dropdown], layout=wrap)
        self.actions = w.HBox([self.retry_button, self.resume_button, self.links_html], layout=w.Layout(
            flex_flow="row wrap", align_items="center", width="auto"))  # fmt: skip
        self._frame: pd.DataFrame | None = None
        self._names: Mapping[str, str] = {}
        self._redrawing = False
        self._next_stream = 0.0
        super().__init__(
            [self.summary_html, self.toolbar, self.actions, self.table_html, self.charts],
            layout=w.Layout(width="auto", min_width="0"),
        )
        self.clear()

    @property
    def frame(self) -> pd.DataFrame | None:
        return self._frame

    def clear(self) -> None:
        """Empty the area (the start of a run): the old table must not stay on screen meanwhile."""
        self._frame = None
        self.charts.show_run_soon(None)
        self.summary_html.value = self.links_html.value = self.table_html.value = ""
        self.toolbar.layout.display = self.actions.layout.display = "none"

    def stream(self, recent: RecentRows, names: Mapping[str, str]) -> None:
        """The newest rows finished so far, failures first (no summary, chips or actions until the end); at
        most STREAM_ROWS a section, redrawn at most every STREAM_INTERVAL: a big run must not flood the
        browser, and a redraw must not cost more as the run grows."""
        now = time.monotonic()
        if now < self._next_stream and len(recent) > STREAM_ROWS:
            return
        frame = to_frame(recent.rows())
        self.table_html.value = run_html(frame, names, summary=False, limit=STREAM_ROWS, totals=recent.totals)
        cost = time.monotonic() - now
        self._next_stream = now + max(STREAM_INTERVAL, cost / STREAM_SHARE)

    def show(self, frame: pd.DataFrame, names: Mapping[str, str]) -> None:
        self._frame, self._names = frame, dict(names)
        self.summary_html.value = f"<div class='scp-run'><style>{CSS}</style>{summary_html(frame)}</div>"
        self.links_html.value = links_html(frame)
        failed, cancelled = failed_ids(frame), cancelled_ids(frame)
        self.retry_button.disabled, self.retry_button.description = not failed, f"Retry failed ({len(failed)})"
        self.retry_button.layout.display = None if failed else "none"  # never a "(0)" button after a clean run
        self.resume_button.disabled = not cancelled
        self.resume_button.description = f"Resume cancelled ({len(cancelled)})"
        self.resume_button.layout.display = None if cancelled else "none"
        counts = sections(frame).value_counts()
        options = [(f"All {len(frame)}", "all")] + [
            (f"{_CHIP_TITLES[s]} {int(counts.get(s, 0))}", s) for s in SECTIONS if counts.get(s, 0)
        ]
        self._redrawing = True
        try:
            self.chips.options = options
            self.chips.value = "all"
        finally:
            self._redrawing = False
        self.toolbar.layout.display = self.actions.layout.display = "flex"
        self._redraw()
        self.charts.show_run_soon(frame)

    def _redraw(self, *_: Any) -> None:
        if self._redrawing or self._frame is None:
            return
        chip = self.chips.value
        show: tuple[Section, ...] = SECTIONS if chip == "all" else (chip,)
        self.table_html.value = run_html(
            self._frame, self._names, show=show, sort=self.sort_dropdown.value, summary=False
        )
