"""How `%scp_history`'s frame displays: one line per run, as the results view shows rows. Local times, the
outcome counts as coloured badges, the journal's file name with its whole path on hover; the frame itself
keeps every column (UTC stamps, full paths) for code."""

from __future__ import annotations

import html
from pathlib import PurePath
from typing import Any

import pandas as pd

from scp_widgets.engine.results import Outcome
from scp_widgets.views.results_view import CSS, badge, local_time

_HEAD = "<tr><th>started</th><th>action</th><th>servers</th><th>outcomes</th><th>summary</th><th>journal</th></tr>"


def _counts(row: Any) -> str:
    parts = []
    for outcome in Outcome:
        n = getattr(row, str(outcome), 0)
        if isinstance(n, int | float) and not pd.isna(n) and n:
            parts.append(f"{badge(str(outcome))}&nbsp;{int(n)}")
    return " ".join(parts)


def history_html(frame: pd.DataFrame) -> str:
    """The run list as a table; a run that did not finish says so in its summary cell."""
    rows = []
    for row in frame.itertuples(index=False):
        summary = html.escape(str(row.summary)) if isinstance(row.summary, str) else ""
        if not row.complete:  # its summary says "did not finish: ..." or "running: ..."
            summary = f"<b>{summary}</b>"
        path = str(row.journal) if isinstance(row.journal, str) else ""
        journal = f'<span title="{html.escape(path)}">{html.escape(PurePath(path).name)}</span>'
        rows.append(
            f"<tr><td>{local_time(row.started_at)}</td><td>{html.escape(str(row.action))}</td>"
            f"<td class='n'>{row.servers}</td><td>{_counts(row)}</td><td>{summary}</td><td>{journal}</td></tr>"
        )
    body = "".join(rows) or "<tr><td colspan='6'>No runs journaled yet.</td></tr>"
    return f"<div class='scp-run'><style>{CSS}</style><table class='scp-table'>{_HEAD}{body}</table></div>"


def history_text(frame: pd.DataFrame) -> str:
    """The terminal form: local start time, action, servers, summary and the journal's file name."""
    if frame.empty:
        return "No runs journaled yet."
    view = pd.DataFrame(
        {
            "started": [local_time(s) for s in frame["started_at"]],
            "action": frame["action"],
            "servers": frame["servers"],
            "summary": frame["summary"],  # a run without its end says "did not finish: ..." or "running: ..."
            "journal": [PurePath(str(p)).name for p in frame["journal"]],
        }
    )
    with pd.option_context("display.max_colwidth", 80, "display.width", 200):
        return view.to_string(index=False)
