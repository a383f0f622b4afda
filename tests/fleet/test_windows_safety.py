"""Maintenance windows keep their promise when the re-lock fails: a truthful record, finished by relock_pending()."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import shutil
import socket
import warnings
from pathlib import Path

import pytest

import scp_widgets
from scp_widgets.emulator import Emulator, Faults
from scp_widgets.emulator.regions import RegionalEmulators
from scp_widgets.fleet.windows import WindowWarning, pending_windows, windows_dir

REGIONS = ["kr-west1", "kr-east1"]


def pick(emulator: Emulator, locked: bool, n: int) -> list[str]:
    return [i for i in emulator.own_ids if emulator.server(i)["locked"] is locked][:n]


def lock_posts(emulator: Emulator) -> list[str]:
    return [str(r.server_id) for r in emulator.record if r.method == "POST" and r.action == "lock"]


def is_locked(regions: RegionalEmulators, server_id: str) -> bool:
    for emulator in regions.emulators.values():
        if server_id in emulator.own_ids:
            return bool(emulator.server(server_id)["locked"])
    raise AssertionError(server_id)


def test_one_region_down_at_exit_relocks_the_healthy_one_and_relock_pending_finishes_exactly_the_rest(
    two_regions: RegionalEmulators,
) -> None:
    west, east = (two_regions.emulators[r] for r in REGIONS)
    west_ids, east_ids = pick(west, True, 2), pick(east, True, 3)
    with pytest.warns(WindowWarning, match="kr-east1") as caught:
        with scp_widgets.unlocked([*west_ids, *east_ids], regions=REGIONS, timeout=2, retries=0) as window:
            east.set_faults(Faults(black_hole=True))  # the region goes down inside the window
    assert "3 server(s)" in str(caught[0].message)
    assert [is_locked(two_regions, i) for i in west_ids] == [True, True]  # the healthy region is locked again
    assert [is_locked(two_regions, i) for i in east_ids] == [False] * 3
    assert window.path is not None
    record = json.loads(window.path.read_text())
    assert record["state"] == "owed"
    assert sorted(s["server_id"] for s in record["servers"]) == sorted(east_ids)  # exactly what is still owed
    assert sorted(record["relocked"]) == sorted(west_ids)
    assert sorted(record["unlocked"]) == sorted([*west_ids, *east_ids])
    assert all(s["reason"] for s in record["servers"])
    assert record["host"] == socket.gethostname() and record["pid"] == os.getpid()
    assert oct(window.path.stat().st_mode & 0o777) == "0o600"

    east.set_faults(Faults())
    before_west, before_east = len(lock_posts(west)), len(lock_posts(east))
    frame = scp_widgets.relock_pending()  # the same process: an owed window is finished here too
    assert sorted(frame["server_id"]) == sorted(east_ids) and set(frame["outcome"]) == {"locked"}
    assert len(lock_posts(west)) == before_west  # nothing re-sent to the healthy region
    assert sorted(lock_posts(east)[before_east:]) == sorted(east_ids)
    assert [is_locked(two_regions, i) for i in east_ids] == [True] * 3
    assert json.loads(window.path.read_text())["state"] == "closed" and pending_windows() == []


def test_a_malformed_record_is_a_warning_naming_the_file_and_the_valid_window_after_it_is_finished(
    two_regions: RegionalEmulators, caplog: pytest.LogCaptureFixture
) -> None:
    west = two_regions.emulators["kr-west1"]
    ids = pick(west, True, 1)
    with pytest.warns(WindowWarning):
        with scp_widgets.unlocked(ids, regions=REGIONS, retries=0) as window:
            west.set_faults(Faults(error_rates={503: 1.0}, methods=frozenset({"POST"})))
    west.set_faults(Faults())
    bad = windows_dir() / "0000-broken.json"
    bad.write_text(json.dumps({"state": "owed", "servers": ["not-a-record"]}))
    with caplog.at_level(logging.WARNING, logger="scp_widgets.fleet.windows"):
        frame = scp_widgets.relock_pending()
    assert "0000-broken.json" in caplog.text
    assert list(frame["server_id"]) == ids and set(frame["outcome"]) == {"locked"}
    assert window.path is not None and json.loads(window.path.read_text())["state"] == "closed"


def test_a_record_from_another_host_is_not_taken_as_dead(two_regions: RegionalEmulators) -> None:
    west = two_regions.emulators["kr-west1"]
    server = pick(west, False, 1)[0]
    path = windows_dir()
    path.mkdir(parents=True, exist_ok=True)
    record = {
        "format": 1, "window_id": "elsewhere", "state": "open", "host": "another-host", "pid": 1,
        "servers": [{"server_id": server, "region": "kr-west1", "endpoint": two_regions.endpoints["kr-west1"]}],
    }  # fmt: skip
    (path / "elsewhere.json").write_text(json.dumps(record))
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        frame = scp_widgets.relock_pending()
    assert frame.empty and lock_posts(west) == []
    assert any("another-host" in str(w.message) for w in seen)
    frame = scp_widgets.relock_pending(include_other_hosts=True)
    assert list(frame["server_id"]) == [server] and set(frame["outcome"]) == {"locked"}


def test_a_double_cancel_during_the_relock_does_not_abandon_it(two_regions: RegionalEmulators) -> None:
    west = two_regions.emulators["kr-west1"]
    ids = pick(west, True, 2)

    async def maintenance() -> None:
        task = asyncio.current_task()
        assert task is not None
        async with scp_widgets.aunlocked(ids, regions=REGIONS):
            west.set_faults(Faults(latency=0.3, methods=frozenset({"POST"})))  # the re-lock takes a while
            loop = asyncio.get_running_loop()
            loop.call_soon(task.cancel)  # the second cancel lands while the re-lock runs
            raise asyncio.CancelledError

    with pytest.raises(asyncio.CancelledError):
        asyncio.run(maintenance())
    assert [is_locked(two_regions, i) for i in ids] == [True, True]
    assert pending_windows() == []


def test_window_records_are_the_users_alone(two_regions: RegionalEmulators) -> None:
    import stat

    west = two_regions.emulators["kr-west1"]
    locked = [i for i in west.own_ids if west.server(i)["locked"]][:1]
    with scp_widgets.unlocked(locked, regions=["kr-west1", "kr-east1"]):
        records = list(windows_dir().glob("*.json"))
        assert records and all(stat.S_IMODE(r.stat().st_mode) == 0o600 for r in records)
        assert stat.S_IMODE(windows_dir().stat().st_mode) == 0o700


def test_relock_pending_that_only_partly_succeeds_leaves_a_record_of_exactly_what_is_still_owed(
    two_regions: RegionalEmulators,
) -> None:
    west, east = (two_regions.emulators[r] for r in REGIONS)
    west_ids, east_ids = pick(west, True, 2), pick(east, True, 2)
    with pytest.warns(WindowWarning):
        with scp_widgets.unlocked([*west_ids, *east_ids], regions=REGIONS, timeout=2, retries=0) as window:
            _both_down(west, east)  # at exit: all four owed
    assert window.path is not None
    assert sorted(s["server_id"] for s in json.loads(window.path.read_text())["servers"]) == sorted(
        [*west_ids, *east_ids]
    )

    west.set_faults(Faults())  # one region back: relock_pending can do only part of it
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", WindowWarning)
        scp_widgets.relock_pending(timeout=2, retries=0)
    record = json.loads(window.path.read_text())
    assert record["state"] == "owed"
    assert sorted(s["server_id"] for s in record["servers"]) == sorted(east_ids)  # exactly the rest
    assert sorted(record["relocked"]) == sorted(west_ids)

    east.set_faults(Faults())
    before = len(lock_posts(east))
    frame = scp_widgets.relock_pending()
    assert sorted(frame["server_id"]) == sorted(east_ids) and sorted(lock_posts(east)[before:]) == sorted(east_ids)
    assert json.loads(window.path.read_text())["state"] == "closed"


def _both_down(*emulators: Emulator) -> None:
    for emulator in emulators:
        emulator.set_faults(Faults(black_hole=True))


def test_a_journal_folder_gone_during_the_block_still_relocks_and_says_so(
    two_regions: RegionalEmulators, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # a full disk (or the folder deleted) during the block: the re-lock could not open its journal, so not one
    # lock was sent; the record could not turn owed either (a raw OSError), and relock_pending() said nothing
    # was pending. Locking matters more than its journal: it locks without one, and the warnings tell the truth.
    folder = tmp_path / "journal"
    monkeypatch.setenv("SCP_WIDGETS_JOURNAL_DIR", str(folder))
    west = two_regions.emulators["kr-west1"]
    locked = pick(west, True, 2)

    def maintenance() -> None:
        with scp_widgets.unlocked(locked, regions=["kr-west1", "kr-east1"]):
            assert not any(is_locked(two_regions, i) for i in locked)
            shutil.move(folder, tmp_path / "moved")
            folder.write_text("not a folder")  # nothing can be written under it any more

    with pytest.warns(WindowWarning) as caught:
        maintenance()
    assert all(is_locked(two_regions, i) for i in locked)
    said = [str(w.message) for w in caught]
    assert any("2 server(s) of kr-west1" in s and "locked again without a journal" in s for s in said)
    assert any("record to 'closed'" in s and "none owed" in s for s in said)


def test_a_window_whose_record_cannot_be_written_unlocks_nothing(
    two_regions: RegionalEmulators, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    folder = tmp_path / "journal"
    folder.write_text("not a folder")
    monkeypatch.setenv("SCP_WIDGETS_JOURNAL_DIR", str(folder))
    west = two_regions.emulators["kr-west1"]
    locked = pick(west, True, 2)
    with pytest.raises(
        scp_widgets.ScpUsageError, match=r"^Cannot write the maintenance window's record .*nothing was unlocked"
    ):
        with scp_widgets.unlocked(locked, regions=["kr-west1", "kr-east1"]):
            pytest.fail("the block ran without a record")
    assert [r for r in west.record if r.method == "POST"] == [] and all(is_locked(two_regions, i) for i in locked)


def test_a_relock_whose_journal_another_run_holds_still_locks(two_regions: RegionalEmulators, tmp_path: Path) -> None:
    # the window's journal=PATH taken by another run (a cron job on the same audit file) during the block:
    # "in use by another run" was not taken for an unwritable journal, and the servers stayed unlocked
    import fcntl

    west = two_regions.emulators["kr-west1"]
    locked = pick(west, True, 2)
    path = tmp_path / "audit.jsonl"

    other = open(path, "a")  # noqa: SIM115 - held across the window's exit, closed below
    try:
        with pytest.warns(WindowWarning, match="locked again without a journal .*in use by another run"):
            with scp_widgets.unlocked(locked, regions=["kr-west1"], journal=path):
                fcntl.flock(other.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    finally:
        other.close()
    assert all(is_locked(two_regions, i) for i in locked) and pending_windows() == []


def test_a_window_whose_unlock_is_refused_before_sending_locks_nothing_again(
    two_regions: RegionalEmulators, tmp_path: Path
) -> None:
    (tmp_path / "folder.jsonl").mkdir()  # the unlock's journal cannot be a file: refused before any request
    west = two_regions.emulators["kr-west1"]
    locked = pick(west, True, 2)
    with pytest.raises(scp_widgets.ScpUsageError, match=r"^Cannot write the journal"):
        with scp_widgets.unlocked(locked, regions=["kr-west1"], journal=tmp_path / "folder.jsonl"):
            pytest.fail("the block ran although nothing was unlocked")
    assert [r for r in west.record if r.method == "POST"] == []  # no unlock, and no "re-lock" either
    assert pending_windows() == []
