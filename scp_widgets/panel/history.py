"""The lock panel's "History" section: past runs from the journal folder; a click shows a run's results.

A collapsed accordion at the bottom of `LockPanel`. Opening it (or Refresh) reads `history()`; each run
is a button labelled with its time, action and summary; clicking one rebuilds that run's frame with
`read_journal` and shows the same results table a live run gets. `view.results` is the shown frame.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable
from typing import Any

import ipywidgets as w
import pandas as pd

from scp_widgets.client.errors import ScpError
from scp_widgets.engine.history import history, read_history_row
from scp_widgets.engine.journal_reader import read_journal
from scp_widgets.engine.results import SUCCESSES
from scp_widgets.panel.status import muted_line, status_line
from scp_widgets.views.results_view import local_time, run_html

MAX_RUNS = 20  # the newest; %scp_history or scp_widgets.history() has them all


class HistoryView(w.Accordion):  # type: ignore[misc]  # ipywidgets ships no type hints
    """Past runs, newest first; `runs` is the history frame, `results` the run last clicked."""

    def __init__(self, folder: str | os.PathLike[str] | None = None) -> None:
        self._folder = folder
        self.runs: pd.DataFrame | None = None
        self.results: pd.DataFrame | None = None
        self.refresh_button = w.Button(description="Refresh", icon="refresh", tooltip="Read the journal folder again")
        self.note_html = w.HTML()
        self.run_buttons: list[w.Button] = []
        self.runs_box = w.VBox(layout=w.Layout(max_height="240px", overflow="auto"))
        self.detail_html = w.HTML(layout=w.Layout(width="auto"))
        self.refresh_button.on_click(lambda _: self.refresh())
        body = w.VBox([w.HBox([self.refresh_button, self.note_html]), self.runs_box, self.detail_html])
        super().__init__(children=[body], selected_index=None)
        self.set_title(0, "History")
        self.observe(self._opened, names="selected_index")

    def _opened(self, change: dict[str, Any]) -> None:
        if change["new"] == 0:
            self.refresh()

    def follow(self, widget: w.Widget, name: str = "value") -> None:
        """Refresh, when open, each time `widget.name` changes (the panel's summary: a run has ended)."""
        widget.observe(lambda _: self.refresh() if self.selected_index == 0 else None, names=name)

    def refresh(self) -> None:
        """Read the run list again (a file that is not a journal is named, not fatal)."""
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                runs = history(self._folder)
            except ScpError as exc:
                self.note_html.value = status_line("error", str(exc))
                return
        self.runs = runs
        shown = runs.head(MAX_RUNS)
        self.run_buttons = [self._button(row) for row in shown.itertuples()]
        self.runs_box.children = self.run_buttons
        note = f"{len(runs)} runs" + (f", the newest {MAX_RUNS} shown" if len(runs) > MAX_RUNS else "")
        skipped = "".join(muted_line(str(c.message)) for c in caught)
        self.note_html.value = muted_line(note if len(runs) else "No runs journaled yet.") + skipped

    def _button(self, row: Any) -> w.Button:
        when = local_time(row.started_at) or "?"  # local wall time, as the panel's results show it
        where = f" · {row.regions}" if row.regions else ""
        label = f"{when} · {row.action}{where} · {row.summary}"  # "did not finish: ..." / "running: ..." says it
        journals = list(row.journals)
        button = w.Button(
            description=label, tooltip=f"run {row.run_id}: {', '.join(journals)}", layout=_wide(),
            button_style=_STYLES[outcome_level(row)],
        )  # fmt: skip
        button.on_click(lambda _, row=row: self.show_row(row))
        return button

    def show_row(self, row: Any) -> None:
        """Show one history row's results table: a run over several regions is one table with a region column."""
        self._show(lambda: read_history_row(row))

    def show(self, journal: str, run_id: str | None = None) -> None:
        """Show one journal's run (the newest in the file, or `run_id`)."""
        self._show(lambda: read_journal(journal, run_id))

    def _show(self, read: Callable[[], pd.DataFrame]) -> None:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # a torn line is expected in a crashed run's journal
                frame = read()
        except ScpError as exc:
            self.detail_html.value = status_line("error", str(exc))
            return
        self.results = frame
        self.detail_html.value = run_html(frame)  # the same results view a live run gets


def outcome_level(row: Any) -> str:
    """'ok' when every server succeeded, 'error' when none did or the run died, else 'warn' (or running)."""
    succeeded = sum(int(getattr(row, str(o), 0) or 0) for o in SUCCESSES)
    if getattr(row, "running", False):
        return "warn"
    if not row.complete or (succeeded == 0 and row.servers):
        return "error"
    return "ok" if succeeded >= row.servers else "warn"


_STYLES = {"ok": "success", "warn": "warning", "error": "danger"}


def _wide() -> w.Layout:
    return w.Layout(width="auto", justify_content="flex-start")
