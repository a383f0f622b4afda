"""Locking a maintenance window's servers again, from its record: at the window's end (`windows._close`) and
in `relock_pending()`. Each region (or plain endpoint) is its own one-target run, all at once, routed by the
record (no listing is sent, so a region down cannot block the others); a journal that cannot be written does
not stop it (locking matters more), and the joined frame carries what a rerun of it needs.
"""

from __future__ import annotations

import asyncio
import warnings
from dataclasses import replace
from typing import Any

import pandas as pd

from scp_widgets.client.errors import JournalUnwritable
from scp_widgets.engine.cancel import CancelToken
from scp_widgets.engine.rerun import regional_attrs
from scp_widgets.engine.results import Outcome
from scp_widgets.engine.settings import RunOptions
from scp_widgets.fleet import plan as fleet

#: Lock outcomes after which a server needs nothing more (a deleted server cannot be locked again either).
SETTLED = frozenset({Outcome.LOCKED, Outcome.ALREADY_LOCKED, Outcome.NOT_FOUND})


class WindowWarning(UserWarning):
    """A window closed with servers it could not lock again; `relock_pending()` retries them."""


def _region_listing(servers: list[dict[str, Any]], region: str | None) -> pd.DataFrame:
    """The routing the re-lock needs, from the record: no listing is sent (a region down cannot block others)."""
    ids = [str(s["server_id"]) for s in servers]
    return pd.DataFrame(
        {
            "id": pd.Series(ids, dtype="string"),
            "name": pd.Series([None] * len(ids), dtype="string"),
            "region": pd.Series([region] * len(ids), dtype="string"),
        }
    )


async def relock_servers(
    groups: list[tuple[fleet.FleetPlan, list[dict[str, Any]]]], options: RunOptions, cancel: CancelToken
) -> tuple[pd.DataFrame | None, dict[str, str]]:
    """Lock each group on its own one-target plan, all at once; -> (the joined rows, {still owed: why})."""

    async def one(plan: fleet.FleetPlan, servers: list[dict[str, Any]]) -> pd.DataFrame:
        region = plan.targets[0].region
        listing = _region_listing(servers, region)
        ids = [str(s["server_id"]) for s in servers]
        # the groups run at once: a journal= path becomes one file per region, as in one fleet run (else
        # every region but one was refused "in use by another run", and its servers stayed unlocked)
        own = fleet.journal_per_region(options, region, len(groups))
        try:
            return await fleet.arun_fleet("lock", ids, plan, own, cancel=cancel, listing=listing)
        except JournalUnwritable as exc:  # a full disk must not keep servers unlocked: lock them without one
            bare = replace(own, journal=False)
            frame = await fleet.arun_fleet("lock", ids, plan, bare, cancel=cancel, listing=listing)
            warnings.warn(
                f"Maintenance window: {len(ids)} server(s) of {plan.targets[0].label} were locked again without "
                f"a journal ({exc}).",
                WindowWarning,
                stacklevel=2,
            )
            return frame

    results = await asyncio.gather(*(one(plan, servers) for plan, servers in groups), return_exceptions=True)
    owed: dict[str, str] = {}
    frames: list[pd.DataFrame] = []
    for (plan, servers), result in zip(groups, results, strict=True):
        if isinstance(result, BaseException):
            if not isinstance(result, Exception):
                raise result
            why = f"{plan.targets[0].label} failed: {result}"
            owed.update({str(s["server_id"]): why for s in servers})
            continue
        frames.append(result)
        for server_id, outcome, message in zip(result["server_id"], result["outcome"], result["message"], strict=True):
            if Outcome(str(outcome)) not in SETTLED:
                where = plan.targets[0].label
                owed[str(server_id)] = f"{outcome} in {where}" + (f": {message}" if not pd.isna(message) else "")
    joined = pd.concat(frames, ignore_index=True) if frames else None
    if joined is not None:
        attrs = rerun_attrs(frames, [plan.targets[0] for plan, _ in groups])
        joined.attrs.clear()  # pd.concat of one frame keeps its attrs: its `endpoints` may be URLs (see below)
        joined.attrs.update(attrs)
    return joined, owed


def rerun_attrs(frames: list[pd.DataFrame], targets: list[fleet.Target]) -> dict[str, Any]:
    """The attrs a re-lock's joined frame needs for `retry_failed` to send each row to its own region again
    (pd.concat keeps no attrs of frames that differ: it went to SCP_ENDPOINT)."""
    attrs = {str(key): value for key, value in frames[0].attrs.items() if key not in ("endpoints", "regions")}
    # relock_pending names a window's plain endpoint (no region) by its URL: that is no region name
    endpoints = {str(t.region): str(t.endpoint) for t in targets if t.region and "://" not in t.region and t.endpoint}
    plain = sorted({str(t.endpoint) for t in targets if (not t.region or "://" in t.region) and t.endpoint})
    if endpoints and not plain:
        attrs.update(regional_attrs(endpoints))
        attrs.pop("region", None)
    elif len(plain) == 1 and not endpoints:
        attrs["endpoint"] = plain[0]
    else:  # rows of several places with no one setting to send them again: rerun.check_frame says so
        attrs["several_endpoints"] = sorted({*plain, *endpoints.values()})
    return attrs
