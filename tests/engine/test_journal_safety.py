"""The journal tells the truth after its own failure, and reading it never deletes it (issue: safety
features keep their promise when things fail, item 6)."""

from __future__ import annotations

import datetime as dt
import json
import os
import stat
import time
import warnings
from pathlib import Path
from typing import Any

import pytest
from journal_helpers import fill_disk_after

import scp_widgets
from scp_widgets.client.errors import JournalError
from scp_widgets.emulator import Emulator
from scp_widgets.engine.history import prune_journals
from scp_widgets.engine.journal import Journal, JournalWarning

DAY = 86_400


def _age(path: Path, days: float) -> Path:
    """Every run in the file finished `days` ago, and the file was last written then."""
    finished = (dt.datetime.now(dt.UTC) - dt.timedelta(days=days)).isoformat()
    lines = []
    for line in path.read_text().splitlines():
        record = json.loads(line)
        if record["type"] == "end":
            record["finished_at"] = finished
        lines.append(json.dumps(record))
    path.write_text("".join(f"{line}\n" for line in lines))
    then = time.time() - days * DAY
    os.utime(path, (then, then))
    return path


def _runs(path: Path, *finished: bool) -> Path:
    """One file holding a run per flag, each finished (an end line) or not, written by the real writer."""
    for index, done in enumerate(finished):
        run_id = f"run{index}"
        ids = [f"00000000-0000-4000-8000-{index:012d}"]
        with Journal.open(path, {"run_id": run_id, "action": "lock", "ids": ids}) as journal:
            journal.sent(ids[0])
            if done:
                journal.end({"finished_at": dt.datetime.now(dt.UTC).isoformat(), "counts": {}})
    return path


def test_reading_an_archive_folder_deletes_nothing(tmp_path: Path) -> None:
    archive = tmp_path / "archive"
    archive.mkdir()
    files = [_age(_runs(archive / f"{n}.jsonl", True), 200) for n in range(5)]
    runs = scp_widgets.history(archive)
    assert len(runs) == 5 and all(f.exists() for f in files)
    scp_widgets.read_journal(files[0])
    assert all(f.exists() for f in files)


@pytest.mark.parametrize("unfinished", [0, 1, 2])
def test_a_file_with_any_unfinished_run_is_never_pruned(tmp_path: Path, unfinished: int) -> None:
    flags = [True, True, True]
    flags[unfinished] = False  # first, middle or last: a check of only the first or last run misses one
    mixed = _age(_runs(tmp_path / "mixed.jsonl", *flags), 200)
    whole = _age(_runs(tmp_path / "whole.jsonl", True, True, True), 200)
    assert prune_journals(tmp_path, days=90) == [whole]
    assert mixed.exists()


def test_prune_is_a_command_of_its_own_with_a_dry_run(isolated_environment: Path) -> None:
    old = _age(_runs(isolated_environment / "old.jsonl", True), 200)
    assert scp_widgets.prune_journals(dry_run=True) == [old] and old.exists()
    assert scp_widgets.prune_journals() == [old] and not old.exists()


def test_a_line_nested_200k_deep_is_one_sentence_naming_its_line_and_never_stops_a_run(
    isolated_environment: Path, emulator: Emulator, emu_options: dict[str, Any]
) -> None:
    bad = _age(_runs(isolated_environment / "deep.jsonl", True), 200)
    with bad.open("a") as file:
        file.write('{"type":"sent","id":' + "[" * 200_000 + "]" * 200_000 + "}\n")
    then = time.time() - 200 * DAY
    os.utime(bad, (then, then))  # past retention: the next run's prune reads it
    with pytest.raises(JournalError, match=r"deep\.jsonl line 4 nests too deep to be a journal record"):
        scp_widgets.read_journal(bad)
    with pytest.warns(JournalWarning, match=r"Not pruned: .*deep\.jsonl line 4"):
        frame = scp_widgets.lock(emulator.own_ids[:2], **emu_options)  # retention meets it, the run goes on
    assert set(frame.outcome) <= {"locked", "already_locked"} and bad.exists()
    with pytest.warns(JournalWarning, match=r"Left out of the history: .*deep\.jsonl line 4"):
        assert len(scp_widgets.history()) == 1


def test_journals_are_the_users_alone(
    isolated_environment: Path, emu_options: dict[str, Any], emulator: Emulator
) -> None:
    folder = isolated_environment / "fresh"
    path = folder / "nested" / "j.jsonl"
    scp_widgets.lock(emulator.own_ids[:1], journal=path, **emu_options)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700 and stat.S_IMODE(folder.stat().st_mode) == 0o700


def test_after_a_full_disk_the_journal_says_so_and_the_rest_is_unknown_not_never_sent(
    tmp_path: Path, emulator: Emulator, emu_options: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    fill_disk_after(monkeypatch, [10])
    ids = emulator.own_ids[:40]
    with pytest.warns(JournalWarning):
        scp_widgets.lock(ids, journal=tmp_path / "j.jsonl", **emu_options)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", JournalWarning)
        rebuilt = scp_widgets.read_journal(tmp_path / "j.jsonl")
    assert rebuilt.attrs["never_sent"] == []  # the run went on sending: nothing is known to be unsent
    unknown = rebuilt.attrs["unrecorded"]
    assert unknown and set(unknown) | set(rebuilt.server_id) == set(ids)
    assert (
        "No space left on device" in rebuilt.attrs["summary"] and "unknown, not never sent" in rebuilt.attrs["summary"]
    )
    assert "never sent" not in rebuilt.attrs["summary"].replace("not never sent", "")
