"""One view of a run's results, for both faces: the magics' cell output and the panel.

A run reads at a glance: a summary with the counts, then the failures with their whole message and the
server's name, then the cancelled and the successes folded below. Durations are humanised and times are
local. `run_html` is the notebook form (themed by JupyterLab's `--jp-*` variables, so light, dark and
high-contrast themes all keep text at full contrast: colour only marks icons and borders); `run_text` is the
terminal form. Both only read the DataFrame: the frame itself keeps its contract columns and dtypes.
"""

from __future__ import annotations

import datetime as dt
import html
from collections.abc import Collection, Mapping
from typing import Any, Literal

import pandas as pd

from scp_widgets.engine.results import SECTIONS, Section, section_of, sections

Level = Literal["ok", "warn", "error"]
SortKey = Literal["attention", "request", "name", "outcome", "slowest"]
SORT_LABELS: dict[SortKey, str] = {
    "attention": "failures first",
    "request": "request order",
    "name": "server name",
    "outcome": "outcome",
    "slowest": "slowest first",
}
#: Rows drawn per section; the DataFrame always has them all.
MAX_ROWS = 500

_TEXT = "var(--jp-content-font-color1, #1f1f1f)"
_MUTED = "var(--jp-content-font-color2, #5f6368)"
_BORDER = "var(--jp-border-color2, #e0e0e0)"
_HEAD_BG = "var(--jp-layout-color2, #eeeeee)"
_MONO = "var(--jp-code-font-family, monospace)"
_LINK = "var(--jp-content-link-color, #0d47a1)"
COLOURS = {
    "ok": "var(--jp-success-color1, #388e3c)",
    "warn": "var(--jp-warn-color1, #f57c00)",
    "error": "var(--jp-error-color1, #d32f2f)",
    "cancelled": "var(--jp-border-color1, #9e9e9e)",
}
ICONS: dict[str, str] = {"ok": "✔", "warn": "⚠", "error": "✖"}

# One style block per view, scoped by class: a few hundred kB at most for 1,000 rows of widget state.
CSS = (
    ".scp-run{color:" + _TEXT + ";font-size:12px;line-height:1.45;max-width:100%;min-width:0}"
    ".scp-run .scp-summary{font-size:13px;margin:2px 0 6px 0;overflow-wrap:anywhere}"
    ".scp-run .scp-icon{font-weight:700;margin-right:4px}"
    + "".join(f".scp-run .scp-icon.{k}{{color:{c}}}" for k, c in COLOURS.items())
    + ".scp-run .scp-muted{color:"
    + _MUTED
    + "}"
    ".scp-run a{color:" + _LINK + "}"
    ".scp-run details{margin:4px 0}.scp-run summary{cursor:pointer;font-weight:600}"
    ".scp-run h4{font-size:12px;margin:6px 0 2px 0}"
    ".scp-scroll{max-height:420px;overflow:auto;border:1px solid " + _BORDER + ";border-radius:4px;max-width:100%}"
    ".scp-run .scp-results{border-collapse:collapse;width:100%;table-layout:fixed;margin:0;font-size:12px}"
    ".scp-run .scp-results th{position:sticky;top:0;background:" + _HEAD_BG + ";text-align:left;padding:3px 6px;"
    "border-bottom:1px solid " + _BORDER + ";font-weight:600;z-index:1}.scp-run .scp-results th.n{text-align:right}"
    ".scp-run .scp-results td{padding:3px 6px;border-bottom:1px solid "
    + _BORDER
    + ";vertical-align:top;text-align:left;"
    "overflow-wrap:anywhere;line-height:1.45}"
    ".scp-run .scp-results td.n{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}"
    ".scp-run .scp-results .id{font-family:" + _MONO + ";color:" + _MUTED + "}"
    ".scp-results col.server{width:24%}.scp-results col.outcome{width:16%}.scp-results col.http{width:7%}"
    ".scp-results col.tries{width:7%}.scp-results col.took{width:10%}"
    ".scp-badge{display:inline-block;padding:0 6px;border-radius:9px;border:1.5px solid;white-space:nowrap;"
    "color:"
    + _TEXT
    + "}"
    + "".join(f".scp-badge.{k}{{border-color:{c}}}" for k, c in COLOURS.items())
    + ".scp-copy{border:none;background:none;cursor:pointer;color:"
    + _MUTED
    + ";padding:0 2px;font-size:11px}"
)


# -- small formatting ---------------------------------------------------------------------------------------


def humanise_ms(ms: Any) -> str:
    """'45 ms', '1.2 s', '18.8 s', '2 min 5 s'; empty when unknown."""
    if ms is None or pd.isna(ms):
        return ""
    value = float(ms)
    if value < 1000:
        return f"{value:.0f} ms"
    seconds = value / 1000
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, rest = divmod(round(seconds), 60)
    return f"{minutes} min {rest} s" if rest else f"{minutes} min"


def local_time(stamp: Any, *, today: dt.date | None = None) -> str:
    """A UTC timestamp as local wall time: '14:03:07', with the date when it is not today."""
    if stamp is None or pd.isna(stamp):
        return ""
    local = pd.Timestamp(stamp).floor("s").to_pydatetime().astimezone()
    if local.date() == (today or dt.date.today()):
        return local.strftime("%H:%M:%S")
    return local.strftime("%Y-%m-%d %H:%M:%S")


def outcome_label(outcome: str) -> str:
    return outcome.replace("_", " ")


def kind_of(outcome: str) -> str:
    return {"succeeded": "ok", "cancelled": "cancelled", "unfinished": "warn", "failed": "error"}[section_of(outcome)]


def level_of(frame: pd.DataFrame) -> Level:
    """Green when everything succeeded, red only when nothing did, amber in between (and when cancelled)."""
    counts = sections(frame).value_counts()
    succeeded = int(counts.get("succeeded", 0))
    if succeeded == len(frame) and not frame.attrs.get("cancelled") and frame.attrs.get("complete") is not False:
        return "ok"
    if succeeded == 0 and int(counts.get("failed", 0)) > 0:
        return "error"
    return "warn"


def short_id(server_id: str) -> str:
    return server_id[:8] + "…" if len(server_id) > 12 else server_id


def _esc(value: Any) -> str:
    return html.escape("" if value is None or (not isinstance(value, str) and pd.isna(value)) else str(value))


def counts_of(frame: pd.DataFrame) -> dict[str, int]:
    """Outcome counts, most frequent first, zero counts left out."""
    counts = frame["outcome"].astype("string").value_counts()
    return {str(k): int(v) for k, v in counts.items() if v}


def summary_text(frame: pd.DataFrame) -> str:
    """'Lock: 4 of 56 failed · 52 locked, 2 forbidden, 2 not_found · 56 servers in 3.1 s · API 1.3 · 14:03:07'."""
    attrs = frame.attrs
    by_section = sections(frame).value_counts()
    failed = int(by_section.get("failed", 0))
    total = len(frame)
    action = str(attrs.get("action") or (frame["action"].iloc[0] if total else "run")).capitalize()
    succeeded = int(by_section.get("succeeded", 0))
    if failed:
        head = f"{failed} of {total} failed"
    elif succeeded < total:  # cancelled or unfinished rows: not a success to claim ("cancelled; 143 of 50000 done")
        head = f"{succeeded} of {total} done"
    else:
        head = "all succeeded" if total else "nothing to do"
    if attrs.get("dry_run"):
        head = "dry run, nothing sent"
    elif attrs.get("cancelled"):
        head = f"cancelled; {head}"
    counts = ", ".join(f"{n} {o}" for o, n in counts_of(frame).items())
    if attrs.get("complete") is False:  # read back from the journal of a run that died
        head = "did not finish"
        counts += f"; {len(attrs.get('never_sent') or [])} never sent"
    took = f"{total} server{'s' if total != 1 else ''}"
    if attrs.get("elapsed_s") is not None:
        took += f" in {humanise_ms(float(attrs['elapsed_s']) * 1000)}"
    parts = [f"{action}: {head}", counts, took]
    if attrs.get("api_version"):
        parts.append(f"API {attrs['api_version']}")
    if total and "started_at" in frame and frame["started_at"].notna().any():
        parts.append(f"started {local_time(frame['started_at'].min())}")
    return " · ".join(p for p in parts if p)


# -- ordering -----------------------------------------------------------------------------------------------


def order(frame: pd.DataFrame, names: Mapping[str, str], key: SortKey = "attention") -> pd.DataFrame:
    """The rows in the chosen order; ties keep request order (a stable sort)."""
    if key == "request" or frame.empty:
        return frame
    if key == "name":
        sort_on = frame["server_id"].astype("string").map(lambda i: (names.get(str(i)) or "\uffff").lower())
        return frame.iloc[sort_on.reset_index(drop=True).argsort(kind="stable").to_numpy()]
    if key == "slowest":
        return frame.iloc[(-frame["elapsed_ms"].fillna(0)).reset_index(drop=True).argsort(kind="stable").to_numpy()]
    if key == "outcome":
        ranks = frame["outcome"].astype("string").fillna("")
        return frame.iloc[ranks.reset_index(drop=True).argsort(kind="stable").to_numpy()]
    rank = sections(frame).map({"failed": 0, "unfinished": 1, "cancelled": 2, "succeeded": 3})
    return frame.iloc[rank.reset_index(drop=True).argsort(kind="stable").to_numpy()]


# -- HTML -----------------------------------------------------------------------------------------------------


def badge(outcome: str) -> str:
    kind = kind_of(outcome)
    return f'<span class="scp-badge {kind}" title="{_esc(outcome)}">{_esc(outcome_label(outcome))}</span>'


def copy_button(text: str, label: str = "❐", title: str = "Copy the full id", css: str = "scp-copy") -> str:
    """A small button that copies `text` to the clipboard in the browser (nothing runs in the kernel)."""
    data = html.escape(text, quote=True)
    script = "navigator.clipboard&&navigator.clipboard.writeText(this.dataset.copy)"
    return (
        f'<button class="{css}" type="button" title="{html.escape(title)}" data-copy="{data}" '
        f'onclick="{script}">{html.escape(label)}</button>'
    )


_HEAD = (
    '<colgroup><col class="server"><col class="outcome"><col class="message"><col class="http">'
    '<col class="tries"><col class="took"></colgroup>'
    "<thead><tr><th>server</th><th>outcome</th><th>message</th><th class='n'>HTTP</th><th class='n'>tries</th>"
    "<th class='n'>took</th></tr></thead>"
)


def table_html(frame: pd.DataFrame, names: Mapping[str, str], *, limit: int = MAX_ROWS) -> str:
    """Rows as a table scrolling inside itself: name and short id (full id on hover, copy), the whole message."""
    shown = frame.head(limit)
    rows = []
    for record in shown.to_dict("records"):
        server_id = str(record["server_id"])
        name = names.get(server_id, "")
        outcome = str(record["outcome"])
        ident = f'<span class="id" title="{_esc(server_id)}">{_esc(short_id(server_id))}</span>'
        region = record.get("region")
        place = f' <span class="region">{_esc(region)}</span>' if isinstance(region, str) else ""  # web-001 twice
        server = f"<b>{_esc(name)}</b>{place}<br>" if name else f"{place.strip()}<br>" if place else ""
        server += ident + copy_button(server_id)
        http = "" if pd.isna(record["http_status"]) else str(int(record["http_status"]))
        rows.append(
            f'<tr data-outcome="{_esc(outcome)}" data-id="{_esc(server_id)}"><td>{server}</td><td>{badge(outcome)}</td>'
            f'<td class="message">{_esc(record["message"])}</td><td class="n">{http}</td>'
            f'<td class="n">{int(record["attempts"])}</td><td class="n">{humanise_ms(record["elapsed_ms"])}</td></tr>'
        )
    more = ""
    if len(shown) < len(frame):
        more = f'<div class="scp-muted">Showing {len(shown)} of {len(frame)} rows; the DataFrame has them all.</div>'
    table = f'<table class="scp-results">{_HEAD}<tbody>{"".join(rows)}</tbody></table>'
    return f'<div class="scp-scroll">{table}</div>{more}'


def summary_html(frame: pd.DataFrame) -> str:
    level = level_of(frame)
    icon = f'<span class="scp-icon {level}">{ICONS[level]}</span>'
    return f'<div class="scp-summary scp-{level}">{icon}{_esc(summary_text(frame))}</div>'


def run_html(
    frame: pd.DataFrame,
    names: Mapping[str, str] | None = None,
    *,
    show: Collection[Section] = SECTIONS,
    sort: SortKey = "attention",
    summary: bool = True,
    extra: str = "",
    limit: int = MAX_ROWS,
    totals: Mapping[Section, int] | None = None,
) -> str:
    """The whole view: summary, failures open, cancelled and successes folded (a section alone is open).
    `totals`: each section's row count when `frame` holds only some of them (a running table's newest)."""
    names = names or {}
    parts = [f"<style>{CSS}</style>", summary_html(frame) if summary else "", extra]
    where = sections(frame)
    titles = {"failed": "Failed", "unfinished": "Did not finish", "cancelled": "Cancelled", "succeeded": "Succeeded"}
    for section in SECTIONS:
        rows = frame[where == section]
        if section not in show or rows.empty:
            continue
        detail = ", ".join(f"{n} {o}" for o, n in counts_of(rows).items())
        title = f"{titles[section]} ({len(rows)}): {_esc(detail)}"
        if totals is not None and totals.get(section, 0) > len(rows):
            title = f"{titles[section]} ({totals[section]}; the newest {len(rows)} shown)"
        body = table_html(order(rows, names, sort), names, limit=limit)
        if section in ("failed", "unfinished") or len(show) == 1:
            parts.append(f'<div class="scp-section scp-{section}"><h4>{title}</h4>{body}</div>')
        else:
            parts.append(f'<details class="scp-section scp-{section}"><summary>{title}</summary>{body}</details>')
    return f'<div class="scp-run">{"".join(parts)}</div>'


# -- text (a terminal) -----------------------------------------------------------------------------------------


_LEAD = ["server_id", "outcome", "message"]


def run_text(
    frame: pd.DataFrame, names: Mapping[str, str] | None = None, *, max_rows: int = 20, summary: bool = True
) -> str:
    """The terminal form: the summary, every failure with its whole message, then the rows led by
    server_id, outcome and message (the DataFrame has all the columns)."""
    names = names or {}
    lines = [summary_text(frame)] if summary else []
    failed = frame[sections(frame) == "failed"]
    if not failed.empty:
        lines.append(f"Failed ({len(failed)}):")
        for record in failed.head(MAX_ROWS).to_dict("records"):
            name = names.get(str(record["server_id"]))
            who = f"{record['server_id']}" + (f" ({name})" if name else "")
            lines.append(f"  {who}  {record['outcome']}: {'' if pd.isna(record['message']) else record['message']}")
    if frame.empty:  # "Empty DataFrame / Columns: [...]" says nothing the summary has not said
        return "\n".join(lines)
    view = frame[_LEAD + [c for c in ("http_status", "attempts") if c in frame]].copy()
    view["took"] = [humanise_ms(v) for v in frame["elapsed_ms"]]
    with pd.option_context("display.max_colwidth", None, "display.width", 200):
        lines.append(view.to_string(max_rows=max_rows, na_rep=""))
    return "\n".join(lines)
