"""`LockConsole` (the page of `scp-widgets app`) without a browser: the run's timeline and the fleet's coverage
beside the panel, a read-only console that hides and refuses changes, and nothing secret in widget state."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from typing import Any

import ipywidgets as w
import pytest
from widget_helpers import all_widget_states, rows_in, spec_in

from scp_widgets.emulator import DEMO_ACCESS_KEY, DEMO_SECRET_KEY, Emulator
from scp_widgets.engine.read_only import READ_ONLY_ENV
from scp_widgets.panel.console import LockConsole

WAIT = 60.0


def wait_for_output(output: w.Output) -> None:
    shown = threading.Event()
    output.observe(lambda _: shown.set(), names="outputs")
    if not output.outputs:
        assert shown.wait(WAIT), "the chart never appeared"


@pytest.fixture
def console(emu_options: dict[str, Any]) -> Iterator[LockConsole]:
    made = LockConsole(**emu_options)
    made.wait(WAIT)
    return made


def test_console_draws_the_coverage_then_the_run_timeline_beside_the_table(
    console: LockConsole, emulator: Emulator
) -> None:
    wait_for_output(console.charts.coverage_output)
    coverage = rows_in(spec_in(console.charts.coverage_output))
    assert sum(r["servers"] for r in coverage) == len(console.panel.chooser.names()) == len(emulator.own_ids)
    ids = [i for i in emulator.own_ids if not emulator.server(i)["locked"]][:7]
    console.panel.paste_box.value = "\n".join(ids)
    console.panel.lock_button.click()
    console.wait(WAIT)
    wait_for_output(console.charts.timeline_output)
    timeline = rows_in(spec_in(console.charts.timeline_output))
    assert [r["server_id"] for r in timeline] == ids  # one point per row of the run
    assert console.charts.timeline_box.layout.display is None  # shown once there is a run
    assert console.charts.error.value == ""
    assert "Nothing was sent" not in console.panel.status_html.value
    text = json.dumps(all_widget_states(console), default=str)
    assert DEMO_SECRET_KEY not in text and DEMO_ACCESS_KEY not in text


def test_read_only_console_hides_changes_and_refuses_a_click(
    emu_options: dict[str, Any], emulator: Emulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(READ_ONLY_ENV, "1")
    console = LockConsole(**emu_options)
    console.wait(WAIT)
    assert console.read_only
    assert all(b.layout.display == "none" for b in console.change_buttons)
    target = next(i for i in emulator.own_ids if not emulator.server(i)["locked"])
    console.panel.paste_box.value = target
    console.panel.lock_button.click()  # what a hand-unhidden button in the page would send
    console.wait(WAIT)
    assert "lock() is refused: this session is read-only" in console.panel.status_html.value
    assert [r for r in emulator.record if r.method == "POST"] == []
    wait_for_output(console.charts.coverage_output)  # list and charts still work


def test_read_only_false_overrides_the_environment(
    emu_options: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(READ_ONLY_ENV, "1")
    console = LockConsole(read_only=False, autoload=False, **emu_options)
    assert not console.read_only and all(b.layout.display != "none" for b in console.change_buttons)
