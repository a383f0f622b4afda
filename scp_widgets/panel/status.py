"""The panel's status lines: one themed line per message, and the one reason when a whole run failed alike.

Pure functions from data to an HTML string, tested without widgets. Text keeps JupyterLab's own text colour
(full contrast in light, dark and high-contrast themes); the level's colour marks only the icon.
"""

from __future__ import annotations

import html
from typing import Literal

import pandas as pd

from scp_widgets.engine.results import SUCCESSES, Outcome
from scp_widgets.views.results_view import COLOURS

Level = Literal["info", "ok", "warn", "error"]

_LEVELS: dict[Level, tuple[str, str]] = {
    "info": ("", ""),
    "ok": ("✔", COLOURS["ok"]),
    "warn": ("⚠", COLOURS["warn"]),
    "error": ("✖", COLOURS["error"]),
}
_TEXT = "var(--jp-content-font-color1, #1f1f1f)"
_MUTED = "var(--jp-content-font-color2, #5f6368)"


def status_line(level: Level, text: str) -> str:
    """One line of status; empty text clears it."""
    if not text:
        return ""
    icon, colour = _LEVELS[level]
    one_line = " ".join(text.split())
    mark = f'<b style="color:{colour}">{icon}</b> ' if icon else ""
    colour_text = _MUTED if level == "info" else _TEXT
    style = f"color:{colour_text};line-height:1.5;overflow-wrap:anywhere"
    return f'<div class="scp-status scp-{level}" style="{style}">{mark}{html.escape(one_line)}</div>'


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
    message = frame["message"].iloc[0]
    return f"{noun.capitalize()} failed ({outcome}): {'' if pd.isna(message) else message}"
