"""What a rerun of a finished run sends, and with which settings (`retry_failed` / `resume_cancelled` in the
public API send it): exactly its failed rows, or its cancelled ones, with the settings the run was given.

    df = scp_widgets.lock(ids)
    again = scp_widgets.retry_failed(df)        # the failed rows only; invalid ids are never sent again
    rest = scp_widgets.resume_cancelled(df)     # the rows a Cancel or an interrupt left unsent

With no such rows nothing is sent and the result is an empty frame (its summary says so).

A frame `read_journal` rebuilt from a run that never finished (a killed kernel) works too: its never-sent
ids (`attrs["never_sent"]`, no rows) are what `resume_cancelled` sends, and its rows cut off at `sent` or
`accepted` count as failed for `retry_failed`, which then reads each state first (preflight), so a server
the dead run already changed is not sent again.

The settings come from the frame's `attrs` (action, API version, endpoint, verify, preflight, dry run,
concurrency, retries, timeout); keyword arguments override them, and credentials resolve as for `lock`.
"""

from __future__ import annotations

from os import PathLike
from pathlib import Path
from typing import Any

import pandas as pd

from scp_widgets.client.errors import ScpUsageError
from scp_widgets.engine.journal import held_by_a_live_run
from scp_widgets.engine.results import Outcome, sections
from scp_widgets.engine.settings import RERUN_SETTINGS, RunOptions

#: Settings a run records in `attrs` and a rerun reuses (attrs name -> `lock` keyword), for frames without
#: the typed `attrs["settings"]` (older journals). `dry_run` too: the failures of a dry run retried are a dry
#: run again (pass dry_run=False to send for real).
SAME_SETTINGS = ("api_version", "endpoint", "verify", "preflight", "dry_run", "concurrency", "retries", "timeout")


def failed_ids(frame: pd.DataFrame) -> list[str]:
    """Ids of the failed rows in request order, without `invalid_id` rows or `not_found` rows never sent
    (sending those again cannot help),
    and of the rows a dead run left at `sent` / `accepted` (see `same_settings`: they are read first)."""
    failed = sections(frame).isin(["failed", "unfinished"])
    outcome = frame["outcome"].astype("string")
    # Sending again cannot help an invalid id, nor an id no listing holds (never sent: found in no region).
    hopeless = (outcome == str(Outcome.INVALID_ID)) | ((outcome == str(Outcome.NOT_FOUND)) & (frame["attempts"] == 0))
    rows = frame[failed & ~hopeless.fillna(False)]
    return [str(i) for i in rows["server_id"]] + _unrecorded(frame)


def _unrecorded(frame: pd.DataFrame) -> list[str]:
    """Ids whose fate a stopped journal could not record (a full disk): retried with a read first."""
    rows = set(frame["server_id"].astype(str))
    return [str(i) for i in frame.attrs.get("unrecorded") or () if str(i) not in rows]


def cancelled_ids(frame: pd.DataFrame) -> list[str]:
    """Ids of the cancelled rows, then the ids a dead run never sent (they have no rows, only attrs)."""
    cancelled = [str(i) for i in frame.loc[sections(frame) == "cancelled", "server_id"]]
    return [*cancelled, *_never_sent(frame)]


def _never_sent(frame: pd.DataFrame) -> list[str]:
    if frame.attrs.get("complete") is not False:
        return []
    rows = set(frame["server_id"].astype(str))
    return [str(i) for i in frame.attrs.get("never_sent") or () if str(i) not in rows]


def other_kind(frame: pd.DataFrame, what: str) -> tuple[int, str]:
    """When a rerun of `what` ("failed" / "cancelled") has nothing to send: how many rows the other rerun
    would send, and its kind (after an interrupt, the rows left are cancelled, not failed)."""
    if what == "failed":
        return len(cancelled_ids(frame)), "cancelled"
    return len(failed_ids(frame)), "failed"


def action_of(frame: pd.DataFrame) -> str:
    action = frame.attrs.get("action") or (str(frame["action"].iloc[0]) if len(frame) else None)
    if action not in ("lock", "unlock"):
        raise ScpUsageError("This frame does not say whether it locked or unlocked: pass a run's result frame.")
    return str(action)


def same_settings(frame: pd.DataFrame) -> dict[str, Any]:
    """The run's settings as `lock` keyword arguments (only those the frame recorded). A dead run's rows cut
    off at `sent` / `accepted` may have been applied: preflight reads them before anything is sent again."""
    attrs = frame.attrs
    asked = attrs.get("settings")
    if isinstance(asked, RunOptions):  # what the user asked for, never what the run spent (attrs["outcome"])
        settings = {key: getattr(asked, key) for key in RERUN_SETTINGS if getattr(asked, key) is not None}
        if attrs.get("endpoint") is not None:
            settings["endpoint"] = attrs["endpoint"]
    else:
        settings = {key: attrs[key] for key in SAME_SETTINGS if attrs.get(key) is not None}
    if isinstance(attrs.get("endpoints"), dict):  # a run over several regions: the same regions again
        settings.pop("endpoint", None)
        settings.update(regions=list(attrs["endpoints"]), endpoints=dict(attrs["endpoints"]))
    if (sections(frame) == "unfinished").any() or _unrecorded(frame):
        settings["preflight"] = True
    return settings


def regional_attrs(endpoints: dict[str, str]) -> dict[str, Any]:
    """A run over several regions as its frame's attrs say it (`same_settings` sends each row back there)."""
    endpoint = ", ".join(f"{region}={url}" for region, url in endpoints.items())
    return {"endpoints": dict(endpoints), "regions": list(endpoints), "endpoint": endpoint}


def check_frame(frame: Any) -> pd.DataFrame:
    if not isinstance(frame, pd.DataFrame) or "outcome" not in frame or "server_id" not in frame:
        if isinstance(frame, pd.DataFrame):  # a history() frame, a listing...: say what would work
            raise ScpUsageError(
                "This DataFrame is not a run's result frame (no outcome and server_id columns); for a row of "
                "history(), read_journal(row.journal) gives that run's frame."
            )
        raise ScpUsageError(f"Expected a run's result DataFrame, not {type(frame).__name__}.")
    several = frame.attrs.get("several_endpoints")
    if several:  # a rerun sends with one setting: to one endpoint, or to named regions
        raise ScpUsageError(
            f"This frame's rows went to {len(several)} endpoints ({', '.join(map(str, several))}); rerun each "
            "endpoint's rows on their own, with endpoint=."
        )
    if frame.attrs.get("complete") is False and any(held_by_a_live_run(Path(j)) for j in _journals(frame)):
        # its never-sent ids are being sent now: resending them would send every one twice
        raise ScpUsageError(
            "This frame is from a run that is still going (its process holds the journal): wait for it to "
            "end, or cancel it there, then read its journal again."
        )
    return frame


def _journals(frame: pd.DataFrame) -> list[str]:
    attrs = frame.attrs
    found = [attrs.get("journal"), *(attrs.get("journals") or ())]
    return [str(j) for j in found if isinstance(j, str | PathLike) and str(j)]
