"""The results view (one for the magics and the panel), the magics' display of a run, and acting on a run:
`retry_failed`, `resume_cancelled`, `%scp_lock --retry-failed`."""

from __future__ import annotations

import datetime as dt
import itertools
import json
import os
import re
from typing import Any

import pandas as pd
import pytest
from IPython.core.error import UsageError
from IPython.core.interactiveshell import InteractiveShell

import scp_widgets
from scp_widgets.emulator import Emulator, Faults
from scp_widgets.engine.bulk import Progress
from scp_widgets.engine.results import COLUMNS, Outcome, ServerResult, count_not_sent, to_frame
from scp_widgets.views.results_view import humanise_ms, level_of, local_time, order, run_html, run_text, summary_text

MISSING = "00000000-0000-4000-8000-000000000000"
FORBIDDEN = "access denied (403): the server belongs to another account or the key lacks permission"


def _frame(outcomes: list[str], **attrs: Any) -> pd.DataFrame:
    results = [
        ServerResult(
            f"{n:08x}-0000-4000-8000-000000000000", "lock", Outcome(o), attempts=1, started_at=1_800_000_000.0,
            finished_at=1_800_000_000.0 + n, message=None if o == "locked" else f"why {n}: {'x' * 120}",
        )
        for n, o in enumerate(outcomes)
    ]  # fmt: skip
    return to_frame(results, {"action": "lock", "api_version": "1.3", "elapsed_s": 3.14, **attrs})


# -- pure formatting ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("ms", "text"),
    [(None, ""), (float("nan"), ""), (45.4, "45 ms"), (1234, "1.2 s"), (18817, "18.8 s"), (125_000, "2 min 5 s")],
)
def test_durations_read_as_a_person_says_them(ms: Any, text: str) -> None:
    assert humanise_ms(ms) == text


def test_times_are_local_with_the_date_only_when_not_today() -> None:
    stamp = pd.Timestamp("2026-11-28 12:00:00", tz="UTC")
    local = stamp.to_pydatetime().astimezone()
    assert local_time(stamp, today=local.date()) == local.strftime("%H:%M:%S")
    assert local_time(stamp, today=local.date() + dt.timedelta(days=1)) == local.strftime("%Y-%m-%d %H:%M:%S")


def test_level_is_amber_for_a_partial_failure_and_red_only_when_nothing_succeeded() -> None:
    assert level_of(_frame(["locked"] * 3)) == "ok"
    assert level_of(_frame(["locked"] * 52 + ["forbidden"] * 4)) == "warn"
    assert level_of(_frame(["forbidden", "not_found"])) == "error"
    assert level_of(_frame(["locked", "cancelled"], cancelled=True)) == "warn"


def test_html_puts_failures_first_whole_and_folds_the_successes() -> None:
    frame = _frame(["locked"] * 30 + ["forbidden"] + ["locked"] * 20 + ["server_error"])
    html = run_html(frame, {frame.server_id[30]: "db-007"})
    failed_at, folded_at = html.index('class="scp-section scp-failed"'), html.index("<details")
    assert failed_at < folded_at
    failures = html[failed_at:folded_at]
    assert failures.count("<tr data-outcome") == 2
    assert frame.message[30] in failures and frame.message[51] in failures  # whole, not cut at 50 characters
    assert "<b>db-007</b>" in failures and f'title="{frame.server_id[30]}"' in failures
    assert html[folded_at:].count('data-outcome="locked"') == 50
    assert "Lock: 2 of 52 failed · 50 locked, 1 forbidden, 1 server_error · 52 servers in 3.1 s" in html
    assert 'scp-icon warn">⚠' in html


def test_a_cancelled_or_unfinished_run_never_reads_all_succeeded() -> None:
    # after Cancel at 50,000 the head said "cancelled; all succeeded" over 45,490 cancelled rows
    assert summary_text(_frame(["locked", "cancelled", "cancelled"], cancelled=True)).startswith(
        "Lock: cancelled; 1 of 3 done · 2 cancelled, 1 locked"
    )
    assert summary_text(_frame(["locked", "accepted"])).startswith("Lock: 1 of 2 done · ")
    assert summary_text(_frame(["forbidden", "cancelled"], cancelled=True)).startswith("Lock: cancelled; 1 of 2 failed")
    assert summary_text(_frame(["locked", "already_locked"])).startswith("Lock: all succeeded · ")


def test_html_escapes_everything() -> None:
    frame = _frame(["forbidden"])
    frame.loc[0, "message"] = "<script>alert(1)</script>"
    html = run_html(frame, {str(frame.server_id[0]): "<img src=x>"})
    assert "<script>alert" not in html and "<img src=x>" not in html and "&lt;script&gt;" in html


def test_sorting_keeps_request_order_among_equals() -> None:
    frame = _frame(["locked", "not_found", "locked", "forbidden"])
    assert list(order(frame, {}, "attention").index) == [1, 3, 0, 2]
    assert list(order(frame, {}, "slowest").index) == [3, 2, 1, 0]
    names = {frame.server_id[0]: "b", frame.server_id[1]: "a"}
    assert list(order(frame, names, "name").index) == [1, 0, 2, 3]


def test_text_leads_with_the_failures_then_server_id_outcome_and_message() -> None:
    frame = _frame(["locked"] * 10 + ["not_found"])
    lines = run_text(frame).splitlines()
    assert lines[0] == summary_text(frame)
    assert lines[1] == "Failed (1):"
    assert lines[2].startswith(f"  {frame.server_id[10]}  not_found: why 10: ") and lines[2].endswith("x" * 120)
    assert lines[3].split()[:3] == ["server_id", "outcome", "message"]


# -- the magics' display -------------------------------------------------------------------------------------


def _forty_with_two_failures(emulator: Emulator) -> list[str]:
    own = [i for i in emulator.own_ids if not emulator.server(i)["locked"]][:38]
    return [*own[:20], emulator.foreign_ids[0], *own[20:], MISSING]


def test_magic_output_names_the_two_failures_and_why_above_the_fold(ip: InteractiveShell, emulator: Emulator) -> None:
    ids = _forty_with_two_failures(emulator)
    ip.user_ns["ids"] = ids
    frame = ip.run_line_magic("scp_lock", "--quiet --from ids -o result")
    assert list(frame.columns) == list(COLUMNS) and str(frame["outcome"].dtype) == "category"  # contract kept
    assert ip.user_ns["result"] is frame and type(frame) is pd.DataFrame

    data, _ = ip.display_formatter.format(frame)
    html = data["text/html"]
    # Above the fold: the summary and both failures come before any successful row, each with its reason.
    first_success = html.index('data-outcome="locked"')
    head = html[:first_success]
    assert "Lock: 2 of 40 failed · 38 locked, 1 forbidden, 1 not_found" in head
    assert f'data-id="{emulator.foreign_ids[0]}"' in head and FORBIDDEN in head
    assert f'data-id="{MISSING}"' in head and "server not found in this account" in head
    assert len(re.findall(r"<tr data-outcome", head)) == 2

    text = data["text/plain"].splitlines()
    assert text[1] == "Failed (2):"
    assert text[2] == f"  {emulator.foreign_ids[0]}  forbidden: {FORBIDDEN}"
    assert text[3] == f"  {MISSING}  not_found: server not found in this account"
    assert text[4].split()[:3] == ["server_id", "outcome", "message"]


def test_a_slice_of_the_result_displays_as_a_plain_dataframe(ip: InteractiveShell, emulator: Emulator) -> None:
    frame = ip.run_line_magic("scp_lock", f"--quiet {emulator.foreign_ids[0]}")
    part = frame[frame.message.notna()]
    data, _ = ip.display_formatter.format(part)
    assert data["text/html"] == part._repr_html_() and data["text/plain"] == repr(part)
    ip.run_line_magic("unload_ext", "scp_widgets")
    assert "scp-run" not in ip.display_formatter.format(frame)[0]["text/html"]  # unload takes the view away
    ip.run_line_magic("load_ext", "scp_widgets")


def _posted(emulator: Emulator) -> list[str]:
    return [r.path.split("/")[3] for r in emulator.record if r.method == "POST"]


def test_retry_failed_magic_sends_exactly_the_failed_rows_with_the_same_settings(
    ip: InteractiveShell, emulator: Emulator
) -> None:
    own = [i for i in emulator.own_ids if not emulator.server(i)["locked"]][:3]
    ip.user_ns["ids"] = [own[0], emulator.foreign_ids[0], "not-an-id", own[1], MISSING, own[2]]
    ip.run_line_magic("scp_lock", "--quiet --concurrency 3 --from ids -o result")
    emulator.reset_record()
    again = ip.run_line_magic("scp_lock", "--quiet --retry-failed result -o again")
    assert sorted(_posted(emulator)) == sorted([emulator.foreign_ids[0], MISSING])  # not the invalid id
    assert list(again["server_id"]) == [emulator.foreign_ids[0], MISSING]
    assert again.attrs["concurrency"] == 3 and again.attrs["rerun_of"] == ip.user_ns["result"].attrs["run_id"]
    with pytest.raises(UsageError, match="is a lock run: use %scp_lock"):
        ip.run_line_magic("scp_unlock", "--retry-failed result")
    emulator.reset_record()
    nothing = ip.run_line_magic("scp_lock", "--resume-cancelled result")
    assert len(nothing) == 0 and list(nothing.columns) == list(COLUMNS) and _posted(emulator) == []
    assert "result has no cancelled rows" in nothing.attrs["summary"]
    assert nothing.attrs["summary"].endswith("It has 2 failed rows: --retry-failed result sends them.")
    with pytest.raises(UsageError, match="give no other ids"):
        ip.run_line_magic("scp_lock", f"--retry-failed result {own[0]}")


def test_retry_failed_and_resume_cancelled_from_python(emulator: Emulator, emu_options: dict[str, Any]) -> None:
    own = [i for i in emulator.own_ids if not emulator.server(i)["locked"]][:2]
    first = scp_widgets.lock([own[0], MISSING, own[1]], **emu_options)
    emulator.reset_record()
    again = scp_widgets.retry_failed(first, **emu_options)
    assert _posted(emulator) == [MISSING] and list(again["outcome"]) == ["not_found"]
    cancelled = first.copy()
    cancelled.attrs = dict(first.attrs)
    cancelled["outcome"] = pd.Categorical(["cancelled", "not_found", "locked"], dtype=first["outcome"].dtype)
    emulator.reset_record()
    resumed = scp_widgets.resume_cancelled(cancelled, **emu_options)
    assert _posted(emulator) == [own[0]] and list(resumed["server_id"]) == [own[0]]
    emulator.reset_record()
    nothing = scp_widgets.retry_failed(resumed, **emu_options)  # a clean run: nothing to send, no error
    assert len(nothing) == 0 and _posted(emulator) == [] and nothing.attrs["summary"] == "no failed rows: nothing sent"
    interrupted = cancelled.iloc[[0, 2]].copy()  # after an interrupt the rows left are cancelled, not failed
    interrupted.attrs = dict(cancelled.attrs)
    hint = scp_widgets.retry_failed(interrupted, **emu_options)
    assert len(hint) == 0 and _posted(emulator) == []
    assert hint.attrs["summary"] == "no failed rows: nothing sent (1 cancelled rows: resume_cancelled sends them)"
    with pytest.raises(scp_widgets.ScpUsageError, match="Expected a run's result DataFrame"):
        scp_widgets.retry_failed(["not", "a", "frame"])


# -- progress from the engine -------------------------------------------------------------------------------------


def test_engine_reports_sent_and_accepted_before_servers_finish(
    emulator: Emulator, emu_options: dict[str, Any]
) -> None:
    seen: list[Progress] = []
    ids = [i for i in emulator.own_ids if not emulator.server(i)["locked"]][:30]
    frame = scp_widgets.lock([*ids, MISSING], progress=seen.append, concurrency=4, **emu_options)
    assert len(frame) == 31
    last = seen[-1]
    assert (last.sent, last.accepted, last.done) == (31, 30, 31)
    assert any(p.last is None and p.sent > p.done for p in seen)  # a send was reported before its server finished
    assert all(a.sent <= b.sent and a.accepted <= b.accepted for a, b in itertools.pairwise(seen))


def test_an_unreadable_state_is_one_sentence(emulator: Emulator, emu_options: dict[str, Any]) -> None:
    emulator.set_faults(Faults(error_rates={503: 1.0}, methods=frozenset({"GET"})))
    server = next(i for i in emulator.own_ids if not emulator.server(i)["locked"])
    frame = scp_widgets.lock([server], retries=0, verify_timeout=0.2, **emu_options)
    assert list(frame["outcome"]) == ["unverified"]
    assert frame["message"][0].startswith("accepted (202), but the state could not be read back in 0.2 s (service")
    assert frame["message"][0].count(": check") <= 1


def _event(line: str) -> tuple[str, str]:
    record = json.loads(line)
    return str(record.get("id") or record.get("server_id")), str(record["type"])


def _killed_run_frame(emulator: Emulator, emu_options: dict[str, Any], tmp_path: Any) -> pd.DataFrame:
    """read_journal of a run killed mid-way: rows cut at 'sent' and 'accepted', the rest never sent."""
    ids = [i for i in emulator.own_ids if not emulator.server(i)["locked"]][:6]
    path = tmp_path / "killed.jsonl"
    scp_widgets.lock(ids, journal=path, concurrency=1, **emu_options)
    lines = path.read_text().splitlines()
    keep = {(ids[0], "sent"), (ids[0], "accepted"), (ids[0], "result"), (ids[1], "sent"), (ids[1], "accepted")}
    keep.add((ids[2], "sent"))  # killed after server 0 finished, 1 was accepted and 2 sent; 3-5 never sent
    kept = [line for line in lines[1:] if _event(line) in keep]
    path.write_text("\n".join([lines[0], *kept]) + "\n")
    frame = scp_widgets.read_journal(path)
    assert list(frame["outcome"].astype(str)) == ["locked", "accepted", "sent"]
    assert frame.attrs["never_sent"] == ids[3:]
    return frame


def test_a_killed_runs_journal_frame_resumes_the_never_sent_and_retries_the_unsure_after_reading(
    emulator: Emulator, emu_options: dict[str, Any], tmp_path: Any
) -> None:
    killed = _killed_run_frame(emulator, emu_options, tmp_path)
    ids = [*killed["server_id"], *killed.attrs["never_sent"]]
    scp_widgets.unlock(ids[3:], journal=False, **emu_options)  # as they were: the dead run never sent them
    emulator.reset_record()
    resumed = scp_widgets.resume_cancelled(killed, **emu_options)  # what the dead run never sent
    assert list(resumed["server_id"]) == ids[3:] and sorted(_posted(emulator)) == sorted(ids[3:])
    emulator.reset_record()
    again = scp_widgets.retry_failed(killed, **emu_options)  # sent / accepted: read first, sent only if needed
    assert list(again["server_id"]) == ids[1:3] and again.attrs["preflight"] is True
    assert list(again["outcome"].astype(str)) == ["already_locked", "already_locked"] and _posted(emulator) == []


def test_retry_and_resume_magics_on_a_killed_runs_journal_frame(
    ip: InteractiveShell, emulator: Emulator, tmp_path: Any
) -> None:
    killed = _killed_run_frame(emulator, {"endpoint": os.environ["SCP_ENDPOINT"]}, tmp_path)
    never_sent = killed.attrs["never_sent"]
    ip.user_ns["result"] = killed
    scp_widgets.unlock(never_sent, journal=False)
    emulator.reset_record()
    resumed = ip.run_line_magic("scp_lock", "--quiet --resume-cancelled result")
    assert list(resumed["server_id"]) == never_sent == sorted(_posted(emulator), key=never_sent.index)
    again = ip.run_line_magic("scp_lock", "--quiet --retry-failed result")
    assert list(again["server_id"]) == list(killed["server_id"][1:])
    assert set(again["outcome"].astype(str)) == {"already_locked"}


def test_nothing_to_retry_shows_as_a_run_not_as_a_raw_empty_dataframe(ip: InteractiveShell, emulator: Emulator) -> None:
    ip.user_ns["ids"] = emulator.own_ids[:2]
    ip.run_line_magic("scp_lock", "--quiet --from ids -o result")
    nothing = ip.run_line_magic("scp_lock", "--quiet --resume-cancelled result")
    text = ip.display_formatter.format(nothing)[0]["text/plain"]
    assert text.startswith("Lock: nothing to do") and "Empty DataFrame" not in text and "Columns:" not in text
    ip.user_ns["result_history"] = scp_widgets.history()
    with pytest.raises(UsageError, match=r"result_history: This DataFrame is not a run.s result frame .*read_journal"):
        ip.run_line_magic("scp_lock", "--retry-failed result_history")


def test_retrying_a_dry_runs_failures_is_a_dry_run_again(emulator: Emulator, emu_options: dict[str, Any]) -> None:
    own = [i for i in emulator.own_ids if emulator.server(i)["locked"]][:1]
    plan = scp_widgets.unlock([*own, MISSING], dry_run=True, **emu_options)
    assert list(plan["outcome"].astype(str)) == ["planned", "not_found"]
    emulator.reset_record()
    again = scp_widgets.retry_failed(plan, **emu_options)  # the same settings: still nothing changes
    assert again.attrs["dry_run"] is True and [r for r in emulator.record if r.method == "POST"] == []
    real = scp_widgets.retry_failed(plan, dry_run=False, **emu_options)  # an explicit override still works
    assert real.attrs["dry_run"] is False and _posted(emulator) == [MISSING]


def test_retry_failed_magic_with_dry_run_sends_nothing(ip: InteractiveShell, emulator: Emulator) -> None:
    ip.user_ns["ids"] = [emulator.own_ids[0], MISSING]
    ip.run_line_magic("scp_lock", "--quiet --from ids -o result")
    emulator.reset_record()
    plan = ip.run_line_magic("scp_lock", "--quiet --retry-failed result --dry-run")  # typed flags win
    assert plan.attrs["dry_run"] is True and _posted(emulator) == []


def test_not_sent_rows_are_counted_from_results_and_from_a_frame_column_with_missing_codes() -> None:
    results = [
        ServerResult("a", "lock", Outcome.UNAUTHORIZED, error_code="NOT_SENT"),
        ServerResult("b", "lock", Outcome.UNAUTHORIZED, error_code="UNAUTHORIZED"),
        ServerResult("c", "lock", Outcome.LOCKED),
    ]
    assert count_not_sent(r.error_code for r in results) == 1
    assert count_not_sent(to_frame(results)["error_code"]) == 1  # the column holds pd.NA for "c"
