"""Fault injection: each kind happens at its configured rate, in the documented order, reproducibly."""

from __future__ import annotations

import asyncio
import time

import httpx
import pytest
from emulator_helpers import BASE, FakeClock, error, in_process, signed_headers

from scp_widgets.emulator import Emulator, EmulatorConfig, EmulatorServer, Faults
from scp_widgets.emulator.faults import format_retry_after

N = 200


def _emulator(faults: Faults, clock: FakeClock | None = None, seed: int = 7) -> Emulator:
    return Emulator(EmulatorConfig(servers=5, seed=seed, faults=faults, clock=clock or FakeClock()))


def _statuses(emulator: Emulator, n: int = N, path: str = "/v1/servers") -> list[int]:
    statuses = []
    with in_process(emulator, emulator.config.clock) as api:
        for _ in range(n):
            try:
                statuses.append(api.call("GET", path).status_code)
            except httpx.RemoteProtocolError:
                statuses.append(0)
    return statuses


@pytest.mark.parametrize(
    ("faults", "status", "fault"),
    [
        (Faults(drop_rate=1.0), 0, "drop"),
        (Faults(html_417_rate=1.0), 417, "417"),
        (Faults(throttle_rate=1.0), 429, "429"),
        (Faults(error_rates={503: 1.0}), 503, "5xx"),
        (Faults(error_rates={500: 0.5, 502: 0.5}), None, "5xx"),
    ],
)
def test_rate_one_always_and_rate_zero_never(faults: Faults, status: int | None, fault: str) -> None:
    emulator = _emulator(faults)
    statuses = _statuses(emulator, 20)
    if status is None:
        assert set(statuses) == {500, 502}
    else:
        assert statuses == [status] * 20
    assert {r.fault for r in emulator.record} == {fault}
    if status == 0:
        assert {r.status for r in emulator.record} == {0}

    emulator.set_faults(Faults())
    assert set(_statuses(emulator, 20)) == {200}


@pytest.mark.parametrize(
    ("faults", "status"),
    [
        (Faults(drop_rate=0.25), 0),
        (Faults(html_417_rate=0.25), 417),
        (Faults(throttle_rate=0.25), 429),
        (Faults(error_rates={503: 0.25}), 503),
    ],
)
def test_fractional_rate_is_roughly_kept_and_seeded(faults: Faults, status: int) -> None:
    first = _statuses(_emulator(faults))
    share = first.count(status) / N
    assert 0.15 <= share <= 0.35
    assert set(first) == {200, status}
    assert _statuses(_emulator(faults)) == first  # same seed, same run
    assert _statuses(_emulator(faults, seed=99)) != first


def test_error_rates_are_disjoint_shares() -> None:
    statuses = _statuses(_emulator(Faults(error_rates={500: 0.2, 502: 0.2, 503: 0.2, 504: 0.2})), 400)
    for status in (500, 502, 503, 504):
        assert 0.12 <= statuses.count(status) / 400 <= 0.28
    assert 0.12 <= statuses.count(200) / 400 <= 0.28


def test_injected_5xx_uses_the_errors_envelope() -> None:
    emulator = _emulator(Faults(error_rates={503: 1.0}))
    with in_process(emulator, emulator.config.clock) as api:
        response = api.call("GET", "/v1/servers")
    entry = error(response)
    assert (entry["status"], entry["code"]) == (503, "SERVICE_UNAVAILABLE")


@pytest.mark.parametrize(("seconds", "header"), [(1.0, "1"), (2.5, "2.5"), (0.25, "0.25"), (30, "30")])
def test_throttle_sends_retry_after(seconds: float, header: str) -> None:
    emulator = _emulator(Faults(throttle_rate=1.0, retry_after=seconds))
    with in_process(emulator, emulator.config.clock) as api:
        response = api.call("POST", f"/v1/servers/{emulator.own_ids[0]}/lock")
    assert response.status_code == 429
    assert response.headers["retry-after"] == header
    assert error(response)["code"] == "TOO_MANY_REQUESTS"
    assert emulator.record[-1].retry_after == float(header)
    assert emulator.record[-1].action == "lock"
    assert emulator.lock_history == {}


def test_retry_after_formatting() -> None:
    assert [format_retry_after(s) for s in (0, 1, 1.5, 0.1234, 0.9999)] == ["0", "1", "1.5", "0.124", "1"]


def test_417_is_the_html_rejection_page() -> None:
    emulator = _emulator(Faults(html_417_rate=1.0))
    with in_process(emulator, emulator.config.clock) as api:
        response = api.call("GET", "/v1/servers")
    assert response.status_code == 417
    assert response.headers["content-type"].startswith("text/html")
    assert "Request Rejected" in response.text


def test_drop_in_process_is_a_protocol_error() -> None:
    emulator = _emulator(Faults(drop_rate=1.0))
    url = f"{BASE}/v1/servers"

    async def call() -> None:
        async with httpx.AsyncClient(transport=emulator.transport()) as client:
            await client.get(url, headers=signed_headers("GET", url, clock=emulator.config.clock))

    with pytest.raises(httpx.RemoteProtocolError):
        asyncio.run(call())
    assert emulator.record[-1].fault == "drop"


def test_rate_limit_refuses_a_burst_and_refills_with_the_clock() -> None:
    clock = FakeClock()
    emulator = _emulator(Faults(rate_limit=4.0), clock)
    statuses = _statuses(emulator, 10)
    assert statuses == [200] * 4 + [429] * 6  # burst = max(1, rate) = 4, clock frozen
    assert {r.fault for r in emulator.record[4:]} == {"rate_limit"}
    assert emulator.record[4].retry_after == 0.25  # one token at 4/s
    clock.advance(0.5)
    assert _statuses(emulator, 3) == [200, 200, 429]


def test_slow_rate_limit_has_a_burst_of_one() -> None:
    clock = FakeClock()
    emulator = _emulator(Faults(rate_limit=0.5), clock)
    assert _statuses(emulator, 2) == [200, 429]
    assert emulator.record[-1].retry_after == 2.0


def test_edge_faults_come_before_the_signature_check() -> None:
    emulator = _emulator(Faults(html_417_rate=1.0))
    with in_process(emulator) as api:
        # Unsigned: the edge answers before the gateway would 404 it.
        assert api.client.get(f"{BASE}/v1/servers").status_code == 417


def test_5xx_comes_after_signature_and_version_checks() -> None:
    emulator = _emulator(Faults(error_rates={503: 1.0}))
    with in_process(emulator, emulator.config.clock) as api:
        assert api.client.get(f"{BASE}/v1/servers").status_code == 404
        assert api.call("GET", "/v1/servers", secret="wrong").status_code == 401
        assert api.call("GET", "/v1/servers", version="1.0").status_code == 406
        assert api.call("GET", "/v1/servers").status_code == 503


def test_faults_apply_only_to_configured_methods() -> None:
    emulator = _emulator(Faults(error_rates={503: 1.0}, methods=frozenset({"POST"})))
    with in_process(emulator, emulator.config.clock) as api:
        assert api.call("GET", "/v1/servers").status_code == 200
        assert api.post(emulator.own_ids[0], "lock").status_code == 503


def test_faults_never_touch_discovery_or_introspection() -> None:
    emulator = _emulator(Faults(drop_rate=1.0, rate_limit=0.1))
    with in_process(emulator) as api:
        assert [api.client.get(f"{BASE}/").status_code for _ in range(3)] == [200] * 3
        assert api.client.get(f"{BASE}/_emulator/counts").status_code == 200


def test_latency_is_slept_not_recorded(monkeypatch: pytest.MonkeyPatch) -> None:
    slept: list[float] = []

    async def fake_sleep(seconds: float) -> None:
        slept.append(seconds)

    monkeypatch.setattr("scp_widgets.emulator.app.asyncio.sleep", fake_sleep)
    emulator = _emulator(Faults(latency=0.5, latency_jitter=0.2))
    assert _statuses(emulator, 5) == [200] * 5
    assert len(slept) == 5
    assert all(0.5 <= s <= 0.7 for s in slept)
    assert len(set(slept)) == 5  # jittered
    assert {r.fault for r in emulator.record} == {None}


@pytest.mark.parametrize(
    "kwargs",
    [{"drop_rate": 1.5}, {"throttle_rate": -0.1}, {"error_rates": {404: 0.1}}, {"error_rates": {500: 0.6, 503: 0.6}},
     {"rate_limit": 0}, {"latency": -1}],
)  # fmt: skip
def test_invalid_faults_are_refused(kwargs: dict[str, object]) -> None:
    with pytest.raises(ValueError):  # noqa: PT011 (the messages differ per field)
        Faults(**kwargs)  # type: ignore[arg-type]


def test_rate_limit_can_send_a_fixed_retry_after_or_none() -> None:
    clock = FakeClock()
    emulator = _emulator(Faults(rate_limit=1.0, rate_limit_retry_after=1.0, rate_limit_bare_rate=0.5), clock)
    with in_process(emulator, clock) as api:
        responses = [api.call("GET", "/v1/servers") for _ in range(41)]
    assert responses[0].status_code == 200
    refused = responses[1:]
    assert {r.status_code for r in refused} == {429}
    headers = [r.headers.get("retry-after") for r in refused]
    assert set(headers) == {"1", None}  # the fixed value, or no header at all
    assert 10 <= headers.count(None) <= 30
    assert [r.retry_after for r in emulator.record[1:]] == [None if h is None else 1.0 for h in headers]


def _live(faults: Faults) -> EmulatorServer:
    return EmulatorServer(Emulator(EmulatorConfig(servers=5, seed=7, faults=faults)))


def test_black_hole_accepts_connections_and_never_answers() -> None:
    with _live(Faults(black_hole=True)) as server:
        emulator = server.emulator
        url = f"{server.url}/v1/servers"
        for target, headers in ((f"{server.url}/", {}), (url, signed_headers("GET", url))):
            started = time.monotonic()
            with pytest.raises(httpx.ReadTimeout):  # connected (no ConnectError), then silence
                httpx.get(target, headers=headers, timeout=httpx.Timeout(0.5, connect=5))
            assert time.monotonic() - started >= 0.5
        assert [(r.action, r.status, r.fault) for r in emulator.record] == [
            ("versions", 0, "black_hole"), ("list", 0, "black_hole"),
        ]  # fmt: skip
        assert httpx.get(f"{server.url}/_emulator/counts").status_code == 200  # introspection still answers
        emulator.set_faults(Faults())
        assert httpx.get(url, headers=signed_headers("GET", url)).status_code == 200


def test_trickling_body_arrives_slowly_after_prompt_headers() -> None:
    with _live(Faults(trickle_rate=1.0, trickle_bytes_per_second=20.0, methods=frozenset({"POST"}))) as server:
        url = f"{server.url}/v1/servers/{server.emulator.own_ids[0]}/lock"
        started = time.monotonic()
        with httpx.stream("POST", url, headers=signed_headers("POST", url)) as response:
            headers_after = time.monotonic() - started
            body = response.read()
        total = time.monotonic() - started
    assert response.status_code == 202
    assert body == b" " * 40  # the empty 202 body, padded so that it trickles too
    assert headers_after < 1.0 <= 1.5 <= total  # 40 bytes at 20 bytes/s
    assert server.emulator.record[-1].fault == "trickle"


def test_huge_body_is_the_answer_padded_and_still_valid_json() -> None:
    with _live(Faults(huge_body_rate=1.0, huge_body_bytes=5_000_000)) as server:
        url = f"{server.url}/v1/servers?limit=100"
        response = httpx.get(url, headers=signed_headers("GET", url))
    assert response.status_code == 200
    assert len(response.content) > 5_000_000
    assert int(response.headers["content-length"]) == len(response.content)
    assert len(response.json()["servers"]) == 5
    assert server.emulator.record[-1].fault == "huge"


@pytest.mark.parametrize("size", [1000, 280_000, 280_001])
def test_html_503_page_has_the_asked_size_and_no_closing_tag(size: int) -> None:
    emulator = _emulator(Faults(html_503_rate=1.0, html_503_bytes=size))
    with in_process(emulator, emulator.config.clock) as api:
        response = api.call("GET", "/v1/servers")
    assert response.status_code == 503
    assert response.headers["content-type"].startswith("text/html")
    assert len(response.content) == size
    assert response.text.startswith("<title><title>") and "</title>" not in response.text
    assert emulator.record[-1].fault == "html503"


@pytest.mark.parametrize(
    "body_fault",
    [{"huge_body_rate": 1.0, "huge_body_bytes": 1000}, {"trickle_rate": 1.0, "trickle_bytes_per_second": 1e6}],
)
def test_a_body_fault_leaves_a_hostile_503_page_as_it_is(body_fault: dict[str, float]) -> None:
    """Found by review: a huge or trickled body over the streamed 503 page raised in the handler, and the
    client saw a 500 that no fault asked for."""
    emulator = _emulator(Faults(html_503_rate=1.0, html_503_bytes=2000, **body_fault))  # type: ignore[arg-type]
    with in_process(emulator, emulator.config.clock) as api:
        response = api.call("GET", "/v1/servers")
    assert response.status_code == 503
    assert len(response.content) == 2000 and response.text.startswith("<title>")
    assert emulator.record[-1].fault == "html503"


@pytest.mark.parametrize(
    "kwargs",
    [{"rate_limit_bare_rate": 2}, {"trickle_rate": -1}, {"trickle_bytes_per_second": 0}, {"huge_body_bytes": -1},
     {"html_503_rate": 1.5}, {"rate_limit_retry_after": -1}],
)  # fmt: skip
def test_invalid_new_faults_are_refused(kwargs: dict[str, object]) -> None:
    with pytest.raises(ValueError):  # noqa: PT011 (the messages differ per field)
        Faults(**kwargs)  # type: ignore[arg-type]
