"""HTML for the panel: the results table, status lines and outcome colours.

Pure functions from data to an HTML string, so they are tested without widgets. Every value is escaped;
text and border colours use JupyterLab's theme variables (with light fallbacks), so the table reads in light
and dark themes alike; only the outcome badges carry fixed colours.
"""

from __future__ import annotations

import html
from collections.abc import Mapping
from typing import Any, Literal

import pandas as pd

from .results import SUCCESSES, Outcome

Level = Literal["info", "ok", "warn", "error"]

#: How many rows the panel draws; the full table is always `panel.results`.
MAX_ROWS = 1000

_GREEN = ("#e6f4ea", "#137333")
_RED = ("#fce8e6", "#b3261e")
_GREY = ("#eceff1", "#5f6368")
_AMBER = ("#fef7e0", "#8a5a00")
_LEVELS: dict[Level, tuple[str, str]] = {
    "info": ("", "var(--jp-ui-font-color2, #616161)"),
    "ok": ("✔ ", _GREEN[1]),
    "warn": ("⚠ ", _AMBER[1]),
    "error": ("✖ ", _RED[1]),
}
_TEXT = "var(--jp-content-font-color1, #1f1f1f)"
_MUTED = "var(--jp-content-font-color2, #616161)"
_BORDER = "var(--jp-border-color2, #e0e0e0)"
_HEAD_BG = "var(--jp-layout-color2, #f5f5f5)"
_MONO = "var(--jp-code-font-family, monospace)"


def outcome_kind(outcome: str) -> str:
    """The colour family of an outcome: success green, cancelled grey, unverified amber, failure red."""
    if outcome in SUCCESSES:
        return "ok"
    if outcome == Outcome.CANCELLED:
        return "cancelled"
    if outcome == Outcome.UNVERIFIED:
        return "unverified"
    return "failed"


_KIND_COLOURS = {"ok": _GREEN, "cancelled": _GREY, "unverified": _AMBER, "failed": _RED}

# One style block per table instead of styles on every cell: 1,000 rows stay a few hundred kB of widget state.
_TABLE_CSS = (
    ".scp-results{border-collapse:collapse;width:100%;font-size:12px;line-height:1.4;color:" + _TEXT + "}"
    ".scp-results th{position:sticky;top:0;background:" + _HEAD_BG + ";text-align:left;padding:4px 8px;"
    "border-bottom:1px solid " + _BORDER + "}"
    ".scp-results td{padding:3px 8px;border-bottom:1px solid " + _BORDER + ";vertical-align:top}"
    ".scp-results td.n{text-align:right}.scp-results td.num{color:" + _MUTED + ";text-align:right}"
    ".scp-results td.id{font-family:" + _MONO + ";white-space:nowrap}"
    ".scp-badge{padding:1px 8px;border-radius:9px;font-weight:600;white-space:nowrap}"
    + "".join(f".scp-badge.{k}{{background:{bg};color:{fg}}}" for k, (bg, fg) in _KIND_COLOURS.items())
)


def badge(outcome: str) -> str:
    return f'<span class="scp-badge {outcome_kind(outcome)}">{html.escape(outcome)}</span>'


def status_line(level: Level, text: str) -> str:
    """One line of status; empty text clears it."""
    if not text:
        return ""
    icon, colour = _LEVELS[level]
    one_line = " ".join(text.split())
    style = f"color:{colour};line-height:1.5"
    return f'<div class="scp-status scp-{level}" style="{style}">{icon}{html.escape(one_line)}</div>'


def _cell(value: Any) -> str:
    return "" if value is None or value is pd.NA or (isinstance(value, float) and value != value) else str(value)


def _locked(value: Any) -> str:
    text = _cell(value)
    return {"True": "yes", "False": "no"}.get(text, "—")


def _rows_to_show(frame: pd.DataFrame, limit: int) -> pd.DataFrame:
    """All rows in request order; past `limit`, failures first so nothing that needs attention is cut off."""
    if len(frame) <= limit:
        return frame
    failed = ~frame["outcome"].astype("string").isin([str(o) for o in SUCCESSES])
    keep = pd.concat([frame[failed], frame[~failed]]).head(limit)
    return keep.sort_index()


_HEADERS = ("#", "server id", "name", "outcome", "HTTP", "locked", "tries", "ms", "message")


def results_table(frame: pd.DataFrame, names: Mapping[str, str] | None = None, limit: int = MAX_ROWS) -> str:
    """The result DataFrame as a scrollable table with coloured outcomes and the failure messages."""
    names = names or {}
    shown = _rows_to_show(frame, limit)
    head = "".join(f"<th>{h}</th>" for h in _HEADERS)
    positions = [int(i) for i in shown.index.to_list()]
    body = "".join(_row(p + 1, row, names) for p, row in zip(positions, shown.to_dict("records"), strict=True))
    note = ""
    if len(shown) < len(frame):
        note = muted_line(f"Showing {len(shown)} of {len(frame)} rows, failures first; all are in panel.results.")
    return (
        f"<style>{_TABLE_CSS}</style>{note}"
        f'<div style="max-height:340px;overflow:auto;border:1px solid {_BORDER};border-radius:4px">'
        f'<table class="scp-results"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div>'
    )


def _row(number: int, row: Mapping[Any, Any], names: Mapping[str, str]) -> str:
    server_id = _cell(row["server_id"])
    outcome = _cell(row["outcome"])
    elapsed = row["elapsed_ms"]
    cells = (
        f'<td class="num">{number}</td>',
        f'<td class="id">{html.escape(server_id)}</td>',
        f"<td>{html.escape(names.get(server_id, ''))}</td>",
        f"<td>{badge(outcome)}</td>",
        f'<td class="n">{html.escape(_cell(row["http_status"]))}</td>',
        f"<td>{_locked(row['locked'])}</td>",
        f'<td class="n">{html.escape(_cell(row["attempts"]))}</td>',
        f'<td class="n">{"" if pd.isna(elapsed) else f"{float(elapsed):.0f}"}</td>',
        f"<td>{html.escape(_cell(row['message']))}</td>",
    )
    return f'<tr data-outcome="{html.escape(outcome)}">{"".join(cells)}</tr>'


def summary_html(frame: pd.DataFrame) -> str:
    """'Lock: 3 locked in 0.3 s · API 1.3 · run abc · journal …' coloured by how the run went."""
    attrs = frame.attrs
    outcomes = frame["outcome"].astype("string")
    failures = int((~outcomes.isin([str(o) for o in SUCCESSES])).sum())
    level: Level = "ok" if failures == 0 else ("error" if failures == len(frame) else "warn")
    if attrs.get("cancelled"):
        level = "warn"
    action = str(attrs.get("action", "run")).capitalize()
    parts = [f"{action}: {attrs.get('summary', '')}", f"API {attrs.get('api_version', '?')}"]
    if attrs.get("run_id"):
        parts.append(f"run {attrs['run_id']}")
    journal = f"Journal: {attrs['journal']}" if attrs.get("journal") else "No journal for this run"
    return status_line(level, " · ".join(parts)) + muted_line(journal)


def muted_line(text: str) -> str:
    return f'<div style="color:{_MUTED};font-size:11px;line-height:1.4">{html.escape(text)}</div>'


def common_failure(frame: pd.DataFrame) -> str | None:
    """When every row failed the same way (bad key, dead service), one line saying so, else None."""
    outcomes = set(frame["outcome"].astype("string"))
    if len(outcomes) != 1:
        return None
    outcome = outcomes.pop()
    if outcome in SUCCESSES or outcome in (Outcome.CANCELLED, Outcome.INVALID_ID):
        return None
    noun = "server" if len(frame) == 1 else f"all {len(frame)} servers"
    return f"{noun.capitalize()} failed ({outcome}): {_cell(frame['message'].iloc[0])}"
