"""The drift guard's notebook face: its rule, last and next check, servers locked so far, and a Stop button.

Updated from the guard's loop thread by setting traits only (safe from any thread), after every check.
"""

from __future__ import annotations

import datetime as dt
import html
from typing import Any

import ipywidgets as w

from scp_widgets.client.credentials import wrap_secret
from scp_widgets.fleet.guard import Guard
from scp_widgets.views.results_view import local_time


def _when(moment: dt.datetime | None) -> str:
    """Local time, as the panel's tables show it (UTC stamps stay in `actions`)."""
    return local_time(moment) or "-" if moment is not None else "-"


class GuardWidget(w.VBox):  # type: ignore[misc]  # ipywidgets ships no type hints
    def __init__(self, guard: Guard) -> None:
        self.guard = guard
        self.rule_html = w.HTML()
        self.status_html = w.HTML()
        self.stop_button = w.Button(description="Stop", icon="stop", tooltip="Stop the drift guard")
        self.stop_button.on_click(lambda _: guard.stop(wait=False))
        super().__init__([self.rule_html, w.HBox([self.status_html, self.stop_button])])
        guard.on_change(lambda _: self.refresh())
        self.refresh()

    def refresh(self) -> None:
        g = self.guard
        self.rule_html.value = f"<b>Drift guard</b> · every {g.every:g} s · where <code>{html.escape(g.where)}</code>"
        state = "running" if g.running and not g._stopped.is_set() else "stopped"
        parts = [
            state,
            f"last check {_when(g.last_check)}",
            f"next check {_when(g.next_check) if state == 'running' else '-'}",
            f"{g.locked_so_far} locked so far",
        ]
        if g.last_error:
            parts.append(f"last check failed: {g.last_error}")
        parts.extend(f"{region} not checked: {why}" for region, why in g.region_errors.items())
        self.status_html.value = html.escape(" · ".join(parts))
        self.stop_button.disabled = state == "stopped"


class ShownGuard(Guard):
    """A `Guard` that shows itself as a `GuardWidget` in a notebook (the fleet layer knows no widgets)."""

    def _ipython_display_(self) -> None:
        from IPython.display import display

        display(GuardWidget(self))  # type: ignore[no-untyped-call]


def guard(where: str, every: float = 60.0, **options: Any) -> Guard:
    """Start a drift guard: every `every` seconds, lock the servers matching `where` that read unlocked.

    Options as for `lock` (regions=, endpoints=, credentials, concurrency, journal, ...). Returns at once;
    `g.stop()` ends it, `g.actions` is what it did; in a notebook `g` shows a small status widget.
    """
    wrap_secret(options)
    return ShownGuard(where, every, options)
