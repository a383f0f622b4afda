"""The magics over two regions: --region a,b, --where, %%scp_unlocked, and the pending-window notice."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator

import pytest
from IPython.core.error import UsageError
from IPython.core.interactiveshell import InteractiveShell

from scp_widgets.emulator.regions import RegionalEmulators
from scp_widgets.fleet.windows import windows_dir

REGIONS = "kr-west1,kr-east1"


@pytest.fixture
def fleet_ip(shell: InteractiveShell, two_regions: RegionalEmulators) -> Iterator[InteractiveShell]:
    """The shell with the extension loaded, pointed at two regions through SCP_ENDPOINTS."""
    shell.run_line_magic("load_ext", "scp_widgets")
    yield shell
    shell.run_line_magic("unload_ext", "scp_widgets")
    shell.config.pop("ScpLockMagics", None)


def test_servers_and_lock_take_several_regions_and_a_rule(
    fleet_ip: InteractiveShell, two_regions: RegionalEmulators, capsys: pytest.CaptureFixture[str]
) -> None:
    servers = fleet_ip.run_line_magic("scp_servers", f"--region {REGIONS} -o servers")
    assert set(servers["region"]) == {"kr-west1", "kr-east1"} and len(servers) == 60
    listed = fleet_ip.run_line_magic("scp_servers", f"--region {REGIONS} --where \"name.str.startswith('db-')\"")
    assert len(listed) and listed["name"].str.startswith("db-").all()
    rule = "name.str.startswith('db-') and not locked"
    plan = fleet_ip.run_line_magic("scp_lock", f'--dry-run --region {REGIONS} --where "{rule}"')
    assert set(plan["outcome"]) == {"planned"} and "nothing was sent" in capsys.readouterr().out
    assert not any(r.method == "POST" for e in two_regions.emulators.values() for r in e.record)
    done = fleet_ip.run_line_magic("scp_lock", f'--quiet --region {REGIONS} --where "{rule}"')
    assert sorted(done["server_id"]) == sorted(plan["server_id"]) and set(done["outcome"]) == {"locked"}
    with pytest.raises(UsageError, match="matches none"):
        fleet_ip.run_line_magic("scp_lock", f"--region {REGIONS} --where \"name == 'nobody'\"")


def test_a_single_region_named_in_scp_endpoints_is_found_there(
    fleet_ip: InteractiveShell, two_regions: RegionalEmulators
) -> None:
    east = two_regions.emulators["kr-east1"]
    frame = fleet_ip.run_line_magic("scp_lock", f"--quiet --region kr-east1 {east.own_ids[0]}")
    assert list(frame["region"]) == ["kr-east1"] and list(frame["outcome"]) in (["locked"], ["already_locked"])


def test_scp_unlocked_runs_the_cell_inside_a_window_and_relocks_when_it_raises(
    fleet_ip: InteractiveShell, two_regions: RegionalEmulators, capsys: pytest.CaptureFixture[str]
) -> None:
    west = two_regions.emulators["kr-west1"]
    target = next(i for i in west.own_ids if west.server(i)["locked"])
    fleet_ip.user_ns["seen"] = []
    body = "seen.append(scp_widgets_state())\nraise RuntimeError('maintenance failed')\n"
    fleet_ip.user_ns["scp_widgets_state"] = lambda: west.server(target)["locked"]
    with pytest.raises(RuntimeError, match="maintenance failed"):
        fleet_ip.run_cell_magic("scp_unlocked", f"--region {REGIONS} {target}", body)
    assert fleet_ip.user_ns["seen"] == [False] and west.server(target)["locked"] is True
    out = capsys.readouterr().out
    assert "Maintenance window: unlocked 1" in out and "Locked again: 1 locked" in out


def test_the_magics_say_when_a_dead_process_left_a_window_open(
    fleet_ip: InteractiveShell, two_regions: RegionalEmulators, capsys: pytest.CaptureFixture[str]
) -> None:
    west = two_regions.emulators["kr-west1"]
    server = {"server_id": west.own_ids[0], "region": "kr-west1", "endpoint": two_regions.endpoints["kr-west1"]}
    record = {
        "format": 1, "window_id": "deadbeef0000", "state": "open", "pid": 2**22 + 12345,
        "host": socket.gethostname(), "servers": [server],
    }  # fmt: skip
    windows_dir().mkdir(parents=True, exist_ok=True)
    (windows_dir() / "deadbeef0000.json").write_text(json.dumps(record))
    fleet_ip.run_line_magic("scp_servers", f"--quiet --region {REGIONS}")
    assert "relock_pending()" in capsys.readouterr().err
