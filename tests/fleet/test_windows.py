"""Maintenance windows against two regions: re-locked when the block raises, and after a kill -9."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import textwrap
import warnings
from pathlib import Path

import pytest

import scp_widgets
from scp_widgets.client.errors import ScpUsageError
from scp_widgets.emulator import Emulator, EmulatorServer, Faults
from scp_widgets.emulator.regions import RegionalEmulators
from scp_widgets.fleet.windows import Window, WindowWarning, pending_notice, pending_windows, windows_dir

REGIONS = ["kr-west1", "kr-east1"]


def state(regions: RegionalEmulators, ids: list[str]) -> list[bool]:
    found = {}
    for emulator in regions.emulators.values():
        for server_id in emulator.own_ids:
            found[server_id] = bool(emulator.server(server_id)["locked"])
    return [found[i] for i in ids]


def pick(emulator: Emulator, locked: bool, n: int) -> list[str]:
    return [i for i in emulator.own_ids if emulator.server(i)["locked"] is locked][:n]


def test_a_block_that_raises_still_relocks_and_leaves_the_already_unlocked_alone(
    two_regions: RegionalEmulators,
) -> None:
    west, east = (two_regions.emulators[r] for r in REGIONS)
    locked = [*pick(west, True, 2), *pick(east, True, 1)]
    open_ = [*pick(west, False, 1), *pick(east, False, 1)]
    seen: list[Window] = []

    def maintenance() -> None:
        with scp_widgets.unlocked([*locked, *open_], regions=REGIONS) as inside:
            seen.append(inside)
            assert state(two_regions, locked) == [False, False, False]  # unlocked for the maintenance
            assert sorted(inside.ids) == sorted(locked) and sorted(inside.left_alone) == sorted(open_)
            raise RuntimeError("resize failed half-way")

    with pytest.raises(RuntimeError, match="resize failed"):
        maintenance()
    window = seen[0]
    assert state(two_regions, locked) == [True, True, True]
    assert state(two_regions, open_) == [False, False]
    assert window.relocked is not None and set(window.relocked["outcome"]) == {"locked"}
    assert not any(r.server_id in open_ for e in two_regions.emulators.values() for r in e.record if r.method == "POST")
    assert window.path is not None and json.loads(window.path.read_text())["state"] == "closed"
    assert pending_windows() == [] and pending_notice() is None


def test_a_window_by_rule_and_the_async_twin(two_regions: RegionalEmulators) -> None:
    west = two_regions.emulators["kr-west1"]
    target = pick(west, True, 1)[0]
    name = west.server(target)["name"]

    async def maintenance() -> list[str]:
        async with scp_widgets.aunlocked(f"name == '{name}' and region == 'kr-west1'", regions=REGIONS) as window:
            assert state(two_regions, [target]) == [False]
            return window.ids

    assert asyncio.run(maintenance()) == [target]
    assert state(two_regions, [target]) == [True]


def test_a_window_refuses_a_dry_run(two_regions: RegionalEmulators) -> None:
    with pytest.raises(ScpUsageError, match="does not take dry_run="):
        scp_widgets.unlocked("locked", regions=REGIONS, dry_run=True).__enter__()
    assert not any(e.record for e in two_regions.emulators.values())


CHILD = """
import sys, time, scp_widgets
with scp_widgets.unlocked(sys.argv[1], regions=["kr-west1", "kr-east1"]) as window:
    print("inside", len(window.ids), flush=True)
    time.sleep(120)
"""


def test_a_process_killed_inside_a_window_is_repaired_by_relock_pending(
    two_regions: RegionalEmulators, tmp_path: Path
) -> None:
    west, east = (two_regions.emulators[r] for r in REGIONS)
    locked = [*pick(west, True, 2), *pick(east, True, 2)]
    script = tmp_path / "maintenance.py"
    script.write_text(textwrap.dedent(CHILD))
    child = subprocess.Popen(
        [sys.executable, str(script), ",".join(locked)], stdout=subprocess.PIPE, text=True, env=dict(os.environ)
    )
    try:
        assert child.stdout is not None
        assert child.stdout.readline().split() == ["inside", "4"]
        assert pending_windows() == []  # its owner is alive: not pending
        os.kill(child.pid, signal.SIGKILL)
    finally:
        child.kill()
        child.wait(30)
    assert state(two_regions, locked) == [False] * 4  # the kill left them unlocked
    assert pending_notice() is not None and "relock_pending()" in str(pending_notice())
    frame = scp_widgets.relock_pending()
    assert sorted(frame["server_id"]) == sorted(locked) and set(frame["outcome"]) == {"locked"}
    assert set(frame["region"]) == set(REGIONS)
    assert state(two_regions, locked) == [True] * 4
    assert pending_windows() == [] and scp_widgets.relock_pending().empty
    assert [json.loads(p.read_text())["state"] for p in windows_dir().glob("*.json")] == ["closed"]


def test_an_interrupt_inside_the_block_relocks_too(two_regions: RegionalEmulators) -> None:
    east = two_regions.emulators["kr-east1"]
    locked = pick(east, True, 2)

    def maintenance() -> None:
        with scp_widgets.unlocked(locked, regions=REGIONS):
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        maintenance()
    assert state(two_regions, locked) == [True, True]


def test_a_relock_that_fails_stays_pending_until_relock_pending_succeeds(two_regions: RegionalEmulators) -> None:
    west = two_regions.emulators["kr-west1"]
    locked = pick(west, True, 2)
    with pytest.warns(WindowWarning, match="could not be locked again"):
        with scp_widgets.unlocked(locked, regions=REGIONS, retries=0):
            west.set_faults(Faults(error_rates={503: 1.0}, methods=frozenset({"POST"})))  # the re-lock will fail
    assert state(two_regions, locked) == [False, False]
    assert [len(r["servers"]) for r in pending_windows()] == [2]  # this process is alive, but the window ended
    west.set_faults(Faults())
    frame = scp_widgets.relock_pending()
    assert set(frame["outcome"]) == {"locked"} and state(two_regions, locked) == [True, True]
    assert pending_windows() == []


def test_a_journal_path_for_a_window_over_two_regions_is_one_file_a_region(
    two_regions: RegionalEmulators, tmp_path: Path
) -> None:
    # the re-lock ran each region on its own at once with the same path: one was refused "in use by another
    # run", its servers stayed unlocked and the window turned owed, every time, with no fault at all
    west, east = (two_regions.emulators[r] for r in REGIONS)
    locked = [*pick(west, True, 2), *pick(east, True, 2)]
    journal = tmp_path / "w.jsonl"
    with warnings.catch_warnings():
        warnings.simplefilter("error", WindowWarning)
        with scp_widgets.unlocked(locked, regions=REGIONS, journal=journal) as window:
            assert state(two_regions, locked) == [False] * 4
    assert state(two_regions, locked) == [True] * 4 and window.owed == {} and pending_windows() == []
    assert sorted(p.name for p in tmp_path.glob("w-*.jsonl")) == ["w-kr-east1.jsonl", "w-kr-west1.jsonl"]
    for region in REGIONS:  # each file holds the unlock and the re-lock of its own region
        lines = [json.loads(line) for line in (tmp_path / f"w-{region}.jsonl").read_text().splitlines()]
        assert [line["action"] for line in lines if line.get("type") == "run"] == ["unlock", "lock"]


def test_relock_pending_with_a_journal_path_over_two_regions(two_regions: RegionalEmulators, tmp_path: Path) -> None:
    west, east = (two_regions.emulators[r] for r in REGIONS)
    locked = [pick(west, True, 1)[0], pick(east, True, 1)[0]]
    failing = Faults(error_rates={503: 1.0}, methods=frozenset({"POST"}))
    with pytest.warns(WindowWarning, match="could not be locked again"):
        with scp_widgets.unlocked(locked, regions=REGIONS, retries=0):
            west.set_faults(failing), east.set_faults(failing)  # the re-lock will fail in both regions
    assert state(two_regions, locked) == [False, False]
    for emulator in (west, east):
        emulator.set_faults(Faults())
    frame = scp_widgets.relock_pending(journal=tmp_path / "r.jsonl")
    assert set(frame["outcome"]) == {"locked"} and state(two_regions, locked) == [True, True]
    assert pending_windows() == []


def test_a_window_on_the_single_configured_endpoint_records_its_url(
    live_emulator: EmulatorServer, emulator: Emulator
) -> None:
    target = pick(emulator, True, 1)
    with scp_widgets.unlocked(target) as window:
        assert window.path is not None
        record = json.loads(window.path.read_text())
        assert record["servers"] == [
            {"server_id": target[0], "region": None, "endpoint": live_emulator.url, "reason": "the window is open"}
        ]
        assert emulator.server(target[0])["locked"] is False
    assert emulator.server(target[0])["locked"] is True


def test_retry_failed_of_a_relock_sends_each_row_to_its_own_region(two_regions: RegionalEmulators) -> None:
    # the re-lock's joined frame had no endpoints (pd.concat drops differing attrs): retry_failed of it went
    # to SCP_ENDPOINT, one region for all (the engine review)
    west, east = (two_regions.emulators[r] for r in REGIONS)
    locked = [pick(west, True, 1)[0], pick(east, True, 1)[0]]
    failing = Faults(error_rates={503: 1.0}, methods=frozenset({"POST"}))
    with pytest.warns(WindowWarning, match="could not be locked again"):
        with scp_widgets.unlocked(locked, regions=REGIONS, retries=0) as window:
            west.set_faults(failing), east.set_faults(failing)
    assert window.relocked is not None and set(window.relocked["outcome"].astype(str)) == {"server_error"}
    assert set(window.relocked.attrs["endpoints"]) == set(REGIONS)
    west.set_faults(Faults()), east.set_faults(Faults())
    again = scp_widgets.retry_failed(window.relocked)
    assert set(again["outcome"].astype(str)) == {"locked"} and state(two_regions, locked) == [True, True]
    relocked = scp_widgets.relock_pending()  # the window still owes them in its record: already locked now
    assert set(relocked.attrs["endpoints"]) == set(REGIONS)
    assert set(relocked["outcome"].astype(str)) <= {"locked", "already_locked"}


def test_retry_failed_of_relock_pending_on_the_configured_endpoint(
    live_emulator: EmulatorServer, emulator: Emulator
) -> None:
    # relock_pending names a plain endpoint's group by its URL: the frame said endpoints={URL: URL}, and
    # retry_failed of it raised "'http://...' is not a region name" (the review of the morning's fix)
    target = pick(emulator, True, 2)
    failing = Faults(error_rates={503: 1.0}, methods=frozenset({"POST"}))
    with pytest.warns(WindowWarning, match="could not be locked again"):
        with scp_widgets.unlocked(target, retries=0):
            emulator.set_faults(failing)
    pending = scp_widgets.relock_pending(retries=0)
    assert set(pending["outcome"].astype(str)) == {"server_error"}
    assert pending.attrs["endpoint"] == live_emulator.url and "endpoints" not in pending.attrs
    emulator.set_faults(Faults())
    again = scp_widgets.retry_failed(pending)
    assert set(again["outcome"].astype(str)) == {"locked"} and all(emulator.server(i)["locked"] for i in target)


def test_a_frame_of_several_plain_endpoints_is_not_rerun_to_one_of_them(
    live_emulator: EmulatorServer, emulator: Emulator
) -> None:
    frame = scp_widgets.lock(pick(emulator, False, 1), dry_run=True)
    frame.attrs["several_endpoints"] = ["http://a.example:1", "http://b.example:2"]
    with pytest.raises(ScpUsageError, match=r"^This frame's rows went to 2 endpoints .*with endpoint=\.$"):
        scp_widgets.retry_failed(frame)
