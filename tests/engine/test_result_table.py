"""The run's compact result table: the same frame as `to_frame`, and no object kept per finished row."""

from __future__ import annotations

import gc
import random

import pandas as pd
import pytest

from scp_widgets.engine.result_table import ResultTable
from scp_widgets.engine.results import (
    NOT_SENT_CODE,
    Outcome,
    ServerResult,
    count_not_sent,
    count_outcomes,
    to_frame,
)


def varied_results(n: int, seed: int = 3) -> list[ServerResult]:
    """Every outcome, every kind of missing value, statuses, attempts and times (some never sent)."""
    rng = random.Random(seed)
    outcomes = list(Outcome)
    results = []
    for i in range(n):
        outcome = outcomes[i % len(outcomes)]
        sent = rng.random() > 0.2
        start = 1_790_000_000 + rng.random() * 100
        results.append(
            ServerResult(
                f"{i:08x}-0000-4000-8000-{rng.getrandbits(48):012x}", "unlock" if i % 3 == 0 else "lock", outcome,
                http_status=rng.choice([None, 202, 404, 429, 503]), locked=rng.choice([None, True, False]),
                attempts=rng.randint(0, 7), error_code=rng.choice([None, "NOT_FOUND", NOT_SENT_CODE]),
                message=rng.choice([None, "server not found in this account", "ünïcode ✓"]),
                request_id=rng.choice([None, f"req-{i}"]), api_version=rng.choice([None, "1.3"]),
                endpoint=rng.choice([None, "http://127.0.0.1:1"]), started_at=start if i % 7 else None,
                finished_at=start + rng.random(), sent_at=start + 0.001 if sent else None,
                answered_at=start + 0.2 if sent and i % 5 else None,
            )
        )  # fmt: skip
    return results


def filed(results: list[ServerResult]) -> ResultTable:
    table = ResultTable(len(results))
    order = list(range(len(results)))
    random.Random(1).shuffle(order)  # rows finish in any order
    for index in order:
        table.put(index, results[index])
    return table


def test_the_frame_is_to_frames_frame() -> None:
    results = varied_results(400)
    attrs = {"action": "lock", "summary": "x"}
    table = filed(results)
    got = table.frame(attrs)
    pd.testing.assert_frame_equal(got, to_frame(results, attrs))
    pd.testing.assert_frame_equal(table.frame(attrs), got)  # and again: the table is still whole
    assert got.attrs == attrs


def test_rows_read_back_as_the_results_filed() -> None:
    results = varied_results(120)
    table = filed(results)
    assert list(table) == results
    assert table[-1] == results[-1] and table[10:13] == results[10:13]
    assert table.counts() == count_outcomes(r.outcome for r in results)
    assert table.not_sent() == count_not_sent(r.error_code for r in results) > 0


def test_an_unfinished_table_says_so() -> None:
    table = ResultTable(3)
    table.put(1, varied_results(2)[1])
    assert not table.complete and table.filled(1) and not table.filled(0)
    with pytest.raises(LookupError, match="row 0 has no result yet"):
        table[0]
    with pytest.raises(LookupError, match="2 rows have no result yet"):
        table.frame()
    with pytest.raises(IndexError):
        table[3]
    assert table.counts() == {str(Outcome.UNLOCKED): 1}


def test_filing_keeps_no_object_per_row() -> None:
    """What the table is for: at 50,000 servers every finished row was an object each full garbage
    collection walked with the GIL held. Filed rows must leave nothing for it to walk."""
    results = varied_results(20_000)
    table = ResultTable(len(results))
    gc.collect()
    before = len(gc.get_objects())
    for index in range(len(results)):
        table.put(index, results[index])
    results.clear()
    gc.collect()
    assert len(gc.get_objects()) - before < 100


def test_an_empty_run_makes_an_empty_frame() -> None:
    pd.testing.assert_frame_equal(ResultTable(0).frame(), to_frame([]))


def test_a_released_table_gives_the_same_frame_and_keeps_nothing() -> None:
    results = varied_results(300)
    table = filed(results)
    pd.testing.assert_frame_equal(table.frame({"a": 1}, release=True), to_frame(results, {"a": 1}))
    assert len(table) == 0 and list(table) == []
