"""Journal format 3 (issue 21): short `result` lines (a field equal to its run's value left out, times in whole
nanoseconds), read by column and line by line to the same frame a format 2 journal of the same run gives;
format 2 journals, as the writer wrote them before, still read by column, to the same frames."""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

import scp_widgets
from scp_widgets.engine import journal, journal_reader
from scp_widgets.engine.journal import Journal, JournalWarning, ns_to_seconds, seconds_to_ns
from scp_widgets.engine.results import Outcome, ServerResult
from tests.engine.test_journal_columns import assert_same_every_way, by_column, errors_every_way
from tests.engine.test_journal_read_fast import every_kind_of_row


def write_format_2(monkeypatch: pytest.MonkeyPatch) -> None:
    """From now on the writer writes format 2, as it did before format 3: every field of every result."""
    monkeypatch.setattr(journal, "FORMAT", 2)
    monkeypatch.setattr(Journal, "result", lambda self, result: self._record({"type": "result", **result.to_record()}))


def without_escapes(path: Path) -> None:
    """Only the lines in the writer's exact shape (no line json had to read), so the file is read by column."""
    path.write_text("\n".join(line for line in path.read_text().split("\n") if "\\" not in line))


def same_but_the_file(first: pd.DataFrame, second: pd.DataFrame) -> None:
    pd.testing.assert_frame_equal(first, second, check_exact=True)
    assert {**first.attrs, "journal": None} == {**second.attrs, "journal": None}


@pytest.mark.parametrize("finish", [True, False])
def test_a_run_reads_the_same_from_format_2_and_format_3(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, finish: bool
) -> None:
    new, old = tmp_path / "3.jsonl", tmp_path / "2.jsonl"
    monkeypatch.setattr(journal.time, "time", lambda: 1_796_000_100.5)  # the sent and accepted lines' times
    every_kind_of_row(new, finish=finish)
    with monkeypatch.context() as patch:
        write_format_2(patch)
        every_kind_of_row(old, finish=finish)
    assert json.loads(new.read_text().split("\n")[0])["format"] == 3
    assert json.loads(old.read_text().split("\n")[0])["format"] == 2
    assert new.stat().st_size < old.stat().st_size
    same_but_the_file(assert_same_every_way(new), assert_same_every_way(old))
    for path in (new, old):
        without_escapes(path)
        assert by_column(path) is not None, path
    same_but_the_file(assert_same_every_way(new), assert_same_every_way(old))


def test_a_format_3_result_line_leaves_out_the_runs_values(tmp_path: Path) -> None:
    path = tmp_path / "j.jsonl"
    header = {"run_id": "r1", "action": "lock", "api_version": "1.3", "endpoint": "http://x", "ids": ["a", "b"]}
    t = 1_796_000_000.123456
    with Journal.open(path, header) as writer:
        writer.result(ServerResult("a", "lock", Outcome.LOCKED, 202, True, 1, None, None, "q-1", "1.3", "http://x",
                                   t, t + 0.5, t, t + 0.25))  # fmt: skip
        writer.result(ServerResult("b", "lock", Outcome.NETWORK_ERROR, error_code="NOT_SENT", message="not sent"))
    _, first, second = (json.loads(line) for line in path.read_text().splitlines())
    assert first == {
        "type": "result", "id": "a", "o": "locked", "s": 202, "l": True, "n": 1, "q": "q-1",
        "t0": 1_796_000_000_123_456_001, "t1": 1_796_000_000_623_456_001, "ts": 1_796_000_000_123_456_001,
        "ta": 1_796_000_000_373_456_001, "run": "r1",
    }  # fmt: skip
    # Not the run's version and endpoint (never sent): written, as null, so they do not read as the header's.
    assert second == {
        "type": "result", "id": "b", "o": "network_error", "n": 0, "e": "NOT_SENT", "m": "not sent",
        "v": None, "u": None, "run": "r1",
    }  # fmt: skip
    frame = assert_same_every_way(path)
    assert list(frame.api_version.fillna("-")) == ["1.3", "-"] and list(frame.endpoint.fillna("-")) == ["http://x", "-"]
    assert frame.started_at.iloc[0] == pd.Timestamp(t * 1e9, unit="ns", tz="UTC")


def test_clock_times_come_back_from_nanoseconds_exactly() -> None:
    t = 1_796_383_686.4130278
    for k in range(20_000):  # a clock's times: every one of them comes back exactly
        seconds = t + k * 0.000_123_7
        ns = seconds_to_ns(seconds)
        assert ns is not None and ns_to_seconds(ns) == seconds
    assert seconds_to_ns(1.5) == 1_500_000_000 and seconds_to_ns(-0.25) == -250_000_000
    assert seconds_to_ns(1e-10) is None and seconds_to_ns(float("nan")) is None


def test_a_time_nanoseconds_cannot_hold_keeps_the_whole_record(tmp_path: Path) -> None:
    path = tmp_path / "j.jsonl"
    with Journal.open(path, {"run_id": "r1", "action": "lock", "ids": ["a", "b"]}) as writer:
        writer.result(ServerResult("a", "lock", Outcome.LOCKED, started_at=1e-10, finished_at=2.5))
        writer.result(ServerResult("b", "lock", Outcome.LOCKED, started_at=2.5))
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    assert lines[1]["server_id"] == "a" and lines[1]["started_at"] == 1e-10  # as format 2 writes it
    assert lines[2]["id"] == "b" and lines[2]["t0"] == 2_500_000_000
    frame = assert_same_every_way(path)
    assert frame.started_at.iloc[0] == pd.Timestamp(1e-10 * 1e9, unit="ns", tz="UTC")


def _format_3_file(tmp_path: Path, line: str) -> Path:
    path = tmp_path / "j.jsonl"
    every_kind_of_row(path, finish=True)
    lines = [text for text in path.read_text().split("\n") if "\\" not in text]
    path.write_text("\n".join([*lines[:3], line, *lines[3:]]))
    return path


@pytest.mark.parametrize(
    ("line", "sentence"),
    [
        ('{"type":"result","id":"s1","o":"locked","t0":1.5,"run":"r1"}', "is a corrupt result record"),
        ('{"type":"result","id":"s1","o":"locked","ts":"7","run":"r1"}', "is a corrupt result record"),
        ('{"type":"result","id":"s1","o":"locked","ts":true,"run":"r1"}', "is a corrupt result record"),
        ('{"type":"result","id":"s1","o":"locked","ts":9223372036854775808,"run":"r1"}', "is a corrupt"),
        ('{"type":"result","id":7,"o":"locked","run":"r1"}', "is a record without a server id"),
        ('{"type":"result","o":"locked","run":"r1"}', "is a record without a server id"),
        ('{"type":"result","id":"s1","o":"melted","run":"r1"}', "has an unknown outcome 'melted'"),
        ('{"type":"result","id":"s1","run":"r1"}', "has an unknown outcome None"),
        ('{"type":"result","id":"s1","a":"melt","o":"locked","run":"r1"}', "has an unknown action 'melt'"),
        ('{"type":"result","id":"s1","a":"lo\\u00e9ck","o":"locked","run":"r1"}', "has an unknown action 'loéck'"),
        ('{"type":"result","id":"s1","a":true,"o":"locked","run":"r1"}', "has an unknown action True"),
        ('{"type":"result","id":"s1","a":null,"o":"locked","run":"r1"}', "has an unknown action None"),
        ('{"type":"result","id":"s1","o":["locked"],"run":"r1"}', "has an unknown outcome ['locked']"),
        ('{"type":"result","id":"s1","o":"locked","run":"nobody"}', "belongs to no run started before it"),
    ],
)
def test_a_bad_format_3_result_line_is_refused_in_the_same_sentence_every_way(
    tmp_path: Path, line: str, sentence: str
) -> None:
    path = _format_3_file(tmp_path, line)
    assert by_column(path) is None
    fast, slow, plain = errors_every_way(path)
    assert fast == slow == plain and f"line 4 {sentence}" in fast, (fast, slow, plain)


@pytest.mark.parametrize(
    "line",
    [
        '{"type":"result","id":"s1","o":"locked","run":"r1"}',  # every other field its run's or None
        '{"type":"result","id":"s1","a":"unlock","o":"locked","v":"2.0","run":"r1"}',  # not the run's values
        '{"type":"result","id":"s1","o":"locked","t0":-1,"ta":0,"run":"r1"}',
        '{"type":"result","id":"s1","o":"locked","t1":1,"ts":-9000000000000000000,"run":"r1"}',
        '{"type":"result","id":"s1","o":"locked","finished_at":1.5,"started_ns":7,"run":"r1"}',  # keys it has not
        '{"type":"result","server_id":"s1","action":"lock","outcome":"locked","run":"r1"}',  # a whole record
    ],
)
def test_format_3_lines_that_read_the_same_every_way(tmp_path: Path, line: str) -> None:
    frame = assert_same_every_way(_format_3_file(tmp_path, line))
    row = frame[frame.server_id == "s1"].iloc[0]
    assert row.outcome == "locked"


def test_a_compact_result_line_in_a_format_2_journal_is_refused_as_before(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "j.jsonl"
    write_format_2(monkeypatch)
    every_kind_of_row(path, finish=True)
    lines = path.read_text().split("\n")
    path.write_text("\n".join([*lines[:3], '{"type":"result","id":"s1","o":"locked","run":"r1"}', *lines[3:]]))
    fast, slow, plain = errors_every_way(path)
    assert fast == slow == plain and "line 4 has an unknown outcome None" in fast  # no "outcome": format 2's


def history_every_way(folder: Path, patch: pytest.MonkeyPatch) -> list[pd.DataFrame]:
    """`history()` of the folder read by column (a one-run file), then line by line."""
    frames = []
    for by_columns in (True, False):
        with patch.context() as inner:
            if not by_columns:
                inner.setattr(journal_reader, "_whole_file_columns", lambda file, data, run_id=None: None)
            with warnings.catch_warnings():
                warnings.simplefilter("error", JournalWarning)  # a killed run's torn line is not warned of
                frames.append(scp_widgets.history(folder))
    return frames


@pytest.mark.parametrize("stopped", [False, True])
def test_history_of_a_killed_run_is_the_same_by_column(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, stopped: bool
) -> None:
    path = tmp_path / "j.jsonl"
    every_kind_of_row(path)
    lines = [line for line in path.read_text().split("\n") if "\\" not in line]
    if stopped:
        lines[0] = lines[0].rstrip()[:-1] + ',"stopped":{"reason":"disk full","after":7}}'
    path.write_text("\n".join(lines) + '{"type":"result","id":"00000000-0')  # killed mid-line
    assert by_column(path) is not None
    fast, slow = history_every_way(tmp_path, monkeypatch)
    pd.testing.assert_frame_equal(fast, slow)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", JournalWarning)
        attrs = scp_widgets.read_journal(path).attrs
    row: Any = fast.iloc[0]
    assert not row.complete and row.sent == attrs["counts"]["sent"] and row.accepted == attrs["counts"]["accepted"]
    assert row.never_sent == len(attrs["never_sent"]) == (0 if stopped else 4)
