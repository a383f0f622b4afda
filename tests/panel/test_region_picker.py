"""The panel's region picker against two regions: one list over the picked regions, runs routed per region."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import scp_widgets
from scp_widgets.emulator.regions import RegionalEmulators
from scp_widgets.fleet.windows import windows_dir
from scp_widgets.panel.lock_panel import LockPanel

WAIT = 60


def test_the_panel_lists_and_locks_across_the_picked_regions(two_regions: RegionalEmulators) -> None:
    west, east = (two_regions.emulators[r] for r in ("kr-west1", "kr-east1"))
    panel = LockPanel(regions=["kr-west1", "kr-east1"])
    panel.wait(WAIT)
    assert panel.region_picker is not None and panel.children[1] is panel.region_picker
    labels = [label for label, _ in panel.selector.options]
    assert len(labels) == 60 and any("· kr-east1 ·" in label for label in labels)
    ids = [next(i for i in e.own_ids if not e.server(i)["locked"]) for e in (west, east)]
    panel.paste_box.value = "\n".join(ids)
    panel.run("lock")
    panel.wait(WAIT)
    assert panel.results is not None
    assert list(panel.results["region"]) == ["kr-west1", "kr-east1"]
    assert list(panel.results["outcome"]) == ["locked", "locked"]
    assert [west.server(ids[0])["locked"], east.server(ids[1])["locked"]] == [True, True]

    panel.region_picker.toggles["kr-west1"].value = False  # only kr-east1: the list follows
    panel.wait(WAIT)
    assert len(panel.selector.options) == 30
    panel.region_picker.toggles["kr-east1"].value = False
    panel.wait(WAIT)
    panel.run("lock")
    assert "No region picked" in panel.status_html.value


def test_the_panel_says_when_a_dead_process_left_a_window_open(two_regions: RegionalEmulators) -> None:
    west = two_regions.emulators["kr-west1"]
    server = {"server_id": west.own_ids[0], "region": "kr-west1", "endpoint": two_regions.endpoints["kr-west1"]}
    record = {"state": "open", "window_id": "w1", "pid": 2**22 + 7, "host": socket.gethostname(), "servers": [server]}
    windows_dir().mkdir(parents=True)
    (windows_dir() / "w1.json").write_text(json.dumps(record))
    panel = LockPanel(regions="kr-west1")
    panel.wait(WAIT)
    assert "relock_pending()" in panel.status_html.value


def test_a_run_over_two_regions_shows_each_rows_region_and_both_journals(two_regions: RegionalEmulators) -> None:
    from scp_widgets.panel.results import links_html
    from scp_widgets.views.results_view import run_html

    west, east = (two_regions.emulators[r] for r in ("kr-west1", "kr-east1"))
    frame = scp_widgets.lock([west.own_ids[0], east.own_ids[0]], regions=["kr-west1", "kr-east1"])
    page = run_html(frame, {str(i): "web-001" for i in frame.server_id})  # one name, two servers
    assert '<span class="region">kr-west1</span>' in page and '<span class="region">kr-east1</span>' in page
    links = links_html(frame)
    assert len(frame.attrs["journals"]) == 2 and all(Path(j).name in links for j in frame.attrs["journals"])
    assert "no journal for this run" not in links
