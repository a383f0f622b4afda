"""The regions of one fleet run start sending together, or none does (fleet.plan.StartTogether), and a journal
that cannot be written once every region has sent never costs the frame (found by the engine review).

Before: a region refusing the version asked for was taken for a region down, and the other region locked its
servers; a region whose journal could not be opened raised "fix it or run with journal=False" after the other
region had locked; the run's "not sent" journal, opened after every region had sent, raised on a full or
deleted folder instead of returning the frame. And a Cancel (a kernel interrupt) while a region was being
listed waited for the whole listing (4 attempts x 15 s on a dead endpoint) before it was seen.
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import scp_widgets
from scp_widgets.client.errors import ScpUsageError
from scp_widgets.emulator import (
    DEMO_ACCESS_KEY,
    DEMO_SECRET_KEY,
    ApiVersion,
    Emulator,
    EmulatorConfig,
    EmulatorServer,
    Faults,
)
from scp_widgets.emulator.regions import RegionalEmulators
from scp_widgets.engine.cancel import CancelToken

REGIONS = ["kr-west1", "kr-east1"]
MISSING = "00000000-0000-4000-8000-000000000000"  # in no listing: a not_found row, journaled after the sends


def posts(regions: RegionalEmulators) -> int:
    return sum(1 for e in regions.emulators.values() for r in e.record if r.method == "POST")


def unlocked(regions: RegionalEmulators, per_region: int) -> list[str]:
    return [
        i for e in regions.emulators.values() for i in [i for i in e.own_ids if not e.server(i)["locked"]][:per_region]
    ]


@pytest.fixture
def east_moved_on(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[EmulatorServer, EmulatorServer]]:
    """kr-west1 as usual; kr-east1 retired 1.3 yesterday and offers 1.4."""
    yesterday = dt.date.today() - dt.timedelta(days=1)
    east_versions = (ApiVersion("1.4", "CURRENT"), ApiVersion("1.3", "SUPPORTED", yesterday))
    west = Emulator(EmulatorConfig(servers=20, seed=7, locked_fraction=0.0))
    east = Emulator(EmulatorConfig(servers=20, seed=1007, locked_fraction=0.0, versions=east_versions))
    with EmulatorServer(west) as w, EmulatorServer(east) as e:
        monkeypatch.setenv("SCP_ENDPOINTS", f"kr-west1={w.url},kr-east1={e.url}")
        monkeypatch.setenv("SCP_ACCESS_KEY", DEMO_ACCESS_KEY)
        monkeypatch.setenv("SCP_SECRET_KEY", DEMO_SECRET_KEY)
        yield w, e


def test_a_version_one_region_refuses_is_one_sentence_and_nothing_is_sent_anywhere(
    east_moved_on: tuple[EmulatorServer, EmulatorServer],
) -> None:
    west, east = (s.emulator for s in east_moved_on)
    ids = [west.own_ids[0], east.own_ids[0]]
    with pytest.raises(ScpUsageError, match=r"^API version 1\.3 was retired on .*; use 1\.4"):
        scp_widgets.lock(ids, regions=REGIONS, api_version="1.3")
    assert [r for e in (west, east) for r in e.record if r.method == "POST"] == []
    assert not west.server(ids[0])["locked"] and scp_widgets.history().empty


def test_a_region_whose_journal_cannot_open_stops_every_region_before_its_first_request(
    two_regions: RegionalEmulators, tmp_path: Path
) -> None:
    (tmp_path / "run-kr-east1.jsonl").mkdir()  # the east part's journal cannot be a file
    ids = unlocked(two_regions, 3)
    with pytest.raises(ScpUsageError, match=r"^Cannot write the journal .*run-kr-east1\.jsonl"):
        scp_widgets.lock(ids, regions=REGIONS, journal=tmp_path / "run.jsonl")
    assert posts(two_regions) == 0
    # the west part had started its journal: a cancelled row per server, not sent, then its end, so its
    # history is true and resume_cancelled of it sends them (it was a finished run of no rows)
    lines = [json.loads(line) for line in (tmp_path / "run-kr-west1.jsonl").read_text().splitlines()]
    assert [line["type"] for line in lines] == ["run", "result", "result", "result", "end"]
    assert lines[-1]["counts"] == {"cancelled": 3} and lines[-1]["not_sent"] == 3
    assert "not sent: not sent: another region could not start (Cannot write" not in lines[-1]["summary"]
    assert (
        lines[-1]["summary"].startswith("3 cancelled in ") and "another region could not start" in lines[-1]["summary"]
    )
    back = scp_widgets.read_journal(tmp_path / "run-kr-west1.jsonl")
    assert sorted(back["server_id"]) == sorted(ids[:3]) and set(back["outcome"].astype(str)) == {"cancelled"}
    resumed = scp_widgets.resume_cancelled(back, journal=False)
    assert set(resumed["outcome"].astype(str)) == {"locked"} and posts(two_regions) == 3


def test_the_not_sent_journal_failing_after_the_sends_keeps_the_frame(
    two_regions: RegionalEmulators, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    folder = tmp_path / "journal"
    monkeypatch.setenv("SCP_WIDGETS_JOURNAL_DIR", str(folder))
    ids = [*unlocked(two_regions, 2), MISSING]
    moved: list[bool] = []

    def folder_gone(_: object) -> None:  # the folder is deleted (a file in its place) once the run is under way
        if not moved:
            moved.append(True)
            shutil.move(folder, tmp_path / "moved")
            folder.write_text("not a folder")

    with pytest.warns(scp_widgets.JournalWarning):
        frame = scp_widgets.lock(ids, regions=REGIONS, progress=folder_gone)
    assert moved and list(frame["server_id"]) == ids  # every row, in request order
    assert list(frame["outcome"].astype(str)) == ["locked"] * 4 + ["not_found"]
    assert "Cannot write the journal" in str(frame.attrs["journal_error"])
    assert frame.attrs["summary"].startswith("4 locked, 1 not_found") and "Cannot write" in frame.attrs["summary"]
    assert folder.is_file()


def _listing_stuck(regions: RegionalEmulators) -> None:
    """Wait until the black-holed kr-east1 holds a listing request (the run is stuck listing)."""
    east = regions.emulators["kr-east1"]
    deadline = time.monotonic() + 60
    while not any(r.method == "GET" and r.path.startswith("/v1") for r in east.record):
        assert time.monotonic() < deadline, "the listing never reached kr-east1"
        threading.Event().wait(0.02)


@pytest.mark.parametrize("by_rule", [False, True])
def test_a_cancel_while_a_region_lists_stops_at_once_with_every_row(
    two_regions: RegionalEmulators, by_rule: bool
) -> None:
    # an interrupt during `%scp_lock --where` was ignored: the cell ran the whole listing (4 x 15 s) first
    ids = unlocked(two_regions, 2)
    two_regions.emulators["kr-east1"].set_faults(Faults(black_hole=True))
    token = CancelToken()
    outcome: list[Any] = []

    def run() -> None:
        try:
            target = {"where": "not locked"} if by_rule else {}
            outcome.append(scp_widgets.lock(None if by_rule else ids, regions=REGIONS, cancel=token, **target))
        except ScpUsageError as exc:
            outcome.append(exc)

    runner = threading.Thread(target=run)
    runner.start()
    _listing_stuck(two_regions)
    token.cancel()
    runner.join(30)  # at once: the listing is stopped, not waited for (its timeout is 15 s, 4 attempts)
    assert not runner.is_alive() and posts(two_regions) == 0
    if by_rule:
        assert str(outcome[0]) == "Cancelled while listing the servers for the rule; nothing was sent."
        return
    frame = outcome[0]
    assert list(frame["server_id"]) == ids and set(frame["outcome"].astype(str)) == {"cancelled"}
    assert set(frame["message"]) == {"cancelled while the servers were being listed; not sent"}
    two_regions.emulators["kr-east1"].set_faults(Faults())
    resumed = scp_widgets.resume_cancelled(frame)
    assert sorted(resumed["server_id"]) == sorted(ids) and set(resumed["outcome"].astype(str)) == {"locked"}
