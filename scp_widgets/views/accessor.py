"""`frame.scp`: the charts, one call where the data already is.

    servers.scp.coverage()              # a list_servers() frame
    df.scp.timeline()                   # a lock/unlock result frame
    scp_widgets.history().scp.chart()   # chart() picks the picture that fits the frame

Registered when this module is imported: by the first use of `scp_widgets.<name>` (the package's lazy
`__getattr__`) and by the magics when they run, never by `%load_ext` itself (pandas is not loaded then).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pandas as pd

from scp_widgets.client.errors import ScpUsageError
from scp_widgets.views import charts

if TYPE_CHECKING:
    import altair as alt


def kind_of(frame: pd.DataFrame) -> str | None:
    """'result', 'servers' or 'history' by the frame's columns; None for any other frame."""
    columns = set(frame.columns)
    if {"server_id", "outcome", "started_at", "finished_at"} <= columns:
        return "result"
    if {"run_id", "summary", "journal"} <= columns:
        return "history"
    if {"id", "state", "locked"} <= columns:
        return "servers"
    return None


@pd.api.extensions.register_dataframe_accessor("scp")
class ScpAccessor:
    def __init__(self, frame: pd.DataFrame) -> None:
        self._frame = frame

    def _need(self, kind: str, what: str) -> pd.DataFrame:
        if kind_of(self._frame) != kind:
            raise ScpUsageError(f"{what} needs {_WHICH[kind]}; this frame has columns {list(self._frame.columns)[:6]}.")
        return self._frame

    def coverage(self) -> alt.Chart:
        """Servers per region and state, locked vs unlocked; the unlocked ones listed on hover."""
        return charts.coverage(self._need("servers", ".scp.coverage()"))

    def timeline(self, *, rate_limit: float | None = None) -> alt.VConcatChart:
        """Sent, answered and final over time, retries and throttling marked, rate and latency."""
        return charts.timeline(self._need("result", ".scp.timeline()"), rate_limit=rate_limit)

    def chart(self, **options: Any) -> Any:
        """The picture that fits: a timeline of a run, the coverage of a listing, runs by outcome of a history."""
        kind = kind_of(self._frame)
        if kind == "result":
            return charts.timeline(self._frame, **options)
        if kind == "servers":
            return charts.coverage(self._frame)
        if kind == "history":
            return charts.history_chart(self._frame)
        raise ScpUsageError("scp.chart() draws a result frame, a list_servers() frame or a history() frame.")


_WHICH = {
    "result": "a lock/unlock result frame",
    "servers": "a list_servers() frame",
    "history": "a history() frame",
}
