"""scp-widgets: lock and unlock Samsung Cloud Platform virtual servers from Jupyter, in bulk.

    import scp_widgets
    df = scp_widgets.lock(["31f1160f-bd1e-40e8-b2ef-84f4ed22c330"])   # one row per server (web-052 of the demo fleet)

In a notebook: `%load_ext scp_widgets`, then `%scp_lock ID ...`, or `scp_widgets.LockPanel()`.
Imports are lazy so that `%load_ext` stays fast.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_EXPORTS = {
    "lock": "api", "unlock": "api", "alock": "api", "aunlock": "api", "list_servers": "api",
    "alist_servers": "api", "read_journal": "journal_reader", "history": "run_history", "CancelToken": "bulk",
    "Progress": "bulk", "ScpClient": "client", "AsyncScpClient": "client", "Outcome": "results",
    "LockPanel": "panel", "ScpError": "errors", "ScpUsageError": "errors", "JournalError": "errors",
    "JournalWarning": "journal", "ScpApiError": "errors", "ScpNetworkError": "errors",
    "retry_failed": "rerun", "resume_cancelled": "rerun",
    "unlocked": "windows", "aunlocked": "windows", "relock_pending": "windows", "guard": "drift_guard",
}  # fmt: skip

if TYPE_CHECKING:
    from .api import alist_servers, alock, aunlock, list_servers, lock, unlock
    from .bulk import CancelToken, Progress
    from .client import AsyncScpClient, ScpClient
    from .drift_guard import guard
    from .errors import JournalError, ScpApiError, ScpError, ScpNetworkError, ScpUsageError
    from .journal import JournalWarning
    from .journal_reader import read_journal
    from .panel import LockPanel
    from .rerun import resume_cancelled, retry_failed
    from .results import Outcome
    from .run_history import history
    from .windows import aunlocked, relock_pending, unlocked


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        import importlib

        module = importlib.import_module(f".{_EXPORTS[name]}", __name__)
        return getattr(module, name)
    raise AttributeError(f"module 'scp_widgets' has no attribute {name!r}")


def load_ipython_extension(ipython: Any) -> None:
    from .magics import load

    load(ipython)


def unload_ipython_extension(ipython: Any) -> None:
    from .magics import unload

    unload(ipython)


__all__ = [
    "AsyncScpClient",
    "CancelToken",
    "JournalError",
    "JournalWarning",
    "LockPanel",
    "Outcome",
    "Progress",
    "ScpApiError",
    "ScpClient",
    "ScpError",
    "ScpNetworkError",
    "ScpUsageError",
    "alist_servers",
    "alock",
    "aunlock",
    "aunlocked",
    "guard",
    "history",
    "list_servers",
    "lock",
    "read_journal",
    "relock_pending",
    "resume_cancelled",
    "retry_failed",
    "unlock",
    "unlocked",
]
