"""Fleet-wide runs against the emulator serving two regions: one listing, routing by region, rules."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

import scp_widgets
from scp_widgets.client.errors import EndpointError, ScpUsageError
from scp_widgets.client.regions import parse_endpoints, resolve_region_endpoints
from scp_widgets.emulator import DEMO_ACCESS_KEY, DEMO_SECRET_KEY, Emulator
from scp_widgets.emulator.regions import RegionalEmulators
from scp_widgets.fleet.guard import Guard

REGIONS = ["kr-west1", "kr-east1"]
UNKNOWN = "00000000-0000-4000-8000-000000000000"
RULE = "name.str.startswith('web-') and state == 'ACTIVE'"


def posted(emulator: Emulator) -> list[str]:
    """Server ids the emulator received a lock/unlock POST for, in order."""
    return [str(r.server_id) for r in emulator.record if r.method == "POST"]


def views(emulator: Emulator) -> list[dict[str, object]]:
    return [emulator.server(i) for i in emulator.own_ids]


def test_one_listing_covers_both_regions(two_regions: RegionalEmulators) -> None:
    frame = scp_widgets.list_servers(regions=REGIONS)
    assert {"id", "name", "state", "locked", "region"} <= set(frame.columns)
    for region, emulator in two_regions.emulators.items():
        assert sorted(frame.loc[frame["region"] == region, "id"]) == sorted(emulator.own_ids)
    assert not set(two_regions.emulators["kr-west1"].own_ids) & set(two_regions.emulators["kr-east1"].own_ids)
    assert frame.attrs["endpoints"] == two_regions.endpoints


def test_lock_sends_each_id_only_to_its_own_region_and_never_sends_an_unknown_id(
    two_regions: RegionalEmulators,
) -> None:
    west, east = (two_regions.emulators[r] for r in REGIONS)
    ids = [*west.own_ids[:3], *east.own_ids[:2], UNKNOWN]
    frame = scp_widgets.lock(", ".join(reversed(ids)), regions="kr-west1,kr-east1")
    assert list(frame["server_id"]) == list(reversed(ids))  # request order kept across regions
    by_id = frame.set_index("server_id")
    assert list(by_id.loc[west.own_ids[:3], "region"]) == ["kr-west1"] * 3
    assert list(by_id.loc[east.own_ids[:2], "region"]) == ["kr-east1"] * 2
    assert set(by_id.loc[ids[:5], "outcome"]) == {"locked"}
    assert by_id.at[UNKNOWN, "outcome"] == "not_found" and "not sent" in by_id.at[UNKNOWN, "message"]
    assert sorted(posted(west)) == sorted(west.own_ids[:3])
    assert sorted(posted(east)) == sorted(east.own_ids[:2])
    assert not [r for e in (west, east) for r in e.record if UNKNOWN in r.path + r.query]
    assert frame.attrs["summary"].startswith("5 locked, 1 not_found")


def test_lock_where_changes_exactly_the_matching_servers_in_both_regions(two_regions: RegionalEmulators) -> None:
    before = {r: {str(v["id"]): v for v in views(e)} for r, e in two_regions.emulators.items()}
    expected = {
        (region, server_id)
        for region, servers in before.items()
        for server_id, v in servers.items()
        if str(v["name"]).startswith("web-") and v["state"] == "ACTIVE"
    }
    assert {region for region, _ in expected} == set(REGIONS)  # the rule has matches in both regions
    frame = scp_widgets.lock(where=RULE, regions=REGIONS)
    assert set(zip(frame["region"], frame["server_id"], strict=True)) == expected
    assert set(frame["outcome"]) == {"locked"}
    for region, emulator in two_regions.emulators.items():
        assert sorted(posted(emulator)) == sorted(i for r, i in expected if r == region)
        for view in views(emulator):
            changed = (region, view["id"]) in expected
            assert view["locked"] is (True if changed else before[region][str(view["id"])]["locked"])


def test_dry_run_with_a_rule_shows_the_matches_and_sends_nothing(two_regions: RegionalEmulators) -> None:
    frame = scp_widgets.unlock(where="locked", regions=REGIONS, dry_run=True)
    locked = {str(v["id"]) for e in two_regions.emulators.values() for v in views(e) if v["locked"]}
    assert set(frame["server_id"]) == locked and set(frame["outcome"]) == {"planned"}
    assert frame["name"].notna().all()
    assert not any(posted(e) for e in two_regions.emulators.values())


@pytest.mark.parametrize(
    ("rule", "says"),
    [
        ("name == 'no-such-server'", "matches none of the 60 servers in regions kr-west1, kr-east1"),
        ("state == ", "does not parse"),
        ("state = 'ACTIVE'", "does not parse"),
        ("colour == 'red'", "names 'colour', which is not a column"),
        ("name", "must give True or False"),
    ],
)
def test_a_rule_that_matches_nothing_or_does_not_parse_is_one_sentence_and_sends_nothing(
    two_regions: RegionalEmulators, rule: str, says: str
) -> None:
    with pytest.raises(ScpUsageError) as caught:
        scp_widgets.lock(where=rule, regions=REGIONS)
    message = str(caught.value)
    assert says in message and "\n" not in message and message.endswith(".")
    assert not any(posted(e) for e in two_regions.emulators.values())
    if "parse" in says or "True or False" in says:  # refused before any request at all
        assert not any(e.record for e in two_regions.emulators.values())


def test_async_twins_take_regions(two_regions: RegionalEmulators) -> None:
    import asyncio

    east = two_regions.emulators["kr-east1"]

    async def go() -> tuple[int, str]:
        listing = await scp_widgets.alist_servers(regions=REGIONS)
        frame = await scp_widgets.alock([east.own_ids[0]], regions=REGIONS)
        return len(listing), str(frame.at[0, "region"])

    assert asyncio.run(go()) == (60, "kr-east1")


# -- which URL serves each region -------------------------------------------------------------------------


def test_region_endpoints_follow_the_single_endpoint_precedence() -> None:
    env = {"SCP_ENDPOINTS": "kr-west1=http://127.0.0.1:1,kr-east1=http://127.0.0.1:2", "SCP_ENVIRONMENT": "s"}
    assert resolve_region_endpoints(REGIONS, env=env) == {
        "kr-west1": "http://127.0.0.1:1",
        "kr-east1": "http://127.0.0.1:2",
    }
    given = resolve_region_endpoints(REGIONS, endpoints={"kr-east1": "http://127.0.0.1:3/"}, env=env)
    assert given["kr-east1"] == "http://127.0.0.1:3" and given["kr-west1"] == "http://127.0.0.1:1"
    official = resolve_region_endpoints(REGIONS, environment="e", env=env)  # an explicit environment: official hosts
    assert official["kr-west1"] == "https://virtualserver.kr-west1.e.samsungsdscloud.com"
    assert resolve_region_endpoints(["kr-east1"], env={"SCP_ENVIRONMENT": "s"}) == {
        "kr-east1": "https://virtualserver.kr-east1.s.samsungsdscloud.com"
    }


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("kr-west1", "should read REGION=URL"),
        ("kr-west1=http://10.0.0.1:80", "Refusing plain http://"),
        ("kr-west1=https://user:pw@host", "must not carry a user name or password"),
    ],
)
def test_a_bad_scp_endpoints_is_one_sentence(text: str, says: str) -> None:
    with pytest.raises(EndpointError, match=says) as caught:
        parse_endpoints(text)
    assert "pw" not in str(caught.value)


def test_a_region_with_no_endpoint_says_how_to_give_one() -> None:
    with pytest.raises(EndpointError, match="No endpoint for region kr-east1: give endpoints="):
        resolve_region_endpoints(["kr-east1"], env={})
    with pytest.raises(ScpUsageError, match="leave out endpoint="):
        scp_widgets.lock(["2a9be312-5d4b-4bc8-b2ae-35100fa9241f"], regions=REGIONS, endpoint="http://127.0.0.1:9")


def test_no_secret_in_the_repr_of_a_plan_or_a_guard(two_regions: RegionalEmulators) -> None:
    from scp_widgets.fleet import plan as fleet

    secret = DEMO_SECRET_KEY  # the right one: the guard's checks must pass the emulator's signature check
    plan, rest = fleet.prepare({"regions": REGIONS, "access_key": "ak", "secret_key": secret, "concurrency": 2})
    assert secret not in repr(plan) and rest.concurrency == 2
    with pytest.raises(ScpUsageError, match="access_key is missing"):  # half the keys: refused before it starts
        scp_widgets.guard(where="locked", every=60, regions=REGIONS, secret_key=secret)
    guard = scp_widgets.guard(where="locked", every=60, regions=REGIONS, access_key=DEMO_ACCESS_KEY, secret_key=secret)
    assert wait_for_check(guard)
    guard.stop()
    assert secret not in repr(guard) + repr(guard.plan) + repr(guard.actions)


def wait_for_check(guard: Guard, timeout: float = 20.0) -> bool:
    deadline = time.monotonic() + timeout
    while guard.checks == 0 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert guard.last_error is None, guard.last_error
    return guard.checks > 0


def test_a_region_whose_listing_fails_is_reported_and_the_others_run(two_regions: RegionalEmulators) -> None:
    from scp_widgets.emulator import Faults
    from scp_widgets.fleet.plan import FleetListingError

    west, east = (two_regions.emulators[r] for r in REGIONS)
    east.set_faults(Faults(error_rates={503: 1.0}))
    elsewhere = "00000000-0000-4000-8000-00000000e457"  # in no answering region: maybe in the one that failed
    frame = scp_widgets.lock([*west.own_ids[:2], elsewhere], regions=REGIONS, retries=0)
    assert set(frame.outcome[:2]) <= {"locked", "already_locked"}  # the healthy region ran
    row = frame[frame.server_id == elsewhere].iloc[0]
    assert row.outcome == "network_error" and row.error_code == "NOT_SENT" and row.attempts == 0
    assert row.message.startswith("not sent: kr-east1 could not be listed, and this server may be there")
    assert "kr-east1 could not be listed" in frame.attrs["summary"] and "kr-east1" in frame.attrs["region_errors"]
    assert not any(r.method == "POST" for r in east.record)
    west.set_faults(Faults(error_rates={503: 1.0}))  # every region down: nothing to run on, one sentence
    with pytest.raises(FleetListingError, match=r"^Could not list the servers of kr-"):
        scp_widgets.lock(west.own_ids[:2], regions=REGIONS, retries=0)


def test_a_journal_path_for_a_run_over_two_regions_becomes_one_file_per_region(
    two_regions: RegionalEmulators, tmp_path: Path
) -> None:
    west, east = (two_regions.emulators[r] for r in REGIONS)
    frame = scp_widgets.lock([west.own_ids[0], east.own_ids[0]], regions=REGIONS, journal=tmp_path / "run.jsonl")
    assert set(frame.outcome) <= {"locked", "already_locked"}  # not "the journal is in use by another run"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run-kr-east1.jsonl", "run-kr-west1.jsonl"]


def test_a_run_lists_each_region_with_its_own_timeout_and_retries(two_regions: RegionalEmulators) -> None:
    from scp_widgets.emulator import Faults

    west, east = (two_regions.emulators[r] for r in REGIONS)
    east.set_faults(Faults(black_hole=True))
    frame = scp_widgets.lock(west.own_ids[:1], regions=REGIONS, timeout=1, retries=0)
    assert "kr-east1 could not be listed" in frame.attrs["summary"]
    assert "within the 1 s timeout" in frame.attrs["region_errors"]["kr-east1"]  # not 4 tries of 30 s (124 s)
    listings = [r for r in east.record if r.method == "GET" and r.path == "/v1/servers"]
    assert len(listings) == 1  # retries=0: one listing attempt, not four
