"""The chooser's index of a listing: labels, what a filter matches, names and regions, built once per listing.

Everything the panel asks of the list on a keystroke or a progress tick is read from here instead of being
re-derived from the listing frame: at 50,000 servers a re-derivation costs tens of milliseconds, and the
panel asks up to ten times a second. Pure (no widgets), tested on its own.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

import pandas as pd

#: A filter word that could be the start of an id: hex digits (and dashes), at least 4, one digit at least.
#: Such a word also matches ids that *start* with it; no word matches *inside* an id ("db" is a name word,
#: not the 155 of 600 random ids that hold the letters d, b in a row).
_ID_PREFIX = re.compile(r"^(?=[0-9a-f-]*\d)[0-9a-f-]{4,36}$")


def label_base(row: Any) -> str:
    """'web-001 · kr-west1 · ACTIVE': what a label says before its lock mark and short id."""
    parts = [str(row.name) if not pd.isna(row.name) else "(no name)", str(row.state)]
    if "region" in row._fields and not pd.isna(row.region):
        parts.insert(1, str(row.region))
    return " · ".join(parts)


def server_label(base: str, locked: bool | None, server_id: str) -> str:
    """'web-001 · ACTIVE · locked · 2a9be312': name first for scanning, a short id to tell twins apart."""
    return f"{base} · locked · {server_id[:8]}" if locked else f"{base} · {server_id[:8]}"


class ServerIndex:
    """One listing, sorted by name then id; ids in that order, their labels and the derived lookups."""

    def __init__(self, fleet: pd.DataFrame | None = None) -> None:
        if fleet is None or fleet.empty:
            fleet = pd.DataFrame({"id": [], "name": [], "state": [], "locked": []})
        fleet = fleet.sort_values(["name", "id"], na_position="last", ignore_index=True)
        self._fleet = fleet
        self.ids: list[str] = [str(i) for i in fleet["id"]]
        self._base = [label_base(row) for row in fleet.itertuples()]
        self.locked: dict[str, bool] = {
            i: bool(v) for i, v in zip(self.ids, fleet["locked"], strict=True) if not pd.isna(v)
        }
        self.labels: dict[str, str] = {}
        self._search: list[str] = []
        self._relabel()
        self.position = {server_id: n for n, server_id in enumerate(self.ids)}
        self.names: dict[str, str] = {
            str(i): str(n) for i, n in zip(fleet["id"], fleet["name"], strict=True) if not pd.isna(n)
        }
        self.by_name: dict[str, list[str]] = {}
        for server_id, name in self.names.items():
            self.by_name.setdefault(name.lower(), []).append(server_id)
        has_region = "region" in fleet.columns and not fleet["region"].isna().all()
        self.regions: dict[str, str] = (
            dict(zip(self.ids, fleet["region"].astype(str), strict=True)) if has_region else {}
        )

    def __len__(self) -> int:
        return len(self.ids)

    def _relabel(self) -> None:
        locked = self.locked
        self.labels = {i: server_label(b, locked.get(i), i) for i, b in zip(self.ids, self._base, strict=True)}
        pairs = zip(self.ids, self._base, strict=True)
        self._search = [f"{base.lower()} locked" if locked.get(i) else base.lower() for i, base in pairs]

    def match(self, text: str) -> list[str]:
        """The ids the filter shows, in list order: every word in the name, region, state or 'locked', or
        (a word shaped like an id's start) at the start of the id."""
        words = text.lower().split()
        if not words:
            return list(self.ids)
        rows = list(zip(self.ids, self._search, strict=True))
        for word in words:  # narrowed one word at a time: each pass is one tight comprehension
            if _ID_PREFIX.match(word):
                rows = [r for r in rows if word in r[1] or r[0].startswith(word)]
            else:
                rows = [r for r in rows if word in r[1]]
        return [server_id for server_id, _ in rows]

    def in_list_order(self, ids: Iterable[str]) -> list[str]:
        """`ids` that are listed, sorted as the list shows them."""
        position = self.position
        return sorted((i for i in ids if i in position), key=position.__getitem__)

    def current(self) -> pd.DataFrame:
        """The listing with the lock marks as they are now (a run's read-back included)."""
        locked = pd.array([self.locked.get(i) for i in self.ids], dtype="boolean")
        return self._fleet.assign(locked=locked)

    def lock_marks(self) -> dict[str, bool]:
        return dict(self.locked)

    def region_counts(self, ids: Iterable[str]) -> dict[str, int]:
        """How many of `ids` each region holds, per the listing (empty for a single endpoint)."""
        if not self.regions:
            return {}
        counts: dict[str, int] = {}
        for server_id in ids:
            region = self.regions.get(server_id, "not listed")
            counts[region] = counts.get(region, 0) + 1
        return counts

    def note_locks(self, states: Mapping[str, bool]) -> bool:
        """Take lock states read back by a run; True when a label changed."""
        changed = {i: v for i, v in states.items() if i in self.position and self.locked.get(i) != v}
        if not changed:
            return False
        self.locked.update(changed)
        self._relabel()
        return True
