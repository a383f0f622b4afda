"""One progress line over a run across regions: a total that never changes, and each region's own stages."""

from __future__ import annotations

import scp_widgets
from scp_widgets.emulator.regions import RegionalEmulators
from scp_widgets.engine.bulk import Progress


def test_a_run_over_two_regions_reports_a_fixed_total_and_each_regions_stages(
    two_regions: RegionalEmulators,
) -> None:
    west, east = (two_regions.emulators[r] for r in ("kr-west1", "kr-east1"))
    unknown = "00000000-0000-4000-8000-00000000dead"
    ids = [*west.own_ids[:5], *east.own_ids[:3], unknown]
    seen: list[Progress] = []
    frame = scp_widgets.lock(ids, regions=["kr-west1", "kr-east1"], progress=seen.append)
    assert {p.total for p in seen} == {len(ids)}  # was len(routed) while running, then len(ids): 0/56 → 0/52 → 56/56
    last = seen[-1]
    assert last.done == len(ids) and last.counts.get("not_found") == 1
    assert last.sent == last.accepted == 8  # the stages summed over the regions (the unknown id was never sent)
    assert set(last.regions) == {"kr-west1", "kr-east1"}
    assert (last.regions["kr-west1"].total, last.regions["kr-east1"].total) == (5, 3)
    assert last.regions["kr-west1"].sent == 5 and last.regions["kr-east1"].accepted == 3
    assert all(p.done >= 1 for p in seen)  # the unsent row counts as done from the first report
    assert len(frame) == len(ids)


def test_one_run_over_two_regions_is_one_history_row_with_every_row_journaled(
    two_regions: RegionalEmulators,
) -> None:
    from scp_widgets.panel.history import HistoryView

    west, east = (two_regions.emulators[r] for r in ("kr-west1", "kr-east1"))
    unknown = "00000000-0000-4000-8000-00000000dead"
    ids = [*west.own_ids[:2], *east.own_ids[:2], unknown]
    frame = scp_widgets.lock(ids, regions=["kr-west1", "kr-east1"])
    assert len(frame.attrs["journals"]) == 3  # a journal per region, and one for the row never sent

    runs = scp_widgets.history()
    assert len(runs) == 1  # one call, one run: before, two rows, and the not_found row was on neither
    row = next(runs.itertuples())
    assert row.run_id == frame.attrs["run_id"] and row.servers == len(ids) and row.complete
    assert (row.locked, row.not_found) == (4, 1) and "4 locked, 1 not_found" in row.summary
    assert set(row.regions.split(", ")) == {"kr-west1", "kr-east1"} and sorted(row.journals) == sorted(
        frame.attrs["journals"]
    )
    again = scp_widgets.read_history_row(row)
    assert sorted(again["server_id"]) == sorted(ids)
    assert dict(zip(again["server_id"], again["region"], strict=True))[west.own_ids[0]] == "kr-west1"
    assert again.attrs["counts"] == {"locked": 4, "not_found": 1}

    view = HistoryView()
    view.refresh()
    (button,) = view.run_buttons
    assert "kr-west1" in button.description and "kr-east1" in button.description
    assert button.button_style == "warning"  # one row failed: amber, as the panel's bar
    button.click()
    assert view.results is not None and len(view.results) == len(ids)
    assert '<span class="region">kr-east1</span>' in view.detail_html.value


def test_a_rerun_of_a_fleet_runs_history_row_goes_to_each_region_again(two_regions: RegionalEmulators) -> None:
    # read_history_row's frame carried the first part's endpoint: retry_failed sent kr-east1's servers to
    # kr-west1 ("server not found in this account"), the recovery path README gives after a crash
    from scp_widgets.emulator import Faults

    west, east = (two_regions.emulators[r] for r in ("kr-west1", "kr-east1"))
    ids = [
        *[i for i in west.own_ids if not west.server(i)["locked"]][:2],
        *[i for i in east.own_ids if not east.server(i)["locked"]][:2],
    ]
    failing = Faults(error_rates={503: 1.0}, methods=frozenset({"POST"}))
    west.set_faults(failing), east.set_faults(failing)
    first = scp_widgets.lock(ids, regions=["kr-west1", "kr-east1"], retries=0)
    assert set(first["outcome"].astype(str)) == {"server_error"}
    west.set_faults(Faults()), east.set_faults(Faults())
    row = next(scp_widgets.history().itertuples())
    frame = scp_widgets.read_history_row(row)
    assert frame.attrs["endpoints"] == dict(two_regions.endpoints)  # as the run's own frame has them
    again = scp_widgets.retry_failed(frame)
    assert sorted(again["server_id"]) == sorted(ids) and set(again["outcome"].astype(str)) == {"locked"}
    assert all(west.server(i)["locked"] for i in ids[:2]) and all(east.server(i)["locked"] for i in ids[2:])
