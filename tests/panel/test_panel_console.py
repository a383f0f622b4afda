"""The panel as an operator's console, at the model level (no browser): safe by default, targets resolved
or flagged, acting on a run, honest progress."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from test_panel import WAIT, GatedTransport, make_panel, wait_until

from scp_widgets.emulator import DEMO_ACCESS_KEY, DEMO_SECRET_KEY, Emulator, EmulatorConfig
from scp_widgets.panel.confirm import question
from scp_widgets.panel.lock_panel import LockPanel
from scp_widgets.panel.targets import resolve, targets

MISSING = "00000000-0000-4000-8000-000000000000"


@pytest.fixture
def fleet() -> Emulator:
    """100 own servers (10% locked) and 2 of another account."""
    return Emulator(EmulatorConfig(servers=100, seed=11))


def _options(fleet: Emulator | httpx.AsyncBaseTransport, **extra: Any) -> dict[str, Any]:
    transport = fleet.transport() if isinstance(fleet, Emulator) else fleet
    return {
        "endpoint": "http://127.0.0.1:9", "access_key": DEMO_ACCESS_KEY, "secret_key": DEMO_SECRET_KEY,
        "transport": transport, **extra,
    }  # fmt: skip


@pytest.fixture
def panel(fleet: Emulator) -> Iterator[LockPanel]:
    made = make_panel(_options(fleet))
    yield made
    made.close()


def _posted(emulator: Emulator) -> list[str]:
    return [r.path.split("/")[3] for r in emulator.record if r.method == "POST"]


# -- safe by default ---------------------------------------------------------------------------------------


def test_unlock_of_100_picked_servers_sends_nothing_until_confirmed(panel: LockPanel, fleet: Emulator) -> None:
    panel.select_shown_button.click()
    assert len(panel.target_ids) == 100
    locked = sum(fleet.server(i)["locked"] for i in fleet.own_ids)
    fleet.reset_record()
    panel.unlock_button.click()
    assert panel.confirm_step.pending and panel.confirm_step.layout.display == "flex"
    already = 100 - locked
    assert question("unlock", 100, already, 0) in panel.confirm_step.line.value
    assert (
        f"Unlock 100 servers? · {already} already unlocked (per the list; sent too, so their state is "
        "confirmed) · 0 invalid" in (panel.confirm_step.line.value)
    )
    assert panel.lock_button.disabled and panel.unlock_button.disabled  # one question at a time
    panel.wait(WAIT)
    assert _posted(fleet) == [] and panel.results is None and not panel.running

    panel.confirm_step.back_button.click()  # Cancel backs out
    assert not panel.confirm_step.pending and panel.confirm_step.layout.display == "none"
    assert "Backed out: nothing was sent." in panel.status_html.value
    assert _posted(fleet) == [] and not panel.lock_button.disabled

    panel.unlock_button.click()
    panel.confirm_step.confirm_button.click()
    panel.wait(WAIT)
    assert sorted(_posted(fleet)) == sorted(fleet.own_ids)
    assert panel.results is not None and len(panel.results) == 100


def test_a_small_lock_runs_at_once_and_a_large_one_asks(fleet: Emulator) -> None:
    panel = make_panel(_options(fleet), confirm_above=3)
    ids = [i for i in fleet.own_ids if not fleet.server(i)["locked"]]
    panel.paste_box.value = " ".join(ids[:3])
    panel.lock_button.click()
    panel.wait(WAIT)
    assert not panel.confirm_step.pending and len(_posted(fleet)) == 3
    panel.paste_box.value = " ".join(ids[3:7]) + " nonsense"
    panel.lock_button.click()
    assert panel.confirm_step.pending and len(_posted(fleet)) == 3
    assert (
        "Lock 4 servers? · 0 already locked (per the list; sent too, so their state is confirmed) · "
        "1 invalid pasted entry left out" in (panel.confirm_step.line.value)
    )


def test_clear_empties_the_picks_the_paste_box_and_a_pending_question(panel: LockPanel, fleet: Emulator) -> None:
    panel.selector.value = tuple(fleet.own_ids[:2])
    panel.paste_box.value = fleet.own_ids[5]
    panel.unlock_button.click()
    assert panel.confirm_step.pending
    panel.clear_button.click()
    assert panel.paste_box.value == "" and panel.selector.value == () and panel.target_ids == []
    assert not panel.confirm_step.pending
    assert "Target: nothing yet" in panel.target_label.value
    panel.confirm_step.confirm_button.click()  # a stale Confirm does nothing
    panel.wait(WAIT)
    assert _posted(fleet) == []


def test_names_and_console_urls_resolve_to_ids_and_the_rest_is_flagged(panel: LockPanel, fleet: Emulator) -> None:
    first, second = fleet.own_ids[:2]
    name = fleet.server(first)["name"]
    url = f"https://console.example.test/#/virtual-servers/{second.upper()}/detail"
    panel.paste_box.value = f"{name}\n{url}   # the second one\nweb-does-not-exist, {MISSING}"
    assert panel.target_ids == [first, second, MISSING]
    notes = panel.paste_notes.value
    assert "web-does-not-exist</code>: not an id, a console URL or a server name in the list; left out" in notes
    assert f"{name} → <code>{first[:8]}…</code>" in notes
    assert "Target: 3 servers: 3 pasted (1 pasted entry left out" in panel.target_label.value


def test_resolve_refuses_an_ambiguous_name() -> None:
    assert resolve("web", {"web": ["a", "b"]}) == (None, "2 servers have this name; paste the id")
    plan = targets(["x"], "WEB # comment", {"web": ["y"]})
    assert (plan.ids, plan.picked, plan.pasted) == (["x", "y"], 1, 1)


# -- acting on a run -----------------------------------------------------------------------------------------


def test_retry_failed_resends_exactly_the_failed_rows_with_the_same_settings(panel: LockPanel, fleet: Emulator) -> None:
    own = [i for i in fleet.own_ids if not fleet.server(i)["locked"]][:4]
    panel.concurrency_box.value = 3
    panel.paste_box.value = "\n".join([own[0], fleet.foreign_ids[0], own[1], MISSING, "bogus", own[2]])
    panel.lock_button.click()
    panel.wait(WAIT)
    first = panel.results
    assert first is not None and first.attrs["concurrency"] == 3
    assert panel.progress_bar.bar_style == "warning"  # amber: a partial failure
    assert panel.results_area.retry_button.description == "Retry failed (2)"
    assert "Copy failed ids (2)" in panel.results_area.links_html.value
    assert f'data-copy="{fleet.foreign_ids[0]}\n{MISSING}"' in panel.results_area.links_html.value
    assert 'download="scp-lock-' in panel.results_area.links_html.value  # CSV and the journal as links

    fleet.reset_record()
    panel.concurrency_box.value = 7  # the retry keeps the run's own settings
    panel.results_area.retry_button.click()
    panel.wait(WAIT)
    assert sorted(_posted(fleet)) == sorted([fleet.foreign_ids[0], MISSING])
    again = panel.results
    assert again is not None and list(again["server_id"]) == [fleet.foreign_ids[0], MISSING]
    assert again.attrs["concurrency"] == 3
    assert panel.progress_bar.bar_style == "danger"  # red: nothing succeeded


def test_chips_and_sort_choose_the_rows(panel: LockPanel, fleet: Emulator) -> None:
    own = [i for i in fleet.own_ids if not fleet.server(i)["locked"]][:3]
    panel.paste_box.value = " ".join([own[0], MISSING, own[1], own[2]])
    panel.lock_button.click()
    panel.wait(WAIT)
    chips = [label for label, _ in panel.results_area.chips.options]
    assert chips == ["All 4", "Failed 1", "Succeeded 3"]
    table = panel.table_html.value
    assert table.index(f'data-id="{MISSING}"') < table.index(f'data-id="{own[0]}"')  # failures first
    assert "<details" in table  # successes folded
    panel.results_area.chips.value = "succeeded"
    assert MISSING not in panel.table_html.value and panel.table_html.value.count('data-outcome="locked"') == 3
    assert "<details" not in panel.table_html.value
    panel.results_area.chips.value = "all"
    panel.results_area.sort_dropdown.value = "request"
    assert "scp-failed" in panel.table_html.value


# -- honest progress -----------------------------------------------------------------------------------------------


def test_rows_stream_in_and_the_old_table_is_cleared_at_the_start(fleet: Emulator) -> None:
    gated = GatedTransport(fleet.transport())
    panel = make_panel(_options(gated), concurrency=2)
    own = [i for i in fleet.own_ids if not fleet.server(i)["locked"]]
    gated.gate.set()
    panel.paste_box.value = " ".join(own[:2])
    panel.lock_button.click()
    panel.wait(WAIT)
    assert panel.table_html.value.count('data-outcome="locked"') == 2
    gated.gate.clear()
    panel.paste_box.value = " ".join([MISSING, "11111111-1111-4111-8111-111111111111", *own[2:6]])
    panel.lock_button.click()
    assert panel.table_html.value == "" and panel.summary_html.value == ""  # the old run is gone
    gated.gate.set()
    wait_until(lambda: "data-outcome" in panel.table_html.value or not panel.running, "the first rows")
    panel.wait(WAIT)
    assert panel.table_html.value.count("data-outcome=") == 6
    label = panel.counts_label.value
    assert "6/6" in label


def test_the_counts_line_shows_sent_accepted_and_verified(fleet: Emulator) -> None:
    gated = GatedTransport(fleet.transport())
    panel = make_panel(_options(gated), concurrency=2)
    panel.paste_box.value = " ".join(i for i in fleet.own_ids[:10] if not fleet.server(i)["locked"])
    panel.lock_button.click()
    wait_until(lambda: gated.posts_waiting == 2, "two locks in flight")
    wait_until(lambda: "2 sent · 0 accepted · 0 verified" in panel.counts_label.value, "the sends shown")
    gated.gate.set()
    panel.wait(WAIT)


def test_streaming_a_big_run_draws_the_newest_rows_of_each_section_at_a_calm_pace() -> None:
    from scp_widgets.engine.results import Outcome, ServerResult
    from scp_widgets.panel.results import ResultsArea
    from scp_widgets.panel.run_status import STREAM_ROWS, RecentRows

    area = ResultsArea(lambda: None, lambda: None)
    recent = RecentRows()
    rows = [ServerResult(f"{n:08x}-0000-4000-8000-000000000000", "lock", Outcome.LOCKED) for n in range(300)]
    for row in rows:
        recent.add(row)
    recent.add(ServerResult("ffffffff-0000-4000-8000-000000000000", "lock", Outcome.NOT_FOUND))
    assert len(recent.rows()) == STREAM_ROWS + 1  # bounded: the newest of each section, whatever the run's size
    area.stream(recent, {})
    first = area.table_html.value
    assert first.count("<tr data-outcome") == STREAM_ROWS + 1
    assert "Succeeded (300; the newest 100 shown)" in first and "Failed (1)" in first
    assert rows[-1].server_id in first and rows[0].server_id not in first  # the newest, not the first
    recent.add(ServerResult("eeeeeeee-0000-4000-8000-000000000000", "lock", Outcome.NOT_FOUND))
    area.stream(recent, {})  # within the interval: not redrawn
    assert area.table_html.value == first


def test_resume_cancelled_sends_exactly_the_rows_a_cancel_left(fleet: Emulator) -> None:
    gated = GatedTransport(fleet.transport())
    panel = make_panel(_options(gated), concurrency=2)
    ids = [i for i in fleet.own_ids if not fleet.server(i)["locked"]][:6]
    panel.paste_box.value = " ".join(ids)
    panel.lock_button.click()
    wait_until(lambda: gated.posts_waiting == 2, "two locks in flight")
    panel.cancel_button.click()
    gated.gate.set()
    panel.wait(WAIT)
    first = panel.results
    assert first is not None
    cancelled = [i for i, o in zip(first["server_id"], first["outcome"], strict=True) if o == "cancelled"]
    # The 4 never sent, and each of the 2 in flight that the Cancel cut off before the gate let it through.
    assert 4 <= len(cancelled) <= 6 and set(ids[2:]) <= set(cancelled)
    assert panel.results_area.resume_button.description == f"Resume cancelled ({len(cancelled)})"
    assert panel.progress_bar.bar_style == "warning"
    fleet.reset_record()
    panel.results_area.resume_button.click()
    panel.wait(WAIT)
    assert sorted(_posted(fleet)) == sorted(cancelled)
    assert panel.results is not None and list(panel.results["outcome"]) == ["locked"] * len(cancelled)
    assert panel.results.attrs["concurrency"] == 2


def test_a_csv_too_large_for_a_link_says_what_to_do_instead_and_stays_out_of_the_widget_state() -> None:
    from scp_widgets.engine.results import Outcome, ServerResult, to_frame
    from scp_widgets.panel.results import MAX_LINK_BYTES, links_html

    rows = [ServerResult(f"{n:08x}-0000-4000-8000-000000000000", "lock", Outcome.LOCKED) for n in range(30_000)]
    big = links_html(to_frame(rows, {"action": "lock", "run_id": "r1"}))
    assert "↓ Download CSV: too large for a link; use panel.results.to_csv(path)" in big
    assert "data:text/csv" not in big and len(big) < MAX_LINK_BYTES // 100
    small = links_html(to_frame(rows[:20], {"action": "lock", "run_id": "r2"}))
    assert 'download="scp-lock-r2.csv" href="data:text/csv' in small
