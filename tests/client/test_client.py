"""`AsyncScpClient` and `ScpClient` against scripted `httpx.MockTransport` services (no emulator)."""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import hashlib
import hmac
import threading
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from scp_widgets import __version__
from scp_widgets.client.errors import (
    CredentialsError,
    EndpointError,
    InvalidServerIdError,
    RetryCancelled,
    ScpApiError,
    ScpNetworkError,
    ScpUsageError,
    UnsupportedVersionError,
)
from scp_widgets.client.retry import RetryBudget, RetryPolicy
from scp_widgets.client.scp_client import Accepted, AsyncScpClient, ScpClient
from scp_widgets.client.versions import ScpDeprecationWarning

ENDPOINT = "https://scp.example.com"
ACCESS = "AKTESTACCESS0001"
SECRET = "client-test-secret-key"
SID = "2a9be312-5d4b-4bc8-b2ae-35100fa9241f"
SID2 = "8f14e45f-ceea-467a-9a3b-0b8e2c1d5f6a"
TODAY = dt.date(2026, 11, 27)
FAST = RetryPolicy(retries=3, base=0.001, cap=0.002)

Reply = httpx.Response | Exception
Handler = Callable[[httpx.Request], Reply]


class Service:
    """A scripted service. `GET /` is version discovery; every other request goes to `handler`."""

    def __init__(self, handler: Handler | None = None, versions: object = None) -> None:
        self.handler = handler or (lambda request: httpx.Response(202))
        self.versions = versions  # None: GET / answers 404
        self.discovery: list[httpx.Request] = []
        self.calls: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if request.url.path == "/":
            self.discovery.append(request)
            if isinstance(self.versions, httpx.Response):
                return self.versions
            if self.versions is None:
                return httpx.Response(404, json={"status": 404, "error": "Not Found", "requestId": "gw-1"})
            return httpx.Response(200, json=self.versions)
        self.calls.append(request)
        reply = self.handler(request)
        if isinstance(reply, Exception):
            raise reply
        return reply

    @property
    def all_requests(self) -> list[httpx.Request]:
        return self.discovery + self.calls


def scripted(*replies: Reply) -> Handler:
    """Answer with the replies in order; the last one repeats."""
    queue = list(replies)

    def handler(request: httpx.Request) -> Reply:
        return queue.pop(0) if len(queue) > 1 else queue[0]

    return handler


def ticking_clock(step: float = 1.0) -> Callable[[], float]:
    now = [1_800_000_000.0]

    def clock() -> float:
        now[0] += step
        return now[0]

    return clock


def client_options(service: Service, **options: Any) -> dict[str, Any]:
    """The test client's settings: the mock service, fast retries, a fixed today; `options` override them."""
    defaults: dict[str, Any] = {
        "endpoint": ENDPOINT,
        "access_key": ACCESS,
        "secret_key": SECRET,
        "transport": httpx.MockTransport(service),
        "retry": FAST,
        "today": TODAY,
    }
    return {**defaults, **options}


def make_client(service: Service, **options: Any) -> AsyncScpClient:
    return AsyncScpClient(
        **client_options(service, **{"discover_versions": False, "clock": ticking_clock(), **options})
    )


def run(service: Service, action: Callable[[AsyncScpClient], Awaitable[Any]], **options: Any) -> Any:
    async def go() -> Any:
        async with make_client(service, **options) as client:
            return await action(client)

    return asyncio.run(go())


def expected_signature(request: httpx.Request) -> str:
    url = f"{request.url.scheme}://{request.url.netloc.decode()}{request.url.raw_path.decode()}"
    message = f"{request.method}{url}{request.headers['Scp-Timestamp']}{ACCESS}Openapi".encode()
    return base64.b64encode(hmac.new(SECRET.encode(), message, hashlib.sha256).digest()).decode()


def assert_signed(request: httpx.Request) -> None:
    assert request.headers["Scp-Accesskey"] == ACCESS
    assert request.headers["Scp-ClientType"] == "Openapi"
    assert request.headers["Scp-Signature"] == expected_signature(request)


def raw_query(request: httpx.Request) -> str:
    return request.url.query.decode()


SERVER = {"id": SID, "name": "web 01", "state": "ACTIVE", "locked": False, "account_id": "acc-1"}


# -- the calls ---------------------------------------------------------------------------------------------


def test_lock_returns_accepted_with_request_id() -> None:
    service = Service(lambda r: httpx.Response(202, headers={"x-request-id": "req-lock-1"}))
    result = run(service, lambda c: c.lock(SID.upper()))
    assert result == Accepted(status=202, request_id="req-lock-1", attempts=1)
    (request,) = service.calls
    assert request.method == "POST"
    assert str(request.url) == f"{ENDPOINT}/v1/servers/{SID}/lock"  # the id is normalised
    assert request.content == b""
    assert_signed(request)


def test_unlock_after_a_retry_counts_attempts() -> None:
    service = Service(scripted(httpx.Response(503), httpx.Response(202, headers={"x-request-id": "req-u"})))
    result = run(service, lambda c: c.unlock(SID))
    assert result == Accepted(status=202, request_id="req-u", attempts=2)
    assert [r.url.path for r in service.calls] == [f"/v1/servers/{SID}/unlock"] * 2


@pytest.mark.parametrize("body", [SERVER, {"server": SERVER}])
def test_show_flat_and_wrapped(body: dict[str, Any]) -> None:
    service = Service(lambda r: httpx.Response(200, json=body))
    shown = run(service, lambda c: c.show(SID))
    assert shown == SERVER
    (request,) = service.calls
    assert (request.method, request.url.path) == ("GET", f"/v1/servers/{SID}")


def fleet(n: int) -> list[dict[str, Any]]:
    return [{"id": f"00000000-0000-4000-8000-{i:012d}", "name": f"web {i:02d}"} for i in range(n)]


def paged(servers: list[dict[str, Any]]) -> Handler:
    def handler(request: httpx.Request) -> httpx.Response:
        limit = int(request.url.params["limit"])
        marker = request.url.params.get("marker")
        start = 0 if marker is None else [s["id"] for s in servers].index(marker) + 1
        return httpx.Response(200, json={"servers": servers[start : start + limit]})

    return handler


@pytest.mark.parametrize(("count", "pages"), [(5, 3), (4, 3), (0, 1), (1, 1)])
def test_list_servers_follows_markers_to_the_end(count: int, pages: int) -> None:
    servers = fleet(count)
    service = Service(paged(servers))
    listed = run(service, lambda c: c.list_servers(page_size=2, name="web 01", state="ACTIVE"))
    assert listed == servers
    assert len(service.calls) == pages
    for index, request in enumerate(service.calls):
        assert_signed(request)
        keys = [pair.split("=", 1)[0] for pair in raw_query(request).split("&")]
        assert keys == sorted(keys)
        if index == 0:
            assert raw_query(request) == "limit=2&name=web+01&state=ACTIVE"
        else:
            marker = servers[2 * index - 1]["id"]
            assert raw_query(request) == f"limit=2&marker={marker}&name=web+01&state=ACTIVE"


BAD_BODIES = [
    httpx.Response(200, text="<html><title>Portal</title></html>", headers={"content-type": "text/html"}),
    httpx.Response(200, json=["not", "an", "object"]),
    httpx.Response(200, json={"servers": "nope"}),
    httpx.Response(200, json={"servers": [{"name": "no id"}]}),
]


@pytest.mark.parametrize("answer", BAD_BODIES, ids=["html", "json-list", "servers-not-list", "no-id"])
def test_list_with_an_unexpected_body_is_an_api_error(answer: httpx.Response) -> None:
    """Every call ends in a value or an ScpError, even when a proxy answers 200 with something else."""
    service = Service(lambda r: answer)
    with pytest.raises(ScpApiError, match="the service's answer") as info:
        run(service, lambda c: c.list_servers())
    assert info.value.status == 200
    assert info.value.attempts == 1


@pytest.mark.parametrize("answer", BAD_BODIES[:2], ids=["html", "json-list"])
def test_show_with_an_unexpected_body_is_an_api_error(answer: httpx.Response) -> None:
    service = Service(lambda r: answer)
    with pytest.raises(ScpApiError, match="the service's answer is not"):
        run(service, lambda c: c.show(SID))


def test_list_servers_stops_on_a_looping_service() -> None:
    servers = fleet(2)
    service = Service(lambda r: httpx.Response(200, json={"servers": servers}))
    with pytest.raises(ScpApiError, match="repeated a page"):
        run(service, lambda c: c.list_servers(page_size=2))
    assert len(service.calls) == 2  # the second page repeats the first one's last id


def test_list_servers_refuses_unknown_filters_before_sending() -> None:
    service = Service(paged(fleet(1)))
    with pytest.raises(ScpUsageError, match="colour"):
        run(service, lambda c: c.list_servers(colour="red"))
    with pytest.raises(ScpUsageError, match="page_size"):
        run(service, lambda c: c.list_servers(page_size=0))
    assert service.all_requests == []


# -- versions ----------------------------------------------------------------------------------------------

SERVICE_VERSIONS = {
    "versions": [
        {"id": "v1.5", "links": [{"href": f"{ENDPOINT}/v1", "rel": "self"}], "status": "CURRENT"},
        {"id": "v1.3", "links": [], "status": "SUPPORTED", "not_before": "2027-06-30"},
        {"id": "bogus", "status": "CURRENT"},
    ]
}


def test_discovery_is_used_once_and_unsigned() -> None:
    service = Service(versions=SERVICE_VERSIONS)

    async def calls(client: AsyncScpClient) -> str:
        await client.lock(SID)
        await client.unlock(SID)
        await asyncio.gather(client.lock(SID), client.lock(SID2))
        return (await client.version()).number

    assert run(service, calls, discover_versions=True) == "1.5"
    assert len(service.discovery) == 1
    (probe,) = service.discovery
    assert probe.method == "GET"
    assert str(probe.url) == f"{ENDPOINT}/"
    assert "Scp-Signature" not in probe.headers
    assert len(service.calls) == 4
    assert {r.headers["Scp-Api-Version"] for r in service.calls} == {"virtualserver 1.5"}


def test_explicit_version_with_discovery_uses_the_service_catalog() -> None:
    service = Service(versions=SERVICE_VERSIONS)
    run(service, lambda c: c.lock(SID), discover_versions=True, api_version="v1.3")
    assert service.calls[0].headers["Scp-Api-Version"] == "virtualserver 1.3"


@pytest.mark.parametrize(
    "answer",
    [
        None,  # 404 gateway body
        httpx.Response(200, text="<html><title>Welcome</title></html>", headers={"content-type": "text/html"}),
        httpx.Response(200, json=["not", "a", "catalog"]),
        httpx.Response(503),
    ],
    ids=["404", "html-200", "json-list", "503"],
)
def test_discovery_falls_back_to_builtin_catalog(answer: object) -> None:
    service = Service(versions=answer)
    result = run(service, lambda c: c.lock(SID), discover_versions=True)
    assert result.status == 202
    assert len(service.discovery) == 1
    assert service.calls[0].headers["Scp-Api-Version"] == "virtualserver 1.3"


def test_discovery_network_error_falls_back() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/":
            raise httpx.ConnectError("refused")
        return httpx.Response(202)

    async def go() -> str:
        async with AsyncScpClient(
            endpoint=ENDPOINT,
            access_key=ACCESS,
            secret_key=SECRET,
            transport=httpx.MockTransport(handler),
            today=TODAY,
        ) as client:
            await client.lock(SID)
            return (await client.version()).header

    assert asyncio.run(go()) == "virtualserver 1.3"


def test_version_header_goes_out_without_discovery() -> None:
    service = Service(scripted(httpx.Response(503), httpx.Response(202)))
    run(service, lambda c: c.lock(SID))
    assert [r.headers["Scp-Api-Version"] for r in service.calls] == ["virtualserver 1.3"] * 2
    assert service.discovery == []


@pytest.mark.parametrize("discover", [True, False])
def test_deprecated_version_warns(discover: bool) -> None:
    service = Service()
    with pytest.warns(ScpDeprecationWarning, match=r"1\.2 is deprecated"):
        run(service, lambda c: c.lock(SID), api_version="1.2", today=dt.date(2026, 6, 15), discover_versions=discover)
    assert service.calls[0].headers["Scp-Api-Version"] == "virtualserver 1.2"


# -- errors ------------------------------------------------------------------------------------------------

ENVELOPE = {
    "errors": [
        {"code": "virtualserver.server.not_found", "title": "Not Found", "detail": "Server not found.",
         "status": 404, "request_id": "req-abc", "global_request_id": "req-global", "links": [],
         "related_resources": [], "response": None}
    ]
}  # fmt: skip
GATEWAY = {
    "timestamp": "2026-11-27T10:00:00.000+00:00",
    "path": f"/v1/servers/{SID}/lock",
    "status": 404,
    "error": "Not Found",
    "requestId": "gw-123",
}
HTML_417 = (
    "<html><head><title>Request Rejected</title></head>"
    "<body>The requested URL was rejected. Your support ID is: 1234</body></html>"
)


@pytest.mark.parametrize(
    ("response", "status", "code", "message", "request_id"),
    [
        (httpx.Response(404, json=ENVELOPE), 404, "virtualserver.server.not_found", "Server not found.", "req-abc"),
        (
            httpx.Response(
                409,
                json={"errors": [{"code": "c.locked", "detail": ["is locked", "stop refused"],
                                  "global_request_id": "g-1"}]},
            ),
            409, "c.locked", "is locked; stop refused", "g-1",
        ),
        (httpx.Response(404, json=GATEWAY), 404, "GATEWAY", "the API gateway answered 404 Not Found", "gw-123"),
        (
            httpx.Response(417, text=HTML_417, headers={"content-type": "text/html; charset=utf-8"}),
            417, "REQUEST_REJECTED", "Request Rejected", None,
        ),
        (httpx.Response(403, text="", headers={"x-request-id": "hdr-9"}), 403, None, "Forbidden", "hdr-9"),
    ],
    ids=["envelope", "envelope-list-detail", "gateway-404", "html-417", "empty-403"],
)  # fmt: skip
def test_errors_are_parsed(
    response: httpx.Response, status: int, code: str | None, message: str, request_id: str | None
) -> None:
    service = Service(lambda r: response)
    with pytest.raises(ScpApiError) as info:
        run(service, lambda c: c.lock(SID), retry=RetryPolicy(retries=0))
    error = info.value
    assert (error.status, error.code, error.message, error.request_id) == (status, code, message, request_id)
    assert error.attempts == 1
    assert str(status) in str(error)
    assert message in str(error)


@pytest.mark.parametrize(
    "failure",
    [
        httpx.Response(429, headers={"Retry-After": "0"}),
        httpx.Response(503),
        httpx.Response(502),
        httpx.Response(504),
        httpx.Response(417, text=HTML_417, headers={"content-type": "text/html"}),
        httpx.ConnectError("connection refused"),
        httpx.ReadTimeout("read timed out"),
        httpx.RemoteProtocolError("peer closed"),
    ],
    ids=["429", "503", "502", "504", "417", "connect", "timeout", "dropped"],
)
def test_retryable_failures_are_retried_and_resigned(failure: Reply) -> None:
    service = Service(scripted(failure, failure, httpx.Response(202)))
    result = run(service, lambda c: c.lock(SID))
    assert result.attempts == 3
    assert len(service.calls) == 3
    for request in service.calls:
        assert_signed(request)
        assert request.headers["Scp-Api-Version"] == "virtualserver 1.3"
    assert len({r.headers["Scp-Timestamp"] for r in service.calls}) == 3
    assert len({r.headers["Scp-Signature"] for r in service.calls}) == 3


def test_retries_give_up_after_the_policy() -> None:
    service = Service(lambda r: httpx.Response(503))
    with pytest.raises(ScpApiError) as info:
        run(service, lambda c: c.lock(SID), retry=RetryPolicy(retries=2, base=0.001))
    assert info.value.status == 503
    assert info.value.attempts == 3
    assert len(service.calls) == 3


@pytest.mark.parametrize(
    ("failure", "text"),
    [
        (httpx.ConnectError("refused"), "could not connect"),
        (httpx.ConnectTimeout("slow"), "no answer in time"),
        (httpx.ReadError("reset"), r"connection failed \(ReadError\)"),
    ],
)
def test_network_errors_after_retries(failure: Exception, text: str) -> None:
    service = Service(lambda r: failure)
    with pytest.raises(ScpNetworkError, match=text) as info:
        run(service, lambda c: c.lock(SID), retry=RetryPolicy(retries=1, base=0.001))
    assert info.value.attempts == 2
    assert len(service.calls) == 2


@pytest.mark.parametrize("status", [400, 401, 403, 404, 406, 409])
def test_non_retryable_statuses_are_not_retried(status: int) -> None:
    service = Service(lambda r: httpx.Response(status, json=ENVELOPE))
    with pytest.raises(ScpApiError) as info:
        run(service, lambda c: c.unlock(SID))
    assert info.value.status == status
    assert info.value.attempts == 1
    assert len(service.calls) == 1


def test_retry_after_waits_at_least_as_asked(monkeypatch: pytest.MonkeyPatch) -> None:
    waits: list[float] = []

    async def no_sleep(delay: float, result: object = None) -> object:
        waits.append(delay)
        return result

    monkeypatch.setattr(asyncio, "sleep", no_sleep)
    service = Service(scripted(httpx.Response(429, headers={"Retry-After": "7"}), httpx.Response(202)))
    assert run(service, lambda c: c.lock(SID)).attempts == 2
    assert len(waits) == 1
    assert 7.0 <= waits[0] < 8.0


def test_retry_after_beyond_the_cap_is_not_waited_for() -> None:
    service = Service(lambda r: httpx.Response(429, headers={"Retry-After": "120"}))
    with pytest.raises(ScpApiError) as info:
        run(service, lambda c: c.lock(SID), retry=RetryPolicy(base=0.001, max_retry_after=30))
    assert len(service.calls) == 1
    assert info.value.status == 429
    assert info.value.retry_after == 120.0


def test_retry_budget_limits_retries_across_calls() -> None:
    service = Service(lambda r: httpx.Response(503))
    budget = RetryBudget(ratio=0.0, reserve=2)

    async def many(client: AsyncScpClient) -> list[int]:
        attempts = []
        for _ in range(5):
            with pytest.raises(ScpApiError) as info:
                await client.lock(SID)
            attempts.append(info.value.attempts)
        return attempts

    assert run(service, many, budget=budget) == [3, 1, 1, 1, 1]
    assert len(service.calls) == 7  # 5 first attempts + 2 retries, not 5 * 4
    assert budget.spent == 2
    assert budget.denied == 5


def test_retry_budget_is_earned_back_by_successes() -> None:
    outcomes = iter([202, 503, 503, 503])
    service = Service(lambda r: httpx.Response(next(outcomes)))
    budget = RetryBudget(ratio=1.0, reserve=0)

    async def calls(client: AsyncScpClient) -> int:
        await client.lock(SID)  # earns one retry
        with pytest.raises(ScpApiError) as info:
            await client.lock(SID)
        return info.value.attempts

    assert run(service, calls, budget=budget) == 2  # one earned retry, then the budget is empty
    assert (budget.spent, budget.denied) == (1, 1)
    assert len(service.calls) == 3


def test_cancel_while_waiting_to_retry() -> None:
    service = Service(lambda r: httpx.Response(503))

    async def go(client: AsyncScpClient) -> None:
        cancel = asyncio.Event()
        cancel.set()
        await client.lock(SID, cancel=cancel)

    with pytest.raises(RetryCancelled) as info:
        run(service, go, retry=RetryPolicy(retries=3, base=10.0))  # would wait seconds without the cancel
    assert len(service.calls) == 1
    assert isinstance(info.value.last, ScpApiError)
    assert info.value.last.status == 503


# -- headers -----------------------------------------------------------------------------------------------


def test_user_agent_and_default_headers() -> None:
    service = Service()
    run(service, lambda c: c.lock(SID))
    (request,) = service.calls
    assert request.headers["User-Agent"].startswith(f"scp-widgets/{__version__} ")
    assert request.headers["Accept"] == "application/json"
    assert request.headers["Accept-Language"] == "en-US"


def test_accept_language_is_configurable() -> None:
    service = Service(scripted(httpx.Response(503), httpx.Response(202)), versions=SERVICE_VERSIONS)
    run(service, lambda c: c.lock(SID), accept_language="ko-KR", discover_versions=True)
    assert [r.headers["Accept-Language"] for r in service.all_requests] == ["ko-KR"] * 3


# -- bad input raises before anything is sent --------------------------------------------------------------


@pytest.mark.parametrize("method", ["lock", "unlock", "show"])
@pytest.mark.parametrize("bad", ["not-a-uuid", "", "2a9be312-5d4b-4bc8-b2ae-35100fa9241", "../../v1/servers"])
def test_malformed_server_id(method: str, bad: str) -> None:
    service = Service(versions=SERVICE_VERSIONS)
    with pytest.raises(InvalidServerIdError):
        run(service, lambda c: getattr(c, method)(bad), discover_versions=True)
    assert service.all_requests == []


@pytest.mark.parametrize(
    ("options", "error"),
    [
        ({"endpoint": None, "region": "kr-north9", "environment": "e"}, EndpointError),
        ({"endpoint": None, "region": "kr-west1", "environment": "q"}, EndpointError),
        ({"endpoint": "http://scp.example.com"}, EndpointError),
        ({"access_key": None, "secret_key": None}, CredentialsError),
        ({"secret_key": None}, CredentialsError),
        ({"api_version": "1.0"}, UnsupportedVersionError),
        ({"api_version": "1.0", "discover_versions": True}, UnsupportedVersionError),
        ({"api_version": "1.2"}, UnsupportedVersionError),
        ({"api_version": "latest", "discover_versions": True}, UnsupportedVersionError),
    ],
)
def test_bad_configuration_raises_in_the_constructor(
    tmp_path: Path, options: dict[str, Any], error: type[Exception]
) -> None:
    service = Service(versions=SERVICE_VERSIONS)
    with pytest.raises(error):
        make_client(service, env={"SCP_CONFIG_DIR": str(tmp_path)}, **options)
    assert service.all_requests == []


def test_retired_version_today_uses_the_real_date() -> None:
    service = Service()
    with pytest.raises(UnsupportedVersionError, match=r"API version 1\.0 was retired on 2025-12-31"):
        make_client(service, api_version="1.0", today=None)
    assert service.all_requests == []


@pytest.mark.parametrize("discover", [True, False])
def test_unknown_version_sends_no_api_call(discover: bool) -> None:
    service = Service(versions=SERVICE_VERSIONS)
    with pytest.raises(UnsupportedVersionError) as info:
        run(service, lambda c: c.lock(SID), api_version="9.9", discover_versions=discover)
    assert service.calls == []  # at most the GET / discovery went out
    assert not [r for r in service.all_requests if r.url.path.startswith("/v1")]
    assert "'9.9' is unknown" in str(info.value)
    assert ("1.5" in str(info.value)) is discover  # the service's catalog names its versions


# -- the blocking client -----------------------------------------------------------------------------------


def sync_client(service: Service, **options: Any) -> ScpClient:
    return ScpClient(**client_options(service, **options))


def shown_handler(request: httpx.Request) -> httpx.Response:
    if request.method == "GET" and request.url.path == "/v1/servers":
        return httpx.Response(200, json={"servers": [SERVER]})
    if request.method == "GET":
        return httpx.Response(200, json={"server": SERVER})
    return httpx.Response(202, headers={"x-request-id": "req-sync"})


def exercise(client: ScpClient) -> tuple[Any, ...]:
    return (
        client.lock(SID),
        client.unlock(SID),
        client.show(SID),
        client.list_servers(name="web 01"),
        client.version().number,
    )


EXPECTED = (Accepted(202, "req-sync", 1), Accepted(202, "req-sync", 1), SERVER, [SERVER], "1.5")


def test_sync_client_from_plain_code() -> None:
    service = Service(shown_handler, versions=SERVICE_VERSIONS)
    with sync_client(service) as client:
        assert exercise(client) == EXPECTED
        assert client.endpoint == ENDPOINT
        assert repr(client).startswith("ScpClient(")
    assert len(service.calls) == 4
    assert raw_query(service.calls[3]) == "limit=100&name=web+01"


def test_sync_client_inside_a_running_event_loop() -> None:
    service = Service(shown_handler, versions=SERVICE_VERSIONS)

    async def notebook_cell() -> tuple[Any, ...]:
        asyncio.get_running_loop()  # a loop is running here, as in a Jupyter kernel
        with sync_client(service) as client:
            return exercise(client)

    assert asyncio.run(notebook_cell()) == EXPECTED


def test_sync_client_from_threads() -> None:
    service = Service(shown_handler, versions=SERVICE_VERSIONS)
    results: list[tuple[Any, ...]] = []
    errors: list[BaseException] = []
    client = sync_client(service)

    def worker() -> None:
        try:
            results.append(exercise(client))
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)
    client.close()
    assert errors == []
    assert results == [EXPECTED] * 3
    assert len(service.discovery) == 1


def test_sync_client_errors_surface_unchanged(tmp_path: Path) -> None:
    service = Service(lambda r: httpx.Response(404, json=ENVELOPE))
    with pytest.raises(CredentialsError):
        sync_client(service, access_key=None, secret_key=None, env={"SCP_CONFIG_DIR": str(tmp_path)})
    with sync_client(service) as client:
        with pytest.raises(ScpApiError) as info:
            client.lock(SID)
        with pytest.raises(InvalidServerIdError):
            client.show("nope")
    assert info.value.code == "virtualserver.server.not_found"
    assert len(service.calls) == 1


def test_repr_names_endpoint_and_version_without_secret() -> None:
    client = make_client(Service(), api_version="1.3")
    text = repr(client)
    assert ENDPOINT in text
    assert "'1.3'" in text
    assert SECRET not in text
    assert ACCESS not in text
    asyncio.run(client.aclose())
