"""`%load_ext scp_widgets`: register every family of magics, and the results view for their frames.

pandas, httpx and the API are imported inside the magics, so loading stays fast; a background thread then
imports them (`warm_up.py`), so the first `%scp_lock` a few seconds later costs what the tenth does instead
of paying about a second of imports.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from scp_widgets.notebook import history_magic, magic_view, servers_magic, unlocked_magic, warm_up
from scp_widgets.notebook.arguments import unregister
from scp_widgets.notebook.lock_magics import ScpLockMagics

if TYPE_CHECKING:
    from IPython.core.interactiveshell import InteractiveShell

_LOCK_MAGICS: dict[str, tuple[str, ...]] = {"line": ("scp_lock", "scp_unlock"), "cell": ("scp_lock", "scp_unlock")}


def load(ipython: InteractiveShell) -> None:
    """Register the magics (and their %config settings) in `ipython`; loading twice leaves one of each."""
    unload(ipython)
    ipython.register_magics(ScpLockMagics(shell=ipython))
    servers_magic.load(ipython)
    history_magic.load(ipython)
    magic_view.install(ipython)
    unlocked_magic.load(ipython)
    warm_up.start()


def unload(ipython: InteractiveShell) -> None:
    """Remove the magics and their %config entries; the rest of the shell is left alone."""
    magic_view.uninstall(ipython)
    unregister(ipython, ScpLockMagics, _LOCK_MAGICS)
    servers_magic.unload(ipython)
    history_magic.unload(ipython)
    unlocked_magic.unload(ipython)
