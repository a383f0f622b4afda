"""What the user asked for (`attrs["settings"]`, a frozen `RunOptions`) and what happened (`attrs["outcome"]`,
a `RunOutcome`) never share a field: a rerun takes the settings only. A rerun once reused the retries a run
*spent* as its *setting* (27 spent: "retries must be between 0 and 20, not 27"; 2 spent: silently 2)."""

from __future__ import annotations

from typing import Any

import scp_widgets
from scp_widgets.emulator import DEMO_ACCESS_KEY, DEMO_SECRET_KEY, Emulator, EmulatorConfig, Faults
from scp_widgets.engine.journal_reader import read_journal
from scp_widgets.engine.settings import RunOptions, RunOutcome


def _options(emulator: Emulator) -> dict[str, Any]:
    return {
        "endpoint": "http://127.0.0.1:9",
        "access_key": DEMO_ACCESS_KEY,
        "secret_key": DEMO_SECRET_KEY,
        "transport": emulator.transport(),
    }


def _faulty(servers: int, rate: float, seed: int) -> Emulator:
    faults = Faults(error_rates={503: rate}, methods=frozenset({"POST"}))
    return Emulator(EmulatorConfig(servers=servers, foreign_servers=0, locked_fraction=0.0, seed=seed, faults=faults))


def _rerun_all_failing(emulator: Emulator, frame: Any) -> Any:
    emulator.set_faults(Faults(error_rates={503: 1.0}, methods=frozenset({"POST"})))
    return scp_widgets.retry_failed(frame, **_options(emulator))


def test_a_run_that_spent_more_retries_than_allowed_reruns_with_its_setting() -> None:
    emulator = _faulty(servers=80, rate=0.45, seed=3)
    first = scp_widgets.lock(emulator.own_ids, retries=3, verify=False, **_options(emulator))
    spent = first.attrs["outcome"].retries_spent
    assert spent > 20  # more than any setting may be: the old rerun refused with "not 27"
    assert isinstance(first.attrs["settings"], RunOptions) and first.attrs["settings"].retries == 3
    assert first.attrs["retries"] == 3 and first.attrs["retries_spent"] == spent
    assert (first.outcome != "locked").any()

    again = _rerun_all_failing(emulator, first)
    assert again.attrs["settings"].retries == 3
    assert again.attempts.max() == 4  # one try and the 3 retries asked for, not 27 (refused) nor fewer


def test_a_run_that_spent_fewer_retries_than_its_setting_reruns_with_its_setting() -> None:
    emulator = _faulty(servers=3, rate=0.5, seed=1)
    first = scp_widgets.lock(emulator.own_ids, retries=3, verify=False, **_options(emulator))
    spent = first.attrs["outcome"].retries_spent
    assert 0 < spent < 3, spent  # a count that, taken as the setting, would cut the rerun's retries

    first.loc[:, "outcome"] = "server_error"  # make every row a failure to retry
    again = _rerun_all_failing(emulator, first)
    assert again.attempts.max() == 4


def test_settings_and_outcome_are_typed_and_rebuilt_from_the_journal() -> None:
    emulator = _faulty(servers=20, rate=0.3, seed=9)
    frame = scp_widgets.lock(emulator.own_ids, retries=5, concurrency=4, verify=False, **_options(emulator))
    outcome = frame.attrs["outcome"]
    assert isinstance(outcome, RunOutcome) and outcome.retries_spent == frame.attrs["retries_spent"]
    assert not set(RunOutcome.__dataclass_fields__) & set(RunOptions.__dataclass_fields__)

    rebuilt = read_journal(frame.attrs["journal"])
    assert rebuilt.attrs["settings"] == frame.attrs["settings"]
    assert rebuilt.attrs["retries"] == 5 and rebuilt.attrs["retries_spent"] == outcome.retries_spent
