"""The panel after a fault: an action that fails at start leaves every button usable, and says why in one
sentence (a rerun of more than 25 rows that failed after Confirm once left Lock, Unlock, Retry, Resume and
Cancel all disabled)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from test_panel import WAIT, make_panel
from test_panel_console import _options

from scp_widgets.emulator import Emulator, EmulatorConfig, Faults
from scp_widgets.panel.lock_panel import LockPanel


@pytest.fixture
def failing_fleet() -> Emulator:
    return Emulator(EmulatorConfig(servers=40, locked_fraction=0.0, seed=5))


@pytest.fixture
def panel(failing_fleet: Emulator) -> Iterator[LockPanel]:
    made = make_panel(_options(failing_fleet))
    yield made
    made.close()


def _buttons(panel: LockPanel) -> dict[str, bool]:
    area = panel.results_area
    return {
        "lock": panel.lock_button.disabled, "unlock": panel.unlock_button.disabled,
        "retry": area.retry_button.disabled, "resume": area.resume_button.disabled,
    }  # fmt: skip


def test_a_rerun_that_fails_after_confirm_leaves_the_panel_usable(panel: LockPanel, failing_fleet: Emulator) -> None:
    failing_fleet.set_faults(Faults(error_rates={503: 1.0}, methods=frozenset({"POST"})))
    panel.select_shown_button.click()
    panel.lock_button.click()
    panel.confirm_step.confirm_button.click()  # 40 servers: more than 25 ask first
    panel.wait(WAIT)
    assert panel.results is not None and (panel.results.outcome == "server_error").all()

    panel._journal = 12345  # type: ignore[assignment]  # a setting that fails the start, after Confirm
    panel.results_area.retry_button.click()
    assert panel.confirm_step.pending
    panel.confirm_step.confirm_button.click()
    panel.wait(WAIT)
    assert "Nothing was sent" in panel.status_html.value
    assert not panel.running and not panel.confirm_step.pending
    assert _buttons(panel) == {"lock": False, "unlock": False, "retry": False, "resume": False}


def test_two_pasted_entries_are_entries(panel: LockPanel) -> None:
    panel.paste_box.value = "not-an-id\nnor-this-one"
    assert "(2 pasted entries left out" in panel.target_label.value
    panel.paste_box.value = "not-an-id"
    assert "(1 pasted entry left out" in panel.target_label.value
