"""The panel's region picker: one checkbox per region; the server list and every run span the picked ones.

`LockPanel(regions=["kr-west1", "kr-east1"])` (or `%scp_panel --region kr-west1,kr-east1`) shows it.
Endpoints per region as for `lock(regions=...)`: `endpoints=`, then SCP_ENDPOINTS, then official hosts.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine, Iterable, Mapping
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import ipywidgets as w
import pandas as pd

from scp_widgets.client.errors import ScpUsageError
from scp_widgets.client.regions import region_names
from scp_widgets.client.versions import BUILTIN_CATALOG, ApiVersion
from scp_widgets.engine.bulk import Action, ProgressCallback
from scp_widgets.engine.cancel import CancelToken
from scp_widgets.engine.settings import RunOptions
from scp_widgets.fleet import plan as fleet

if TYPE_CHECKING:
    from scp_widgets.engine.connection import Connection


class RegionPicker(w.HBox):  # type: ignore[misc]  # ipywidgets ships no type hints
    def __init__(
        self,
        regions: str | Iterable[str],
        endpoints: Mapping[str, str] | None = None,
        *,
        on_change: Callable[[], None] | None = None,
    ) -> None:
        self.endpoints = dict(endpoints) if endpoints else None
        # Checkboxes, not toggle buttons: a checkbox's checked state is what a screen reader announces, while
        # a ToggleButton says nothing of being pressed.
        self.toggles = {
            name: w.Checkbox(
                value=True,
                description=name,
                indent=False,
                layout=w.Layout(width="auto", margin="0 12px 0 0"),
                tooltip=f"{name}: in the list and the runs (clear to leave it out)",
            )
            for name in region_names(regions)
        }
        if on_change is not None:
            for toggle in self.toggles.values():
                toggle.observe(lambda _: on_change(), names="value")
        super().__init__([w.HTML("<b>Regions</b>&nbsp;"), *self.toggles.values()])

    @property
    def picked(self) -> list[str]:
        return [name for name, toggle in self.toggles.items() if toggle.value]

    def plan(self, connection: Connection) -> fleet.FleetPlan:
        """Where a run or listing goes: the picked regions (one sentence when none is picked)."""
        if not self.picked:
            raise ScpUsageError("No region picked: switch on at least one region above the server list.")
        anywhere = replace(connection, endpoint=None, region=None)  # the picked regions say where
        return fleet.make_plan(anywhere, regions=self.picked, endpoints=self.endpoints)

    async def load(self, connection: Connection) -> tuple[tuple[ApiVersion, ...], pd.DataFrame, str]:
        """The panel's `_load` across the picked regions: (catalog, fleet with a region column, label)."""
        plan = self.plan(connection)
        listing = await fleet.alist_fleet(plan, partial=True)  # a region down is named; the others are listed
        down = listing.attrs.get("region_errors") or {}
        label = ", ".join(r if r not in down else f"{r} (could not be listed)" for r in plan.endpoints)
        return BUILTIN_CATALOG, listing, label

    def run(
        self,
        action: Action,
        ids: Any,
        options: RunOptions,
        connection: Connection,
        progress: ProgressCallback,
        cancel: CancelToken,
    ) -> Coroutine[Any, Any, pd.DataFrame]:
        """The panel's run across the picked regions: each id goes to the region whose listing holds it."""
        return fleet.arun_fleet(action, ids, self.plan(connection), options, progress=progress, cancel=cancel)
