"""Reading a single-run journal by column (issue 21) gives what reading it line by line gives, and what
reading every line with json gives: the same frame, attrs, warnings and error sentences. Files crafted to
almost match the writer's shape must not be taken by column: the line-by-line reading says what is wrong."""

from __future__ import annotations

import warnings
from pathlib import Path

import pandas as pd
import pytest

import scp_widgets
from scp_widgets.client.errors import JournalError, ScpUsageError
from scp_widgets.engine import journal_lines, journal_reader
from scp_widgets.engine.journal import JournalWarning
from tests.engine.test_journal_read_fast import BAD_PER_SERVER_LINES, NEVER, every_kind_of_row

WAYS = ("by column", "line by line", "json only")


def _way(patch: pytest.MonkeyPatch, way: str) -> None:
    if way != "by column":
        patch.setattr(journal_reader, "_whole_file_frame", lambda file, data, run_id=None: None)
    if way == "json only":
        for name in ("SENT", "ACCEPTED", "RESULT"):
            patch.setattr(journal_lines, name, NEVER)


def read_every_way(path: Path, run_id: str | None = None) -> list[tuple[pd.DataFrame, list[str]]]:
    read = []
    for way in WAYS:
        with pytest.MonkeyPatch.context() as patch, warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            _way(patch, way)
            frame = scp_widgets.read_journal(path, run_id)
        read.append((frame, [str(w.message) for w in caught if issubclass(w.category, JournalWarning)]))
    return read


def assert_same_every_way(path: Path, run_id: str | None = None) -> pd.DataFrame:
    (first, said), *others = read_every_way(path, run_id)
    for frame, also_said in others:
        pd.testing.assert_frame_equal(first, frame, check_exact=True)
        assert first.attrs == frame.attrs and said == also_said
    return first


def errors_every_way(path: Path) -> list[str]:
    sentences = []
    for way in WAYS:
        with pytest.MonkeyPatch.context() as patch, warnings.catch_warnings():
            warnings.simplefilter("ignore", JournalWarning)
            _way(patch, way)
            with pytest.raises(JournalError) as caught:
                scp_widgets.read_journal(path)
        sentences.append(str(caught.value))
    return sentences


def by_column(path: Path) -> pd.DataFrame | None:
    """What the column reading makes of the file (None: it leaves it to the line-by-line reading), and
    that it said nothing when it left it."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        frame = journal_reader._whole_file_frame(path, path.read_bytes())
    assert frame is not None or not caught
    return frame


def test_a_writers_file_is_read_by_column_the_same(tmp_path: Path) -> None:
    path = tmp_path / "j.jsonl"
    every_kind_of_row(path, finish=True)
    text = path.read_text()
    plain = tmp_path / "plain.jsonl"  # without the line json had to read (escapes): every line in shape
    plain.write_text("\n".join(line for line in text.split("\n") if "\\" not in line))
    assert by_column(plain) is not None
    frame = assert_same_every_way(plain)
    assert frame.attrs["complete"] and frame.server_id.iloc[-1] == "extra-id"
    assert frame.outcome.iloc[0] == "server_error"  # a server's last result, in its first place
    assert set(frame.outcome.astype(str)) >= {"sent", "accepted", "locked", "cancelled"}
    pd.testing.assert_frame_equal(assert_same_every_way(plain, "r1"), frame)  # the file's run, by its id
    with pytest.raises(ScpUsageError, match="has no run 'r2'; it holds r1"):
        scp_widgets.read_journal(plain, "r2")
    assert by_column(path) is None  # an escaped message: json reads that line, so all of them are
    assert_same_every_way(path)


def test_a_killed_run_is_read_by_column_the_same(tmp_path: Path) -> None:
    path = tmp_path / "j.jsonl"
    every_kind_of_row(path)
    lines = [line for line in path.read_text().split("\n") if "\\" not in line]
    for tail in ('{"type":"result","server_id":"00000000-0000-4000-8000-0000', '{"type":"sent","id":"0', '{"typ'):
        path.write_text("\n".join(lines) + tail)
        assert by_column(path) is not None
        frame = assert_same_every_way(path)
        assert not frame.attrs["complete"] and set(frame.outcome.astype(str)) >= {"sent", "accepted"}
        assert frame.attrs["never_sent"] and frame.attrs["missing"]
    path.write_bytes(("\n".join(lines) + '{"type":"result","server_id":"é').encode()[:-1])  # half a character
    assert by_column(path) is None
    assert_same_every_way(path)


@pytest.mark.parametrize(
    "extra",
    [
        "\n\n   \n",  # blank lines
        "\x00\x00\x00\n",  # debris a crash left: torn
        '{"type":"end","finished_at":"x","counts":{},"summary":"done"}\n',  # the footer, without its run
        '{"type":"end","finished_at":"x","counts":{},"summary":"done","run":"r1"}\n{"type":"end","n":2}\n',
        '{"type":"result","server_id":"s9","action":"lock","outcome":"locked"',  # torn in the middle
        '{"type": "sent", "id": "s9", "at": 1.5, "run": "r1"}\n',  # json's own spacing: json reads it
        '{"type":"sent","id":"s9","at":1.5,"run":"r1"}\r\n',  # a carriage return: json reads it
        '{"type":"sent","id":"s9","at":1.5,"run":"r1"}    \n',
        '{"type":"accepted","id":"s9","http_status":null,"attempts":null,"request_id":"","at":2.5,"run":"r1"}\n',
        '{"type":"result","server_id":"s9","action":"unlock","outcome":"unlocked","http_status":null,"locked":null,'
        '"attempts":0,"error_code":"","message":"","request_id":null,"api_version":null,"endpoint":null,'
        '"started_at":null,"finished_at":null,"sent_at":null,"answered_at":null,"run":"r1"}\n',
        '{"type":"result","server_id":"s9","action":"lock","outcome":"locked","http_status":-3,"locked":false,'
        '"attempts":123456789012345678,"error_code":null,"message":null,"request_id":null,"api_version":null,'
        '"endpoint":null,"started_at":-0.5e-3,"finished_at":1.0E+2,"sent_at":0.0,"answered_at":null,"run":"r1"}\n',
        '{"type":"sent","id":"","at":1.5,"run":"r1"}\n',
        '{"type":"sent","id":"s9","at":1.5,"run":"r1"}\x00\n',  # no closing brace last: torn
    ],
)
def test_lines_that_read_the_same_every_way(tmp_path: Path, extra: str) -> None:
    path = tmp_path / "j.jsonl"
    every_kind_of_row(path)
    lines = [line for line in path.read_text().split("\n") if "\\" not in line]
    path.write_text("\n".join(lines[:5]) + "\n" + extra + ("" if extra.endswith("\n") else "\n") + "\n".join(lines[5:]))
    assert_same_every_way(path)


def test_a_header_after_its_first_line_or_another_run_is_read_line_by_line(tmp_path: Path) -> None:
    path = tmp_path / "j.jsonl"
    every_kind_of_row(path, "r1", finish=True)
    lines = [line for line in path.read_text().split("\n") if "\\" not in line]
    path.write_text("\n" + "\n".join(lines))  # a blank first line
    assert by_column(path) is None
    assert_same_every_way(path)
    path.write_text("\n".join(lines) + "\n" + "\n".join(line.replace('"r1"', '"r2"') for line in lines))
    assert by_column(path) is None
    assert_same_every_way(path)


@pytest.mark.parametrize(
    "bad",
    [
        *BAD_PER_SERVER_LINES,
        # an action no run writes: refused with its sentence (it was a NaN action, and a pandas warning one way)
        '{"type":"result","server_id":"s9","action":"melt","outcome":"locked","http_status":null,"locked":null,'
        '"attempts":0,"error_code":null,"message":null,"request_id":null,"api_version":null,"endpoint":null,'
        '"started_at":null,"finished_at":null,"sent_at":null,"answered_at":null,"run":"r1"}',
        '{"type":"result","server_id":"s1","action":"lock","outcome":"\\"locked\\"","http_status":null,'
        '"locked":null,"attempts":0,"error_code":null,"message":null,"request_id":null,"api_version":null,'
        '"endpoint":null,"started_at":null,"finished_at":null,"sent_at":null,"answered_at":null,"run":"r1"}',
        '{"type":"end","finished_at":"x","run":"nobody"}',
        # almost in shape
        '{"type":"sent","id":"s1","at":1.5,"run":"r1"} {"type":"sent","id":"s2","at":1.5,"run":"r1"}',
        '[{"type":"sent","id":"s1","at":1.5,"run":"r1"}]',
        '{"type":"stopped","id":"s1","at":1.5,"run":"r1"}',
        '{"type":"run","format":99,"run_id":"r1","run":"r1"}',
        '{"type":"run","format":2,"run_id":"r1","ids":[1],"run":"r1"}',
        '"just a string"',
        "not json at all",
    ],
)
def test_a_bad_line_is_refused_in_the_same_sentence_every_way(tmp_path: Path, bad: str) -> None:
    path = tmp_path / "j.jsonl"
    every_kind_of_row(path, finish=True)
    lines = [line for line in path.read_text().split("\n") if "\\" not in line]
    for where in (3, len(lines) - 2, len(lines)):
        path.write_text("\n".join([*lines[:where], bad, *lines[where:]]))
        assert by_column(path) is None, bad
        fast, slow, plain = errors_every_way(path)
        assert fast == slow == plain and f"line {where + 1}" in fast, (fast, slow, plain)


def test_a_line_before_the_header_is_refused_every_way(tmp_path: Path) -> None:
    path = tmp_path / "j.jsonl"
    every_kind_of_row(path, finish=True)
    lines = [line for line in path.read_text().split("\n") if "\\" not in line]
    for first in ('{"type":"sent","id":"s1","at":1.5,"run":"r1"}', '{"type":"end","finished_at":"x"}'):
        path.write_text("\n".join([first, *lines]))
        assert by_column(path) is None
        fast, slow, plain = errors_every_way(path)
        assert fast == slow == plain and "line 1 belongs to no run started before it" in fast


def test_a_stopped_journal_is_read_by_column_the_same(tmp_path: Path) -> None:
    path = tmp_path / "j.jsonl"
    every_kind_of_row(path)
    lines = [line for line in path.read_text().split("\n") if "\\" not in line]
    header = lines[0].rstrip()
    assert header.endswith("}")
    lines[0] = header[:-1] + ',"stopped":{"reason":"disk full","after":7}}'
    path.write_text("\n".join(lines[:9]) + "\n")
    assert by_column(path) is not None
    frame = assert_same_every_way(path)
    assert frame.attrs["journal_error"] == "disk full" and frame.attrs["unrecorded"]
    assert frame.attrs["never_sent"] == []
