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


def test_after_a_clean_run_there_is_no_retry_button(panel: LockPanel, failing_fleet: Emulator) -> None:
    panel.paste_box.value = failing_fleet.own_ids[0]
    panel.lock_button.click()
    panel.wait(WAIT)
    assert set(panel.results.outcome) == {"locked"}  # type: ignore[union-attr]
    assert panel.results_area.retry_button.layout.display == "none"


def test_ids_no_region_lists_are_not_offered_for_retry() -> None:
    import pandas as pd

    from scp_widgets.engine.rerun import failed_ids
    from scp_widgets.engine.results import ServerResult, to_frame

    missing = ServerResult("00000000-0000-4000-8000-000000000000", "lock", "not_found", attempts=0)  # type: ignore[arg-type]
    refused = ServerResult("00000000-0000-4000-8000-000000000001", "lock", "not_found", attempts=1)  # type: ignore[arg-type]
    failed = ServerResult("00000000-0000-4000-8000-000000000002", "lock", "server_error", attempts=4)  # type: ignore[arg-type]
    frame: pd.DataFrame = to_frame([missing, refused, failed], {"action": "lock"})
    assert failed_ids(frame) == [refused.server_id, failed.server_id]


def test_the_confirmation_names_the_action_and_count_and_backs_out_with_back(panel: LockPanel) -> None:
    panel.select_shown_button.click()
    panel.unlock_button.click()
    step = panel.confirm_step
    assert step.confirm_button.description == "Confirm unlock of 40" and step.back_button.description == "Back"
    assert 'role="alert"' in step.line.value  # announced to a screen reader
    assert panel.cancel_button.description == "Cancel"  # the run's Cancel is another button, another name
    step.back_button.click()
    assert "Backed out: nothing was sent." in panel.status_html.value and not panel.unlock_button.disabled


def test_the_confirmation_counts_per_region() -> None:
    from scp_widgets.panel.confirm import question

    line = question("unlock", 56, 3, 0, {"kr-west1": 30, "kr-east1": 26})
    assert line.startswith("Unlock 56 servers (kr-west1: 30, kr-east1: 26)? · 3 already unlocked")
