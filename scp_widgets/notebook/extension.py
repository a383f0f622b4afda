"""`%load_ext scp_widgets`: register every family of magics, and the results view for their frames.

pandas, httpx and the API are imported inside the magics, so loading stays fast; a background thread then
imports them (the warm-up), so the first `%scp_lock` a few seconds later costs what the tenth does instead
of paying about a second of imports. `SCP_WIDGETS_WARM_UP=0` turns the warm-up off.
"""

from __future__ import annotations

import logging
import os
import threading
from typing import TYPE_CHECKING

from scp_widgets.notebook import history_magic, magic_view, servers_magic, unlocked_magic
from scp_widgets.notebook.arguments import unregister
from scp_widgets.notebook.lock_magics import ScpLockMagics

if TYPE_CHECKING:
    from IPython.core.interactiveshell import InteractiveShell

_LOCK_MAGICS: dict[str, tuple[str, ...]] = {"line": ("scp_lock", "scp_unlock"), "cell": ("scp_lock", "scp_unlock")}
WARM_UP_ENV = "SCP_WIDGETS_WARM_UP"
logger = logging.getLogger(__name__)
#: The warm-up started by the last load (None when off): tests join it.
warm_up_thread: threading.Thread | None = None


def warm_up() -> None:
    """Import what the first run needs and start the shared loop thread; never a reason for anything to fail."""
    try:
        from scp_widgets import api  # noqa: F401  (httpx, aiohttp, the engine and its transport)
        from scp_widgets.client.loop_thread import background_loop
        from scp_widgets.engine import history, listing, rerun  # noqa: F401  (the API imports these where used)
        from scp_widgets.fleet import plan  # noqa: F401
        from scp_widgets.views import accessor, results_view  # noqa: F401  (pandas)

        background_loop()
    except Exception as exc:  # the first magic imports the same and reports any real problem itself
        logger.debug("warm-up skipped: %s", exc)


def start_warm_up() -> threading.Thread | None:
    global warm_up_thread
    if os.environ.get(WARM_UP_ENV, "").strip() == "0":
        warm_up_thread = None
        return None
    warm_up_thread = threading.Thread(target=warm_up, name="scp-widgets-warm-up", daemon=True)
    warm_up_thread.start()
    return warm_up_thread


def load(ipython: InteractiveShell) -> None:
    """Register the magics (and their %config settings) in `ipython`; loading twice leaves one of each."""
    unload(ipython)
    ipython.register_magics(ScpLockMagics(shell=ipython))
    servers_magic.load(ipython)
    history_magic.load(ipython)
    magic_view.install(ipython)
    unlocked_magic.load(ipython)
    start_warm_up()


def unload(ipython: InteractiveShell) -> None:
    """Remove the magics and their %config entries; the rest of the shell is left alone."""
    magic_view.uninstall(ipython)
    unregister(ipython, ScpLockMagics, _LOCK_MAGICS)
    servers_magic.unload(ipython)
    history_magic.unload(ipython)
    unlocked_magic.unload(ipython)
