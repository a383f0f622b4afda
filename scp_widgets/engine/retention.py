"""Journal retention: how long finished journals are kept, and pruning them.

In the default journal folder only, a file whose every run finished more than `keep_days()` ago (90 days;
`SCP_WIDGETS_JOURNAL_DAYS` or `%config ScpHistoryMagics.keep_days` change it, 0 keeps everything) is
deleted when a run starts, or by `prune_journals()` / `scp-widgets prune`. A file holding an unfinished run
is never pruned: it is a crash's record. Apart from `history.py` (whose frames need pandas): a run prunes
before it sends, and nothing on the sending path imports pandas.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import os
import time
import warnings
from pathlib import Path

from scp_widgets.client.errors import JournalError, ScpUsageError
from scp_widgets.engine.journal import JournalWarning
from scp_widgets.engine.journal_lines import JournalRun
from scp_widgets.engine.journal_reader import read_runs

logger = logging.getLogger(__name__)
KEEP_DAYS_ENV = "SCP_WIDGETS_JOURNAL_DAYS"
DEFAULT_KEEP_DAYS = 90.0
_configured_days: float | None = None  # set by %config ScpHistoryMagics.keep_days; wins over the env var


def configure(keep_days: float | None) -> None:
    """Set the retention for this process (None: back to the env var or the default)."""
    if keep_days is not None and keep_days < 0:
        raise ScpUsageError(f"keep_days must be 0 (keep everything) or a positive number of days, not {keep_days!r}.")
    global _configured_days
    _configured_days = keep_days


def keep_days() -> float:
    """Days a finished journal is kept: %config, then SCP_WIDGETS_JOURNAL_DAYS, then 90 (0: forever)."""
    if _configured_days is not None:
        return _configured_days
    text = os.environ.get(KEEP_DAYS_ENV, "").strip()
    if not text:
        return DEFAULT_KEEP_DAYS
    try:
        days = float(text)
    except ValueError:
        days = -1.0
    if days < 0:
        raise ScpUsageError(f"{KEEP_DAYS_ENV} must be 0 (keep everything) or a number of days, not {text!r}.")
    return days


def prune_journals(
    folder: Path, *, days: float | None = None, now: float | None = None, dry_run: bool = False
) -> list[Path]:
    """Delete finished journals in `folder` older than `days` (default: `keep_days()`); returns them (with
    `dry_run`, the ones it would delete, deleting none).

    Old means both the file's modification time and every run's `finished_at` are before the cut-off;
    a file with an unfinished run, or that is not a journal, is never deleted.
    """
    days = keep_days() if days is None else days
    if days <= 0 or not folder.is_dir():
        return []
    cutoff = (time.time() if now is None else now) - days * 86400
    pruned: list[Path] = []
    for file in folder.glob("*.jsonl"):
        try:
            if file.stat().st_mtime >= cutoff:
                continue
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", JournalWarning)
                runs = read_runs(file)
        except (OSError, JournalError, ScpUsageError) as exc:  # kept, and said: a file we cannot judge stays
            warnings.warn(f"Not pruned: {exc}", JournalWarning, stacklevel=2)
            continue
        if runs and all(run.complete and _finished_before(run, cutoff) for run in runs):  # every run, not one
            if dry_run:
                pruned.append(file)
                continue
            with contextlib.suppress(FileNotFoundError):
                file.unlink()
                pruned.append(file)
    return pruned


def prune_quietly(folder: Path) -> None:
    """Retention at the start of a run (the default folder only): never a reason for the run not to happen."""
    try:
        pruned = prune_journals(folder)
    except Exception as exc:  # a broken file, a full disk, anything: the run goes on, the log says why
        logger.warning("journal retention skipped: %s", exc)
        return
    if pruned:
        logger.info("pruned %d journals older than %g days from %s", len(pruned), keep_days(), folder)


def _finished_before(run: JournalRun, cutoff: float) -> bool:
    finished = (run.footer or {}).get("finished_at")
    try:
        return dt.datetime.fromisoformat(str(finished)).timestamp() < cutoff
    except ValueError:
        return False
