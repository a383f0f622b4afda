"""Format 3's result lines read by column in blocks (issue 21): the fields that mostly repeat taken apart once
per distinct text, the request ids unquoted at once, the four times read by numpy when every line has them
all. Each way gives the frame the line-by-line and the json readings give; what they refuse, it leaves to them."""

from __future__ import annotations

from pathlib import Path

import pytest

from scp_widgets.engine import journal_lines
from scp_widgets.engine.journal import Journal, seconds_to_ns
from scp_widgets.engine.journal_columns import ShapedLines, shaped_lines
from scp_widgets.engine.results import RESULT_FIELDS, Outcome, ServerResult
from tests.engine.test_journal_columns import assert_same_every_way, by_column, errors_every_way

T = 1_796_000_000.0
TIMES = [RESULT_FIELDS.index(name) for name in ("started_at", "finished_at", "sent_at", "answered_at")]


def row(k: int, **fields: object) -> ServerResult:
    """A locked server's row, every time set (exact in nanoseconds: quarters of a second)."""
    values: dict[str, object] = {
        "outcome": Outcome.LOCKED, "http_status": 202, "locked": True, "attempts": 1, "request_id": f"q-{k:05d}",
        "api_version": "1.3", "endpoint": "http://x", "started_at": T + k, "finished_at": T + k + 0.5,
        "sent_at": T + k + 0.25, "answered_at": T + k + 0.75,
    }  # fmt: skip
    values.update(fields)
    return ServerResult(f"s{k:05d}", "lock", **values)  # type: ignore[arg-type]


def write(path: Path, rows: list[ServerResult], *, unanswered: int = 0) -> Path:
    """A finished run of `rows`, each sent, accepted and given its result; then `unanswered` more servers
    only sent (the run ended before their answer)."""
    ids = [r.server_id for r in rows] + [f"u{k}" for k in range(unanswered)]
    header = {"run_id": "r1", "action": "lock", "api_version": "1.3", "endpoint": "http://x", "ids": ids}
    with Journal.open(path, header) as journal:
        for result in rows:
            journal.sent(result.server_id)
            journal.accepted(result)
            journal.result(result)
        for k in range(unanswered):
            journal.sent(f"u{k}")
        journal.end({"finished_at": "2026-12-04T09:00:00+00:00", "counts": {}, "summary": "done"})
    assert "\\" not in path.read_text()  # every line in the writer's shape: read by column
    return path


def shaped(path: Path) -> ShapedLines:
    lines = (journal_lines.SENT, journal_lines.ACCEPTED, journal_lines.RESULT3)
    taken = shaped_lines(path.read_text(), lines, "r1")
    assert taken is not None and taken.blocks is not None
    return taken


def test_every_line_with_its_four_times_is_read_by_numpy_the_same(tmp_path: Path) -> None:
    path = write(tmp_path / "j.jsonl", [row(k) for k in range(150)])
    assert all(shaped(path).seconds(i) is not None for i in TIMES)
    frame = assert_same_every_way(path)
    assert by_column(path) is not None
    assert frame.answered_at.iloc[7].timestamp() == T + 7.75 and frame.request_id.iloc[149] == "q-00149"


@pytest.mark.parametrize("ns", ["9223372035999999999", "9223372036000000000", "1000000000000000000"])
def test_times_at_int64s_end_read_the_same(tmp_path: Path, ns: str) -> None:
    path = write(tmp_path / "j.jsonl", [row(k) for k in range(3)])
    text = path.read_text()
    path.write_text(text.replace(str(seconds_to_ns(T + 1.75)), ns))
    assert ns in path.read_text()
    assert by_column(path) is not None
    assert_same_every_way(path)


@pytest.mark.parametrize("ns", ["9223372036854775808", "9999999999999999999"])
def test_a_time_beyond_int64_is_refused_in_the_same_sentence_every_way(tmp_path: Path, ns: str) -> None:
    path = write(tmp_path / "j.jsonl", [row(k) for k in range(3)])
    path.write_text(path.read_text().replace(str(seconds_to_ns(T + 1.75)), ns))
    assert all(shaped(path).seconds(i) is None for i in TIMES)  # numpy leaves it to int(), which overflows
    assert by_column(path) is None
    fast, slow, plain = errors_every_way(path)
    assert fast == slow == plain and "is a corrupt result record" in fast


def test_many_distinct_blocks_and_missing_times_read_the_same(tmp_path: Path) -> None:
    rows = [row(k) for k in range(150)]
    for k in range(0, 150, 3):  # an error's own message, no answer, no request id: the slower ways
        rows[k] = row(k, outcome=Outcome.NETWORK_ERROR, locked=None, http_status=None, error_code="CONNECT",
                      message=f"connection refused ({k})", request_id=None, answered_at=None)  # fmt: skip
    rows[4].request_id = ""  # an empty request id is not a missing one
    rows[5].api_version, rows[6].endpoint = "2.0", None
    path = write(tmp_path / "j.jsonl", rows, unanswered=2)
    assert all(shaped(path).seconds(i) is None for i in TIMES)
    assert by_column(path) is not None
    frame = assert_same_every_way(path)
    assert frame.message.iloc[3] == "connection refused (3)" and frame.request_id.iloc[4] == ""
    assert frame.answered_at.isna().sum() == 50 + 2 and frame.outcome.iloc[-1] == "sent"


def test_unique_request_ids_are_unquoted_at_once_the_same(tmp_path: Path) -> None:
    rows = [row(k, request_id=f"req {k} of a run") for k in range(200)]
    rows[0].request_id = ""
    path = write(tmp_path / "j.jsonl", rows)
    frame = assert_same_every_way(path)
    assert frame.request_id.iloc[0] == "" and frame.request_id.iloc[199] == "req 199 of a run"
