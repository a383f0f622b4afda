"""The panel face: `LockPanel` and its parts (targets, confirmation, results, history, region picker), and the
drift guard's widget, over the public API."""

from scp_widgets.panel.lock_panel import LockPanel

__all__ = ["LockPanel"]
