"""Unlocks of more than 25 servers need an explicit yes (`confirm=True`, `--yes`), as the panel's Confirm does:
`%scp_unlock --where "id == id"` once unlocked 600 servers with no question. A refusal is one sentence before
anything changes a server."""

from __future__ import annotations

from typing import Any

import pytest
from IPython.core.error import UsageError
from IPython.core.interactiveshell import InteractiveShell

import scp_widgets
from scp_widgets.client.errors import ScpUsageError
from scp_widgets.emulator import Emulator, EmulatorConfig
from scp_widgets.emulator.regions import RegionalEmulators

REGIONS = ["kr-west1", "kr-east1"]


def _posts(*emulators: Emulator) -> int:
    return sum(1 for e in emulators for r in e.record if r.method == "POST")


@pytest.fixture
def locked_fleet(emu_options: dict[str, Any]) -> tuple[Emulator, dict[str, Any]]:
    emulator = Emulator(EmulatorConfig(servers=40, foreign_servers=0, locked_fraction=1.0, seed=3))
    return emulator, {**emu_options, "transport": emulator.transport()}


def test_an_unlock_of_26_servers_is_refused_without_confirm_and_nothing_is_sent(
    locked_fleet: tuple[Emulator, dict[str, Any]],
) -> None:
    emulator, options = locked_fleet
    with pytest.raises(ScpUsageError, match=r"^Unlocking 26 servers needs confirm=True \(in a magic: --yes\)"):
        scp_widgets.unlock(emulator.own_ids[:26], **options)
    assert emulator.record == []  # not even the version lookup: the call was refused at the door

    done = scp_widgets.unlock(emulator.own_ids[:26], confirm=True, **options)
    assert set(done.outcome) == {"unlocked"} and _posts(emulator) == 26


def test_25_servers_a_dry_run_and_a_lock_need_no_confirm(locked_fleet: tuple[Emulator, dict[str, Any]]) -> None:
    emulator, options = locked_fleet
    assert set(scp_widgets.unlock(emulator.own_ids[:25], **options).outcome) == {"unlocked"}
    assert set(scp_widgets.unlock(emulator.own_ids, dry_run=True, **options).outcome) == {"planned"}
    assert set(scp_widgets.lock(emulator.own_ids, **options).outcome) <= {"locked", "already_locked"}


def test_a_kernel_may_raise_the_threshold(
    locked_fleet: tuple[Emulator, dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    emulator, options = locked_fleet
    monkeypatch.setenv("SCP_WIDGETS_CONFIRM_ABOVE", "100")
    assert set(scp_widgets.unlock(emulator.own_ids[:30], **options).outcome) == {"unlocked"}
    monkeypatch.setenv("SCP_WIDGETS_CONFIRM_ABOVE", "lots")
    with pytest.raises(ScpUsageError, match="SCP_WIDGETS_CONFIRM_ABOVE must be a whole number"):
        scp_widgets.unlock(emulator.own_ids[:30], **options)


def test_a_rule_matching_the_whole_fleet_is_refused_after_the_listing_before_any_post(
    two_regions: RegionalEmulators,
) -> None:
    with pytest.raises(ScpUsageError, match=r"^Unlocking 60 servers \(the rule 'id == id' in regions kr-west1, kr-e"):
        scp_widgets.unlock(where="id == id", regions=REGIONS)
    assert _posts(*two_regions.emulators.values()) == 0


def test_the_magic_refuses_without_yes_and_its_dry_run_counts_per_region(
    shell: InteractiveShell, two_regions: RegionalEmulators, capsys: pytest.CaptureFixture[str]
) -> None:
    shell.run_line_magic("load_ext", "scp_widgets")
    try:
        with pytest.raises(UsageError, match="needs confirm=True"):
            shell.run_line_magic("scp_unlock", '--region kr-west1,kr-east1 --where "id == id"')
        assert _posts(*two_regions.emulators.values()) == 0
        shell.run_line_magic("scp_unlock", '--dry-run --region kr-west1,kr-east1 --where "id == id"')
        assert "would unlock 60 servers (kr-west1: 30, kr-east1: 30)" in capsys.readouterr().out
        done = shell.run_line_magic("scp_unlock", '--yes --quiet --region kr-west1,kr-east1 --where "id == id"')
        assert len(done) == 60 and set(done.outcome) <= {"unlocked", "already_unlocked"}
    finally:
        shell.run_line_magic("unload_ext", "scp_widgets")
        shell.config.pop("ScpLockMagics", None)
