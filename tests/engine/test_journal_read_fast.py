"""Reading a journal back fast (issue 21) gives what reading every line with json gives: the same frame, attrs,
warnings and error sentences. The per-server lines in the writer's exact shape are taken apart by patterns;
these tests read the same files with the patterns off (every line through json) and compare."""

from __future__ import annotations

import json
import re
import warnings
from pathlib import Path

import pandas as pd
import pytest

import scp_widgets
from scp_widgets.client.errors import JournalError
from scp_widgets.engine import journal_lines
from scp_widgets.engine.journal import Journal, JournalWarning
from scp_widgets.engine.journal_reader import read_runs
from scp_widgets.engine.results import Outcome, ServerResult, frame_from_rows, to_frame

NEVER = re.compile("(?!)")

#: Per-server lines refused however they are read (their shape, or what is in it).
BAD_PER_SERVER_LINES = [
    '{"type":"result","server_id":"s1","action":"lock","outcome":"melted","http_status":null,"locked":null,'
    '"attempts":0,"error_code":null,"message":null,"request_id":null,"api_version":null,"endpoint":null,'
    '"started_at":null,"finished_at":null,"sent_at":null,"answered_at":null,"run":"r1"}',
    '{"type":"result","server_id":"s1","action":"lock","outcome":null,"http_status":null,"locked":null,'
    '"attempts":0,"error_code":null,"message":null,"request_id":null,"api_version":null,"endpoint":null,'
    '"started_at":null,"finished_at":null,"sent_at":null,"answered_at":null,"run":"r1"}',
    '{"type":"result","server_id":"s1","action":"lock","outcome":"locked","http_status":null,"locked":null,'
    '"attempts":0,"error_code":null,"message":null,"request_id":null,"api_version":null,"endpoint":null,'
    '"started_at":null,"finished_at":null,"sent_at":null,"answered_at":null,"run":"nobody"}',
    '{"type":"sent","id":"s1","at":1.5,"run":"nobody"}',
    '{"type":"accepted","id":"s1","http_status":202,"attempts":1,"request_id":null,"at":1.5,"run":"nobody"}',
    '{"type":"sent","id":"s1","at":1.5,"run":"r1"}}',
    '{"type":"sent","id":"s1","at":01.5,"run":"r1"}',
    '{"type":"sent","id":"s1\x01","at":1.5,"run":"r1"}',
    '{"type":"result","server_id":"s1","action":"lock","outcome":"locked","http_status":null,"locked":null,'
    '"attempts":"many","error_code":null,"message":null,"request_id":null,"api_version":null,"endpoint":null,'
    '"started_at":null,"finished_at":null,"sent_at":null,"answered_at":null,"run":"r1"}',
]


def ids(n: int) -> list[str]:
    return [f"00000000-0000-4000-8000-{i:012d}" for i in range(n)]


def read_both(path: Path, run_id: str | None = None) -> tuple[pd.DataFrame, pd.DataFrame, list[str], list[str]]:
    """The frame and warnings read fast, then with every line through json."""
    frames, said = [], []
    for fast in (True, False):
        with pytest.MonkeyPatch.context() as patch, warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            if not fast:
                for name in ("SENT", "ACCEPTED", "RESULT"):
                    patch.setattr(journal_lines, name, NEVER)
            frames.append(scp_widgets.read_journal(path, run_id))
        said.append([str(w.message) for w in caught if issubclass(w.category, JournalWarning)])
    return frames[0], frames[1], said[0], said[1]


def error_both(path: Path) -> tuple[str, str]:
    sentences = []
    for fast in (True, False):
        with pytest.MonkeyPatch.context() as patch:
            if not fast:
                for name in ("SENT", "ACCEPTED", "RESULT"):
                    patch.setattr(journal_lines, name, NEVER)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", JournalWarning)
                with pytest.raises(JournalError) as caught:
                    scp_widgets.read_journal(path)
        sentences.append(str(caught.value))
    return sentences[0], sentences[1]


def every_kind_of_row(path: Path, run_id: str = "r1", *, finish: bool = False) -> list[str]:
    """A run with every outcome, None fields, escaped text, in-doubt rows, a duplicate and an extra result."""
    servers = ids(len(Outcome) + 8)
    header = {"run_id": run_id, "action": "lock", "api_version": "1.3", "endpoint": "http://x", "ids": servers}
    journal = Journal.open(path, header)
    t = 1_796_000_000.123456
    for n, outcome in enumerate(Outcome):
        server_id = servers[n]
        journal.sent(server_id)
        row = ServerResult(
            server_id, "lock", outcome, http_status=200 + n, locked=[True, False, None][n % 3], attempts=n % 4,
            error_code=None if n % 2 else f"E{n}", message=None if n % 3 else f"message {n}",
            request_id=f"q-{n}", api_version="1.3", endpoint="http://x", started_at=t + n, finished_at=t + n + 0.5,
            sent_at=None if n % 5 == 0 else t + n, answered_at=None if n % 4 == 0 else t + n + 0.25,
        )  # fmt: skip
        journal.accepted(row)
        journal.result(row)
    k = len(Outcome)
    # Text json escapes (quotes, non-ASCII): read through json, in its place among the others
    quoted = ServerResult(servers[k], "lock", Outcome.CONFLICT, http_status=409, message='refused "x" — é\\n')
    journal.sent(servers[k])
    journal.result(quoted)
    journal.sent(servers[k + 1])  # sent, then nothing: in doubt
    accepted = ServerResult(servers[k + 2], "lock", Outcome.LOCKED, http_status=202, attempts=2, request_id="q-a")
    journal.sent(servers[k + 2])
    journal.accepted(accepted)  # accepted, never confirmed
    not_sent = ServerResult(servers[k + 3], "lock", Outcome.NETWORK_ERROR, error_code="NOT_SENT", message="not sent")
    journal.result(not_sent)  # every optional field None
    journal.result(ServerResult("extra-id", "lock", Outcome.LOCKED, attempts=1))  # not among the ids
    journal.result(ServerResult(servers[0], "lock", Outcome.SERVER_ERROR, http_status=503))  # a second word
    if finish:
        journal.end({"finished_at": "2026-12-04T09:00:00+00:00", "counts": {}, "summary": "done"})
    journal.close()
    return servers


def test_the_fast_read_and_the_json_read_give_the_same_frame_and_attrs(tmp_path: Path) -> None:
    path = tmp_path / "j.jsonl"
    every_kind_of_row(path)
    with path.open("a") as file:
        file.write('{"type":"result","server_id":"00000000-0000-4000-8000-0000')  # killed mid-line
    fast, slow, said_fast, said_slow = read_both(path)
    pd.testing.assert_frame_equal(fast, slow)
    assert fast.attrs == slow.attrs
    assert said_fast == said_slow and len(said_fast) == 1 and "was cut short" in said_fast[0]
    assert set(fast.outcome.astype(str)) == {str(o) for o in Outcome}
    assert fast.message[fast.server_id == ids(len(Outcome) + 1)[-1]].iloc[0] == 'refused "x" — é\\n'
    assert fast.server_id.iloc[-1] == "extra-id" and fast.outcome.iloc[0] == "server_error"


def test_runs_sharing_a_file_read_the_same_fast(tmp_path: Path) -> None:
    path = tmp_path / "j.jsonl"
    every_kind_of_row(path, "r1", finish=True)
    every_kind_of_row(path, "r2")
    for run_id in ("r1", "r2", None):
        fast, slow, said_fast, said_slow = read_both(path, run_id)
        pd.testing.assert_frame_equal(fast, slow)
        assert fast.attrs == slow.attrs and said_fast == said_slow


def test_the_frame_of_rows_is_the_frame_of_results(tmp_path: Path) -> None:
    path = tmp_path / "j.jsonl"
    every_kind_of_row(path)
    run = read_runs(path)[-1]
    results = run.rows()
    assert [r.outcome for r in results][:3] == [Outcome.SERVER_ERROR, Outcome.UNLOCKED, Outcome.ALREADY_LOCKED]
    pd.testing.assert_frame_equal(frame_from_rows(run.row_values(), {"a": 1}), to_frame(results, {"a": 1}))
    assert frame_from_rows([], {"a": 1}).attrs == {"a": 1}
    pd.testing.assert_frame_equal(frame_from_rows([]), to_frame([]))


def test_the_writers_lines_take_the_fast_way(tmp_path: Path) -> None:
    path = tmp_path / "j.jsonl"
    every_kind_of_row(path)
    # Format 3's result lines are the compact ones (journal.compact_result), taken apart by column.
    patterns = {"sent": journal_lines.SENT, "accepted": journal_lines.ACCEPTED, "result": journal_lines.RESULT3}
    lines = [json.loads(line) | {"line": line} for line in path.read_text().splitlines()]
    for line in lines:
        if line["type"] in patterns:
            escaped = "\\" in line["line"]
            assert (patterns[line["type"]].fullmatch(line["line"]) is None) == escaped, line["line"]


@pytest.mark.parametrize("line", BAD_PER_SERVER_LINES)
def test_a_bad_per_server_line_is_refused_in_the_same_sentence(tmp_path: Path, line: str) -> None:
    path = tmp_path / "j.jsonl"
    every_kind_of_row(path)
    with path.open("a") as file:
        file.write(line + "\n")
        file.write('{"type":"sent","id":"s2","at":2.5,"run":"r1"}\n')
    fast, slow = error_both(path)
    assert fast == slow and "line " in fast


def test_a_line_before_its_runs_header_belongs_to_no_run_either_way(tmp_path: Path) -> None:
    path = tmp_path / "j.jsonl"
    path.write_text('{"type":"sent","id":"s1","at":1.5,"run":"r1"}\n')
    every_kind_of_row(path)
    fast, slow = error_both(path)
    assert fast == slow and fast.endswith("line 1 belongs to no run started before it: not an scp-widgets journal.")


def test_a_character_cut_in_half_reads_the_other_lines_the_same(tmp_path: Path) -> None:
    path = tmp_path / "j.jsonl"
    every_kind_of_row(path, "r1")
    with path.open("ab") as file:
        file.write('{"type":"result","server_id":"é'.encode()[:-1])  # killed inside a two-byte character
    every_kind_of_row(path, "r2")  # the next run ends the torn line first
    for run_id in ("r1", "r2"):
        fast, slow, said_fast, said_slow = read_both(path, run_id)
        pd.testing.assert_frame_equal(fast, slow)
        assert fast.attrs == slow.attrs and said_fast == said_slow
        assert len(said_fast) == 1 and "was cut short" in said_fast[0]
