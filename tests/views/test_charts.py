"""The charts carry the right data (counts per region and state, one point per row), nothing secret, and
`frame.scp` reaches them; the result frame carries per-row sent and answered times at a small memory cost."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any

import pandas as pd
import pytest
from widget_helpers import rows_in

import scp_widgets
from scp_widgets.client.errors import ScpUsageError
from scp_widgets.emulator import DEMO_ACCESS_KEY, DEMO_SECRET_KEY, Emulator, EmulatorConfig
from scp_widgets.emulator.config import Faults
from scp_widgets.engine.results import Outcome, ServerResult, to_frame
from scp_widgets.fleet.plan import FleetPlan  # noqa: F401  (the fleet path is what regions= uses)
from scp_widgets.views import charts

SECRETS = (DEMO_SECRET_KEY, DEMO_ACCESS_KEY, "Scp-Signature", "Signature")


def spec(chart: Any) -> dict[str, Any]:
    result: dict[str, Any] = chart.to_dict()
    return result


def data_of(chart: Any) -> list[dict[str, Any]]:
    """The inline rows the chart's marks draw (its largest inline dataset)."""
    return rows_in(spec(chart))


def assert_no_secret(chart: Any) -> None:
    text = json.dumps(spec(chart))
    for secret in SECRETS:
        assert secret not in text


def test_coverage_counts_servers_per_region_state_and_lock(two_regions: Any) -> None:
    servers = scp_widgets.list_servers(regions=["kr-west1", "kr-east1"])
    chart = servers.scp.coverage()
    rows = data_of(chart)
    expected = servers.assign(status=servers.locked.map({True: "locked", False: "unlocked"}))
    expected = expected.groupby(["region", "state", "status"]).size().to_dict()
    assert {(r["region"], r["state"], r["status"]): r["servers"] for r in rows} == expected
    assert sum(r["servers"] for r in rows) == len(servers) == 60
    unlocked = [r for r in rows if r["status"] == "unlocked"]
    west_active = servers.query("region == 'kr-west1' and state == 'ACTIVE' and not locked").name
    hover = next(r for r in unlocked if r["region"] == "kr-west1" and r["state"] == "ACTIVE")["unlocked_names"]
    assert hover.startswith(", ".join(west_active.iloc[: charts.HOVER_NAMES]))
    assert all(r["unlocked_names"] == "" for r in rows if r["status"] == "locked")
    assert spec(chart)["encoding"]["row"]["field"] == "region"
    assert_no_secret(chart)


def test_coverage_of_one_endpoint_has_no_region_rows(emulator: Emulator, emu_options: dict[str, Any]) -> None:
    servers = scp_widgets.list_servers(**emu_options)
    chart = servers.scp.chart()
    assert sum(r["servers"] for r in data_of(chart)) == len(servers)
    assert "row" not in spec(chart)["encoding"]


def test_timeline_has_one_point_per_row_with_sent_and_answered_times(emu_options: dict[str, Any]) -> None:
    emulator = Emulator(EmulatorConfig(servers=30, seed=7, faults=Faults(throttle_rate=0.3)))
    options = {**emu_options, "transport": emulator.transport()}
    ids = [*emulator.own_ids[:20], "not-an-id"]
    df = scp_widgets.lock(ids, **options)
    assert df.sent_at.notna().sum() == 20 and pd.isna(df.sent_at.iloc[-1])  # the invalid id was never sent
    sent = df.dropna(subset=["sent_at"])
    assert (sent.started_at <= sent.sent_at).all() and (sent.sent_at <= sent.answered_at).all()
    assert (sent.answered_at <= sent.finished_at).all()
    chart = df.scp.timeline(rate_limit=50)
    rows = data_of(chart)
    assert [r["server_id"] for r in rows] == list(df.server_id)
    retried = {r["server_id"] for r in rows if r["mark"] != "first try"}
    assert retried == set(df.server_id[df.attempts > 1])  # the throttled ones needed another attempt
    assert retried, "the emulator throttled 30% of requests, so some rows were retried"
    assert all(r["latency_ms"] >= 0 for r in rows if r["latency_ms"] is not None)
    text = json.dumps(spec(chart))
    assert '"limit": 50.0' in text
    step = charts.rate_step(max(r["answered"] for r in rows if r["answered"] is not None))
    assert f"datum.servers / {step}" in text  # the rate panel's bins fit the run
    assert_no_secret(chart)
    assert df.scp.chart().to_dict()["vconcat"]  # chart() picks the timeline for a result frame


@pytest.mark.parametrize(
    ("duration", "step"), [(0.13, 0.1), (2.9, 0.1), (3.1, 0.2), (5.6, 0.2), (45.0, 2.0), (600.0, 30.0), (None, 0.1)]
)
def test_rate_bins_fit_the_runs_length(duration: float | None, step: float) -> None:
    assert charts.rate_step(pd.NA if duration is None else duration) == step
    if duration:
        assert duration / step <= charts.RATE_BINS


def test_history_chart_counts_runs_by_outcome(emulator: Emulator, emu_options: dict[str, Any]) -> None:
    scp_widgets.lock(emulator.own_ids[:3], **emu_options)
    scp_widgets.unlock([*emulator.own_ids[:2], "00000000-0000-4000-8000-000000000000"], **emu_options)
    runs = scp_widgets.history()
    rows = data_of(runs.scp.chart())
    by_run = {(r["action"], r["outcome"]): r["servers"] for r in rows}
    assert by_run == {("lock", "locked"): 3, ("unlock", "unlocked"): 2, ("unlock", "not_found"): 1}
    # one bar per run in time order (a time scale drew runs seconds apart as slivers under ".500" ticks)
    x = spec(runs.scp.chart())["encoding"]["x"]
    assert (x["field"], x["type"], x["sort"]) == ("started_at", "ordinal", "ascending")
    assert {r["started_at"] for r in rows} == set(runs["started_at"].dt.strftime("%Y-%m-%d %H:%M:%S"))
    assert_no_secret(runs.scp.chart())


def test_accessor_says_which_frame_a_chart_needs() -> None:
    with pytest.raises(ScpUsageError, match=r"list_servers\(\) frame"):
        pd.DataFrame({"a": [1]}).scp.coverage()
    with pytest.raises(ScpUsageError, match="result frame"):
        pd.DataFrame({"a": [1]}).scp.chart()


def test_per_row_times_grow_a_frame_by_less_than_ten_percent() -> None:
    results = [
        ServerResult(
            f"{i:08d}-0000-4000-8000-000000000000", "lock", Outcome.LOCKED, 202, True, 1, None, None,
            f"req-{i}", "1.3", "http://127.0.0.1:8765", 1.8e9 + i, 1.8e9 + i + 0.2, 1.8e9 + i + 0.01, 1.8e9 + i + 0.1,
        )
        for i in range(2000)
    ]  # fmt: skip
    frame = to_frame(results)
    full = frame.memory_usage(deep=True).sum()
    without = frame.drop(columns=["sent_at", "answered_at"]).memory_usage(deep=True).sum()
    assert full / without < 1.10


def test_load_ext_imports_no_altair_and_no_chart_module() -> None:
    """The charts cost `%load_ext` nothing: altair and the chart modules load when a chart is drawn."""
    code = (
        "import sys\nfrom IPython.core.interactiveshell import InteractiveShell\n"
        "InteractiveShell.instance().run_line_magic('load_ext', 'scp_widgets')\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'altair' or m.startswith('scp_widgets.views.')))"
    )
    env = {**os.environ, "SCP_WIDGETS_WARM_UP": "0"}  # the warm-up loads the run's modules, not the charts'
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env).stdout
    assert out.strip().splitlines()[-1] == "[]"


def test_a_50000_row_timeline_is_drawn_from_a_weighted_sample_that_keeps_every_retried_row() -> None:
    results = [
        ServerResult(
            f"{i:08d}-0000-4000-8000-000000000000", "lock", Outcome.LOCKED, 202, True, 3 if i % 997 == 0 else 1,
            None, None, f"req-{i}", "1.3", "http://127.0.0.1:8765", 1.8e9 + i / 1000, 1.8e9 + i / 1000 + 0.2,
            1.8e9 + i / 1000 + 0.01, 1.8e9 + i / 1000 + 0.1,
        )
        for i in range(50_000)
    ]  # fmt: skip
    chart = charts.timeline(to_frame(results, {"summary": "50000 locked in 50 s"}))
    rows = data_of(chart)
    assert len(rows) == charts.TIMELINE_POINTS  # was one per row: 10 MB of spec in the page and the notebook
    assert len(json.dumps(spec(chart))) < 600_000
    assert sum(r["mark"] == "retried" for r in rows) == len(range(0, 50_000, 997))  # every retried row kept
    assert round(sum(r["weight"] for r in rows)) == 50_000  # the sample stands for every row
    assert "drawn from a sample of 2,000 of 50,000 rows" in spec(chart)["title"]
    small = charts.timeline(to_frame(results[:300]))
    assert len(data_of(small)) == 300 and {r["weight"] for r in data_of(small)} == {1.0}  # small runs: every row
