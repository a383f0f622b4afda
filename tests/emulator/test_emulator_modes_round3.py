"""The emulator modes for the faults of the safety round: a 5xx with Retry-After, a malformed listing
entry, and one id listed by two regions (configured alike)."""

from __future__ import annotations

import argparse
import json

from emulator_helpers import FakeClock, in_process

from scp_widgets.emulator import Emulator, EmulatorConfig, Faults
from scp_widgets.emulator.command import config_from_args, configure_parser
from scp_widgets.emulator.introspection import faults_from_json, faults_to_json


def test_injected_5xx_carry_retry_after_when_asked() -> None:
    plain = Emulator(EmulatorConfig(servers=2, clock=FakeClock(), faults=Faults(error_rates={503: 1.0})))
    asked = Emulator(
        EmulatorConfig(servers=2, clock=FakeClock(), faults=Faults(error_rates={503: 1.0}, error_retry_after=2.5))
    )
    with in_process(plain, plain.config.clock) as api:
        assert "retry-after" not in api.call("GET", "/v1/servers").headers
    with in_process(asked, asked.config.clock) as api:
        response = api.call("GET", "/v1/servers")
    assert response.status_code == 503 and response.headers["retry-after"] == "2.5"
    assert asked.record[-1].retry_after == 2.5


def test_a_garbled_listing_entry_has_locked_as_text_and_only_that_one() -> None:
    emulator = Emulator(EmulatorConfig(servers=4, foreign_servers=0, clock=FakeClock()))
    victim = emulator.own_ids[1]
    emulator.set_faults(Faults(garbled_listing_ids=frozenset({victim})))
    with in_process(emulator, emulator.config.clock) as api:
        servers = api.call("GET", "/v1/servers").json()["servers"]
        shown = api.call("GET", f"/v1/servers/{victim}").json()
    kinds = {s["id"]: type(s["locked"]).__name__ for s in servers}
    assert kinds.pop(victim) == "str" and set(kinds.values()) == {"bool"}
    assert isinstance(shown["locked"], bool)  # only the listing is garbled
    assert faults_from_json(json.loads(json.dumps(faults_to_json(emulator.faults)))) == emulator.faults


def test_twins_are_own_servers_with_the_given_ids_and_leave_the_seeded_fleet_alone() -> None:
    twin = "0badc0de-0000-4000-8000-000000000001"
    plain = Emulator(EmulatorConfig(servers=5, seed=3))
    twinned = Emulator(EmulatorConfig(servers=5, seed=3, twin_ids=(twin,)))
    assert twinned.own_ids == [*plain.own_ids, twin]
    assert twinned.server(twin)["name"] == "twin-001" and twinned.server(twin)["locked"] is False


def test_the_command_line_sets_these_modes() -> None:
    parser = argparse.ArgumentParser()
    configure_parser(parser)
    config = config_from_args(parser.parse_args(["--error-rate", "503=0.1", "--error-retry-after", "1.5"]))
    assert config.faults.error_retry_after == 1.5
