"""Version rules: status is a function of the catalog's dates and the emulator's `today`."""

from __future__ import annotations

import datetime

import httpx
import pytest
from emulator_helpers import BASE, FakeClock, error, in_process, signed_headers

from scp_widgets.emulator import DEFAULT_VERSIONS, ApiVersion, Emulator, EmulatorConfig

LATE_2026 = datetime.date(2026, 11, 27)
MID_2026 = datetime.date(2026, 6, 15)


def _emulator(today: datetime.date, versions: tuple[ApiVersion, ...] = DEFAULT_VERSIONS) -> Emulator:
    return Emulator(EmulatorConfig(servers=3, today=today, versions=versions, clock=FakeClock()))


def _list_status(emulator: Emulator, version: str | None) -> httpx.Response:
    with in_process(emulator, emulator.config.clock) as api:
        return api.call("GET", "/v1/servers", version=version)


@pytest.mark.parametrize(
    ("today", "version", "status"),
    [
        (LATE_2026, "1.3", 200),
        (LATE_2026, "1.2", 406),
        (LATE_2026, "1.1", 406),
        (LATE_2026, "1.0", 406),
        (MID_2026, "1.2", 200),  # deprecated (77 days left) but still served
        (MID_2026, "1.1", 406),
        (datetime.date(2026, 8, 30), "1.2", 200),
        (datetime.date(2026, 8, 31), "1.2", 406),  # "not before dates that have arrived" are gone
        (LATE_2026, "1.9", 406),  # unknown
    ],
)
def test_version_served_or_refused(today: datetime.date, version: str, status: int) -> None:
    assert _list_status(_emulator(today), version).status_code == status


def test_refusal_names_the_usable_versions() -> None:
    response = _list_status(_emulator(MID_2026), "1.0")
    entry = error(response)
    assert response.status_code == 406
    assert entry["code"] == "UNSUPPORTED_API_VERSION"
    assert "virtualserver 1.3, virtualserver 1.2" in str(entry["detail"])


def test_missing_header_is_served_with_current() -> None:
    emulator = _emulator(LATE_2026)
    assert _list_status(emulator, None).status_code == 200
    assert emulator.record[-1].api_version is None


@pytest.mark.parametrize("header", ["virtualserver1.3", "1.3", "virtualserver 1", "compute 1.3", "virtualserver v1.3"])
def test_malformed_header_is_406(header: str) -> None:
    emulator = _emulator(LATE_2026)
    url = f"{BASE}/v1/servers"
    headers = {**signed_headers("GET", url, clock=emulator.config.clock, version=None), "Scp-Api-Version": header}
    with in_process(emulator) as api:
        response = api.client.get(url, headers=headers)
    assert response.status_code == 406
    assert emulator.record[-1].api_version == header


PLANNED_CATALOG = (ApiVersion("1.4", "PLANNED"), *DEFAULT_VERSIONS)


def test_planned_version_is_406_and_listed_as_planned() -> None:
    emulator = _emulator(LATE_2026, PLANNED_CATALOG)
    assert _list_status(emulator, "1.4").status_code == 406
    # A planned version is not what a header-less request gets either.
    assert _list_status(emulator, None).status_code == 200
    with in_process(emulator) as api:
        listing = api.client.get(f"{BASE}/").json()
    assert listing["versions"][0]["id"] == "v1.4"
    assert listing["versions"][0]["status"] == "PLANNED"


def test_no_usable_version_refuses_headerless_requests() -> None:
    only_old = (ApiVersion("1.0", "DEPRECATED", datetime.date(2025, 12, 31)),)
    response = _list_status(_emulator(LATE_2026, only_old), None)
    assert response.status_code == 406


@pytest.mark.parametrize(
    ("today", "expected"),
    [
        (
            datetime.date(2026, 1, 15),
            {"v1.3": "CURRENT", "v1.2": "SUPPORTED", "v1.1": "DEPRECATED", "v1.0": "RETIRED"},
        ),
        (MID_2026, {"v1.3": "CURRENT", "v1.2": "DEPRECATED", "v1.1": "RETIRED", "v1.0": "RETIRED"}),
        # a retired version is never labelled DEPRECATED, however long ago it ended
        (datetime.date(2026, 12, 4), {"v1.3": "CURRENT", "v1.2": "RETIRED", "v1.1": "RETIRED", "v1.0": "RETIRED"}),
    ],
)
def test_root_lists_versions_with_status_of_the_day(today: datetime.date, expected: dict[str, str]) -> None:
    emulator = _emulator(today)
    with in_process(emulator) as api:
        # No signing headers: discovery is public.
        response = api.client.get(f"{BASE}/")
    assert response.status_code == 200
    versions = response.json()["versions"]
    assert {v["id"]: v["status"] for v in versions} == expected
    assert versions[0] == {
        "id": "v1.3",
        "links": [{"href": f"{BASE}/v1", "rel": "self"}],
        "status": "CURRENT",
        "not_before": None,
    }
    assert versions[1]["not_before"] == "2026-08-31"


def test_root_links_ignore_the_query_string() -> None:
    with in_process(_emulator(LATE_2026)) as api:
        versions = api.client.get(f"{BASE}/?probe=1").json()["versions"]
    assert versions[0]["links"] == [{"href": f"{BASE}/v1", "rel": "self"}]
