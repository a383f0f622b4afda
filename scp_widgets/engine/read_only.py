"""Read-only sessions: `SCP_WIDGETS_READ_ONLY=1` (set by `scp-widgets app --read-only` for its kernels).

Listing, history and charts work; every call that could change a server (lock, unlock, their reruns, a
maintenance window, a re-lock of pending windows, a drift guard) refuses with one sentence before anything is
sent. The setting is read on every call, so it cannot be missed by an import order.
"""

from __future__ import annotations

import os

from scp_widgets.client.errors import ScpUsageError

READ_ONLY_ENV = "SCP_WIDGETS_READ_ONLY"
_FALSE = frozenset({"", "0", "false", "no", "off"})


def read_only() -> bool:
    """Whether this process may only read (SCP_WIDGETS_READ_ONLY set to anything but 0/false/no/off)."""
    return os.environ.get(READ_ONLY_ENV, "").strip().lower() not in _FALSE


def refuse_change(what: str) -> None:
    """Raise the read-only sentence for `what` (e.g. 'lock()') when this session is read-only."""
    if read_only():
        raise ScpUsageError(
            f"{what} is refused: this session is read-only ({READ_ONLY_ENV} is set, e.g. by "
            "`scp-widgets app --read-only`), so it can list servers, read history and draw charts "
            "but not change a server."
        )
