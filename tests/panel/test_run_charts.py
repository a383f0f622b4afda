"""`RunCharts` without a browser: a run's timeline and the fleet's coverage drawn as Vega-Lite specs with the
right rows, hidden while there is nothing to draw, a failing picture reduced to one line, no secret in state."""

from __future__ import annotations

import json
from typing import Any

import pandas as pd
import pytest
from widget_helpers import all_widget_states, rows_in, spec_in

import scp_widgets
from scp_widgets.emulator import DEMO_ACCESS_KEY, DEMO_SECRET_KEY, Emulator
from scp_widgets.panel.run_charts import RunCharts
from scp_widgets.views.charts import VEGALITE_MIME


@pytest.fixture
def servers(emu_options: dict[str, Any]) -> pd.DataFrame:
    return scp_widgets.list_servers(**emu_options)


@pytest.fixture
def result(emu_options: dict[str, Any], servers: pd.DataFrame) -> pd.DataFrame:
    ids = list(servers.loc[servers["locked"] == False, "id"][:9])  # noqa: E712
    return scp_widgets.lock(ids, **emu_options)


def test_a_new_box_is_hidden_with_nothing_drawn() -> None:
    charts = RunCharts()
    assert charts.hidden
    assert charts.timeline_output.outputs == () and charts.coverage_output.outputs == ()
    assert charts.timeline_box.layout.display == "none" and charts.coverage_box.layout.display == "none"


def test_show_run_draws_one_point_per_row_of_the_run(result: pd.DataFrame) -> None:
    charts = RunCharts()
    assert charts.show_run(result)
    assert not charts.hidden and charts.timeline_box.layout.display is None
    assert charts.coverage_box.layout.display == "none"  # only what was drawn shows
    rows = rows_in(spec_in(charts.timeline_output))
    assert [r["server_id"] for r in rows] == list(result["server_id"])
    assert charts.show_run(result.iloc[:4])  # a second run replaces the first
    assert len(charts.timeline_output.outputs) == 1
    assert [r["server_id"] for r in rows_in(spec_in(charts.timeline_output))] == list(result["server_id"][:4])


def test_show_coverage_counts_servers_per_state_and_lock(servers: pd.DataFrame, emulator: Emulator) -> None:
    charts = RunCharts()
    assert charts.show_coverage(servers)
    rows = rows_in(spec_in(charts.coverage_output))
    counted = {(r["state"], r["status"]): r["servers"] for r in rows}
    expected = (
        servers.assign(status=servers["locked"].map({True: "locked", False: "unlocked"}))
        .groupby(["state", "status"])
        .size()
        .to_dict()
    )
    assert counted == expected
    assert sum(counted.values()) == len(emulator.own_ids)


def test_empty_frames_hide_what_they_replace(result: pd.DataFrame, servers: pd.DataFrame) -> None:
    charts = RunCharts()
    charts.show_run(result)
    charts.show_coverage(servers)
    assert not charts.show_run(result.iloc[:0])
    assert charts.timeline_box.layout.display == "none" and charts.timeline_output.outputs == ()
    assert not charts.hidden  # the coverage still shows
    assert not charts.show_coverage(None)
    assert charts.hidden
    charts.show_run(result)
    charts.clear()
    assert charts.hidden and charts.timeline_output.outputs == ()


def test_a_chart_that_fails_leaves_one_line_and_no_exception(servers: pd.DataFrame) -> None:
    charts = RunCharts()
    assert not charts.show_run(servers)  # a listing is not a run: the timeline cannot be drawn from it
    assert "Could not draw the run's timeline" in charts.error.value
    assert not charts.hidden  # the line is visible
    assert charts.show_coverage(servers)
    assert charts.error.value == ""  # a picture drawn clears the old complaint


def test_no_secret_or_endpoint_in_the_widget_state(result: pd.DataFrame, servers: pd.DataFrame) -> None:
    charts = RunCharts()
    charts.show_run(result)
    charts.show_coverage(servers)
    text = json.dumps(all_widget_states(charts), default=str)
    assert VEGALITE_MIME in text
    assert DEMO_SECRET_KEY not in text and DEMO_ACCESS_KEY not in text
    assert str(result.attrs["endpoint"]) not in text


def test_the_panel_draws_the_fleets_coverage_and_each_runs_timeline_under_its_table(
    emu_options: dict[str, Any], emulator: Emulator
) -> None:
    from scp_widgets.panel.lock_panel import LockPanel

    panel = LockPanel(**emu_options)
    panel.wait(60)
    charts = panel.results_area.charts
    coverage = rows_in(spec_in(charts.coverage_output))
    assert sum(r["servers"] for r in coverage) == len(emulator.own_ids) and charts.timeline_box.layout.display == "none"
    ids = [i for i in emulator.own_ids if not emulator.server(i)["locked"]][:5]
    panel.paste_box.value = " ".join(ids)
    panel.run("lock")
    panel.wait(60)
    assert len(rows_in(spec_in(charts.timeline_output))) == 5  # one point per row of the run
    after = rows_in(spec_in(charts.coverage_output))  # the coverage follows what the run read back
    unlocked = sum(r["servers"] for r in after if r["status"] == "unlocked")
    assert unlocked == sum(r["servers"] for r in coverage if r["status"] == "unlocked") - 5
    panel.paste_box.value = ids[0]
    panel.run("lock")
    panel.wait(60)
    assert len(rows_in(spec_in(charts.timeline_output))) == 1  # the new run's, not two timelines
    states = json.dumps(all_widget_states(panel))
    assert DEMO_SECRET_KEY not in states and DEMO_ACCESS_KEY not in states
    panel.close()
