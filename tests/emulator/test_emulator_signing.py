"""Signature check and gateway rules of the emulator."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from emulator_helpers import BASE, FakeClock, error, in_process, sign, signed_headers

from scp_widgets.emulator import Emulator, EmulatorConfig
from scp_widgets.emulator import signing as emulator_signing

VECTORS = [
    (
        "POST",
        "https://virtualserver.kr-west1.e.samsungsdscloud.com/v1/servers/2a9be312-5d4b-4bc8-b2ae-35100fa9241f/lock",
        "A+GZiewK913YqC6Xv6xnzVvmdLWZAlypdVeutCk0VmQ=",
    ),
    (
        "GET",
        "https://virtualserver.kr-west1.e.samsungsdscloud.com/v1/servers?limit=20&name=web+01",
        "Y85krBFx+hNp4E9aUel64RrCv03snps7vHpQMS3fP6o=",
    ),
]


@pytest.mark.parametrize(("method", "url", "expected"), VECTORS)
def test_documented_vectors(method: str, url: str, expected: str) -> None:
    args = ("1605290625682", "test-access-key")
    assert emulator_signing.signature("test-secret-key", method, url, *args) == expected
    # The tests' own signer must agree too, or every other test here would prove nothing.
    assert sign(method, url, *args, "test-secret-key") == expected


def test_wire_url_is_rebuilt_from_raw_bytes() -> None:
    scope = {
        "scheme": "https",
        "path": "/v1/servers",
        "raw_path": b"/v1/servers",
        "query_string": b"limit=20&name=web%2001",
        "headers": [(b"host", b"virtualserver.kr-west1.e.samsungsdscloud.com:8443")],
    }
    expected = "https://virtualserver.kr-west1.e.samsungsdscloud.com:8443/v1/servers?limit=20&name=web%2001"
    assert emulator_signing.wire_url(scope) == expected


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def emulator(clock: FakeClock) -> Emulator:
    return Emulator(EmulatorConfig(clock=clock, servers=10))


def _get(emulator: Emulator, url: str, headers: dict[str, str]) -> httpx.Response:
    with httpx.Client(transport=emulator.sync_transport()) as client:
        return client.get(url, headers=headers)


def test_signed_request_is_accepted(emulator: Emulator, clock: FakeClock) -> None:
    with in_process(emulator, clock) as api:
        response = api.show(emulator.own_ids[0])
    assert response.status_code == 200
    assert response.json()["id"] == emulator.own_ids[0]
    assert response.headers["x-request-id"].startswith("req-")


def test_async_transport_accepts_signed_request(emulator: Emulator, clock: FakeClock) -> None:
    url = f"{BASE}/v1/servers"

    async def call() -> httpx.Response:
        async with httpx.AsyncClient(transport=emulator.transport()) as client:
            return await client.get(url, headers=signed_headers("GET", url, clock=clock))

    response = asyncio.run(call())
    assert response.status_code == 200
    assert len(response.json()["servers"]) == 10


def test_sync_transport_works_inside_a_running_loop(emulator: Emulator, clock: FakeClock) -> None:
    # Jupyter runs a loop in the kernel thread: the sync transport must not need that thread's loop.
    async def inside_loop() -> int:
        with in_process(emulator, clock) as api:
            return api.show(emulator.own_ids[0]).status_code

    assert asyncio.run(inside_loop()) == 200


def test_wrong_secret_is_401(emulator: Emulator, clock: FakeClock) -> None:
    with in_process(emulator, clock) as api:
        response = api.call("GET", "/v1/servers", secret="not-the-secret")
    assert response.status_code == 401
    entry = error(response)
    assert entry["code"] == "SIGNATURE_MISMATCH"
    assert entry["status"] == 401
    assert str(entry["request_id"]).startswith("req-")
    assert set(entry) >= {"title", "detail", "global_request_id", "links", "related_resources", "response"}


def test_unknown_access_key_is_401(emulator: Emulator, clock: FakeClock) -> None:
    with in_process(emulator, clock) as api:
        response = api.call("GET", "/v1/servers", access_key="someone-else")
    assert response.status_code == 401
    assert error(response)["code"] == "INVALID_ACCESS_KEY"


@pytest.mark.parametrize(("offset", "status"), [(-301, 401), (301, 401), (-299, 200), (299, 200)])
def test_timestamp_must_be_within_skew(emulator: Emulator, clock: FakeClock, offset: int, status: int) -> None:
    stamp = str(int((clock.now + offset) * 1000))
    with in_process(emulator, clock) as api:
        response = api.call("GET", "/v1/servers", timestamp=stamp)
    assert response.status_code == status


@pytest.mark.parametrize("stamp", ["abc", "1.5e12", "", "-1800000000000"])
def test_non_integer_timestamp_is_401(emulator: Emulator, clock: FakeClock, stamp: str) -> None:
    with in_process(emulator, clock) as api:
        response = api.call("GET", "/v1/servers", timestamp=stamp)
    assert response.status_code == 401
    assert error(response)["code"] == "INVALID_TIMESTAMP"


@pytest.mark.parametrize("missing", ["Scp-Accesskey", "Scp-Signature", "Scp-Timestamp", "Scp-ClientType"])
def test_missing_header_gets_gateway_404(emulator: Emulator, clock: FakeClock, missing: str) -> None:
    url = f"{BASE}/v1/servers"
    headers = signed_headers("GET", url, clock=clock)
    del headers[missing]
    response = _get(emulator, url, headers)
    assert response.status_code == 404
    body = response.json()
    assert set(body) == {"timestamp", "path", "status", "error", "requestId"}
    assert body["path"] == "/v1/servers"
    assert body["status"] == 404
    assert body["error"] == "Not Found"
    assert body["requestId"] == response.headers["x-request-id"]


def test_client_type_must_be_openapi(emulator: Emulator, clock: FakeClock) -> None:
    url = f"{BASE}/v1/servers"
    headers = {**signed_headers("GET", url, clock=clock), "Scp-ClientType": "Console"}
    assert _get(emulator, url, headers).status_code == 401


def test_query_signed_exactly_as_sent_is_accepted(emulator: Emulator, clock: FakeClock) -> None:
    url = f"{BASE}/v1/servers?limit=20&name=web+01"
    response = _get(emulator, url, signed_headers("GET", url, clock=clock))
    assert response.status_code == 200
    assert emulator.record[-1].query == "limit=20&name=web+01"


@pytest.mark.parametrize(
    ("signed", "sent"),
    [
        ("/v1/servers?limit=20&name=web+01", "/v1/servers?limit=20&name=web%2001"),
        ("/v1/servers?limit=20&name=web 01", "/v1/servers?limit=20&name=web%2001"),
        ("/v1/servers?name=web+01&limit=20", "/v1/servers?limit=20&name=web+01"),
        ("/v1/servers", "/v1/servers?limit=20"),
    ],
)
def test_url_changed_after_signing_is_refused(emulator: Emulator, clock: FakeClock, signed: str, sent: str) -> None:
    response = _get(emulator, BASE + sent, signed_headers("GET", BASE + signed, clock=clock))
    assert response.status_code == 401
    assert error(response)["code"] == "SIGNATURE_MISMATCH"


def test_signature_covers_host_and_method(emulator: Emulator, clock: FakeClock) -> None:
    url = f"{BASE}/v1/servers"
    other_host = signed_headers("GET", "http://elsewhere.test/v1/servers", clock=clock)
    assert _get(emulator, url, other_host).status_code == 401
    post_signature = signed_headers("POST", url, clock=clock)
    assert _get(emulator, url, post_signature).status_code == 401
