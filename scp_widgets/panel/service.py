"""Where the panel's work goes: the listing and version catalog it shows, and the coroutine of a run, for one
endpoint or across the regions picked. Both run on the shared background loop."""

from __future__ import annotations

from collections.abc import Coroutine
from typing import Any, Literal

import pandas as pd

from scp_widgets.api import alist_servers
from scp_widgets.client.versions import ApiVersion
from scp_widgets.engine import rerun
from scp_widgets.engine.bulk import ProgressCallback
from scp_widgets.engine.cancel import CancelToken
from scp_widgets.engine.connection import Connection
from scp_widgets.engine.read_only import refuse_change
from scp_widgets.engine.runner import arun
from scp_widgets.engine.settings import RERUN_SETTINGS, RunOptions
from scp_widgets.panel.region_picker import RegionPicker

Action = Literal["lock", "unlock"]


async def load_fleet(
    connection: Connection, picker: RegionPicker | None
) -> tuple[tuple[ApiVersion, ...], pd.DataFrame, str]:
    """The version catalog, the fleet and where it was listed."""
    if picker is not None:
        return await picker.load(connection)
    client = connection.client(retries=2, timeout=15.0, concurrency=4)
    try:
        fleet = await alist_servers(client=client)  # through our client: its catalog, fetched once, is reused
        return await client.catalog(), fleet, client.endpoint
    finally:
        await client.aclose()


def run_coroutine(
    action: Action,
    ids: list[str],
    options: RunOptions,
    connection: Connection,
    picker: RegionPicker | None,
    progress: ProgressCallback,
    cancel: CancelToken,
) -> Coroutine[Any, Any, pd.DataFrame]:
    """The run: each id to the picked region whose listing holds it, or to the one endpoint."""
    refuse_change(f"{action}()")  # a read-only session (scp-widgets app --read-only) changes nothing
    if picker is not None:
        return picker.run(action, ids, options, connection, progress, cancel)
    return arun(action, ids, options, connection=connection, progress=progress, cancel=cancel)


def rerun_of(frame: pd.DataFrame, what: Literal["failed", "cancelled"]) -> tuple[Action, list[str], dict[str, Any]]:
    """What Retry failed / Resume cancelled send: the action, the rows' ids, and the run's own settings
    (not its endpoint: the panel's connection stays the same)."""
    action: Action = "unlock" if rerun.action_of(frame) == "unlock" else "lock"
    ids = rerun.failed_ids(frame) if what == "failed" else rerun.cancelled_ids(frame)
    settings = {k: v for k, v in rerun.same_settings(frame).items() if k in RERUN_SETTINGS}  # same connection
    return action, ids, settings
