"""`scp-widgets emulator --regions a,b`: one fleet per region, and the export lines that point the client at them."""

from __future__ import annotations

import os

import pytest
from fleet_helpers import emulator_process

import scp_widgets
from scp_widgets.cli import demo
from scp_widgets.emulator import Emulator, EmulatorConfig
from scp_widgets.emulator.regions import RegionalEmulators


def test_the_command_serves_each_region_its_own_fleet_and_prints_scp_endpoints(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with emulator_process("--servers", "20", "--regions", "kr-west1,kr-east1") as exports:
        for name, value in exports.items():
            monkeypatch.setenv(name, value)
        assert exports["SCP_ENDPOINTS"].startswith(f"kr-west1={exports['SCP_ENDPOINT']},kr-east1=http://127.0.0.1:")
        fleet = scp_widgets.list_servers(regions=["kr-west1", "kr-east1"])
        west, east = (set(fleet.loc[fleet["region"] == r, "id"]) for r in ("kr-west1", "kr-east1"))
        assert len(west) == len(east) == 20 and not west & east
        assert set(scp_widgets.list_servers()["id"]) == west  # SCP_ENDPOINT is the first region


def test_the_first_region_serves_the_plain_fleet() -> None:
    config = EmulatorConfig(servers=10)
    with RegionalEmulators(["kr-west1", "kr-east1"], config) as regions:
        assert regions.emulators["kr-west1"].own_ids == Emulator(config).own_ids
        assert regions.emulators["kr-east1"].own_ids != Emulator(config).own_ids


def test_ensure_endpoints_starts_the_demo_regions_in_the_kernel_when_none_is_set(
    capsys: pytest.CaptureFixture[str],
) -> None:
    try:
        endpoints = demo.ensure_endpoints(servers=10)
        assert list(endpoints) == list(demo.DEMO_REGIONS)
        assert "No SCP_ENDPOINTS set: started local SCP emulators" in capsys.readouterr().out
        assert demo.ensure_endpoints(servers=10) == endpoints  # the second call reuses them
        assert "started earlier in this kernel" in capsys.readouterr().out
        assert len(scp_widgets.list_servers(regions=list(endpoints))) == 20
    finally:
        if demo._regions is not None:
            demo._regions.stop()
            demo._regions = None
        for name in ("SCP_ENDPOINTS", "SCP_ACCESS_KEY", "SCP_SECRET_KEY"):
            os.environ.pop(name, None)
