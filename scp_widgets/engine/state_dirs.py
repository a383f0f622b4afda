"""Where the state of runs lives (journals, window records): found without importing pandas or httpx, so
`%load_ext` can look for pending maintenance windows and stay fast."""

from __future__ import annotations

import os
from pathlib import Path

import platformdirs

JOURNAL_DIR_ENV = "SCP_WIDGETS_JOURNAL_DIR"


def default_journal_dir() -> Path:
    configured = os.environ.get(JOURNAL_DIR_ENV)
    return Path(configured) if configured else platformdirs.user_state_path("scp-widgets") / "journal"


def windows_dir() -> Path:
    return default_journal_dir() / "windows"


def any_window_records() -> bool:
    """Whether any maintenance-window record exists (the cheap test before reading them)."""
    folder = windows_dir()
    return folder.is_dir() and any(folder.glob("*.json"))
