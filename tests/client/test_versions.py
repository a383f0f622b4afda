"""API versions: status as a function of the date, the choice of version, and the service's catalog."""

from __future__ import annotations

import datetime as dt
import warnings

import pytest

from scp_widgets.client.errors import ScpUsageError, UnsupportedVersionError
from scp_widgets.client.versions import (
    BUILTIN_CATALOG,
    ApiVersion,
    ScpDeprecationWarning,
    Status,
    choose_version,
    merge_catalogs,
    parse_service_versions,
    warn_if_deprecated,
)

D = dt.date
CATALOG = {v.number: v for v in BUILTIN_CATALOG}
CUR, SUP, DEP, RET = Status.CURRENT, Status.SUPPORTED, Status.DEPRECATED, Status.RETIRED

# (day, version, expected status). End dates: 1.0 2025-12-31, 1.1 2026-05-31, 1.2 2026-08-31, 1.3 none.
TABLE = [
    (D(2025, 11, 1), "1.3", CUR),
    (D(2025, 11, 1), "1.2", SUP),
    # 1.1 is 211 days from its end, but the catalog (like a service answer) declares it DEPRECATED: kept.
    (D(2025, 11, 1), "1.1", DEP),
    (D(2025, 11, 1), "1.0", DEP),  # 60 days left
    (D(2026, 6, 15), "1.3", CUR),
    (D(2026, 6, 15), "1.2", DEP),  # 77 days left
    (D(2026, 6, 15), "1.1", RET),
    (D(2026, 6, 15), "1.0", RET),
    (D(2026, 11, 27), "1.3", CUR),
    (D(2026, 11, 27), "1.2", RET),
    (D(2026, 11, 27), "1.1", RET),
    (D(2026, 11, 27), "1.0", RET),
    # edges around 1.2's end date
    (D(2026, 8, 31), "1.2", RET),  # the end date itself: retired
    (D(2026, 8, 30), "1.2", DEP),  # the day before: still callable, deprecated
    (D(2026, 6, 2), "1.2", DEP),  # exactly 90 days before
    (D(2026, 6, 1), "1.2", SUP),  # 91 days before: not yet deprecated
    (D(2025, 12, 31), "1.0", RET),
    (D(2025, 12, 30), "1.0", DEP),
    (D(2099, 1, 1), "1.3", CUR),  # no end date: current forever
]


@pytest.mark.parametrize(("day", "number", "expected"), TABLE, ids=[f"{d}-{n}" for d, n, _ in TABLE])
def test_status_on(day: dt.date, number: str, expected: Status) -> None:
    assert CATALOG[number].status_on(day) is expected


@pytest.mark.parametrize(("day", "number", "expected"), TABLE, ids=[f"{d}-{n}" for d, n, _ in TABLE])
def test_choose_version(day: dt.date, number: str, expected: Status) -> None:
    if expected is RET:
        with pytest.raises(UnsupportedVersionError, match=f"API version {number} was retired on "):
            choose_version(number, BUILTIN_CATALOG, day)
        return
    choice = choose_version(number, BUILTIN_CATALOG, day)
    assert choice.number == number
    assert choice.status is expected
    assert choice.header == f"virtualserver {number}"
    if expected is DEP:
        assert choice.warning is not None
        assert f"API version {number} is deprecated and ends on {CATALOG[number].ends}" in choice.warning
        assert f"({(CATALOG[number].ends - day).days} days)" in choice.warning  # type: ignore[operator]
        assert choice.warning.endswith("move to 1.3.")
    else:
        assert choice.warning is None


@pytest.mark.parametrize(
    ("day", "usable"),
    [(D(2025, 11, 1), "1.3, 1.2, 1.1, 1.0"), (D(2026, 6, 15), "1.3, 1.2"), (D(2026, 11, 27), "1.3")],
)
def test_error_names_the_usable_versions_of_the_day(day: dt.date, usable: str) -> None:
    with pytest.raises(UnsupportedVersionError) as info:
        choose_version("9.9", BUILTIN_CATALOG, day)
    assert str(info.value) == f"API version '9.9' is unknown; usable versions: {usable}."


def test_retired_message_exactly() -> None:
    with pytest.raises(UnsupportedVersionError) as info:
        choose_version("1.0", BUILTIN_CATALOG, D(2026, 11, 27))
    assert str(info.value) == "API version 1.0 was retired on 2025-12-31; use 1.3."
    assert isinstance(info.value, ScpUsageError)


@pytest.mark.parametrize("spelling", ["1.3", "v1.3", " 1.3 ", "01.3"])
def test_spellings_of_a_version(spelling: str) -> None:
    assert choose_version(spelling, BUILTIN_CATALOG, D(2026, 11, 27)).number == "1.3"


@pytest.mark.parametrize("garbage", ["1", "1.3.0", "latest", "1,3"])
def test_unparseable_versions_are_unknown(garbage: str) -> None:
    with pytest.raises(UnsupportedVersionError, match=r"is unknown; usable versions: 1\.3\.$"):
        choose_version(garbage, BUILTIN_CATALOG, D(2026, 11, 27))


@pytest.mark.parametrize(
    ("day", "expected"),
    [(D(2025, 11, 1), "1.3"), (D(2026, 11, 27), "1.3")],
)
def test_default_is_current(day: dt.date, expected: str) -> None:
    for requested in (None, "", "  "):
        choice = choose_version(requested, BUILTIN_CATALOG, day)
        assert (choice.number, choice.status, choice.warning) == (expected, CUR, None)


def test_default_without_current_is_newest_callable() -> None:
    catalog = (ApiVersion("2.0", Status.PLANNED), ApiVersion("1.1", SUP), ApiVersion("1.0", SUP))
    assert choose_version(None, catalog, D(2026, 1, 1)).number == "1.1"


def test_nothing_usable() -> None:
    catalog = (ApiVersion("1.0", SUP, D(2020, 1, 1)),)
    with pytest.raises(UnsupportedVersionError, match="No API version is usable"):
        choose_version(None, catalog, D(2026, 1, 1))


def test_planned_is_refused() -> None:
    catalog = (ApiVersion("1.4", Status.PLANNED, D(2030, 1, 1)), *BUILTIN_CATALOG)
    assert catalog[0].status_on(D(2026, 11, 27)) is Status.PLANNED
    with pytest.raises(UnsupportedVersionError) as info:
        choose_version("1.4", catalog, D(2026, 11, 27))
    assert str(info.value) == "API version 1.4 is planned, not callable yet; use 1.3."
    # and never chosen by default even though it is the newest
    assert choose_version(None, catalog, D(2026, 11, 27)).number == "1.3"


def test_deprecation_warning_is_a_user_warning() -> None:
    assert issubclass(ScpDeprecationWarning, UserWarning)
    assert not issubclass(ScpDeprecationWarning, DeprecationWarning)  # those are hidden in notebooks
    choice = choose_version("1.2", BUILTIN_CATALOG, D(2026, 6, 15))
    with pytest.warns(ScpDeprecationWarning, match=r"1\.2 is deprecated and ends on 2026-08-31 \(77 days\)"):
        warn_if_deprecated(choice)


def test_no_warning_for_a_supported_version() -> None:
    choice = choose_version("1.2", BUILTIN_CATALOG, D(2026, 6, 1))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        warn_if_deprecated(choice)


def test_label() -> None:
    assert CATALOG["1.2"].label(D(2026, 6, 1)) == "1.2 (SUPPORTED, ends 2026-08-31)"
    assert CATALOG["1.2"].label(D(2026, 9, 1)) == "1.2 (retired 2026-08-31)"
    assert CATALOG["1.3"].label(D(2026, 9, 1)) == "1.3 (CURRENT)"


# -- the service's catalog --------------------------------------------------------------------------------

SERVICE_PAYLOAD = {
    "versions": [
        {"id": "v1.3", "links": [{"href": "https://h/v1.3", "rel": "self"}], "status": "SUPPORTED",
         "not_before": "2027-03-31"},
        {"id": "v1.5", "links": [], "status": "CURRENT", "not_before": None},
        {"id": "v1.6", "status": "planned"},
        {"id": "v1.4", "status": "DEPRECATED", "not_before": "not-a-date"},
        {"id": "garbage", "status": "CURRENT"},
        {"id": "v2.0", "status": "MYSTERY"},
        {"status": "CURRENT"},
        "v9.9",
        None,
        42,
    ]
}  # fmt: skip


def test_parse_service_versions() -> None:
    parsed = parse_service_versions(SERVICE_PAYLOAD)
    assert parsed == (
        ApiVersion("1.6", Status.PLANNED, None),
        ApiVersion("1.5", Status.CURRENT, None),
        ApiVersion("1.4", Status.DEPRECATED, None),  # an unreadable date is dropped, the entry kept
        ApiVersion("1.3", Status.SUPPORTED, D(2027, 3, 31)),
    )


@pytest.mark.parametrize("payload", [None, [], "text", {}, {"versions": None}, {"versions": "v1.3"}, {"x": 1}])
def test_parse_service_versions_of_nonsense_is_empty(payload: object) -> None:
    assert parse_service_versions(payload) == ()


def test_merge_prefers_service_entries() -> None:
    service = parse_service_versions(SERVICE_PAYLOAD)
    merged = merge_catalogs(service, BUILTIN_CATALOG)
    by_number = {v.number: v for v in merged}
    assert [v.number for v in merged] == ["1.6", "1.5", "1.4", "1.3", "1.2", "1.1", "1.0"]
    assert by_number["1.3"] == ApiVersion("1.3", Status.SUPPORTED, D(2027, 3, 31))  # the service's word
    assert by_number["1.0"] == CATALOG["1.0"]  # kept so errors can name it
    day = D(2026, 11, 27)
    assert choose_version(None, merged, day).number == "1.5"
    assert choose_version("1.3", merged, day).status is Status.SUPPORTED
    with pytest.raises(UnsupportedVersionError, match=r"use 1\.5, 1\.4, 1\.3\."):
        choose_version("1.6", merged, day)


def test_merge_with_empty_service_is_builtin() -> None:
    assert merge_catalogs((), BUILTIN_CATALOG) == BUILTIN_CATALOG
