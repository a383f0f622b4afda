"""The drift guard when things fail: a region down, a live window, a stop while a run hangs."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import ClassVar

import pytest

import scp_widgets
from scp_widgets.emulator import Emulator, Faults
from scp_widgets.emulator.regions import RegionalEmulators
from scp_widgets.fleet.guard import Guard
from scp_widgets.fleet.windows import WindowHeldError

REGIONS = ["kr-west1", "kr-east1"]
WAIT = 60.0  # generous bound for an event on a busy machine; the tests wait on events, never sleep


def pick(emulator: Emulator, locked: bool, n: int) -> list[str]:
    return [i for i in emulator.own_ids if emulator.server(i)["locked"] is locked][:n]


def names(emulator: Emulator, ids: list[str]) -> str:
    """A rule selecting exactly these servers of kr-west1 (names repeat across regions)."""
    return "region == 'kr-west1' and (" + " or ".join(f"name == '{emulator.server(i)['name']}'" for i in ids) + ")"


def when(guard: Guard, condition: Callable[[Guard], bool]) -> threading.Event:
    """An event set after the first check (or stop) at which `condition(guard)` holds."""
    event = threading.Event()
    guard.on_change(lambda g: event.set() if condition(g) else None)
    return event


def test_a_region_down_is_reported_and_the_healthy_region_is_still_guarded(two_regions: RegionalEmulators) -> None:
    west, east = (two_regions.emulators[r] for r in REGIONS)
    drifted = pick(west, False, 3)
    east.set_faults(Faults(black_hole=True))
    g = scp_widgets.guard(names(west, drifted), every=0.2, regions=REGIONS, timeout=1, retries=0)
    try:
        done = when(g, lambda g: g.locked_so_far >= 3)
        assert done.wait(WAIT)
        assert all(west.server(i)["locked"] for i in drifted)
        assert any("kr-east1" in place for place in g.region_errors)
    finally:
        g.stop()
    assert g.running is False


def test_a_guard_skips_the_servers_of_a_live_window_and_a_second_window_over_them_is_refused(
    two_regions: RegionalEmulators,
) -> None:
    west = two_regions.emulators["kr-west1"]
    ids = pick(west, True, 1)
    with scp_widgets.unlocked(ids, regions=REGIONS):
        g = scp_widgets.guard(names(west, ids), every=0.1, regions=REGIONS)
        try:
            assert when(g, lambda g: g.checks >= 3).wait(WAIT)
            assert west.server(ids[0])["locked"] is False  # the window keeps its servers unlocked
            assert g.total_actions == 0
        finally:
            g.stop()
        with pytest.raises(WindowHeldError, match="held by maintenance window"):
            with scp_widgets.unlocked(ids, regions=REGIONS):
                pass
        assert west.server(ids[0])["locked"] is False  # the refused window did not re-lock them
    assert west.server(ids[0])["locked"] is True


def test_stop_cancels_the_run_in_flight_and_returns(two_regions: RegionalEmulators) -> None:
    west = two_regions.emulators["kr-west1"]
    drifted = pick(west, False, 2)
    west.set_faults(Faults(latency=120.0, methods=frozenset({"POST"})))  # the lock hangs
    g = scp_widgets.guard(names(west, drifted), every=0.1, regions=REGIONS, timeout=120, retries=0)
    locking = when(g, lambda g: g.phase == "locking")
    try:
        assert locking.wait(WAIT)
    finally:
        g.stop()
    assert g.running is False
    assert set(g.actions["outcome"]) == {"cancelled"} and len(g.actions) == 2


def test_the_guard_widget_speaks_local_time_and_names_a_region_not_checked() -> None:
    import datetime as dt

    from scp_widgets.panel.guard_widget import GuardWidget

    class Stub:  # what the widget reads of a guard
        every, where, running, locked_so_far, last_error = 15.0, "name == 'db-1'", True, 2, None
        last_check = dt.datetime(2026, 12, 4, 3, 0, 5, tzinfo=dt.UTC)
        next_check = dt.datetime(2026, 12, 4, 3, 0, 20, tzinfo=dt.UTC)
        region_errors: ClassVar[dict[str, str]] = {"kr-east1": "network error: could not connect"}
        _stopped = threading.Event()

        def on_change(self, listener: Callable[[object], None]) -> None:
            pass

        def stop(self, wait: bool = True) -> None:
            pass

    widget = GuardWidget(Stub())  # type: ignore[arg-type]
    local = Stub.last_check.astimezone().strftime("%H:%M:%S")
    assert f"last check {local}" in widget.status_html.value and "UTC" not in widget.status_html.value
    assert "kr-east1 not checked: network error" in widget.status_html.value


def test_a_guard_writes_one_journal_per_region_not_one_per_check(
    two_regions: RegionalEmulators, isolated_environment: Path
) -> None:
    west = two_regions.emulators["kr-west1"]
    first, second = pick(west, False, 2)
    g = scp_widgets.guard(names(west, [first, second]), every=0.1, regions=REGIONS)
    try:
        assert when(g, lambda g: g.locked_so_far >= 2).wait(WAIT)
        scp_widgets.unlock([first], regions=REGIONS)  # drifts again: a second lock run of the same guard
        assert when(g, lambda g: g.locked_so_far >= 3).wait(WAIT)
    finally:
        g.stop()
    journals = sorted(isolated_environment.glob("*-guard-*.jsonl"))
    assert len(journals) == 1  # one region drifted, twice: one file (per region when several run at once)
    runs = scp_widgets.history()
    assert (runs.journal == str(journals[0])).sum() >= 2  # both lock runs, in the one file


def test_a_wrong_key_backs_off_and_warns_once(caplog: pytest.LogCaptureFixture) -> None:
    from scp_widgets.emulator import EmulatorConfig, EmulatorServer

    with EmulatorServer(Emulator(EmulatorConfig(servers=3))) as server:
        g = scp_widgets.guard(
            "not locked", every=0.1, endpoint=server.url, access_key="scp-demo-access-key", secret_key="wrong"
        )
        try:
            assert when(g, lambda g: g.failures_in_row >= 4).wait(WAIT)
            waits = g.next_check - g.last_check  # type: ignore[operator]
        finally:
            g.stop()
    assert waits.total_seconds() >= 0.1 * 2**4 * 0.9  # doubled per failure in a row, not every 0.1 s
    warned = [r for r in caplog.records if "drift guard check failed" in r.getMessage()]
    assert len(warned) == 1  # one warning per streak, not one per check
    assert len(g.actions) == 0 and g.actions.attrs["total"] == 0


def test_checks_start_every_seconds_apart_however_long_a_check_takes() -> None:
    from scp_widgets.fleet.guard import MAX_BACKOFF, next_delay

    assert next_delay(15, 0, 6.0) == 9.0  # start to start: 15 s, not 6 + 15 = 21 s
    assert next_delay(15, 0, 20.0) == 0.0  # a check longer than the period: the next starts at once
    assert next_delay(15, 2, 6.0) == 54.0  # two failures in a row: 60 s apart
    assert next_delay(15, 40, 0.0) == MAX_BACKOFF  # backoff is capped
