"""The panel's server chooser: the fleet's list with a filter, what is picked, and the lock marks.

Picks are a set of ids that survives the filter and the pages (a pick hidden by either stays picked). The
list shows one page of PAGE_ROWS matches at a time, so a 50,000-server fleet costs the browser what 500
servers do, and a keystroke or "Select shown" touches one page of widget state. The listing arrives from the
background loop through `load`; every change calls `on_change`, which redraws the panel's target line.
"""

from __future__ import annotations

import html
import threading
from collections.abc import Callable
from typing import Any

import ipywidgets as w
import pandas as pd

from scp_widgets.engine.results import SUCCESSES
from scp_widgets.panel.server_index import ServerIndex
from scp_widgets.panel.targets import Targets, targets

#: Rows in the list at a time: a page is what the browser holds, whatever the fleet's size.
PAGE_ROWS = 250

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
    ".scp-panel .scp-server-list{flex-direction:column;align-items:stretch}"
    # After a kernel restart the page keeps the panel, but its clicks reach nothing: ipywidgets marks every
    # view `jupyter-widgets-disconnected`, and the panel says so in words instead of looking alive.
    ".scp-panel.jupyter-widgets-disconnected::before{content:'\\26A0  The kernel restarted or stopped: this panel "
    "no longer acts. Run its cell again for a live one.';display:block;font:inherit;font-weight:600;padding:6px 8px;"
    "margin-bottom:6px;border:1px solid var(--jp-warn-color1,#b45309);color:var(--jp-ui-font-color0,#000)}"
    ".scp-panel.jupyter-widgets-disconnected>*{opacity:.45;pointer-events:none}"
    ".scp-panel .scp-server-list>.widget-label{width:auto;max-width:none;text-align:left;font-weight:bold;"
    "margin:0 0 2px 0}"
)


def fill() -> w.Layout:
    # "auto" stretches to the column; "100%" overflows it by the widget's own margin.
    return w.Layout(width="auto")


def muted(text: str) -> str:
    return f"<span style='color:var(--jp-ui-font-color2,#616161)'>{html.escape(text)}</span>"


def panel_title(endpoint: str) -> str:
    where = f" {muted('· ' + endpoint)}" if endpoint else ""
    return f"<style>{CHOOSER_CSS}</style><b style='font-size:14px'>SCP virtual servers: lock / unlock</b>{where}"


class ServerChooser(w.VBox):  # type: ignore[misc]  # ipywidgets ships no type hints
    """The list column of the panel: filter, Refresh, one page of the list, Select shown, Clear and a hint."""

    def __init__(self, on_change: Callable[[], None], on_refresh: Callable[[], None]) -> None:
        self._on_change = on_change
        self._guard = threading.RLock()
        self.index = ServerIndex()
        self._picked: set[str] = set()
        self._picked_in_order: list[str] | None = []  # cached: the target line asks on every keystroke
        self._version = 0  # one more at each change of the picks
        self._plan: tuple[tuple[int, str], Targets] | None = None
        self._shown: list[str] = []
        self._page = 0
        self._syncing = False
        self._marks_stale = False
        self.filter_box = w.Text(
            placeholder="Filter: name, region, state, 'locked' or an id's start (space = and)",
            layout=w.Layout(flex="1 1 auto"),
        )
        self.refresh_button = w.Button(description="Refresh", icon="refresh", tooltip="Reload the server list")
        # The description is the list's label (`<label for>`): its accessible name; CSS puts it above the list.
        self.selector = w.SelectMultiple(
            options=[], rows=12, layout=fill(), description="Servers", tooltip="Pick one or more (Shift- or Ctrl-click)"
        )
        self.selector.add_class("scp-server-list")
        self.previous_button = w.Button(icon="chevron-left", tooltip="Previous page", layout=w.Layout(width="36px"))
        self.next_button = w.Button(icon="chevron-right", tooltip="Next page", layout=w.Layout(width="36px"))
        self.page_html = w.HTML()
        self.select_shown_button = w.Button(
            description="Select shown", layout=w.Layout(width="auto"), tooltip="Select shown"
        )
        self.clear_button = w.Button(
            description="Clear", layout=w.Layout(width="auto"), tooltip="Clear the picks and the paste box"
        )
        self.hint_html = w.HTML()
        self.filter_box.observe(lambda _: self.show(), names="value")
        self.selector.observe(self._on_select, names="value")
        self.refresh_button.on_click(lambda _: on_refresh())
        self.select_shown_button.on_click(lambda _: self.pick_shown())
        self.previous_button.on_click(lambda _: self.turn(-1))
        self.next_button.on_click(lambda _: self.turn(+1))
        self.pager = w.HBox(
            [self.previous_button, self.page_html, self.next_button], layout=w.Layout(align_items="center")
        )
        super().__init__(
            [
                w.HBox([self.filter_box, self.refresh_button], layout=fill()),
                self.selector,
                self.pager,
                w.HBox(
                    [self.select_shown_button, self.clear_button, self.hint_html],
                    layout=w.Layout(align_items="center", flex_flow="row wrap"),
                ),
            ],
            layout=w.Layout(flex="3 1 480px", min_width="0", margin="0 16px 0 0"),
        )

    @property
    def picked(self) -> list[str]:
        """The picked ids in list order."""
        with self._guard:
            if self._picked_in_order is None:
                self._picked_in_order = self.index.in_list_order(self._picked)
            return list(self._picked_in_order)

    def plan(self, pasted_text: str) -> Targets:
        """What a run would act on: the picks, then the pasted entries resolved by name or id. Cached until
        the picks, the listing or the text change (the target line asks on every keystroke)."""
        key = (self._version, pasted_text)  # a new listing changes the version too (its picks are re-checked)
        if self._plan is None or self._plan[0] != key:
            self._plan = (key, targets(self.picked, pasted_text, self.index.by_name))
        return self._plan[1]

    @property
    def picked_count(self) -> int:
        return len(self._picked)

    @property
    def shown(self) -> list[str]:
        """Every id the filter matches (all pages)."""
        return list(self._shown)

    def load(self, fleet: pd.DataFrame) -> None:
        """A new listing: the list redrawn, picks of servers no longer listed dropped."""
        index = ServerIndex(fleet)
        with self._guard:
            self.index = index
            self._set_picks(self._picked & index.position.keys())
        self.show()

    def clear(self) -> None:
        with self._guard:
            self._set_picks(set())
        self.show(keep_page=True)

    def show(self, *, keep_page: bool = False) -> None:
        """Match the filter and draw the page; picks hidden by the filter or the page are kept."""
        with self._guard:
            self._shown = self.index.match(self.filter_box.value)
            self._page = min(self._page, self._last_page()) if keep_page else 0
            self._draw_page()
        self._on_change()

    def turn(self, step: int) -> None:
        with self._guard:
            self._page = max(0, min(self._page + step, self._last_page()))
            self._draw_page()
        self._on_change()

    def pick_shown(self) -> None:
        with self._guard:
            self._set_picks(self._picked | set(self._shown))
        self.show(keep_page=True)

    def hint(self) -> str:
        hidden = len(self._picked) - len(self.selector.value)
        hint = f"{len(self._shown)} of {len(self.index)} shown · {len(self._picked)} picked"
        hint += f" ({hidden} hidden by the filter or page)" if hidden else ""
        if self._marks_stale:
            hint += " · lock marks update on the next filter or Refresh"
        self.hint_html.value = muted(hint)
        return hint

    def lock_marks(self) -> dict[str, bool]:
        return self.index.lock_marks()

    def region_counts(self, ids: list[str]) -> dict[str, int]:
        """How many of `ids` each region holds, per the listing (empty for a single endpoint)."""
        return self.index.region_counts(ids)

    def names(self) -> dict[str, str]:
        return self.index.names

    def note_lock_states(self, frame: pd.DataFrame) -> None:
        """Update the 'locked' marks from what the run read back, without another listing call."""
        ok = frame[frame["outcome"].astype("string").isin([str(o) for o in SUCCESSES]) & frame["locked"].notna()]
        states = {str(i): bool(v) for i, v in zip(ok["server_id"], ok["locked"], strict=True)}
        with self._guard:
            # Redrawing the list's options resets its scroll position in the browser: the new marks are
            # shown at the next redraw the user asks for (filter, page, Refresh, Select shown, Clear).
            self._marks_stale = self.index.note_locks(states) or self._marks_stale
        self._on_change()

    def _set_picks(self, picks: set[str]) -> None:
        self._picked = picks
        self._picked_in_order = None
        self._version += 1

    def _last_page(self) -> int:
        return max(0, (len(self._shown) - 1) // PAGE_ROWS)

    def _draw_page(self) -> None:
        first = self._page * PAGE_ROWS
        page = self._shown[first : first + PAGE_ROWS]
        labels = self.index.labels
        self._syncing = True
        try:
            self.selector.options = [(labels[i], i) for i in page]
            self.selector.value = tuple(i for i in page if i in self._picked)
            self._marks_stale = False
        finally:
            self._syncing = False
        paged = len(self._shown) > PAGE_ROWS
        self.pager.layout.display = "flex" if paged else "none"
        self.previous_button.disabled = self._page == 0
        self.next_button.disabled = self._page >= self._last_page()
        if paged:
            last = min(first + PAGE_ROWS, len(self._shown))
            self.page_html.value = muted(f"rows {first + 1:,} to {last:,} of {len(self._shown):,}")

    def _on_select(self, change: dict[str, Any]) -> None:
        if self._syncing:
            return
        with self._guard:
            on_page = {value for _, value in self.selector.options}
            self._set_picks((self._picked - on_page) | set(change["new"]))
        self._on_change()
