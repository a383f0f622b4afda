"""LockPanel at the model level: widgets driven from Python (`Button.click()`), no browser, in-process emulator."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from widget_helpers import all_widget_states

from scp_widgets.client.versions import BUILTIN_CATALOG
from scp_widgets.emulator import DEMO_ACCESS_KEY, DEMO_SECRET_KEY, Emulator
from scp_widgets.panel.lock_panel import LockPanel

WAIT = 60  # generous: a slow CI machine must not fail on time


class GatedTransport(httpx.AsyncBaseTransport):
    """Holds every POST (lock/unlock) until `gate` opens, so a run stays 'in flight' as long as a test needs."""

    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self.inner = inner
        self.gate = threading.Event()
        self.posts_waiting = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.method == "POST":
            self.posts_waiting += 1  # only touched on the single loop thread
            await asyncio.to_thread(self.gate.wait, WAIT)
        return await self.inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self.inner.aclose()


def make_panel(options: dict[str, Any], **extra: Any) -> LockPanel:
    panel = LockPanel(**{**options, **extra})
    panel.wait(WAIT)
    return panel


def unlocked_ids(emulator: Emulator, count: int) -> list[str]:
    return [i for i in emulator.own_ids if not emulator.server(i)["locked"]][:count]


def wait_until(condition: Any, what: str) -> None:
    deadline = time.monotonic() + WAIT
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.01)


@pytest.fixture
def panel(emu_options: dict[str, Any]) -> Iterator[LockPanel]:
    made = make_panel(emu_options)
    yield made
    made.close()


# -- filling the chooser ------------------------------------------------------------------------------------


def test_chooser_lists_the_fleet_with_name_state_and_lock(panel: LockPanel, emulator: Emulator) -> None:
    values = [value for _, value in panel.selector.options]
    assert sorted(values) == sorted(emulator.own_ids)
    for label, server_id in panel.selector.options:
        server = emulator.server(server_id)
        assert label.startswith(f"{server['name']} · {server['state']}")
        assert ("· locked ·" in label) is server["locked"]
    assert "50 of 50 shown" in panel.chooser_hint.value
    assert panel.status_html.value == ""  # the "Loading…" line is gone once the list is in


def test_filter_narrows_the_list_and_keeps_hidden_picks(panel: LockPanel) -> None:
    panel.filter_box.value = "web"
    web = [value for _, value in panel.selector.options]
    assert web and all(label.startswith("web-") for label, _ in panel.selector.options)
    panel.selector.value = (web[0],)
    panel.filter_box.value = "db"
    db = [value for _, value in panel.selector.options]
    assert web[0] not in db
    panel.selector.value = (db[0],)
    assert set(panel.target_ids) == {web[0], db[0]}
    assert "1 hidden by the filter" in panel.chooser_hint.value
    panel.filter_box.value = ""
    assert set(panel.selector.value) == {web[0], db[0]}


def test_version_dropdown_offers_only_callable_versions_and_defaults_to_current(panel: LockPanel) -> None:
    today = dt.date.today()
    numbers = [value for _, value in panel.version_dropdown.options]
    by_number = {v.number: v for v in BUILTIN_CATALOG}
    assert numbers and all(by_number[n].status_on(today).callable for n in numbers if n in by_number)
    assert panel.version_dropdown.value == "1.3"
    if today >= dt.date(2026, 8, 31):  # 1.0, 1.1 and 1.2 are all retired by then
        assert numbers == ["1.3"]
        assert "1.2 (retired 2026-08-31)" in panel.version_note.value


def test_version_labels_show_status_and_end_date_on_an_injected_day(emu_options: dict[str, Any]) -> None:
    panel = make_panel(emu_options, today=dt.date(2026, 7, 1))
    labels = dict((value, label) for label, value in panel.version_dropdown.options)
    assert set(labels) == {"1.3", "1.2"}  # 1.1 ended 2026-05-31, 1.0 ended 2025-12-31
    assert labels["1.2"] == "1.2 (DEPRECATED, ends 2026-08-31)"
    assert "1.1 (retired 2026-05-31)" in panel.version_note.value
    assert panel.version_dropdown.value == "1.3"


def test_an_unusable_requested_version_is_named_and_the_current_one_used(emu_options: dict[str, Any]) -> None:
    panel = make_panel(emu_options, api_version="1.0")
    assert panel.version_dropdown.value == "1.3"
    assert "API version 1.0 is not usable today; using 1.3." in panel.version_note.value


# -- runs -----------------------------------------------------------------------------------------------


def test_lock_selected_servers(panel: LockPanel, emulator: Emulator) -> None:
    ids = unlocked_ids(emulator, 3)
    panel.selector.value = tuple(ids)
    panel.lock_button.click()
    panel.wait(WAIT)

    frame = panel.results
    assert frame is not None
    assert list(frame["server_id"]) == sorted(ids, key=[v for _, v in panel.selector.options].index)
    assert list(frame["outcome"]) == ["locked"] * 3
    assert all(emulator.server(i)["locked"] for i in ids)
    assert panel.progress_bar.value == panel.progress_bar.max == 3
    assert panel.counts_label.value.endswith("3/3 · 3 locked</span>")
    assert "Lock: all succeeded · 3 locked · 3 servers in" in panel.summary_html.value
    assert panel.table_html.value.count('data-outcome="locked"') == 3
    assert Path(frame.attrs["journal"]).is_file()
    assert not panel.running and not panel.lock_button.disabled and panel.cancel_button.disabled
    assert panel.progress_bar.bar_style == "success"
    # The list is not redrawn by the run (a redraw resets its scroll position in the browser), but its
    # marks, read back by the run itself, show at the next redraw the user asks for.
    labels = {value: label for label, value in panel.selector.options}
    assert not any("· locked ·" in labels[i] for i in ids)
    assert "lock marks update on the next filter or Refresh" in panel.chooser_hint.value
    panel.filter_box.value = "locked"
    assert set(ids) <= {value for _, value in panel.selector.options}
    assert "lock marks update" not in panel.chooser_hint.value


def test_unlock_after_lock(panel: LockPanel, emulator: Emulator) -> None:
    ids = unlocked_ids(emulator, 2)
    panel.selector.value = tuple(ids)
    panel.lock_button.click()
    panel.wait(WAIT)
    panel.unlock_button.click()
    assert panel.confirm_step.pending  # an unlock always asks first
    panel.confirm_step.confirm_button.click()
    panel.wait(WAIT)
    assert panel.results is not None
    assert list(panel.results["outcome"]) == ["unlocked", "unlocked"]
    assert not any(emulator.server(i)["locked"] for i in ids)


def test_pasted_ids_join_the_selection_in_order_and_a_malformed_one_is_flagged_not_sent(
    panel: LockPanel, emulator: Emulator
) -> None:
    picked, *pasted = unlocked_ids(emulator, 3)
    panel.selector.value = (picked,)
    panel.paste_box.value = f"{pasted[0]},  not-a-server\n{pasted[1].upper()}\n{picked}"
    assert panel.target_ids == [picked, pasted[0], pasted[1]]
    assert "Target: 3 servers: 1 picked in the list + 2 pasted (1 pasted entry left out" in panel.target_label.value
    assert "not-a-server</code>: not an id, a console URL or a server name in the list; left out" in (
        panel.paste_notes.value
    )
    panel.lock_button.click()
    panel.wait(WAIT)
    assert panel.results is not None
    rows = dict(zip(panel.results["server_id"], panel.results["outcome"], strict=True))
    assert list(rows) == [picked, pasted[0], pasted[1]]
    assert [rows[i] for i in (picked, *pasted)] == ["locked"] * 3


def test_nothing_chosen_says_so(panel: LockPanel) -> None:
    panel.lock_button.click()
    assert "Nothing to do" in panel.status_html.value
    assert panel.results is None and not panel.running


def test_buttons_are_disabled_while_running_and_the_kernel_stays_free(emulator: Emulator) -> None:
    gated = GatedTransport(emulator.transport())
    panel = make_panel(_options(gated), concurrency=2)
    panel.selector.value = tuple(unlocked_ids(emulator, 4))
    panel.lock_button.click()  # returns while every POST is held: the run is on the loop thread
    try:
        assert panel.running
        assert panel.lock_button.disabled and panel.unlock_button.disabled
        assert not panel.cancel_button.disabled
        panel.unlock_button.click()  # ignored while running (and disabled in the browser anyway)
        assert panel.results is None
    finally:
        gated.gate.set()
    panel.wait(WAIT)
    assert not panel.running
    assert not panel.lock_button.disabled and not panel.unlock_button.disabled and panel.cancel_button.disabled
    assert panel.results is not None and list(panel.results["outcome"]) == ["locked"] * 4


def test_cancel_mid_run_keeps_every_row(emulator: Emulator) -> None:
    gated = GatedTransport(emulator.transport())
    panel = make_panel(_options(gated), concurrency=2)
    ids = unlocked_ids(emulator, 6)
    panel.selector.value = tuple(ids)
    panel.lock_button.click()
    wait_until(lambda: gated.posts_waiting == 2, "two locks in flight")
    panel.cancel_button.click()
    assert "Cancelling" in panel.status_html.value and panel.cancel_button.disabled
    gated.gate.set()
    panel.wait(WAIT)

    frame = panel.results
    assert frame is not None
    assert sorted(frame["server_id"]) == sorted(ids)
    # the cancel ends the two locks in flight at once (issue 10): held before the service, they never applied
    # The cancel ends the two locks in flight at once (issue 10); one may have got through first (the gate opens
    # right after the click), and then its row says so. Either way each row matches the server.
    in_flight = frame[frame["attempts"] > 0]
    assert len(in_flight) == 2
    for row in in_flight.itertuples():
        if row.outcome == "locked":
            assert emulator.server(row.server_id)["locked"]
        else:
            assert row.message == "cancelled while the request was in flight: the change may have been applied"
            assert not emulator.server(row.server_id)["locked"]
    never_sent = frame[frame["attempts"] == 0]
    assert len(never_sent) == 4 and set(never_sent["message"]) == {"cancelled before it was sent"}
    cancelled = int((frame["outcome"] == "cancelled").sum())
    assert panel.table_html.value.count('data-outcome="cancelled"') == cancelled
    assert f"{cancelled} cancelled" in panel.summary_html.value
    assert panel.progress_bar.value == 6 and panel.progress_bar.bar_style == "warning"


# -- errors: one line in the panel, never an exception out of click() ----------------------------------------


def _options(transport: httpx.AsyncBaseTransport | None, **extra: Any) -> dict[str, Any]:
    return {
        "endpoint": "http://127.0.0.1:9",
        "access_key": DEMO_ACCESS_KEY,
        "secret_key": DEMO_SECRET_KEY,
        "transport": transport,
        **extra,
    }


def _one_error_line(panel: LockPanel) -> str:
    value = panel.status_html.value
    assert value.count("<div") == 1 and "scp-error" in value, value
    assert "Traceback" not in value and "\n" not in value
    return str(value)


def test_no_credentials(emulator: Emulator, emulator_id: str) -> None:
    panel = make_panel({"endpoint": "http://127.0.0.1:9", "transport": emulator.transport()})
    assert "Could not list the servers: No SCP credentials found" in _one_error_line(panel)
    panel.paste_box.value = emulator_id
    panel.lock_button.click()
    panel.wait(WAIT)
    assert "Nothing was sent: No SCP credentials found" in _one_error_line(panel)
    assert panel.results is None and not panel.running and not panel.lock_button.disabled


def test_unreachable_service(emulator_id: str) -> None:
    panel = make_panel(_options(None, endpoint="http://127.0.0.1:1"))
    line = _one_error_line(panel)
    assert "Could not list the servers: network error" in line and "could not connect" in line
    panel.paste_box.value = emulator_id
    panel.lock_button.click()
    panel.wait(WAIT)
    assert panel.results is not None and list(panel.results["outcome"]) == ["network_error"]
    assert "Server failed (network_error): network error" in _one_error_line(panel)


@pytest.mark.signature_rejections
def test_wrong_secret_is_a_401_for_every_server(emulator: Emulator) -> None:
    panel = make_panel(_options(emulator.transport(), secret_key="not-the-secret"))
    assert "Could not list the servers: signature rejected (401)" in _one_error_line(panel)
    panel.paste_box.value = " ".join(emulator.own_ids[:3])
    panel.lock_button.click()
    panel.wait(WAIT)
    assert panel.results is not None
    assert list(panel.results["outcome"]) == ["unauthorized"] * 3
    assert set(panel.results["message"]) == {"signature rejected (401): check the secret key and the machine clock"}
    assert "All 3 servers failed (unauthorized): signature rejected (401)" in _one_error_line(panel)
    assert panel.table_html.value.count("signature rejected (401)") == 3


def test_unknown_region() -> None:
    panel = make_panel({"region": "nowhere-9", "environment": "nonsense", "access_key": "a", "secret_key": "b"})
    assert "Could not list the servers" in _one_error_line(panel)


# -- secrets ----------------------------------------------------------------------------------------------


def test_no_secret_in_any_widget_state(panel: LockPanel, emulator: Emulator) -> None:
    panel.selector.value = tuple(unlocked_ids(emulator, 2))
    panel.lock_button.click()
    panel.wait(WAIT)
    states = all_widget_states(panel)
    assert len(states) > 20  # the walk reached the children, their layouts and styles
    text = json.dumps(states, default=str)
    assert "locked" in text  # the walk saw the results table
    assert DEMO_SECRET_KEY not in text
    assert DEMO_SECRET_KEY not in repr(vars(panel))  # kept in Python only, wrapped in Secret


def test_secret_from_the_environment_stays_out_of_widget_state(
    emulator: Emulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SCP_ACCESS_KEY", DEMO_ACCESS_KEY)
    monkeypatch.setenv("SCP_SECRET_KEY", DEMO_SECRET_KEY)
    panel = make_panel({"endpoint": "http://127.0.0.1:9", "transport": emulator.transport()})
    assert len(panel.selector.options) == 50
    assert DEMO_SECRET_KEY not in json.dumps(all_widget_states(panel), default=str)


# -- the table ------------------------------------------------------------------------------------------------


def test_table_escapes_values(panel: LockPanel, emulator: Emulator) -> None:
    panel.paste_box.value = emulator.foreign_ids[0]
    panel.lock_button.click()
    panel.wait(WAIT)
    assert panel.results is not None
    frame = panel.results.copy()
    frame.loc[0, "message"] = "<script>x</script>"
    panel.results_area.show(frame, {})
    assert "<script>x" not in panel.table_html.value and "&lt;script&gt;" in panel.table_html.value


@pytest.fixture
def emulator_id(emulator: Emulator) -> str:
    return emulator.own_ids[0]
