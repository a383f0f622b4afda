"""A cancel while read-backs wait to retry a 503 (what JupyterLab's Cancel met with faults on): the run
ends with every row, accepted rows say "not yet verified" (amber, read first by a retry), and no
AssertionError from a failure no sentence knew (the panel said "Nothing was sent: AssertionError:")."""

from __future__ import annotations

import scp_widgets
from scp_widgets.client.errors import RetryCancelled, ScpApiError
from scp_widgets.emulator import DEMO_ACCESS_KEY, DEMO_SECRET_KEY, Emulator, EmulatorConfig, Faults
from scp_widgets.engine.bulk import Progress
from scp_widgets.engine.cancel import CancelToken
from scp_widgets.engine.results import message_for_error, sections


def test_cancel_while_read_backs_wait_to_retry_keeps_every_row_and_says_not_yet_verified() -> None:
    faults = Faults(error_rates={503: 1.0}, error_retry_after=30, methods=frozenset({"GET"}))
    emulator = Emulator(EmulatorConfig(servers=12, foreign_servers=0, locked_fraction=0.0, seed=2, faults=faults))
    token = CancelToken()

    def cancel_once_all_accepted(progress: Progress) -> None:
        if progress.accepted == progress.total:
            token.cancel()

    frame = scp_widgets.lock(
        emulator.own_ids, endpoint="http://127.0.0.1:9", access_key=DEMO_ACCESS_KEY, secret_key=DEMO_SECRET_KEY,
        transport=emulator.transport(), cancel=token, progress=cancel_once_all_accepted, journal=False,
    )  # fmt: skip
    assert token.cancelled and len(frame) == 12
    assert set(frame.outcome) == {"accepted"}
    assert set(frame.message) == {
        "accepted (202), not yet verified: the read-back was cancelled before it confirmed the change"
    }
    assert set(sections(frame)) == {"unfinished"}  # amber, not red failures
    assert set(frame.server_id) == set(emulator.own_ids)


def test_every_request_failure_has_a_sentence() -> None:
    last = ScpApiError(503, "Injected server error.", attempts=2)
    assert message_for_error(RetryCancelled(last)) == (
        "cancelled while waiting to retry after: service error (503) after 2 attempts: Injected server error."
    )
