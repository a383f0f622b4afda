"""`--chart` on the magics, in a real IPython shell against the emulator: the picture is displayed once the cell
has run (below the table the cell returns), carries the frame's rows and nothing secret, and only when asked."""

from __future__ import annotations

import json
from typing import Any

import pytest
from emulator_helpers import unlocked
from IPython.core.interactiveshell import InteractiveShell
from IPython.utils.capture import capture_output
from widget_helpers import rows_in

from scp_widgets.emulator import DEMO_ACCESS_KEY, DEMO_SECRET_KEY, Emulator, EmulatorServer
from scp_widgets.views.charts import VEGALITE_MIME


def charts_in(captured: Any) -> list[dict[str, Any]]:
    return [o.data[VEGALITE_MIME] for o in captured.outputs if VEGALITE_MIME in o.data]


def assert_nothing_secret(spec: dict[str, Any], endpoint: str) -> None:
    text = json.dumps(spec)
    assert DEMO_SECRET_KEY not in text and DEMO_ACCESS_KEY not in text and endpoint not in text


def test_lock_chart_shows_the_runs_timeline_one_point_per_row(
    ip: InteractiveShell, emulator: Emulator, live_emulator: EmulatorServer
) -> None:
    ids = unlocked(emulator, 6)
    with capture_output() as captured:
        ip.run_cell(f"%scp_lock --chart --quiet -o result {' '.join(ids)}")
    (spec,) = charts_in(captured)
    assert [r["server_id"] for r in rows_in(spec)] == ids == list(ip.user_ns["result"]["server_id"])
    assert {r["outcome"] for r in rows_in(spec)} == {"locked"}
    assert_nothing_secret(spec, live_emulator.url)


def test_without_chart_no_picture(ip: InteractiveShell, emulator: Emulator) -> None:
    with capture_output() as captured:
        ip.run_cell(f"%scp_lock --quiet {unlocked(emulator, 1)[0]}")
        ip.run_cell("%scp_servers --quiet")
    assert charts_in(captured) == []


def test_the_chart_waits_for_the_end_of_the_cell(ip: InteractiveShell, emulator: Emulator) -> None:
    """Shown after the cell's value, the table: not while the magic runs, but once its cell is done."""
    with capture_output() as captured:
        ip.run_line_magic("scp_lock", "--chart --quiet " + " ".join(unlocked(emulator, 2)))
        assert charts_in(captured) == []  # no cell has finished yet
        ip.run_cell("pass")
    assert len(charts_in(captured)) == 1
    with capture_output() as later:
        ip.run_cell("pass")
    assert charts_in(later) == []  # shown once


def test_servers_chart_counts_servers_per_state_and_lock(ip: InteractiveShell, live_emulator: EmulatorServer) -> None:
    with capture_output() as captured:
        ip.run_cell("%scp_servers --chart --quiet -o servers")
    (spec,) = charts_in(captured)
    servers = ip.user_ns["servers"]
    counted = {(r["state"], r["status"]): r["servers"] for r in rows_in(spec)}
    status = servers["locked"].map({True: "locked", False: "unlocked"})
    assert counted == servers.assign(status=status).groupby(["state", "status"]).size().to_dict()
    assert_nothing_secret(spec, live_emulator.url)


def test_history_chart_draws_each_run_by_outcome(ip: InteractiveShell, emulator: Emulator) -> None:
    ip.run_cell(f"%scp_lock --quiet {' '.join(unlocked(emulator, 3))}")
    ip.run_cell(f"%scp_lock --quiet {' '.join(unlocked(emulator, 2))} 00000000-0000-4000-8000-000000000000")
    with capture_output() as captured:
        ip.run_cell("%scp_history --chart --quiet -o runs")
    (spec,) = charts_in(captured)
    rows = rows_in(spec)
    assert {r["run_id"] for r in rows} == set(ip.user_ns["runs"]["run_id"])
    assert sorted((r["outcome"], r["servers"]) for r in rows) == [("locked", 2), ("locked", 3), ("not_found", 1)]


def test_an_empty_frame_draws_nothing_and_says_why(ip: InteractiveShell) -> None:
    with capture_output() as captured:
        ip.run_cell("%scp_servers --chart --quiet --name no-such-server-anywhere")
    assert charts_in(captured) == []
    assert "--chart: no server was listed, so there is no coverage to draw." in captured.stderr


def test_a_run_that_sent_nothing_draws_no_timeline_and_says_why(ip: InteractiveShell, emulator: Emulator) -> None:
    # invalid ids only: it drew an empty timeline, as if a run had done nothing (the UI review)
    with capture_output() as captured:
        ip.run_cell("%scp_lock --chart --quiet -o bad not-an-id also-not-one")
        ip.run_cell("pass")
    assert charts_in(captured) == []
    assert "--chart: nothing was sent, so there is no timeline to draw." in captured.stderr
    assert set(ip.user_ns["bad"]["outcome"].astype(str)) == {"invalid_id"}


def test_a_dry_run_draws_no_timeline_and_says_why(ip: InteractiveShell, emulator: Emulator) -> None:
    """A dry run sends nothing: an empty timeline would look like a run that did nothing, so one sentence."""
    with capture_output() as captured:
        ip.run_cell(f"%scp_lock --dry-run --chart --quiet -o plan {unlocked(emulator, 2)[0]}")
        ip.run_cell("pass")
    assert charts_in(captured) == []
    assert "a dry run sends nothing, so it has no timeline to draw" in captured.stderr
    assert list(ip.user_ns["plan"]["outcome"].astype(str)) == ["planned"]


def test_a_rerun_of_a_dry_run_draws_no_timeline_either(ip: InteractiveShell, emulator: Emulator) -> None:
    """A rerun takes its frame's settings, so --retry-failed of a dry run's frame is a dry run again."""
    missing = "00000000-0000-4000-8000-000000000001"  # not_found: a failed row to rerun
    ip.run_cell(f"%scp_lock --dry-run --quiet -o plan {unlocked(emulator, 1)[0]} {missing}")
    with capture_output() as captured:
        ip.run_cell("%scp_lock --retry-failed plan --chart --quiet -o again")
        ip.run_cell("pass")
    assert ip.user_ns["again"].attrs["dry_run"] is True
    assert charts_in(captured) == []
    assert "a dry run sends nothing, so it has no timeline to draw" in captured.stderr


def test_unloading_drops_a_chart_not_shown_yet(ip: InteractiveShell, emulator: Emulator) -> None:
    ip.run_line_magic("scp_lock", f"--chart --quiet {unlocked(emulator, 1)[0]}")
    ip.run_line_magic("unload_ext", "scp_widgets")
    ip.run_line_magic("load_ext", "scp_widgets")
    with capture_output() as captured:
        ip.run_cell("pass")
    assert charts_in(captured) == []


@pytest.mark.parametrize("magic", ["scp_lock", "scp_unlock", "scp_servers", "scp_history"])
def test_help_names_the_chart_option(ip: InteractiveShell, magic: str) -> None:
    doc = ip.find_line_magic(magic).__doc__ or ""
    assert "--chart" in doc
