"""SCP_WIDGETS_READ_ONLY (set by `scp-widgets app --read-only`): every call that could change a server refuses
with one sentence before anything is sent; listing and history still work."""

from __future__ import annotations

import asyncio
import re
from typing import Any

import pytest

import scp_widgets
from scp_widgets.emulator import Emulator
from scp_widgets.engine.read_only import READ_ONLY_ENV, read_only

REFUSED = r"is refused: this session is read-only \(SCP_WIDGETS_READ_ONLY is set"


@pytest.fixture
def ro(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(READ_ONLY_ENV, "1")


@pytest.mark.usefixtures("ro")
def test_every_change_refuses_and_nothing_is_sent(emulator: Emulator, emu_options: dict[str, Any]) -> None:
    ids = emulator.own_ids[:2]
    calls = {
        "lock()": lambda: scp_widgets.lock(ids, **emu_options),
        "unlock()": lambda: scp_widgets.unlock(ids, dry_run=True, **emu_options),
        "unlocked()": lambda: scp_widgets.unlocked(ids, **emu_options).__enter__(),
        "relock_pending()": lambda: scp_widgets.relock_pending(**emu_options),
        "guard()": lambda: scp_widgets.guard("state == 'ACTIVE'", every=60, **emu_options),
    }
    for name, call in calls.items():
        with pytest.raises(scp_widgets.ScpUsageError, match=f"^{re.escape(name)} {REFUSED}"):
            call()
    assert emulator.record == []  # refused before anything went out, not even a listing


@pytest.mark.usefixtures("ro")
def test_async_lock_refuses(emu_options: dict[str, Any], emulator: Emulator) -> None:
    with pytest.raises(scp_widgets.ScpUsageError, match=REFUSED):
        asyncio.run(scp_widgets.alock(emulator.own_ids[:1], **emu_options))
    assert emulator.record == []


@pytest.mark.usefixtures("ro")
def test_listing_and_history_still_work(emu_options: dict[str, Any], emulator: Emulator) -> None:
    assert len(scp_widgets.list_servers(**emu_options)) == len(emulator.own_ids)
    assert len(scp_widgets.history()) == 0


@pytest.mark.parametrize(("value", "expected"), [("1", True), ("yes", True), ("0", False), ("off", False), ("", False)])
def test_the_setting(monkeypatch: pytest.MonkeyPatch, value: str, expected: bool) -> None:
    monkeypatch.setenv(READ_ONLY_ENV, value)
    assert read_only() is expected
