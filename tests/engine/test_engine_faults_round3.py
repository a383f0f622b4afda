"""The engine under the faults a hostile service adds: each test fails without its fix (issue: safety
features keep their promise when things fail, item 7)."""

from __future__ import annotations

import asyncio
import itertools
from collections import defaultdict
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

import scp_widgets
from scp_widgets.client import transfer
from scp_widgets.client.errors import EndpointError, ScpApiError, ScpUsageError
from scp_widgets.client.run_guard import RunGuard
from scp_widgets.client.scp_client import AsyncScpClient
from scp_widgets.emulator import DEMO_ACCESS_KEY, DEMO_SECRET_KEY, Emulator, EmulatorConfig, EmulatorServer, Faults
from scp_widgets.emulator.regions import RegionalEmulators

IDS = [f"00000000-0000-4000-8000-{n:012d}" for n in range(20)]


def _mock_run(answers: dict[int, int]) -> Any:
    """Lock IDS one at a time (no read-back) against a service answering each server's POST by its index."""

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/":
            return httpx.Response(404)
        status = answers[IDS.index(request.url.path.split("/")[3]) % len(answers)]
        body = {"errors": [{"code": "SIGNATURE_MISMATCH", "detail": "no"}]} if status >= 400 else None
        return httpx.Response(status, json=body)

    return scp_widgets.lock(
        IDS, endpoint="https://example.test", access_key="a", secret_key="b", concurrency=1, verify=False,
        journal=False, transport=httpx.MockTransport(handler),
    )  # fmt: skip


# -- 401s in a row ------------------------------------------------------------------------------------------


def test_a_success_and_any_other_answer_reset_the_401_streak() -> None:
    guard = RunGuard(asyncio.Event(), credential_limit=5)
    for reset in (guard.on_success, lambda: guard.on_answer(202), lambda: guard.on_answer(404)):
        for _ in range(4):
            guard.on_answer(401)
        reset()
    for _ in range(4):
        guard.on_answer(401)
    assert not guard.stopped  # 16 401s, never 5 in a row
    guard.on_answer(401)
    assert guard.stopped


@pytest.mark.parametrize("between", [202, 404, 403])
def test_a_run_with_401s_between_accepted_calls_never_stops_sending(between: int) -> None:
    frame = _mock_run({0: 401, 1: 401, 2: 401, 3: 401, 4: between})
    assert (frame.error_code == "NOT_SENT").sum() == 0  # every server was sent
    assert (frame.outcome == "unauthorized").sum() == 16


def test_five_401s_in_a_row_still_stop_the_run() -> None:
    frame = _mock_run({0: 401})
    assert (frame.error_code == "NOT_SENT").sum() == len(IDS) - 5


# -- Retry-After on a 503 --------------------------------------------------------------------------------------


def test_a_503_with_retry_after_is_retried_no_sooner_than_it_asks() -> None:
    faults = Faults(error_rates={503: 0.5}, error_retry_after=0.4, methods=frozenset({"POST"}))
    emulator = Emulator(EmulatorConfig(servers=12, foreign_servers=0, locked_fraction=0.0, seed=4, faults=faults))
    with EmulatorServer(emulator) as server:  # the default transport, over a real socket
        frame = scp_widgets.lock(
            emulator.own_ids, endpoint=server.url, access_key=DEMO_ACCESS_KEY, secret_key=DEMO_SECRET_KEY,
            retries=6, verify=False, journal=False,
        )  # fmt: skip
    posts: dict[str, list[Any]] = defaultdict(list)
    for record in emulator.record:
        if record.method == "POST":
            posts[str(record.server_id)].append(record)
    retried = [(a, b) for calls in posts.values() for a, b in itertools.pairwise(calls) if a.status == 503]
    assert retried, "the seed must give some 503s"
    assert all(a.retry_after == 0.4 for a, _ in retried)
    assert all(b.time - a.time >= 0.4 for a, b in retried)  # not 40 ms later
    assert set(frame.outcome) == {"locked"}


# -- bodies bounded by the cap -----------------------------------------------------------------------------------


class _Endless(httpx.AsyncByteStream):
    """A 200 MB body produced lazily, counting what the client pulls."""

    def __init__(self) -> None:
        self.pulled = 0

    async def __aiter__(self) -> AsyncIterator[bytes]:
        chunk = b" " * 65_536
        for _ in range(200_000_000 // len(chunk)):
            self.pulled += len(chunk)
            yield chunk


@pytest.mark.parametrize(("path", "cap"), [("/v1/servers", transfer.SUCCESS_BODY_CAP), ("/v1/servers/x", None)])
def test_a_huge_body_is_read_no_further_than_its_cap(path: str, cap: int | None) -> None:
    stream = _Endless()

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, stream=stream)

    async def read() -> None:
        async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as http:
            request = http.build_request("GET", f"https://example.test{path}")
            await transfer.attempt(http, request, seconds=30, signed=False, body_cap=cap or transfer.OBJECT_BODY_CAP)

    with pytest.raises(transfer.BodyTooLarge):
        asyncio.run(read())
    assert stream.pulled <= (cap or transfer.OBJECT_BODY_CAP) + 65_536


def test_a_show_reads_at_most_one_megabyte_of_a_huge_answer() -> None:
    stream = _Endless()

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(404) if request.url.path == "/" else httpx.Response(200, stream=stream)

    async def show() -> None:
        client = AsyncScpClient(
            endpoint="https://example.test", access_key="a", secret_key="b", transport=httpx.MockTransport(handler)
        )
        try:
            await client.show(IDS[0])
        finally:
            await client.aclose()

    with pytest.raises(ScpApiError, match=r"is larger than the 1 MB cap"):
        asyncio.run(show())
    assert stream.pulled <= transfer.OBJECT_BODY_CAP + 65_536


# -- a malformed listing entry -------------------------------------------------------------------------------------


def test_a_listing_entry_with_locked_as_text_is_one_sentence_naming_the_server(emulator: Emulator) -> None:
    victim = emulator.own_ids[3]
    emulator.set_faults(Faults(garbled_listing_ids=frozenset({victim})))
    with EmulatorServer(emulator) as server, pytest.raises(ScpApiError) as caught:
        scp_widgets.list_servers(endpoint=server.url, access_key=DEMO_ACCESS_KEY, secret_key=DEMO_SECRET_KEY)
    assert f"lists server '{victim}' with locked 'false', which is not true/false" in str(caught.value)


# -- one id, two regions -----------------------------------------------------------------------------------------


def test_an_id_two_regions_list_is_refused_before_anything_is_sent(monkeypatch: pytest.MonkeyPatch) -> None:
    twin = "0badc0de-0000-4000-8000-000000000001"
    config = EmulatorConfig(servers=5, seed=7, twin_ids=(twin,))
    with RegionalEmulators(["kr-west1", "kr-east1"], config) as regions:
        monkeypatch.setenv("SCP_ACCESS_KEY", DEMO_ACCESS_KEY)
        monkeypatch.setenv("SCP_SECRET_KEY", DEMO_SECRET_KEY)
        listed = scp_widgets.list_servers(endpoints=regions.endpoints)
        assert sorted(listed.loc[listed.id == twin, "region"]) == ["kr-east1", "kr-west1"]
        with pytest.raises(ScpUsageError, match=rf"Server {twin} is listed in both kr-west1 and kr-east1"):
            scp_widgets.lock([twin], endpoints=regions.endpoints)
        with pytest.raises(ScpUsageError, match="is listed in both"):
            scp_widgets.lock(where="name.str.startswith('twin-')", endpoints=regions.endpoints)
        assert not [r for e in regions.emulators.values() for r in e.record if r.method == "POST"]


# -- no URL secret in a message, one URL per region ----------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    [
        "kr-west1=https://ops:hunter2@scp.example/?token=s3cret",
        "kr-west1=https://scp.example/v2?token=s3cret",
        "kr-west1 https://ops:hunter2@scp.example?token=s3cret",
        "kr-west1=ftp://ops:hunter2@scp.example#s3cret",
    ],
)
def test_endpoint_errors_never_echo_a_password_or_a_token(value: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SCP_ENDPOINTS", value)
    with pytest.raises(EndpointError) as caught:
        scp_widgets.list_servers(regions=["kr-west1"], access_key="a", secret_key="b")
    assert "hunter2" not in str(caught.value) and "s3cret" not in str(caught.value)


def test_a_region_named_twice_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SCP_ENDPOINTS", "kr-west1=http://127.0.0.1:1,KR-WEST1=http://127.0.0.1:2")
    with pytest.raises(EndpointError, match="SCP_ENDPOINTS names region kr-west1 twice"):
        scp_widgets.list_servers(regions=["kr-west1"], access_key="a", secret_key="b")
    with pytest.raises(EndpointError, match="endpoints= names region kr-west1 twice"):
        scp_widgets.list_servers(endpoints={"kr-west1": "http://127.0.0.1:1", "KR-WEST1": "http://127.0.0.1:2"})


# -- wall time ---------------------------------------------------------------------------------------------------


def test_the_summary_counts_the_whole_call_from_the_first_request() -> None:
    async def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/":
            await asyncio.sleep(0.5)  # a slow version discovery: part of the call the user waited for
            return httpx.Response(404)
        return httpx.Response(401, json={"errors": [{"code": "SIGNATURE_MISMATCH", "detail": "no"}]})

    frame = scp_widgets.lock(
        IDS[:3], endpoint="https://example.test", access_key="a", secret_key="b", journal=False,
        transport=httpx.MockTransport(handler),
    )  # fmt: skip
    assert frame.attrs["elapsed_s"] >= 0.5
    assert frame.attrs["summary"].endswith(f"in {frame.attrs['elapsed_s']:.1f} s")
