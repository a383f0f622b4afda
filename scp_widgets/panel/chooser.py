"""The panel's server chooser: the fleet's list with a filter, what is picked, and the lock marks.

Picks are kept by id in list order and survive the filter (a pick hidden by the filter stays picked). The
listing arrives from the background loop through `load`; every change calls `on_change`, which redraws the
panel's target line.
"""

from __future__ import annotations

import html
import threading
from collections.abc import Callable
from typing import Any

import ipywidgets as w
import pandas as pd

from scp_widgets.engine.results import SUCCESSES

# Picked rows in the list: the theme's strongest text on its third layout colour, bold (the browser's default
# is grey on grey in a dark theme); >= 6:1 in the light, dark and high-contrast themes. Chrome paints an
# option's background only through a gradient.
_PICKED = "var(--jp-layout-color3,#bdbdbd)"
CHOOSER_CSS = (
    ".scp-panel .widget-select-multiple select option:checked{"
    f"background:{_PICKED} linear-gradient(0deg,{_PICKED},{_PICKED});"
    "color:var(--jp-ui-font-color0,#000);font-weight:600}"
    # The Unlock button: white on JupyterLab's warning orange (#f57c00) is 2.7:1; this amber is 5.0:1.
    ".scp-panel .jupyter-button.mod-warning{background-color:#b45309;color:#fff}"
)


def fill() -> w.Layout:
    # "auto" stretches to the column; "100%" overflows it by the widget's own margin.
    return w.Layout(width="auto")


def muted(text: str) -> str:
    return f"<span style='color:var(--jp-ui-font-color2,#616161)'>{html.escape(text)}</span>"


def panel_title(endpoint: str) -> str:
    where = f" {muted('· ' + endpoint)}" if endpoint else ""
    return f"<style>{CHOOSER_CSS}</style><b style='font-size:14px'>SCP virtual servers: lock / unlock</b>{where}"


def server_label(row: Any) -> str:
    """'web-001 · ACTIVE · locked · 2a9be312': name first for scanning, a short id to tell twins apart."""
    parts = [str(row.name) if not pd.isna(row.name) else "(no name)", str(row.state)]
    if "region" in row._fields and not pd.isna(row.region):
        parts.insert(1, str(row.region))
    if not pd.isna(row.locked) and bool(row.locked):
        parts.append("locked")
    parts.append(str(row.id)[:8])
    return " · ".join(parts)


class ServerChooser(w.VBox):  # type: ignore[misc]  # ipywidgets ships no type hints
    """The list column of the panel: filter, Refresh, the list, Select shown, Clear and a hint."""

    def __init__(self, on_change: Callable[[], None], on_refresh: Callable[[], None]) -> None:
        self._on_change = on_change
        self._guard = threading.RLock()
        self._fleet: pd.DataFrame | None = None
        self._labels: dict[str, str] = {}
        self._picked: list[str] = []
        self._syncing = False
        self._marks_stale = False
        self.filter_box = w.Text(
            placeholder="Filter: name, state, id or 'locked' (space = and)", layout=w.Layout(flex="1 1 auto")
        )
        self.refresh_button = w.Button(description="Refresh", icon="refresh", tooltip="Reload the server list")
        self.selector = w.SelectMultiple(options=[], rows=12, layout=fill())
        self.select_shown_button = w.Button(description="Select shown", layout=w.Layout(width="auto"))
        self.clear_button = w.Button(
            description="Clear", layout=w.Layout(width="auto"), tooltip="Clear the picks and the paste box"
        )
        self.hint_html = w.HTML()
        self.filter_box.observe(lambda _: self.show(), names="value")
        self.selector.observe(self._on_select, names="value")
        self.refresh_button.on_click(lambda _: on_refresh())
        self.select_shown_button.on_click(lambda _: self.pick_shown())
        super().__init__(
            [
                w.HTML("<b>Servers</b>"),
                w.HBox([self.filter_box, self.refresh_button], layout=fill()),
                self.selector,
                w.HBox(
                    [self.select_shown_button, self.clear_button, self.hint_html],
                    layout=w.Layout(align_items="center", flex_flow="row wrap"),
                ),
            ],
            layout=w.Layout(flex="3 1 480px", min_width="0", margin="0 16px 0 0"),
        )

    @property
    def picked(self) -> list[str]:
        with self._guard:
            return list(self._picked)

    def load(self, fleet: pd.DataFrame) -> None:
        """A new listing: the list redrawn, picks of servers no longer listed dropped."""
        with self._guard:
            self._fleet = fleet.sort_values(["name", "id"], na_position="last", ignore_index=True)
            self._labels = {str(row.id): server_label(row) for row in self._fleet.itertuples()}
            self._picked = [i for i in self._picked if i in self._labels]
        self.show()

    def clear(self) -> None:
        with self._guard:
            self._picked = []
        self.show()

    def show(self) -> None:
        """Fill the list from the filter; picks hidden by the filter are kept, not dropped."""
        with self._guard:
            shown = self._shown_ids()
            visible = set(shown)
            self._syncing = True
            try:
                self.selector.options = [(self._labels[i], i) for i in shown]
                self.selector.value = tuple(i for i in self._picked if i in visible)
                self._marks_stale = False
            finally:
                self._syncing = False
        self._on_change()

    def pick_shown(self) -> None:
        with self._guard:
            chosen = set(self._picked) | set(self._shown_ids())
            self._picked = [i for i in self._labels if i in chosen]
        self.show()

    def hint(self) -> str:
        shown = len(self.selector.options)
        hidden = len(self._picked) - len(self.selector.value)
        hint = f"{shown} of {len(self._labels)} shown · {len(self._picked)} picked"
        hint += f" ({hidden} hidden by the filter)" if hidden else ""
        if self._marks_stale:
            hint += " · lock marks update on the next filter or Refresh"
        self.hint_html.value = muted(hint)
        return hint

    def lock_marks(self) -> dict[str, bool]:
        fleet = self._fleet
        if fleet is None:
            return {}
        return {str(i): bool(v) for i, v in zip(fleet["id"], fleet["locked"], strict=True) if not pd.isna(v)}

    def region_counts(self, ids: list[str]) -> dict[str, int]:
        """How many of `ids` each region holds, per the listing (empty for a single endpoint)."""
        fleet = self._fleet
        if fleet is None or "region" not in fleet.columns or fleet["region"].isna().all():
            return {}
        home = dict(zip(fleet["id"].astype(str), fleet["region"].astype(str), strict=True))
        counts: dict[str, int] = {}
        for server_id in ids:
            region = home.get(server_id, "not listed")
            counts[region] = counts.get(region, 0) + 1
        return counts

    def names(self) -> dict[str, str]:
        fleet = self._fleet
        if fleet is None:
            return {}
        return {str(i): str(n) for i, n in zip(fleet["id"], fleet["name"], strict=True) if not pd.isna(n)}

    def note_lock_states(self, frame: pd.DataFrame) -> None:
        """Update the 'locked' marks from what the run read back, without another listing call."""
        with self._guard:
            fleet = self._fleet
            if fleet is None:
                return
            ok = frame[frame["outcome"].astype("string").isin([str(o) for o in SUCCESSES]) & frame["locked"].notna()]
            states = dict(zip(ok["server_id"], ok["locked"], strict=True))
            fleet["locked"] = [states.get(i, old) for i, old in zip(fleet["id"], fleet["locked"], strict=True)]
            labels = {str(row.id): server_label(row) for row in fleet.itertuples()}
            # Redrawing the list's options resets its scroll position in the browser: the new marks are
            # shown at the next redraw the user asks for (filter, Refresh, Select shown, Clear).
            self._marks_stale = labels != self._labels
            self._labels = labels
        self._on_change()

    def _shown_ids(self) -> list[str]:
        terms = self.filter_box.value.lower().split()
        return [i for i, label in self._labels.items() if all(t in f"{label} {i}".lower() for t in terms)]

    def _on_select(self, change: dict[str, Any]) -> None:
        if self._syncing:
            return
        with self._guard:
            visible = {value for _, value in self.selector.options}
            chosen = set(change["new"]) | {i for i in self._picked if i not in visible}
            self._picked = [i for i in self._labels if i in chosen]
        self._on_change()
