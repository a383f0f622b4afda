"""scp-widgets: lock and unlock Samsung Cloud Platform virtual servers from Jupyter, in bulk.

    import scp_widgets
    df = scp_widgets.lock(["31f1160f-bd1e-40e8-b2ef-84f4ed22c330"])   # one row per server (web-052 of the demo fleet)

In a notebook: `%load_ext scp_widgets`, then `%scp_lock ID ...`, or `scp_widgets.LockPanel()`.
Imports are lazy so that `%load_ext` stays fast; in an IPython shell a background thread then makes them
(notebook/warm_up.py), so the first run there costs what the tenth does.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

from scp_widgets.client.version import __version__ as __version__

_EXPORTS = {
    "lock": "api",
    "unlock": "api",
    "alock": "api",
    "aunlock": "api",
    "list_servers": "api",
    "alist_servers": "api",
    "api_versions": "api",
    "prune_journals": "api",
    "read_journal": "engine.journal_reader",
    "history": "engine.history",
    "read_history_row": "engine.history",
    "CancelToken": "engine.cancel",
    "Progress": "engine.bulk",
    "ScpClient": "client.scp_client",
    "AsyncScpClient": "client.scp_client",
    "Outcome": "engine.results",
    "LockPanel": "panel.lock_panel",
    "ScpError": "client.errors",
    "ScpUsageError": "client.errors",
    "JournalError": "client.errors",
    "ScpApiError": "client.errors",
    "ScpNetworkError": "client.errors",
    "JournalWarning": "engine.journal",
    "retry_failed": "api",
    "resume_cancelled": "api",
    "unlocked": "fleet.windows",
    "aunlocked": "fleet.windows",
    "relock_pending": "fleet.windows",
    "guard": "panel.guard_widget",
}

#: Blocking runs that register `frame.scp` while they send, so their first call starts sending before pandas loads.
_SENDS_FIRST = frozenset({"lock", "unlock"})
_ACCESSOR = f"{__name__}.views.accessor"

if TYPE_CHECKING:
    from scp_widgets.api import (
        alist_servers,
        alock,
        aunlock,
        list_servers,
        lock,
        resume_cancelled,
        retry_failed,
        unlock,
    )
    from scp_widgets.client.errors import JournalError, ScpApiError, ScpError, ScpNetworkError, ScpUsageError
    from scp_widgets.client.scp_client import AsyncScpClient, ScpClient
    from scp_widgets.engine.bulk import Progress
    from scp_widgets.engine.cancel import CancelToken
    from scp_widgets.engine.history import history, read_history_row
    from scp_widgets.engine.journal import JournalWarning
    from scp_widgets.engine.journal_reader import read_journal
    from scp_widgets.engine.results import Outcome
    from scp_widgets.fleet.windows import aunlocked, relock_pending, unlocked
    from scp_widgets.panel.guard_widget import guard
    from scp_widgets.panel.lock_panel import LockPanel


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        import importlib

        if name in _SENDS_FIRST:  # the accessor is imported while the first run sends (api.FRAME_IMPORTS)
            api = importlib.import_module(".api", __name__)
            if _ACCESSOR not in api.FRAME_IMPORTS:
                api.FRAME_IMPORTS.append(_ACCESSOR)
        elif _EXPORTS[name] != "client.errors":  # `frame.scp.chart()` from the first use on (pandas is loaded then)
            importlib.import_module(_ACCESSOR)
        module = importlib.import_module(f".{_EXPORTS[name]}", __name__)
        return getattr(module, name)
    raise AttributeError(f"module 'scp_widgets' has no attribute {name!r}")


def _warm_up_in_a_shell() -> None:
    if "IPython" in sys.modules:  # never in a script or the command line, which import no IPython
        from scp_widgets.notebook import warm_up

        if warm_up.in_a_shell():
            warm_up.start()


_warm_up_in_a_shell()


def load_ipython_extension(ipython: Any) -> None:
    from scp_widgets.notebook.extension import load

    load(ipython)


def unload_ipython_extension(ipython: Any) -> None:
    from scp_widgets.notebook.extension import unload

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
    "api_versions",
    "aunlock",
    "aunlocked",
    "guard",
    "history",
    "list_servers",
    "lock",
    "prune_journals",
    "read_history_row",
    "read_journal",
    "relock_pending",
    "resume_cancelled",
    "retry_failed",
    "unlock",
    "unlocked",
]
