"""Request signing: the documented test vectors, the auth flow driven by hand, and through httpx."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
from collections.abc import Callable, Iterator

import httpx
import pytest

from scp_widgets.client.auth import ScpAuth, sign
from scp_widgets.client.credentials import Credentials, Secret

ACCESS = "test-access-key"
SECRET = "test-secret-key"
HOST = "https://virtualserver.kr-west1.e.samsungsdscloud.com"
SERVER = "2a9be312-5d4b-4bc8-b2ae-35100fa9241f"
TS = 1605290625682


def expected_signature(method: str, url: str, timestamp: str, access: str = ACCESS, secret: str = SECRET) -> str:
    """The formula from scp-openapi.md, written out again independently of scp_widgets.client.auth."""
    message = (method + url + timestamp + access + "Openapi").encode("utf-8")
    return base64.b64encode(hmac.new(secret.encode("utf-8"), message, hashlib.sha256).digest()).decode()


def wire_url(request: httpx.Request) -> str:
    """The absolute URL as it goes out: scheme, host[:port] and the raw request target."""
    url = request.url
    return f"{url.scheme}://{url.netloc.decode('ascii')}{url.raw_path.decode('ascii')}"


def stepping_clock(start: float = TS / 1000, step: float = 1.5) -> Callable[[], float]:
    """A clock that moves `step` seconds forward every time it is read."""
    ticks: Iterator[float] = (start + i * step for i in range(10_000))
    return lambda: next(ticks)


def credentials() -> Credentials:
    return Credentials(ACCESS, Secret(SECRET))


# -- the documented vectors -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "url", "signature"),
    [
        ("POST", f"{HOST}/v1/servers/{SERVER}/lock", "A+GZiewK913YqC6Xv6xnzVvmdLWZAlypdVeutCk0VmQ="),
        ("GET", f"{HOST}/v1/servers?limit=20&name=web+01", "Y85krBFx+hNp4E9aUel64RrCv03snps7vHpQMS3fP6o="),
    ],
)
def test_sign_matches_documented_vectors(method: str, url: str, signature: str) -> None:
    assert sign(method, url, TS, ACCESS, SECRET) == signature
    assert sign(method, url, str(TS), ACCESS, SECRET) == signature  # int or str timestamp
    assert sign(method.lower(), url, TS, ACCESS, SECRET) == signature  # the method is upper-cased


def test_sign_depends_on_every_input() -> None:
    base = sign("POST", f"{HOST}/v1/servers/{SERVER}/lock", TS, ACCESS, SECRET)
    assert sign("GET", f"{HOST}/v1/servers/{SERVER}/lock", TS, ACCESS, SECRET) != base
    assert sign("POST", f"{HOST}/v1/servers/{SERVER}/unlock", TS, ACCESS, SECRET) != base
    assert sign("POST", f"{HOST}/v1/servers/{SERVER}/lock", TS + 1, ACCESS, SECRET) != base
    assert sign("POST", f"{HOST}/v1/servers/{SERVER}/lock", TS, "other-key", SECRET) != base
    assert sign("POST", f"{HOST}/v1/servers/{SERVER}/lock", TS, ACCESS, "other-secret") != base


# -- the auth flow by hand --------------------------------------------------------------------------------


def test_auth_flow_by_hand_stamps_headers_and_signs_the_request_url() -> None:
    auth = ScpAuth(credentials(), clock=lambda: TS / 1000)
    request = httpx.Request("POST", f"{HOST}/v1/servers/{SERVER}/lock")
    flow = auth.auth_flow(request)
    sent = next(flow)
    assert sent is request
    assert sent.headers["Scp-Accesskey"] == ACCESS
    assert sent.headers["Scp-Timestamp"] == str(TS)
    assert sent.headers["Scp-ClientType"] == "Openapi"
    # the first documented vector, reached through the flow
    assert sent.headers["Scp-Signature"] == "A+GZiewK913YqC6Xv6xnzVvmdLWZAlypdVeutCk0VmQ="
    with pytest.raises(StopIteration):
        flow.send(httpx.Response(202, request=sent))


def test_auth_flow_by_hand_signs_query_string_as_sent() -> None:
    auth = ScpAuth(credentials(), clock=lambda: TS / 1000)
    request = httpx.Request("GET", f"{HOST}/v1/servers?limit=20&name=web+01")
    sent = next(auth.auth_flow(request))
    assert sent.headers["Scp-Signature"] == "Y85krBFx+hNp4E9aUel64RrCv03snps7vHpQMS3fP6o="


def test_each_flow_reads_the_clock_again() -> None:
    auth = ScpAuth(credentials(), clock=stepping_clock(step=2.0))
    url = f"{HOST}/v1/servers/{SERVER}/lock"
    first = next(auth.auth_flow(httpx.Request("POST", url)))
    second = next(auth.auth_flow(httpx.Request("POST", url)))
    assert int(second.headers["Scp-Timestamp"]) - int(first.headers["Scp-Timestamp"]) == 2000
    assert first.headers["Scp-Signature"] != second.headers["Scp-Signature"]
    for sent in (first, second):
        assert sent.headers["Scp-Signature"] == expected_signature("POST", url, sent.headers["Scp-Timestamp"])


def test_auth_timestamp_is_epoch_milliseconds() -> None:
    auth = ScpAuth(credentials(), clock=lambda: 1_700_000_000.123456)
    sent = next(auth.auth_flow(httpx.Request("GET", f"{HOST}/v1/servers")))
    assert sent.headers["Scp-Timestamp"] == "1700000000123"


def test_auth_repr_hides_the_secret() -> None:
    auth = ScpAuth(credentials())
    assert SECRET not in repr(auth)
    assert SECRET not in str(auth)


# -- through an httpx client ------------------------------------------------------------------------------


class Recorder:
    """A MockTransport handler that keeps every request and answers from a script of statuses."""

    def __init__(self, statuses: list[int]) -> None:
        self.statuses = statuses
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        status = self.statuses[min(len(self.requests), len(self.statuses)) - 1]
        return httpx.Response(status)


SIX = ("Scp-Accesskey", "Scp-Signature", "Scp-Timestamp", "Scp-ClientType", "Accept-Language", "Scp-Api-Version")


def test_async_client_sends_six_headers_on_every_attempt_and_resigns() -> None:
    recorder = Recorder([503, 503, 200])
    url = f"{HOST}/v1/servers/{SERVER}/lock"

    async def go() -> list[int]:
        async with httpx.AsyncClient(
            auth=ScpAuth(credentials(), clock=stepping_clock(step=1.0)),
            transport=httpx.MockTransport(recorder),
            headers={"Accept-Language": "ko-KR", "Scp-Api-Version": "virtualserver 1.3"},
        ) as client:
            return [(await client.post(url)).status_code for _ in range(3)]  # the caller's retries

    assert asyncio.run(go()) == [503, 503, 200]
    assert len(recorder.requests) == 3
    timestamps, signatures = [], []
    for request in recorder.requests:
        for name in SIX:
            assert request.headers.get(name), f"{name} missing"
        assert request.headers["Scp-Accesskey"] == ACCESS
        assert request.headers["Scp-ClientType"] == "Openapi"
        assert request.headers["Accept-Language"] == "ko-KR"
        assert request.headers["Scp-Api-Version"] == "virtualserver 1.3"
        assert wire_url(request) == url
        timestamps.append(request.headers["Scp-Timestamp"])
        signatures.append(request.headers["Scp-Signature"])
        assert request.headers["Scp-Signature"] == expected_signature(
            "POST", wire_url(request), request.headers["Scp-Timestamp"]
        )
    assert len(set(timestamps)) == 3
    assert len(set(signatures)) == 3


def test_signed_url_is_the_wire_url_with_plus_for_spaces_and_sorted_keys() -> None:
    from scp_widgets.client.scp_client import build_query

    recorder = Recorder([200])
    query = build_query({"name": "web 01", "limit": 20, "marker": None, "state": "ACTIVE"})
    assert query == "limit=20&name=web+01&state=ACTIVE"
    url = f"{HOST}/v1/servers?{query}"

    with httpx.Client(  # the sync client runs the same flow
        auth=ScpAuth(credentials(), clock=lambda: TS / 1000), transport=httpx.MockTransport(recorder)
    ) as client:
        client.get(url)
    (request,) = recorder.requests
    assert wire_url(request) == url
    assert request.url.raw_path == b"/v1/servers?limit=20&name=web+01&state=ACTIVE"
    assert request.headers["Scp-Signature"] == expected_signature("GET", url, str(TS))


def test_unauthenticated_request_carries_no_signature() -> None:
    """`auth=None` on one request (as version discovery does) really turns signing off."""
    recorder = Recorder([200])

    async def go() -> None:
        async with httpx.AsyncClient(auth=ScpAuth(credentials()), transport=httpx.MockTransport(recorder)) as client:
            await client.get(f"{HOST}/", auth=None)

    asyncio.run(go())
    (request,) = recorder.requests
    assert "Scp-Signature" not in request.headers
    assert "Scp-Accesskey" not in request.headers
