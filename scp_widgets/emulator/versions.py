"""Version rules: a version's status is a function of its end date and today's date.

From the docs: a version whose "not before" date has arrived or passed is no longer served; one with less
than 90 days left is DEPRECATED but still served; PLANNED versions are documented but not callable.
"""

from __future__ import annotations

import datetime
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from .config import ApiVersion, VersionState

SERVICE = "virtualserver"
DEPRECATION_WINDOW_DAYS = 90
_HEADER_RE = re.compile(r"virtualserver ([0-9]+\.[0-9]+)")


def status_on(entry: ApiVersion, today: datetime.date) -> VersionState:
    """The status on `today`: RETIRED once its date has come (no longer served), DEPRECATED within 90 days."""
    if entry.state == "PLANNED":
        return "PLANNED"
    if entry.not_before is not None and today >= entry.not_before:
        return "RETIRED"
    if entry.not_before is not None and (entry.not_before - today).days < DEPRECATION_WINDOW_DAYS:
        return "DEPRECATED"
    return entry.state


def is_usable(entry: ApiVersion, today: datetime.date) -> bool:
    if entry.state == "PLANNED":
        return False
    return entry.not_before is None or today < entry.not_before


def usable_versions(catalog: Sequence[ApiVersion], today: datetime.date) -> list[ApiVersion]:
    return [v for v in catalog if is_usable(v, today)]


def default_version(catalog: Sequence[ApiVersion], today: datetime.date) -> ApiVersion | None:
    """What a request without the header gets: the CURRENT version, else the newest usable one."""
    usable = usable_versions(catalog, today)
    for entry in usable:
        if entry.state == "CURRENT":
            return entry
    return max(usable, key=_version_key, default=None)


def _version_key(entry: ApiVersion) -> tuple[int, int]:
    major, minor = entry.version.split(".")
    return int(major), int(minor)


@dataclass(frozen=True)
class VersionChoice:
    """Outcome of reading `Scp-Api-Version`: the version served, or why none is."""

    requested: str | None  # what the client sent ("1.2", or the raw header when malformed)
    served: ApiVersion | None
    refusal: str | None  # human sentence for the 406, naming the usable versions


def requested(header: str | None) -> str | None:
    """The version a request asked for, for the record: "1.2", the raw header when malformed, or None."""
    if header is None:
        return None
    match = _HEADER_RE.fullmatch(header)
    return match.group(1) if match else header


def choose(header: str | None, catalog: Sequence[ApiVersion], today: datetime.date) -> VersionChoice:
    usable_text = ", ".join(f"{SERVICE} {v.version}" for v in usable_versions(catalog, today)) or "none"
    if header is None:
        served = default_version(catalog, today)
        refusal = None if served else f"No API version is available; usable versions: {usable_text}."
        return VersionChoice(None, served, refusal)
    match = _HEADER_RE.fullmatch(header)
    if match is None:
        return VersionChoice(
            header,
            None,
            f"Malformed Scp-Api-Version {header!r}: expected '{SERVICE} X.Y'; usable versions: {usable_text}.",
        )
    requested = match.group(1)
    entry = next((v for v in catalog if v.version == requested), None)
    if entry is None:
        why = "is unknown"
    elif entry.state == "PLANNED":
        why = "is planned and not available yet"
    elif not is_usable(entry, today):
        why = f"is no longer supported (not before {entry.not_before})"
    else:
        return VersionChoice(requested, entry, None)
    return VersionChoice(requested, None, f"{SERVICE} {requested} {why}; usable versions: {usable_text}.")


def listing(catalog: Sequence[ApiVersion], today: datetime.date, base_url: str) -> dict[str, Any]:
    """The body of `GET /`."""
    return {
        "versions": [
            {
                "id": f"v{entry.version}",
                "links": [{"href": f"{base_url}/v1", "rel": "self"}],
                "status": status_on(entry, today),
                "not_before": entry.not_before.isoformat() if entry.not_before else None,
            }
            for entry in catalog
        ]
    }
