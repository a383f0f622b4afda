"""One progress line over a run across regions, built from each region's own reports."""

from __future__ import annotations

from collections.abc import Sequence

from scp_widgets.engine.bulk import Progress, ProgressCallback
from scp_widgets.engine.results import ServerResult, count_outcomes


class CombinedProgress:
    """One progress line over all regions' runs (their callbacks all run on the same loop thread), with each
    region's own snapshot in `regions`. Its total is every server asked for, from the first report to the
    last: the ones not sent (not found, not listed) count as done from the start, so the denominator the
    panel shows before the run never changes under the user's eyes."""

    def __init__(self, total: int, callback: ProgressCallback | None, unsent: Sequence[ServerResult] = ()) -> None:
        self.total = total
        self.callback = callback
        self.unsent = count_outcomes(r.outcome for r in unsent)
        self.parts: dict[str, Progress] = {}

    def part(self, region: str | None) -> ProgressCallback | None:
        if self.callback is None:
            return None

        def update(progress: Progress) -> None:
            self.parts[region or ""] = progress
            parts = self.parts.values()
            counts = dict(self.unsent)
            for p in parts:
                for outcome, n in p.counts.items():
                    counts[outcome] = counts.get(outcome, 0) + n
            waits = [p.retry_in for p in parts if p.retry_in is not None]
            rates = [p.rate for p in parts if p.rate is not None]
            assert self.callback is not None
            self.callback(
                Progress(
                    sum(p.done for p in parts) + sum(self.unsent.values()), self.total, counts,
                    max(p.elapsed_s for p in parts), progress.last,
                    sent=sum(p.sent for p in parts), accepted=sum(p.accepted for p in parts),
                    rate=sum(rates) if rates else None, retry_in=min(waits) if waits else None,
                    regions={name: p for name, p in self.parts.items() if name},
                )
            )  # fmt: skip

        return update
