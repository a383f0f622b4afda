"""The journal as an audit trail: written ahead, never costing the frame, one run per owner, read strictly.

The hostile cases run for real where they can: a child process killed with SIGKILL mid-run against a
loopback emulator, a 64 KB tmpfs (in a private mount namespace) and a file-size limit that fill mid-run,
`/dev/full`, two runs on one path at once, a torn line followed by another run.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
import warnings
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from journal_helpers import HeldTransport, fill_disk_after

import scp_widgets
from scp_widgets.client.errors import JournalError, ScpUsageError
from scp_widgets.emulator import DEMO_ACCESS_KEY, DEMO_SECRET_KEY, Emulator, EmulatorConfig, EmulatorServer, Faults
from scp_widgets.engine.journal import Journal, JournalWarning
from scp_widgets.engine.results import Outcome, ServerResult

CHILD = Path(__file__).with_name("journal_child.py")
WAIT = 60


def posted(emulator: Emulator, status: int | None = None) -> set[str]:
    return {
        r.server_id for r in emulator.record
        if r.method == "POST" and r.server_id and (status is None or r.status == status)
    }  # fmt: skip


def read_quietly(path: Path, run_id: str | None = None) -> pd.DataFrame:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", JournalWarning)
        return scp_widgets.read_journal(path, run_id)


# -- write-ahead --------------------------------------------------------------------------------------------


def test_each_server_is_journaled_when_sent_when_accepted_and_when_final(
    tmp_path: Path, emulator: Emulator, emu_options: dict[str, Any]
) -> None:
    ids = emulator.own_ids[:6]
    df = scp_widgets.lock(ids, journal=tmp_path / "j.jsonl", **emu_options)
    lines = [json.loads(line) for line in (tmp_path / "j.jsonl").read_text().splitlines()]
    assert lines[0]["type"] == "run" and lines[-1]["type"] == "end"
    assert {line["run"] for line in lines} == {df.attrs["run_id"]}  # every line names its run
    for server_id in ids:
        kinds = [line["type"] for line in lines if server_id in (line.get("id"), line.get("server_id"))]
        assert kinds == ["sent", "accepted", "result"]
    assert read_quietly(tmp_path / "j.jsonl").attrs["never_sent"] == []


def test_an_unfinished_run_tells_never_sent_sent_accepted_and_final_apart(tmp_path: Path) -> None:
    ids = [f"00000000-0000-4000-8000-00000000000{n}" for n in range(5)]
    header = {"run_id": "r1", "action": "lock", "api_version": "1.3", "endpoint": "http://x", "ids": ids}
    journal = Journal.open(tmp_path / "j.jsonl", header)
    done = ServerResult(ids[0], "lock", Outcome.LOCKED, http_status=202, locked=True, attempts=1)
    accepted = ServerResult(ids[1], "lock", Outcome.LOCKED, http_status=202, attempts=2, request_id="q-1")
    for server_id in ids[:3]:
        journal.sent(server_id)
    journal.accepted(done)
    journal.accepted(accepted)
    journal.result(done)
    journal._file.write('{"type":"result","server_id":"00000')  # type: ignore[union-attr]  # killed mid-line
    journal._file.flush()  # type: ignore[union-attr]
    journal.close()  # the process died: its lock went with it (a journal still held is a run going on)
    with pytest.warns(JournalWarning, match="line 8 was cut short"):
        back = scp_widgets.read_journal(tmp_path / "j.jsonl")
    assert list(back.server_id) == ids[:3]
    assert list(back.outcome) == ["locked", "accepted", "sent"]
    assert back.http_status[1] == 202 and back.attempts[1] == 2 and back.request_id[1] == "q-1"
    assert "read-back" in back.message[1] and "no answer" not in back.message[1]
    assert "before an answer was recorded" in back.message[2]
    assert back.attrs["complete"] is False
    assert back.attrs["never_sent"] == ids[3:]
    assert back.attrs["missing"] == ids[1:]
    assert back.attrs["summary"] == "1 locked, 1 sent, 1 accepted; 2 never sent; the run did not finish"


def _kill_after_accepted(tmp_path: Path, attempt: int, total: int, accepted_before_kill: int) -> Path:
    emulator = Emulator(EmulatorConfig(servers=total, locked_fraction=0.0, seed=attempt, faults=Faults(latency=0.01)))
    ids = emulator.own_ids
    (tmp_path / f"ids{attempt}").write_text("\n".join(ids))
    journal = tmp_path / f"killed{attempt}.jsonl"
    with EmulatorServer(emulator) as server:
        child = subprocess.Popen(
            [sys.executable, str(CHILD), str(tmp_path / f"ids{attempt}"), server.url, str(journal)],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        )  # fmt: skip
        deadline = time.monotonic() + WAIT
        while len(posted(emulator, 202)) < accepted_before_kill:
            assert child.poll() is None, f"the child ended before the kill: {child.communicate()}"
            assert time.monotonic() < deadline, "the child never got that far"
            time.sleep(0.002)
        child.send_signal(signal.SIGKILL)
        child.communicate(timeout=WAIT)
        accepted_by_service, sent_to_service = posted(emulator, 202), posted(emulator)
    assert child.returncode == -signal.SIGKILL
    back = read_quietly(journal)
    rows, never_sent = list(back.server_id), back.attrs["never_sent"]
    assert back.attrs["complete"] is False
    assert len(rows) + len(never_sent) == total and sorted(rows + never_sent) == sorted(ids)  # no overlap, none lost
    assert sent_to_service <= set(rows)  # every server the service saw (so every accepted one) is a row
    assert not accepted_by_service & set(never_sent)
    claimed = set(back.server_id[back.outcome.isin(["accepted", "locked"])])
    assert claimed <= accepted_by_service  # the journal never claims an acceptance the service did not give
    assert len(accepted_by_service) >= accepted_before_kill
    return journal


@pytest.mark.parametrize("attempt", [1, 2, 3])
def test_kill_9_after_300_accepted_of_1000_loses_no_server(tmp_path: Path, attempt: int) -> None:
    _kill_after_accepted(tmp_path, attempt, total=1000, accepted_before_kill=300)


def test_the_journal_of_a_killed_run_takes_the_next_run_and_both_read_back(
    tmp_path: Path, emulator: Emulator, emu_options: dict[str, Any]
) -> None:
    journal = _kill_after_accepted(tmp_path, 4, total=400, accepted_before_kill=100)
    killed = read_quietly(journal)
    after = scp_widgets.lock(emulator.own_ids[:5], journal=journal, **emu_options)  # the dead run's lock is gone
    pd.testing.assert_frame_equal(read_quietly(journal), after)
    pd.testing.assert_frame_equal(read_quietly(journal, killed.attrs["run_id"]), killed)


# -- never lose the frame to the journal --------------------------------------------------------------------


@pytest.fixture
def disk_fills_after(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    room = [20]
    fill_disk_after(monkeypatch, room)
    return room


def test_a_disk_filling_mid_run_keeps_every_row_and_says_the_journal_failed(
    tmp_path: Path, disk_fills_after: list[int], emulator: Emulator, emu_options: dict[str, Any]
) -> None:
    ids = emulator.own_ids[:40]
    with pytest.warns(JournalWarning, match="No space left on device.*the returned frame is complete"):
        df = scp_widgets.lock(ids, journal=tmp_path / "j.jsonl", **emu_options)
    assert list(df.server_id) == ids and set(df.outcome) <= {"locked", "already_locked"}
    assert "could not be written after 21 records (No space left on device)" in df.attrs["journal_error"]
    assert df.attrs["summary"].endswith(df.attrs["journal_error"])
    assert posted(emulator) == set(ids) - set(df.server_id[df.outcome == "already_locked"])
    assert len(read_quietly(tmp_path / "j.jsonl")) < len(ids)  # the journal really stopped short


def test_the_magic_summary_line_says_the_journal_failed(
    disk_fills_after: list[int], live_emulator: EmulatorServer, emulator: Emulator, capsys: pytest.CaptureFixture[str]
) -> None:
    from IPython.core.interactiveshell import InteractiveShell
    from traitlets.config import Config

    config = Config()
    config.HistoryManager.hist_file = ":memory:"
    shell = InteractiveShell.instance(config=config)
    shell.run_line_magic("load_ext", "scp_widgets")
    try:
        with pytest.warns(JournalWarning):
            frame = shell.run_line_magic("scp_lock", " ".join(emulator.own_ids[:30]))
    finally:
        shell.run_line_magic("unload_ext", "scp_widgets")
    assert len(frame) == 30
    out = capsys.readouterr().out
    assert "the journal" in out and "could not be written after 21 records (No space left on device)" in out


def test_a_journal_deleted_mid_run_is_reported(tmp_path: Path, emulator: Emulator, emu_options: dict[str, Any]) -> None:
    path = tmp_path / "j.jsonl"

    def delete_it(progress: Any) -> None:
        if progress.done == 3:
            path.unlink()

    with pytest.warns(JournalWarning):
        df = scp_widgets.lock(emulator.own_ids[:10], journal=path, progress=delete_it, **emu_options)
    assert len(df) == 10
    assert "deleted or replaced during the run" in df.attrs["journal_error"]


def test_dev_full_is_one_clear_error_before_anything_is_sent(emulator: Emulator, emu_options: dict[str, Any]) -> None:
    with pytest.raises(ScpUsageError, match=r"^Cannot write the journal /dev/full: No space left on device; "):
        scp_widgets.lock(emulator.own_ids[:3], journal="/dev/full", **emu_options)
    assert not posted(emulator)


def test_a_journal_that_cannot_be_created_is_one_clear_error_before_anything_is_sent(
    tmp_path: Path, emulator: Emulator, emu_options: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "a-file").write_text("")
    with pytest.raises(
        ScpUsageError, match=r"^Cannot write the journal .*a-file/j\.jsonl: .*a-file is not a folder; .*False"
    ):
        scp_widgets.lock(emulator.own_ids[:3], journal=tmp_path / "a-file" / "j.jsonl", **emu_options)
    monkeypatch.setenv("SCP_WIDGETS_JOURNAL_DIR", str(tmp_path / "a-file"))  # the default folder too
    with pytest.raises(ScpUsageError, match=r"^Cannot write the journal "):
        scp_widgets.lock(emulator.own_ids[:3], **emu_options)
    assert not posted(emulator)


def _tmpfs_available(mount_point: Path) -> str | None:
    """Why a 64 KB tmpfs cannot be mounted in a private mount namespace here, or None when it can."""
    if shutil.which("unshare") is None:
        return "no unshare command"
    probe = subprocess.run(
        ["unshare", "-rm", "sh", "-c", 'mount -t tmpfs -o size=64k tmpfs "$0"', str(mount_point)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    return None if probe.returncode == 0 else f"cannot mount a tmpfs: {probe.stderr.strip()}"


@pytest.mark.parametrize("disk", ["tmpfs-64k", "file-size-limit-64k"])
def test_a_real_disk_filling_mid_run_keeps_every_row(tmp_path: Path, disk: str) -> None:
    emulator = Emulator(EmulatorConfig(servers=300, locked_fraction=0.0, seed=3))
    (tmp_path / "ids").write_text("\n".join(emulator.own_ids))
    folder = tmp_path / "small"
    folder.mkdir()
    journal = folder / "j.jsonl"
    if disk.startswith("tmpfs"):
        reason = _tmpfs_available(folder)
        if reason is not None:  # the file-size-limit case and the injected ENOSPC test still run
            pytest.skip(reason)
        prefix = ["unshare", "-rm", "sh", "-c", 'mount -t tmpfs -o size=64k tmpfs "$0" && exec "$@"']
        command, full = [*prefix, str(folder), sys.executable, str(CHILD)], "No space left on device"
    else:
        command, full = [sys.executable, str(CHILD)], "File too large"
    with EmulatorServer(emulator) as server:
        extra = [] if disk.startswith("tmpfs") else [str(64 * 1024)]
        child = subprocess.run(
            [*command, str(tmp_path / "ids"), server.url, str(journal), *extra],
            capture_output=True, text=True, timeout=WAIT, check=False,
        )  # fmt: skip
    assert child.returncode == 0, child.stderr
    result = json.loads(child.stdout.strip().splitlines()[-1])
    assert result["rows"] == 300 and result["ids"] == emulator.own_ids
    assert result["counts"] == {"locked": 300} and result["complete"] is True
    assert "could not be written after" in result["journal_error"] and full in result["journal_error"]
    assert result["summary"].startswith("300 locked in ") and full in result["summary"]
    assert "JournalWarning" in child.stderr


# -- one run, one owner -------------------------------------------------------------------------------------


def test_a_second_run_on_a_journal_in_use_is_refused_before_sending(
    tmp_path: Path, emulator: Emulator, emu_options: dict[str, Any]
) -> None:
    path = tmp_path / "shared.jsonl"
    held = HeldTransport(emulator.transport())
    first_ids, second_ids = emulator.own_ids[:10], emulator.own_ids[10:20]
    first: list[pd.DataFrame] = []
    runner = threading.Thread(
        target=lambda: first.append(scp_widgets.lock(first_ids, journal=path, **{**emu_options, "transport": held}))
    )
    runner.start()
    try:
        assert held.held.wait(WAIT)
        with pytest.raises(ScpUsageError, match=r"^The journal .*shared.jsonl is in use by another run"):
            scp_widgets.lock(second_ids, journal=path, **emu_options)
    finally:
        held.gate.set()
        runner.join(WAIT)
    assert not posted(emulator) & set(second_ids)
    back = read_quietly(path)
    assert list(back.server_id) == first_ids and back.attrs["run_id"] == first[0].attrs["run_id"]
    assert back.attrs["complete"] is True
    again = scp_widgets.lock(second_ids, journal=path, **emu_options)  # free again once the first has ended
    assert list(read_quietly(path).server_id) == list(again.server_id) == second_ids


def test_a_run_in_another_process_on_the_same_journal_refuses_this_one(tmp_path: Path) -> None:
    """Two notebooks given one journal path: the second is refused while the first runs, and nothing mixes."""
    emulator = Emulator(EmulatorConfig(servers=240, locked_fraction=0.0, faults=Faults(latency=0.05)))
    theirs, ours = emulator.own_ids[:200], emulator.own_ids[200:]
    (tmp_path / "ids").write_text("\n".join(theirs))
    path = tmp_path / "shared.jsonl"
    with EmulatorServer(emulator) as server:
        child = subprocess.Popen(
            [sys.executable, str(CHILD), str(tmp_path / "ids"), server.url, str(path)],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        deadline = time.monotonic() + WAIT
        while not posted(emulator):
            assert child.poll() is None and time.monotonic() < deadline, child.communicate()
            time.sleep(0.005)
        options = {"endpoint": server.url, "access_key": DEMO_ACCESS_KEY, "secret_key": DEMO_SECRET_KEY}
        with pytest.raises(ScpUsageError, match=r"is in use by another run that has not finished"):
            scp_widgets.lock(ours, journal=path, **options)
        assert child.poll() is None  # the refusal came while the other run was still going
        out, err = child.communicate(timeout=WAIT)
    assert child.returncode == 0, err
    assert not posted(emulator) & set(ours)
    back = scp_widgets.read_journal(path)
    assert list(back.server_id) == theirs and back.attrs["complete"] is True
    assert back.attrs["counts"] == json.loads(out)["counts"] == {"locked": 200}


def test_lines_of_two_runs_in_one_file_never_mix(tmp_path: Path) -> None:
    """Whatever wrote it (a file copied together, a file system without locks): each line counts for its run."""
    a_ids = [f"aaaaaaaa-0000-4000-8000-00000000000{n}" for n in range(3)]
    b_ids = [f"bbbbbbbb-0000-4000-8000-00000000000{n}" for n in range(3)]

    def line(run: str, **record: Any) -> str:
        return json.dumps({**record, "run": run})

    def result(run: str, server_id: str) -> str:
        return line(run, type="result", server_id=server_id, action="lock", outcome="locked", attempts=1)

    lines = [
        line("a", type="run", format=2, run_id="a", action="lock", ids=a_ids),
        line("b", type="run", format=2, run_id="b", action="lock", ids=b_ids),
    ]
    for a, b in zip(a_ids, b_ids, strict=True):
        lines += [line("a", type="sent", id=a), line("b", type="sent", id=b), result("b", b), result("a", a)]
    lines += [line("a", type="end", counts={"locked": 3}), line("b", type="end", counts={"locked": 3})]
    (tmp_path / "mixed.jsonl").write_text("\n".join(lines) + "\n")
    b = scp_widgets.read_journal(tmp_path / "mixed.jsonl")
    a = scp_widgets.read_journal(tmp_path / "mixed.jsonl", "a")
    assert list(b.server_id) == b_ids and list(a.server_id) == a_ids
    assert a.attrs["complete"] and b.attrs["complete"] and a.attrs["run_id"] == "a"
    with pytest.raises(ScpUsageError, match="has no run 'c'; it holds a, b"):
        scp_widgets.read_journal(tmp_path / "mixed.jsonl", "c")


# -- tolerant and strict reading ----------------------------------------------------------------------------


def test_a_torn_line_followed_by_another_run_reads_back_whole(
    tmp_path: Path, emulator: Emulator, emu_options: dict[str, Any]
) -> None:
    path = tmp_path / "reused.jsonl"
    first = scp_widgets.lock(emulator.own_ids[:8], journal=path, **emu_options)
    text = path.read_text()
    path.write_text(text[: text.rindex('"type":"result"') + 30])  # killed while writing a result line
    second = scp_widgets.lock(emulator.own_ids[8:20], journal=path, **emu_options)
    with pytest.warns(JournalWarning, match="was cut short"):
        back = scp_widgets.read_journal(path)
    pd.testing.assert_frame_equal(back, second)
    assert back.attrs["complete"] is True and back.attrs["run_id"] == second.attrs["run_id"]
    old = read_quietly(path, first.attrs["run_id"])
    assert old.attrs["complete"] is False and list(old.server_id) == emulator.own_ids[:8]
    assert list(old.outcome[:7]) == list(first.outcome[:7]) and old.outcome[7] == "accepted"


def test_a_torn_line_in_the_middle_is_skipped_with_a_warning(tmp_path: Path) -> None:
    emulator_ids = [f"00000000-0000-4000-8000-00000000000{n}" for n in range(2)]
    header = {"run_id": "r", "action": "lock", "ids": emulator_ids}
    with Journal.open(tmp_path / "j.jsonl", header) as journal:
        journal.sent(emulator_ids[0])
    with (tmp_path / "j.jsonl").open("a") as file:
        file.write('{"type":"sent","id":"00000000-0000-4000-80\n' + "\x00" * 12 + "\n")
        file.write(json.dumps({"type": "sent", "id": emulator_ids[1], "run": "r"}) + "\n")
    with pytest.warns(JournalWarning) as caught:
        back = scp_widgets.read_journal(tmp_path / "j.jsonl")
    cut = [str(w.message).removeprefix(f"{tmp_path / 'j.jsonl'} ").split(" was cut short")[0] for w in caught]
    assert cut == ["line 3", "line 4"]
    assert list(back.outcome) == ["sent", "sent"] and back.attrs["never_sent"] == []


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"myhost\n", "line 1 is not JSON: it is not an scp-widgets journal."),
        (b"", "is empty: it is not an scp-widgets journal."),
        (b'{"a": 1}\n', "line 1 has no known record type: not an scp-widgets journal."),
        (
            b'{"type":"result","server_id":"x","outcome":"locked"}\n',
            "line 1 belongs to no run started before it: not an scp-widgets journal.",
        ),
        (b"[1, 2]\n", "line 1 is not a journal record (a JSON array): the journal is corrupt."),
    ],
)
def test_a_file_that_is_not_a_journal_is_refused_in_one_sentence(tmp_path: Path, content: bytes, message: str) -> None:
    path = tmp_path / "not-a-journal.jsonl"
    path.write_bytes(content)
    with pytest.raises(JournalError) as caught:
        scp_widgets.read_journal(path)
    assert str(caught.value) == f"{path} {message}"


def test_etc_hostname_is_not_a_journal() -> None:
    hostname = Path("/etc/hostname")
    if not hostname.is_file() or not hostname.read_text().strip():
        hostname = Path("/etc/passwd")
    with pytest.raises(JournalError, match=f"^{hostname} line 1 is not JSON"):
        scp_widgets.read_journal(hostname)


@pytest.mark.parametrize(
    ("bad_line", "message"),
    [
        (b'{"type":"result","server_id":"x","outcome":"melted","run":"r"}', "line 3 has an unknown outcome 'melted'"),
        (b'{"type":"result","server_id":"x","action":"melt","outcome":"locked","run":"r"}', "line 3 has an unknown"),
        (b'{"type":"result","server_id":"x","action":"lock","outcome":["locked"],"run":"r"}', "line 3 has an unknown"),
        (b'[{"type":"result"}]', "line 3 is not a journal record (a JSON array)"),
        (b'{"type":"sent","id":"\xff\xfe","run":"r"}', "line 3 has a byte that is not UTF-8 text"),
        (b'{"type":"sent","id":7,"run":"r"}', "line 3 is a record without a server id"),
        (
            b'{"type":"result","server_id":"x","action":"lock","outcome":"locked","attempts":"many","run":"r"}',
            "line 3 is a corrupt",
        ),
        (b'{"type":"sent","id":"x","run":"zz"}', "line 3 belongs to no run started before it"),
        (b'{"type":"run","format":9,"run_id":"n"}', "line 3 was written by a newer scp-widgets"),
    ],
)
def test_corrupt_records_are_refused_naming_the_file_and_line(tmp_path: Path, bad_line: bytes, message: str) -> None:
    path = tmp_path / "j.jsonl"
    with Journal.open(path, {"run_id": "r", "action": "lock", "ids": ["x"]}) as journal:
        journal.sent("x")
    with path.open("ab") as file:
        file.write(bad_line + b"\n" + json.dumps({"type": "end", "run": "r"}).encode() + b"\n")
    with pytest.raises(JournalError, match="^" + re.escape(f"{path} {message}")):
        scp_widgets.read_journal(path)


def test_a_journal_of_the_previous_format_still_reads(tmp_path: Path) -> None:
    ids = ["00000000-0000-4000-8000-000000000001", "00000000-0000-4000-8000-000000000002"]
    lines = [
        {"type": "run", "format": 1, "run_id": "old", "action": "lock", "ids": ids},
        {"type": "result", "server_id": ids[0], "action": "lock", "outcome": "locked", "attempts": 1},
    ]
    (tmp_path / "v1.jsonl").write_text("".join(json.dumps(line) + "\n" for line in lines))
    back = scp_widgets.read_journal(tmp_path / "v1.jsonl")
    assert list(back.server_id) == ids[:1] and back.attrs["never_sent"] == ids[1:]


def test_the_journal_holds_no_secret(tmp_path: Path, emulator: Emulator, emu_options: dict[str, Any]) -> None:
    scp_widgets.lock(emulator.own_ids[:3], journal=tmp_path / "j.jsonl", **emu_options)
    assert str(emu_options["secret_key"]) not in (tmp_path / "j.jsonl").read_text()


def test_fsync_on_request(
    tmp_path: Path, emulator: Emulator, emu_options: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    synced: list[int] = []
    real = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: (synced.append(fd), real(fd))[1])
    scp_widgets.lock(emulator.own_ids[:2], journal=tmp_path / "a.jsonl", **emu_options)
    once = len(synced)
    scp_widgets.lock(emulator.own_ids[2:4], journal=tmp_path / "b.jsonl", journal_fsync=True, **emu_options)
    assert once == 1  # by default only at the end of the run
    assert len(synced) - once >= 1 + 2 * 3 + 1  # with journal_fsync: every line (header, 3 per server, end)
