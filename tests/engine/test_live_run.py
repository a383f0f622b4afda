"""A run still going is not a run that died (found by the UI review): `history()` listed a live run exactly
like a crashed one ("did not finish: 16 sent or done, 284 never sent", red), and the documented recovery,
`resume_cancelled(read_journal(path))`, then sent every never-sent id a second time while the run sent them.
The writer holds its journal's lock until it ends (or its process dies): that is what tells the two apart.
"""

from __future__ import annotations

import threading
import warnings
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from journal_helpers import HeldTransport

import scp_widgets
from scp_widgets.client.errors import ScpUsageError
from scp_widgets.emulator import Emulator
from scp_widgets.engine.journal import held_by_a_live_run
from scp_widgets.panel.history import outcome_level
from scp_widgets.views.history_view import history_text

WAIT = 60


def test_a_live_run_reads_as_running_and_cannot_be_resumed_until_it_ends(
    tmp_path: Path, emulator: Emulator, emu_options: dict[str, Any]
) -> None:
    path = tmp_path / "live.jsonl"
    ids = [i for i in emulator.own_ids if not emulator.server(i)["locked"]][:40]
    held = HeldTransport(emulator.transport())
    done: list[pd.DataFrame] = []
    options = {**emu_options, "transport": held, "concurrency": 4}
    runner = threading.Thread(target=lambda: done.append(scp_widgets.lock(ids, journal=path, **options)))
    runner.start()
    try:
        assert held.held.wait(WAIT)  # the run has sent its first requests and holds them
        assert held_by_a_live_run(path)
        row = scp_widgets.history(tmp_path).iloc[0]
        assert bool(row.running) and not bool(row.complete)
        assert str(row.summary).startswith("running: ") and "not yet sent" in str(row.summary)
        assert outcome_level(row) == "warn" and "did not finish" not in history_text(scp_widgets.history(tmp_path))
        with warnings.catch_warnings():  # a live run's last line may be half written (a torn-line warning)
            warnings.simplefilter("ignore", scp_widgets.JournalWarning)
            frame = scp_widgets.read_journal(path)
        assert frame.attrs["complete"] is False and frame.attrs["never_sent"] and frame.attrs["running"] is True
        assert frame.attrs["summary"].endswith("not yet sent; the run is still going")
        posted_before = sum(1 for r in emulator.record if r.method == "POST")
        for rerun in (scp_widgets.resume_cancelled, scp_widgets.retry_failed):
            with pytest.raises(ScpUsageError, match=r"^This frame is from a run that is still going"):
                rerun(frame, **emu_options)
        assert sum(1 for r in emulator.record if r.method == "POST") == posted_before
    finally:
        held.gate.set()
        runner.join(WAIT)
    assert set(done[0]["outcome"].astype(str)) == {"locked"}
    assert not held_by_a_live_run(path)
    row = scp_widgets.history(tmp_path).iloc[0]
    assert bool(row.complete) and not bool(row.running) and str(row.summary).startswith("40 locked")
    assert scp_widgets.read_journal(path).attrs["running"] is False


def test_a_dead_run_is_not_running_and_resumes(tmp_path: Path, emulator: Emulator, emu_options: dict[str, Any]) -> None:
    from scp_widgets.engine.journal import Journal

    ids = [i for i in emulator.own_ids if not emulator.server(i)["locked"]][:3]
    path = tmp_path / "dead.jsonl"
    journal = Journal.open(
        path, {"run_id": "deadbeef0001", "action": "lock", "ids": ids, "started_at": "2026-12-04T10:00:00+00:00"}
    )
    journal.close()  # its process "died": no end line, and nobody holds the file
    row = scp_widgets.history(tmp_path).iloc[0]
    assert not bool(row.running) and str(row.summary) == "did not finish: 0 sent or done, 3 never sent"
    assert outcome_level(row) == "error"
    dead = scp_widgets.read_journal(path)
    assert dead.attrs["running"] is False and dead.attrs["summary"].endswith("the run did not finish")
    resumed = scp_widgets.resume_cancelled(scp_widgets.read_journal(path), **emu_options)
    assert list(resumed["server_id"]) == ids and set(resumed["outcome"].astype(str)) == {"locked"}
