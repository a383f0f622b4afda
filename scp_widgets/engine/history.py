"""`history()`: every run in the journal folder, one row each, newest first; and the retention that prunes it
(`retention.py`, whose names are re-exported here).

    import scp_widgets
    runs = scp_widgets.history()                  # run_id, action, started_at, ..., complete, journal
    scp_widgets.read_journal(runs.journal[0])     # the newest run's frame

Retention: in the default journal folder only, a file whose every run finished more than `keep_days()` ago
(default 90; `SCP_WIDGETS_JOURNAL_DAYS`, or `%config ScpHistoryMagics.keep_days`; 0 keeps everything) is
deleted when a run starts, or by `prune_journals()` / `scp-widgets prune`. Reading (`history()`,
`read_journal`) never deletes, and a file holding an unfinished run is never pruned: it is a crash's record.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import warnings
from pathlib import Path
from typing import Any

import pandas as pd

from scp_widgets.client.errors import JournalError, ScpError, ScpUsageError
from scp_widgets.engine.journal import JournalWarning, held_by_a_live_run
from scp_widgets.engine.journal_reader import read_runs, run_counts, run_frame
from scp_widgets.engine.rerun import regional_attrs
from scp_widgets.engine.results import Outcome, count_outcomes, summary_line
from scp_widgets.engine.retention import configure, keep_days, prune_journals
from scp_widgets.engine.state_dirs import default_journal_dir

logger = logging.getLogger(__name__)
COLUMNS = (
    "run_id", "action", "started_at", "finished_at", "api_version", "endpoint", "servers", "complete",
    "running", "never_sent", "summary", "journal", "regions", "journals",
)  # fmt: skip


def history(folder: str | os.PathLike[str] | None = None) -> pd.DataFrame:
    """Every run journaled in `folder` (default: the journal folder), one row per run, newest first.

    Columns: run_id, action, started_at, finished_at, api_version, endpoint, servers, complete, running,
    never_sent, summary, journal, regions, journals, then one count column per outcome seen. `running`: the run
    has no end yet and its process still holds the journal (it is going on now, not dead). A run over several regions
    (one click, one `lock(regions=...)`) is one row: its parts' journals are `journals`, and
    `read_history_row(row)` joins them into the run's frame. `read_journal(row.journal, row.run_id)` gives a
    one-file run's frame (`read_journal(row.journal)` alone when the file holds one run, the usual case).
    A file that is not a journal is named in a warning (with the line) and left out. Reading never deletes.
    """
    where = Path(folder) if folder is not None else default_journal_dir()
    if folder is not None and not where.is_dir():
        raise ScpUsageError(f"{where} is not a folder (history() reads a folder of journals).")
    rows: list[dict[str, object]] = []
    for file in sorted(where.glob("*.jsonl")) if where.is_dir() else []:
        try:
            rows.extend(_rows_of(file))
        except ScpError as exc:
            warnings.warn(f"Left out of the history: {exc}", JournalWarning, stacklevel=2)
    return _frame(joined_fleet_runs(rows))


def joined_fleet_runs(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The rows of one fleet run's parts (a journal per region, one for the servers never sent) as one row."""
    parts: dict[str, list[dict[str, Any]]] = {}
    out: list[dict[str, Any]] = []
    for row in rows:
        fleet_run = row.pop("fleet_run", None)
        if fleet_run:
            if fleet_run not in parts:
                out.append({"fleet_run": fleet_run})  # its place, filled below
            parts.setdefault(fleet_run, []).append(row)
        else:
            out.append(row)
    return [_joined(key["fleet_run"], parts[key["fleet_run"]]) if "fleet_run" in key else key for key in out]


def _joined(fleet_run: str, parts: list[dict[str, Any]]) -> dict[str, Any]:
    counts: dict[str, int] = {}
    for part in parts:
        for outcome in Outcome:
            counts[str(outcome)] = counts.get(str(outcome), 0) + int(part.get(str(outcome), 0) or 0)
    counts = {k: v for k, v in counts.items() if v}
    complete = all(p["complete"] for p in parts)
    running = any(p["running"] for p in parts)
    starts = sorted(str(p["started_at"]) for p in parts if p.get("started_at"))
    ends = sorted(str(p["finished_at"]) for p in parts if p.get("finished_at"))
    elapsed = None
    if complete and starts and ends:
        elapsed = (dt.datetime.fromisoformat(ends[-1]) - dt.datetime.fromisoformat(starts[0])).total_seconds()
    never_sent = sum(int(p["never_sent"]) for p in parts)
    not_sent = sum(int(p.get("not_sent") or 0) for p in parts)
    summary = summary_line(counts, elapsed, not_sent=not_sent)
    if not complete:
        summary = unfinished_summary(sum(counts.values()), never_sent, running)
    regions = [str(p["regions"]) for p in parts if p.get("regions")]
    return {
        "run_id": fleet_run, "action": parts[0]["action"], "started_at": starts[0] if starts else None,
        "finished_at": ends[-1] if complete and ends else None,
        "api_version": ", ".join(dict.fromkeys(str(p["api_version"]) for p in parts if p.get("api_version"))),
        "endpoint": ", ".join(str(p["endpoint"]) for p in parts if p.get("endpoint")),
        "servers": sum(int(p["servers"]) for p in parts), "complete": complete, "running": running,
        "never_sent": never_sent,
        "summary": summary, "journal": parts[0]["journal"], "regions": ", ".join(regions),
        "journals": [str(p["journal"]) for p in parts], **counts,
    }  # fmt: skip


def read_history_row(row: Any) -> pd.DataFrame:
    """The frame of one `history()` row: one journal's run, or a fleet run's parts joined in the order they
    were journaled, with a region column."""
    journals = [str(j) for j in (getattr(row, "journals", None) or [row.journal])]
    frames = []
    for journal in journals:
        runs = [r for r in read_runs(Path(journal)) if str(row.run_id) in (r.run_id, r.header.get("fleet_run"))]
        if not runs:
            raise ScpUsageError(f"The journal {journal} has no part of run {row.run_id!r}.")
        frames.append(run_frame(runs[-1], Path(journal)))
    if len(frames) == 1 and not frames[0].attrs.get("fleet_run"):
        return frames[0]
    for frame in frames:
        region = frame.attrs.get("region") or None
        frame.insert(1, "region", pd.Series([region] * len(frame), index=frame.index, dtype="string"))
    joined = pd.concat(frames, ignore_index=True)
    counts = count_outcomes(joined["outcome"].astype(str))
    joined.attrs = {**frames[0].attrs, "run_id": str(row.run_id), "journals": journals, "counts": counts}
    joined.attrs.update(summary=str(row.summary), complete=bool(row.complete), journal=None)
    endpoints = {str(f.attrs["region"]): str(f.attrs["endpoint"]) for f in frames if f.attrs.get("region")}
    if endpoints:  # as the run's own frame says it: a rerun goes to each region again, not all to the first
        joined.attrs.update(regional_attrs(endpoints))
        joined.attrs.pop("region", None)
    return joined


def _rows_of(file: Path) -> list[dict[str, object]]:
    """A file holding one finished run (the usual case) is summed up from its first and last lines alone."""
    quick = _one_finished_run(file)
    if quick is not None:
        header, footer = quick
        return [_checked(file, _row(file, header, footer, footer["counts"], never_sent=0))]
    # A crashed run's torn line is not warned of: its row says it did not finish.
    runs = run_counts(file)
    live = bool(runs) and runs[-1][0].footer is None and held_by_a_live_run(file)  # only the last run can be
    return [
        _checked(file, _row(file, run.header, run.footer, counts, never_sent, live and n == len(runs) - 1))
        for n, (run, counts, never_sent) in enumerate(runs)
    ]


def _checked(file: Path, row: dict[str, object]) -> dict[str, object]:
    """`row` when each value has the type its column needs; else the file's one sentence (it is left out of
    the history with a warning, where one odd file made the whole folder's history raise)."""
    bad = [name for name in ("run_id", "action", "api_version", "endpoint", "summary") if not _text_or_none(row[name])]
    bad += [name for name in ("started_at", "finished_at") if not _time_or_none(row[name])]
    bad += [str(o) for o in Outcome if str(o) in row and not _count(row[str(o)])]
    if not _count(row["servers"]):
        bad.append("ids")
    if bad:
        raise JournalError(f"{file} has a run record whose {', '.join(bad)} is not what scp-widgets writes: corrupt.")
    return row


def _text_or_none(value: object) -> bool:
    return value is None or isinstance(value, str)


def _time_or_none(value: object) -> bool:
    if value is None:
        return True
    try:
        return isinstance(value, str) and dt.datetime.fromisoformat(value).tzinfo is not None
    except ValueError:
        return False


def _count(value: object) -> bool:
    return type(value) is int and value >= 0


def _one_finished_run(file: Path) -> tuple[dict[str, Any], dict[str, Any]] | None:
    try:
        data = file.read_bytes()
    except OSError:
        return None  # read_runs says why, in one sentence
    if data.count(b'{"type":"run",') != 1 or not data.startswith(b'{"type":"run",') or not data.endswith(b"}\n"):
        return None
    try:
        header = json.loads(data[: data.index(b"\n")])
        footer = json.loads(data[data.rindex(b"\n", 0, len(data) - 1) + 1 :])
    except ValueError:
        return None
    finished = footer.get("type") == "end" and footer.get("run") == header.get("run_id")
    return (header, footer) if finished and isinstance(footer.get("counts"), dict) else None


def _row(
    file: Path,
    header: dict[str, Any],
    footer: dict[str, Any] | None,
    counts: dict[str, int],
    never_sent: int,
    running: bool = False,
) -> dict[str, object]:
    ids = header.get("ids", [])
    ids = ids if isinstance(ids, list) else None  # _checked refuses the row
    summary = (footer or {}).get("summary")
    if footer is None:
        summary = unfinished_summary(sum(counts.values()), never_sent, running)
    return {
        "run_id": header.get("run_id"), "action": header.get("action"), "started_at": header.get("started_at"),
        "finished_at": (footer or {}).get("finished_at"), "api_version": header.get("api_version"),
        "endpoint": header.get("endpoint"), "servers": None if ids is None else len(ids),
        "complete": footer is not None, "running": running,
        "never_sent": never_sent, "summary": summary, "journal": str(file), "regions": header.get("region") or "",
        "journals": [str(file)], "fleet_run": header.get("fleet_run"), "not_sent": (footer or {}).get("not_sent"),
        **counts,
    }  # fmt: skip


def unfinished_summary(done: int, never_sent: int, running: bool) -> str:
    """A run without its end line: still going (its process holds the journal), or dead."""
    if running:
        return f"running: {done} sent or done, {never_sent} not yet sent (read it again once it ends)"
    return f"did not finish: {done} sent or done, {never_sent} never sent"


def _frame(rows: list[dict[str, object]]) -> pd.DataFrame:
    outcomes = [str(o) for o in Outcome if any(str(o) in row for row in rows)]
    frame = pd.DataFrame(rows, columns=[*COLUMNS, *outcomes])
    for column in ("started_at", "finished_at"):
        frame[column] = pd.to_datetime(frame[column], utc=True, format="ISO8601").astype("datetime64[ns, UTC]")
    for column in ("servers", "never_sent", *outcomes):
        frame[column] = frame[column].fillna(0).astype("int64")
    for column in ("run_id", "action", "api_version", "endpoint", "summary", "journal", "regions"):
        frame[column] = frame[column].astype("string")
    frame["complete"] = frame["complete"].astype(bool)
    frame["running"] = frame["running"].fillna(False).astype(bool)
    frame = frame.sort_values(["started_at", "journal"], ascending=False, na_position="last", ignore_index=True)
    return frame


__all__ = ["configure", "history", "keep_days", "prune_journals", "read_history_row"]
