"""The bulk engine against the emulator: every requested server ends with exactly one outcome."""

from __future__ import annotations

import _thread
import asyncio
import json
import threading
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import pandas as pd
import pytest

import scp_widgets
from scp_widgets.client.errors import ScpUsageError, UnsupportedVersionError
from scp_widgets.emulator import DEMO_ACCESS_KEY, DEMO_SECRET_KEY, Emulator, EmulatorConfig, EmulatorServer, Faults
from scp_widgets.engine.bulk import Progress
from scp_widgets.engine.cancel import CancelToken
from scp_widgets.engine.results import COLUMNS

CONTRACT_DTYPES = {
    "server_id": "string",
    "action": "category",
    "outcome": "category",
    "http_status": "Int64",
    "locked": "boolean",
    "attempts": "int64",
    "error_code": "string",
    "message": "string",
    "request_id": "string",
    "api_version": "string",
    "endpoint": "string",
    "started_at": "datetime64[ns, UTC]",
    "finished_at": "datetime64[ns, UTC]",
    "elapsed_ms": "float64",
    "sent_at": "datetime64[ns, UTC]",
    "answered_at": "datetime64[ns, UTC]",
}


def options_for(emulator: Emulator, **extra: Any) -> dict[str, Any]:
    return {
        "endpoint": "http://127.0.0.1:9",
        "access_key": DEMO_ACCESS_KEY,
        "secret_key": DEMO_SECRET_KEY,
        "transport": emulator.transport(),
        **extra,
    }


def posts(emulator: Emulator, action: str = "lock") -> Counter[str]:
    return Counter(r.server_id for r in emulator.record if r.method == "POST" and r.action == action and r.server_id)


def test_frame_has_the_contract_columns_dtypes_and_order(emulator: Emulator, emu_options: dict[str, Any]) -> None:
    ids = emulator.own_ids[:5]
    df = scp_widgets.lock(list(reversed(ids)), **emu_options)
    assert list(df.columns) == list(COLUMNS)
    assert {c: str(t) for c, t in df.dtypes.items()} == CONTRACT_DTYPES
    assert list(df.server_id) == list(reversed(ids))
    assert set(df.outcome) == {"locked"}
    assert df.locked.all() and (df.http_status == 202).all()
    assert df.attrs["counts"] == {"locked": 5}
    assert df.attrs["summary"].startswith("5 locked in ")
    assert df.attrs["api_version"] == "1.3"
    assert all(emulator.server(i)["locked"] for i in ids)


def test_input_is_normalised_deduplicated_and_malformed_ids_are_never_sent(
    emulator: Emulator, emu_options: dict[str, Any]
) -> None:
    a, b = emulator.own_ids[:2]
    text = f"  {a.upper()}, {b}\n{a}  not-a-uuid ; {b}"
    df = scp_widgets.lock(text, **emu_options)
    assert list(df.server_id) == [a, b, "not-a-uuid"]
    assert list(df.outcome) == ["locked", "locked", "invalid_id"]
    assert df.attrs["duplicates"] == 2
    assert posts(emulator) == Counter({a: 1, b: 1})
    assert "not a server id" in df.message[2]


@pytest.mark.parametrize(
    ("ids", "options", "fragment"),
    [
        ("", {}, "No server ids"),
        ([], {}, "No server ids"),
        (" ,\n ", {}, "No server ids"),
        ("ID", {"concurrency": 0}, "concurrency"),
        ("ID", {"timeout": -1}, "timeout"),
        ("ID", {"retries": -1}, "retries"),
    ],
)
def test_bad_input_is_a_clear_error_before_anything_is_sent(
    emulator: Emulator, emu_options: dict[str, Any], ids: Any, options: dict[str, Any], fragment: str
) -> None:
    ids = emulator.own_ids[0] if ids == "ID" else ids
    with pytest.raises(ScpUsageError, match=fragment):
        scp_widgets.lock(ids, **emu_options, **options)
    assert emulator.record == []


def test_retired_version_is_refused_before_anything_is_sent(emulator: Emulator, emu_options: dict[str, Any]) -> None:
    with pytest.raises(UnsupportedVersionError) as caught:
        scp_widgets.lock(emulator.own_ids[:3], api_version="1.0", **emu_options)
    assert str(caught.value) == "API version 1.0 was retired on 2025-12-31; use 1.3."
    assert emulator.record == []


@pytest.mark.signature_rejections
def test_wrong_secret_gives_rows_that_say_why(emulator: Emulator, emu_options: dict[str, Any]) -> None:
    df = scp_widgets.lock(emulator.own_ids[:3], **{**emu_options, "secret_key": "wrong-secret"})
    assert set(df.outcome) == {"unauthorized"}
    assert set(df.message) == {"signature rejected (401): check the secret key and the machine clock"}
    assert (df.http_status == 401).all()
    assert emulator.lock_history == {}


def test_foreign_and_unknown_servers_get_one_sentence_each(emulator: Emulator, emu_options: dict[str, Any]) -> None:
    unknown = "00000000-0000-4000-8000-000000000000"
    df = scp_widgets.lock([emulator.own_ids[0], emulator.foreign_ids[0], unknown], **emu_options)
    assert list(df.outcome) == ["locked", "forbidden", "not_found"]
    assert df.message[2] == "server not found in this account"
    assert df.attrs["summary"].startswith("1 locked, 1 forbidden, 1 not_found in ")


def test_preflight_reports_already_locked_without_a_post(emulator: Emulator, emu_options: dict[str, Any]) -> None:
    first, second = emulator.own_ids[:2]
    scp_widgets.lock([first], **emu_options)
    emulator.reset_record()
    df = scp_widgets.lock([first, second], preflight=True, **emu_options)
    assert list(df.outcome) == ["already_locked", "locked"]
    assert posts(emulator) == Counter({second: 1})


def test_unlock_round_trip(emulator: Emulator, emu_options: dict[str, Any]) -> None:
    ids = emulator.own_ids[:4]
    scp_widgets.lock(ids, **emu_options)
    df = scp_widgets.unlock(ids, **emu_options)
    assert set(df.outcome) == {"unlocked"} and not df.locked.any()
    assert set(df.action) == {"unlock"}


def test_read_back_waits_for_the_flip_and_reports_unverified_when_it_does_not_come() -> None:
    slow = Emulator(EmulatorConfig(servers=4, lock_delay=0.3))
    df = scp_widgets.lock(slow.own_ids[:2], verify_timeout=5, **options_for(slow))
    assert set(df.outcome) == {"locked"}
    never = Emulator(EmulatorConfig(servers=4, lock_delay=60))
    df = scp_widgets.lock(never.own_ids[:2], verify_timeout=0.2, **options_for(never))
    assert set(df.outcome) == {"unverified"}
    # The last read answered false, or a read after it was still waiting at the deadline: each says which.
    last_read = "accepted (202), but locked still read false after 0.2 s"
    cut_short = "accepted (202), but not confirmed in 0.2 s: locked read false, and the read after it had no answer"
    assert all(m == last_read or m.startswith(cut_short) for m in df.message), list(df.message)


class ReadsFailAfterTheFirst(httpx.AsyncBaseTransport):
    """The emulator, except that every GET after the first of its URL gets `answer` (a 503, or a 429 saying
    come back in 20 s): the read-back reads `locked: false` once, then never again."""

    def __init__(self, emulator: Emulator, answer: httpx.Response) -> None:
        self.inner, self.answer, self.seen = emulator.transport(), answer, Counter[str]()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.method == "GET":
            self.seen[str(request.url)] += 1
            if self.seen[str(request.url)] > 1:
                return httpx.Response(self.answer.status_code, headers=self.answer.headers, content=b"{}")
        return await self.inner.handle_async_request(request)


def test_unverified_after_failed_reads_does_not_claim_a_read_it_never_made() -> None:
    """Found by review: "locked still read false after 0.5 s" when false was read once, early, and every read
    after it failed. The sentence says what happened: read false, then the read-back's last error."""
    never = Emulator(EmulatorConfig(servers=4, lock_delay=60))
    failing = ReadsFailAfterTheFirst(never, httpx.Response(503))
    options = {**options_for(never), "transport": failing}
    df = scp_widgets.lock(never.own_ids[:3], verify_timeout=0.5, retries=0, **options)
    assert set(df.outcome) == {"unverified"}
    assert max(failing.seen.values()) > 1  # reads did fail after the first
    for message in df.message:
        assert "still read false" not in message
        assert message.startswith("accepted (202), but the state could not be read back in 0.5 s (locked read false")
        assert "then: service error (503)" in message


def test_a_throttled_read_back_ends_at_its_verify_timeout() -> None:
    """Found by review: reads throttled with Retry-After: 20 kept a run with verify_timeout=3 going for two
    minutes (the guard's throttling limit). A read still waiting when the time is up ends there."""
    never = Emulator(EmulatorConfig(servers=4, lock_delay=60))
    throttled = ReadsFailAfterTheFirst(never, httpx.Response(429, headers={"Retry-After": "20"}))
    options = {**options_for(never), "transport": throttled}
    df = scp_widgets.lock(never.own_ids[:2], verify_timeout=0.5, timeout=1, **options)
    assert set(df.outcome) == {"unverified"}
    for message in df.message:
        assert message == (
            "accepted (202), but not confirmed in 0.5 s: locked read false, and the read after it had no answer yet "
            "when the time was up"
        )


def test_dry_run_plans_and_sends_no_post(emulator: Emulator, emu_options: dict[str, Any]) -> None:
    df = scp_widgets.lock([*emulator.own_ids[:3], "bad"], dry_run=True, **emu_options)
    assert list(df.outcome) == ["planned", "planned", "planned", "invalid_id"]
    assert not [r for r in emulator.record if r.method == "POST"]


def test_thousand_servers_through_faults_all_end_locked_exactly_once() -> None:
    faults = Faults(error_rates={503: 0.2}, drop_rate=0.05, throttle_rate=0.05, retry_after=0.2)
    emulator = Emulator(EmulatorConfig(servers=1000, foreign_servers=0, locked_fraction=0.0, seed=11, faults=faults))
    ids = emulator.own_ids
    # about 28% of attempts fail: 12 retries make a server failing every one of them a one-in-a-million event
    df = scp_widgets.lock(ids, retries=12, concurrency=32, **options_for(emulator))

    assert len(df) == 1000 and list(df.server_id) == ids
    failed = df.server_id[df.outcome != "locked"]
    history = {i: [(r.action, r.status, r.fault) for r in emulator.record if r.server_id == i] for i in failed}
    assert df.attrs["counts"] == {"locked": 1000}, history
    assert df.attempts.max() > 1  # faults really happened and were retried
    faults_seen = Counter(r.fault for r in emulator.record if r.fault)
    assert faults_seen["5xx"] > 100 and faults_seen["drop"] > 10 and faults_seen["429"] > 10
    # the emulator saw lock requests only for servers we asked for
    assert set(posts(emulator)) <= set(ids)
    # no request for a server came sooner than the Retry-After it was given
    last_throttle: dict[tuple[str | None, str | None], float] = {}
    for record in emulator.record:
        key = (record.server_id, record.action)
        if key in last_throttle:
            assert record.time >= last_throttle.pop(key), f"{key} retried before Retry-After"
        if record.status == 429 and record.retry_after is not None:
            last_throttle[key] = record.time + record.retry_after


def test_a_dead_service_ends_fast_and_the_run_stops_sending() -> None:
    with EmulatorServer(Emulator(EmulatorConfig(servers=1))) as server:
        dead = server.url  # a port that was just listening and now refuses connections
    ids = [f"00000000-0000-4000-8000-{n:012d}" for n in range(200)]
    df = scp_widgets.lock(ids, endpoint=dead, access_key="a", secret_key="b", retries=3, journal=False)
    assert set(df.outcome) == {"network_error"}
    assert df.message[0].startswith("network error")
    # 16 refused connections in a row (one per worker): the run stops sending, the rest say so
    assert df.attempts.sum() <= 16 + 20
    not_sent = df[df.attempts == 0]
    assert len(not_sent) >= len(ids) - 16 - 20
    assert set(not_sent.message) == {
        "not sent: the service did not answer 16 requests in a row (refused connections or timeouts), "
        "so the run stopped sending"
    }
    assert set(not_sent.error_code) == {"NOT_SENT"} and not_sent.http_status.isna().all()


def test_all_503_becomes_server_error_rows() -> None:
    emulator = Emulator(EmulatorConfig(servers=30, faults=Faults(error_rates={503: 1.0})))
    df = scp_widgets.lock(emulator.own_ids, retries=2, **options_for(emulator))
    assert set(df.outcome) == {"server_error"} and (df.http_status == 503).all()
    assert df.attempts.sum() <= 30 + 20


def test_cancel_half_way_marks_the_rest_and_journals_every_finished_server(tmp_path: Path) -> None:
    emulator = Emulator(EmulatorConfig(servers=60, locked_fraction=0.0, faults=Faults(latency=0.02)))
    token = CancelToken()

    def on_progress(progress: Progress) -> None:
        if progress.done >= 10:
            token.cancel()

    journal = tmp_path / "run.jsonl"
    # verify off: a server is done when its POST is, so at most `concurrency` more are in flight at the cancel
    df = scp_widgets.lock(
        emulator.own_ids, concurrency=4, verify=False, cancel=token, progress=on_progress, journal=journal,
        **options_for(emulator),
    )  # fmt: skip
    assert len(df) == 60 and list(df.server_id) == emulator.own_ids
    counts = df.outcome.value_counts()
    assert counts["cancelled"] >= 60 - 10 - 4
    assert counts["locked"] >= 10
    assert counts["locked"] + counts["cancelled"] == 60
    cancelled_ids = set(df.server_id[df.outcome == "cancelled"])
    assert not cancelled_ids & set(posts(emulator))  # cancelled means never sent
    lines = [json.loads(line) for line in journal.read_text().splitlines()]
    assert [line["type"] for line in lines].count("result") == 60
    assert lines[0]["type"] == "run" and lines[-1]["type"] == "end"
    assert DEMO_SECRET_KEY not in journal.read_text()
    back = scp_widgets.read_journal(journal)
    pd.testing.assert_frame_equal(back, df, check_like=False)


def test_journal_of_a_killed_run_still_has_every_server_it_sent(tmp_path: Path, emulator: Emulator) -> None:
    ids = emulator.own_ids[:10]
    df = scp_widgets.lock(ids, journal=tmp_path / "j.jsonl", concurrency=1, verify=False, **options_for(emulator))
    lines = (tmp_path / "j.jsonl").read_text().splitlines()
    # simulate a kernel killed after 6 servers (header + 3 lines each) and half of the 7th's `sent` line
    (tmp_path / "cut.jsonl").write_text("\n".join(lines[:19]) + "\n" + lines[19][:20])
    with pytest.warns(scp_widgets.JournalWarning, match="line 20 was cut short"):
        back = scp_widgets.read_journal(tmp_path / "cut.jsonl")
    assert list(back.server_id) == list(df.server_id[:6])
    assert back.attrs["complete"] is False
    assert back.attrs["never_sent"] == back.attrs["missing"] == list(df.server_id[6:])


def test_default_journal_goes_to_the_state_dir(isolated_environment: Path, emulator: Emulator) -> None:
    df = scp_widgets.lock(emulator.own_ids[:2], **options_for(emulator, journal=True))
    path = Path(df.attrs["journal"])
    assert path.parent == isolated_environment and path.is_file()


def _comparable(df: pd.DataFrame) -> pd.DataFrame:
    return df[["server_id", "action", "outcome", "http_status", "locked", "attempts", "api_version"]]


def test_sync_api_gives_the_same_frame_from_a_script_a_running_loop_a_callback_and_a_thread() -> None:
    emulator = Emulator(EmulatorConfig(servers=8, locked_fraction=0.0))
    ids = emulator.own_ids
    options = options_for(emulator)
    expected = _comparable(scp_widgets.lock(ids, **options))

    async def inside_a_running_loop() -> pd.DataFrame:  # what a kernel cell is
        return scp_widgets.lock(ids, **options)

    from_loop = asyncio.run(inside_a_running_loop())

    import ipywidgets

    button, frames = ipywidgets.Button(), []
    button.on_click(lambda _: frames.append(scp_widgets.lock(ids, **options)))
    button.click()

    from_thread: list[pd.DataFrame] = []
    worker = threading.Thread(target=lambda: from_thread.append(scp_widgets.lock(ids, **options)))
    worker.start()
    worker.join(60)

    for frame in (from_loop, frames[0], from_thread[0]):
        pd.testing.assert_frame_equal(_comparable(frame), expected)


def test_async_api_is_awaitable(emulator: Emulator) -> None:
    async def main() -> pd.DataFrame:
        return await scp_widgets.alock(emulator.own_ids[:3], **options_for(emulator))

    assert set(asyncio.run(main()).outcome) == {"locked"}


def test_ctrl_c_returns_the_partial_frame_with_cancelled_rows() -> None:
    emulator = Emulator(EmulatorConfig(servers=40, locked_fraction=0.0, faults=Faults(latency=0.05)))
    interrupted = threading.Event()

    def interrupt_after_two(progress: Progress) -> None:
        # Ctrl-C once two servers are done (an event, not a timer: a busy machine may be slow to start)
        if progress.done >= 2 and not interrupted.is_set():
            interrupted.set()
            _thread.interrupt_main()

    df = scp_widgets.lock(emulator.own_ids, concurrency=1, progress=interrupt_after_two, **options_for(emulator))
    assert interrupted.is_set()
    assert len(df) == 40
    counts = {str(k): int(n) for k, n in df.outcome.value_counts().items() if n}
    # Done before the Ctrl-C: locked, or "accepted" (not yet verified) when the read-back was still waiting for
    # its next listing (it lists at a cadence, not back to back); never sent: cancelled. Nothing else.
    assert set(counts) <= {"locked", "accepted", "cancelled"}, counts
    assert counts.get("locked", 0) + counts.get("accepted", 0) >= 2 and counts.get("cancelled", 0) >= 1
    assert sum(counts.values()) == 40
    assert df.attrs["cancelled"] is True


def test_list_servers_is_a_frame_of_the_whole_own_fleet(emulator: Emulator, emu_options: dict[str, Any]) -> None:
    servers = scp_widgets.list_servers(page_size=7, **emu_options)
    assert sorted(servers.id) == sorted(emulator.own_ids)
    assert {"id", "name", "state", "locked", "server_type", "vpc_id", "created_at"} <= set(servers.columns)
    assert str(servers.locked.dtype) == "boolean"
    active = scp_widgets.list_servers(state="ACTIVE", **emu_options)
    assert len(active) and set(active.state) == {"ACTIVE"}


def test_a_gateway_404_does_not_claim_the_server_is_missing() -> None:
    import httpx

    def gateway(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/":
            return httpx.Response(404)
        body = {"timestamp": "t", "path": request.url.path, "status": 404, "error": "Not Found", "requestId": "g"}
        return httpx.Response(404, json=body)

    df = scp_widgets.lock(
        "2a9be312-5d4b-4bc8-b2ae-35100fa9241f", endpoint="https://example.test", access_key="a", secret_key="b",
        transport=httpx.MockTransport(gateway), journal=False,
    )  # fmt: skip
    assert list(df.outcome) == ["rejected"]
    assert df.message[0].startswith("the API gateway answered 404 Not Found: check the endpoint URL")


def test_a_cancel_during_the_read_back_says_so_not_that_the_wait_ran_out() -> None:
    never = Emulator(EmulatorConfig(servers=4, locked_fraction=0.0, lock_delay=60))
    cancel = CancelToken()

    def cancel_once_accepted(progress: Progress) -> None:
        if progress.accepted == 2:
            cancel.cancel()

    ids = never.own_ids[:2]
    df = scp_widgets.lock(ids, verify_timeout=30, progress=cancel_once_accepted, cancel=cancel, **options_for(never))
    assert list(df.outcome) == ["accepted"] * 2  # not yet verified: amber, not a red failure
    for message in df.message:
        assert message.startswith("accepted (202), not yet verified: the read-back was cancelled before it confirmed")
        assert "30 s" not in message and "before it was sent" not in message
