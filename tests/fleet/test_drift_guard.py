"""The drift guard against two regions: it re-locks what the rule selects, nothing else, and stops."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

import pytest

import scp_widgets
from scp_widgets.client.errors import ScpUsageError
from scp_widgets.emulator import Emulator, Faults
from scp_widgets.emulator.regions import RegionalEmulators
from scp_widgets.fleet.guard import Guard

REGIONS = ["kr-west1", "kr-east1"]
RULE = "name.str.startswith('web-') and state == 'ACTIVE'"
WAIT = 20.0  # generous: the guard checks every second; a loaded machine may be slow


def wait_until(condition: Callable[[], bool], timeout: float = WAIT) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.1)
    return condition()


def matching(emulator: Emulator) -> list[str]:
    return [
        i
        for i in emulator.own_ids
        if str(emulator.server(i)["name"]).startswith("web-") and emulator.server(i)["state"] == "ACTIVE"
    ]


def is_locked(emulator: Emulator, server_id: str) -> bool:
    return bool(emulator.server(server_id)["locked"])


@pytest.fixture
def guards() -> Iterator[list[Guard]]:
    started: list[Guard] = []
    yield started
    for g in started:
        g.stop(timeout=WAIT)


def test_a_guard_relocks_a_matching_server_leaves_others_alone_and_stops(
    two_regions: RegionalEmulators, guards: list[Guard]
) -> None:
    west, east = (two_regions.emulators[r] for r in REGIONS)
    g = scp_widgets.guard(where=RULE, every=1, regions=REGIONS)
    guards.append(g)
    everything = [(e, i) for e in (west, east) for i in matching(e)]
    assert wait_until(lambda: all(is_locked(e, i) for e, i in everything))  # the first check locks them all
    outsider = next(i for i in east.own_ids if i not in matching(east))
    target = matching(west)[0]
    scp_widgets.unlock([target], regions=REGIONS)  # behind the guard's back
    scp_widgets.unlock([outsider], regions=REGIONS)
    assert not is_locked(west, target)
    assert wait_until(lambda: is_locked(west, target))
    time.sleep(1.5)  # at least one more check
    assert not is_locked(east, outsider)
    sent = {r.server_id for e in (west, east) for r in e.record if r.method == "POST" and r.action == "lock"}
    assert sent == {i for _, i in everything}  # nothing outside the rule was ever sent
    actions = g.actions
    assert target in set(actions["server_id"]) and outsider not in set(actions["server_id"])
    assert set(actions["region"]) == set(REGIONS) and set(actions["outcome"]) == {"locked"}

    g.stop()
    assert not g.running
    seen = sum(len(e.record) for e in (west, east))
    scp_widgets.unlock([target], regions=REGIONS)
    after_unlock = sum(len(e.record) for e in (west, east))
    time.sleep(2.5)
    assert not is_locked(west, target)  # nothing happens after stop()
    assert sum(len(e.record) for e in (west, east)) == after_unlock > seen


def test_a_guard_survives_a_failing_check(two_regions: RegionalEmulators, guards: list[Guard]) -> None:
    west = two_regions.emulators["kr-west1"]
    west.set_faults(Faults(error_rates={503: 1.0}))
    g = scp_widgets.guard(where=RULE, every=0.2, regions=REGIONS, retries=0)
    guards.append(g)
    assert wait_until(lambda: g.failures >= 2)
    assert g.last_error is not None and "503" in g.last_error and g.running
    west.set_faults(Faults())
    assert wait_until(lambda: all(is_locked(west, i) for i in matching(west)))
    assert wait_until(lambda: g.last_error is None)


def test_guard_arguments_are_checked_before_it_starts(two_regions: RegionalEmulators) -> None:
    with pytest.raises(ScpUsageError, match="does not parse"):
        scp_widgets.guard(where="state ==", every=1, regions=REGIONS)
    with pytest.raises(ScpUsageError, match="every= must be"):
        scp_widgets.guard(where=RULE, every=0, regions=REGIONS)
    assert not any(e.record for e in two_regions.emulators.values())


def test_the_guard_widget_shows_the_rule_and_stops_it(two_regions: RegionalEmulators, guards: list[Guard]) -> None:
    from scp_widgets.panel.guard_widget import GuardWidget

    g = scp_widgets.guard(where=RULE, every=1, regions=REGIONS)
    guards.append(g)
    widget = GuardWidget(g)
    assert "startswith" in widget.rule_html.value and "every 1 s" in widget.rule_html.value
    assert wait_until(lambda: "last check -" not in widget.status_html.value)
    widget.stop_button.click()
    assert wait_until(lambda: not g.running)
    assert wait_until(lambda: widget.stop_button.disabled and "stopped" in widget.status_html.value)
