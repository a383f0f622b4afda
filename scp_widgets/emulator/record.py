"""What the emulator saw: one record per request, per-server lock history, counters.

Records hold the access key (an identifier) but never the signature or the secret.
"""

from __future__ import annotations

import bisect
from collections import Counter
from dataclasses import asdict, dataclass
from typing import Any, TypedDict

# Status recorded for a dropped connection: no answer was sent at all.
NO_RESPONSE = 0


@dataclass(frozen=True)
class RequestRecord:
    time: float
    method: str
    path: str
    query: str
    server_id: str | None
    action: str | None
    status: int
    api_version: str | None
    access_key: str | None
    retry_after: float | None
    fault: str | None
    request_id: str

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


class Counts(TypedDict):
    total: int
    by_action: dict[str, int]
    by_status: dict[int, int]
    by_fault: dict[str, int]
    by_action_status: dict[str, int]


class Recorder:
    """Not thread-safe by itself; the emulator calls it under its lock."""

    def __init__(self) -> None:
        self.records: list[RequestRecord] = []
        self._arrivals: list[int] = []
        self.lock_history: dict[str, list[tuple[float, str]]] = {}

    def add(self, arrival: int, record: RequestRecord) -> None:
        """Insert by arrival number: requests finish out of order under latency, the record must not."""
        index = bisect.bisect(self._arrivals, arrival)
        self._arrivals.insert(index, arrival)
        self.records.insert(index, record)

    def lock_event(self, server_id: str, time: float, action: str) -> None:
        self.lock_history.setdefault(server_id, []).append((time, action))

    def clear(self) -> None:
        # In place, so lists handed out earlier (`emulator.record`) see the reset too.
        self.records.clear()
        self._arrivals.clear()
        self.lock_history.clear()

    def counts(self) -> Counts:
        return Counts(
            total=len(self.records),
            by_action=dict(Counter(r.action or "other" for r in self.records)),
            by_status=dict(Counter(r.status for r in self.records)),
            by_fault=dict(Counter(r.fault for r in self.records if r.fault)),
            by_action_status=dict(Counter(f"{r.action or 'other'} {r.status}" for r in self.records)),
        )
