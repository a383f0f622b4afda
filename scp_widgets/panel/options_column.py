"""The panel's second column: the paste box, and the run's settings (API version, concurrency).

The version list offers only the versions usable on `today` (from the catalog's dates); the others are named
below it with their end, so a retired version is seen and never sent.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

import ipywidgets as w

from scp_widgets.client.versions import ApiVersion, default_version
from scp_widgets.panel.chooser import fill
from scp_widgets.panel.status import muted_line, status_line


class OptionsColumn(w.VBox):  # type: ignore[misc]  # ipywidgets ships no type hints
    def __init__(self, concurrency: int, today: dt.date | None) -> None:
        self._today = today
        self._version_warning = ""
        self.paste_box = w.Textarea(
            placeholder="Paste server ids, console URLs or server names: separated by commas, spaces or new lines",
            rows=8,
            layout=fill(),
        )
        self.paste_notes = w.HTML(layout=fill())
        self.version_dropdown = w.Dropdown(description="API version", layout=w.Layout(width="auto"))
        self.concurrency_box = w.BoundedIntText(
            value=concurrency, min=1, max=1000, description="Concurrency",
            tooltip="Requests in flight at once (lower it when rows say 'throttled')", layout=w.Layout(width="200px"),
            style={"description_width": "initial"},
        )  # fmt: skip
        self.version_note = w.HTML()
        super().__init__(
            [
                w.HTML("<b>Or paste ids, console URLs or names</b>"),
                self.paste_box,
                self.paste_notes,
                self.version_dropdown,
                self.concurrency_box,
                self.version_note,
            ],
            layout=w.Layout(flex="2 1 300px", min_width="0"),
        )

    def set_versions(self, catalog: Sequence[ApiVersion], wanted: str | None) -> None:
        today = self._today or dt.date.today()
        callable_ = [v for v in catalog if v.status_on(today).callable]
        blocked = [v for v in catalog if not v.status_on(today).callable]
        numbers = [v.number for v in callable_]
        default = default_version(catalog, today).number if callable_ else None
        self.version_dropdown.options = [(v.label(today), v.number) for v in callable_]
        self.version_dropdown.value = wanted if wanted in numbers else default
        if wanted and wanted not in numbers:  # only a constructor argument can ask for one: say so by the list
            self._version_warning = status_line("warn", f"API version {wanted} is not usable today; using {default}.")
        note = "; ".join(v.label(today) for v in blocked)
        self.version_note.value = self._version_warning + (muted_line(f"Not selectable: {note}") if note else "")
