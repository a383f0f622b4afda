"""The Virtual Server API versions: the catalog, their status on a given day, and which one to use.

A version's status is a function of its end date ("Not Before") and today: on or after the date it is
retired; within 90 days of it, deprecated. The built-in catalog is the seed page's table; when the service's
`GET /` answers, its list is preferred. The chosen version is always sent explicitly.
"""

from __future__ import annotations

import datetime as dt
import re
import warnings
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from scp_widgets.client.errors import UnsupportedVersionError

DEPRECATION_WINDOW = dt.timedelta(days=90)
SERVICE = "virtualserver"
_NUMBER = re.compile(r"^v?(\d+)\.(\d+)$")


class Status(StrEnum):
    CURRENT = "CURRENT"
    SUPPORTED = "SUPPORTED"
    DEPRECATED = "DEPRECATED"
    PLANNED = "PLANNED"
    RETIRED = "RETIRED"

    @property
    def callable(self) -> bool:
        return self not in (Status.PLANNED, Status.RETIRED)


class ScpDeprecationWarning(UserWarning):
    """A chosen API version ends soon. A UserWarning, so Jupyter shows it (DeprecationWarning is hidden)."""


@dataclass(frozen=True)
class ApiVersion:
    number: str
    declared: Status
    ends: dt.date | None = None

    def status_on(self, today: dt.date) -> Status:
        if self.declared is Status.PLANNED:
            return Status.PLANNED
        if self.ends is not None:
            # "Deprecated versions with Not Before dates that have arrived or expired are no longer supported."
            if today >= self.ends:
                return Status.RETIRED
            if self.ends - today <= DEPRECATION_WINDOW:
                return Status.DEPRECATED
        return self.declared

    @property
    def key(self) -> tuple[int, int]:
        major, minor = self.number.split(".")
        return int(major), int(minor)

    def label(self, today: dt.date) -> str:
        """e.g. '1.2 (SUPPORTED, ends 2026-08-31)'."""
        status = self.status_on(today)
        if status is Status.RETIRED:
            return f"{self.number} (retired {self.ends})"
        return f"{self.number} ({status}, ends {self.ends})" if self.ends else f"{self.number} ({status})"


#: The seed page's table (lock-virtual-server.txt), as data.
BUILTIN_CATALOG: tuple[ApiVersion, ...] = (
    ApiVersion("1.3", Status.CURRENT),
    ApiVersion("1.2", Status.SUPPORTED, dt.date(2026, 8, 31)),
    ApiVersion("1.1", Status.DEPRECATED, dt.date(2026, 5, 31)),
    ApiVersion("1.0", Status.DEPRECATED, dt.date(2025, 12, 31)),
)


def header_value(number: str) -> str:
    """The `Scp-Api-Version` header for a version number."""
    return f"{SERVICE} {number}"


def normalise_number(text: str) -> str | None:
    match = _NUMBER.match(text.strip())
    return f"{int(match.group(1))}.{int(match.group(2))}" if match else None


def parse_service_versions(payload: Any) -> tuple[ApiVersion, ...]:
    """Parse the service's `GET /` answer; entries that make no sense are skipped, not fatal."""
    items = payload.get("versions") if isinstance(payload, Mapping) else None
    found: list[ApiVersion] = []
    for item in items if isinstance(items, list) else []:
        if not isinstance(item, Mapping):
            continue
        number = normalise_number(str(item.get("id", "")))
        try:
            declared = Status(str(item.get("status", "")).upper())
        except ValueError:
            continue
        ends_text = item.get("not_before")
        try:
            ends = dt.date.fromisoformat(str(ends_text)) if ends_text else None
        except ValueError:
            ends = None
        if number:
            found.append(ApiVersion(number, declared, ends))
    return tuple(sorted(found, key=lambda v: v.key, reverse=True))


def merge_catalogs(service: Sequence[ApiVersion], builtin: Sequence[ApiVersion]) -> tuple[ApiVersion, ...]:
    """The service's entries win; built-in ones the service no longer lists are kept so errors can name them."""
    by_number = {v.number: v for v in builtin}
    by_number.update({v.number: v for v in service})
    return tuple(sorted(by_number.values(), key=lambda v: v.key, reverse=True))


@dataclass(frozen=True)
class VersionChoice:
    number: str
    status: Status
    warning: str | None = None

    @property
    def header(self) -> str:
        return header_value(self.number)


def usable(catalog: Iterable[ApiVersion], today: dt.date) -> list[ApiVersion]:
    return [v for v in catalog if v.status_on(today).callable]


def default_version(catalog: Sequence[ApiVersion], today: dt.date) -> ApiVersion:
    """The CURRENT version, or failing that the newest callable one."""
    ok = sorted(usable(catalog, today), key=lambda v: v.key, reverse=True)
    if not ok:
        raise UnsupportedVersionError("No API version is usable today; update scp-widgets.")
    current = [v for v in ok if v.status_on(today) is Status.CURRENT]
    return current[0] if current else ok[0]


def choose_version(
    requested: str | None,
    catalog: Sequence[ApiVersion] = BUILTIN_CATALOG,
    today: dt.date | None = None,
) -> VersionChoice:
    """Pick the version to send, or raise `UnsupportedVersionError` with one sentence naming usable ones."""
    today = today or dt.date.today()
    if requested is None or not str(requested).strip():
        chosen = default_version(catalog, today)  # the default may be near its end too: say so
        return VersionChoice(chosen.number, chosen.status_on(today), _deprecation(chosen, catalog, today))
    names = ", ".join(v.number for v in usable(catalog, today)) or "none"
    number = normalise_number(str(requested))
    match = next((v for v in catalog if v.number == number), None)
    if match is None:
        raise UnsupportedVersionError(f"API version {requested!r} is unknown; usable versions: {names}.")
    status = match.status_on(today)
    if status is Status.RETIRED:
        raise UnsupportedVersionError(f"API version {match.number} was retired on {match.ends}; use {names}.")
    if status is Status.PLANNED:
        raise UnsupportedVersionError(f"API version {match.number} is planned, not callable yet; use {names}.")
    return VersionChoice(match.number, status, _deprecation(match, catalog, today))


def _deprecation(version: ApiVersion, catalog: Sequence[ApiVersion], today: dt.date) -> str | None:
    """The warning for a version within 90 days of its end, naming where to move (None otherwise)."""
    if version.status_on(today) is not Status.DEPRECATED or version.ends is None:
        return None
    days = (version.ends - today).days
    newer = sorted((v for v in usable(catalog, today) if v.key > version.key), key=lambda v: v.key, reverse=True)
    current = [v for v in newer if v.status_on(today) is Status.CURRENT] or newer
    move = f"move to {current[0].number}" if current else "no newer version is offered yet"
    return f"API version {version.number} is deprecated and ends on {version.ends} ({days} days); {move}."


def warn_if_deprecated(choice: VersionChoice) -> None:
    if choice.warning:
        warnings.warn(choice.warning, ScpDeprecationWarning, stacklevel=3)
