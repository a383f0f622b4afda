"""The warm-up: a background thread imports what a first run needs, so it costs what the tenth does.

A first run pays about a second of imports (httpx, aiohttp, pandas, the engine). In a kernel that second is
spent early instead, while the user writes the next cell: when `%load_ext scp_widgets` loads, and when
`import scp_widgets` runs in an IPython shell (a notebook that calls `scp_widgets.lock()` or `LockPanel()`
without the magics). A plain script or the command line never starts it. `SCP_WIDGETS_WARM_UP=0` turns it off.
"""

from __future__ import annotations

import logging
import os
import sys
import threading

WARM_UP_ENV = "SCP_WIDGETS_WARM_UP"
logger = logging.getLogger(__name__)
_lock = threading.Lock()
_thread: threading.Thread | None = None


def warm_up() -> None:
    """Import what the first run needs and start the shared loop thread; never a reason for anything to fail."""
    try:
        from scp_widgets import api  # noqa: F401  (httpx, aiohttp, the engine and its transport)
        from scp_widgets.client.loop_thread import background_loop
        from scp_widgets.engine import history, listing, rerun  # noqa: F401  (the API imports these where used)
        from scp_widgets.fleet import plan  # noqa: F401
        from scp_widgets.views import accessor, results_view  # noqa: F401  (pandas)

        background_loop()
    except Exception as exc:  # the first run imports the same and reports any real problem itself
        logger.debug("warm-up skipped: %s", exc)


def start() -> threading.Thread | None:
    """Start the warm-up once per process (None when turned off); a second call returns the first thread."""
    global _thread
    if os.environ.get(WARM_UP_ENV, "").strip() == "0":
        return None
    with _lock:
        if _thread is None:
            _thread = threading.Thread(target=warm_up, name="scp-widgets-warm-up", daemon=True)
            _thread.start()
        return _thread


def started() -> threading.Thread | None:
    """The warm-up thread of this process, if one was started (tests and benchmarks join it)."""
    return _thread


def in_a_shell() -> bool:
    """True in an IPython shell (a notebook's kernel, the terminal IPython); IPython is never imported here."""
    ipython = sys.modules.get("IPython")
    get_ipython = getattr(ipython, "get_ipython", None)
    return get_ipython is not None and get_ipython() is not None
