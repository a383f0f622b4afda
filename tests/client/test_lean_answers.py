"""The bulk path's lean answers (answers.py) and its timeout (`client_timeout(within=)`): a lock sent over the
default transport, where a whole 202 comes as an `Answer` and aiohttp keeps only the timers the attempt's
deadline does not cover, must end exactly as the same lock sent through httpx's own transport: the same
`Accepted`, or the same error (type, sentence, status, code, attempts) for 4xx, 5xx, a throttle, a timeout
and a dropped connection. A scripted socket server gives both clients the same answers, byte for byte."""

from __future__ import annotations

import asyncio

import httpx
import pytest
import yarl

from scp_widgets.client.aio_transport import AiohttpTransport
from scp_widgets.client.answers import Answer
from scp_widgets.client.errors import ScpRequestError
from scp_widgets.client.retry import RetryPolicy
from scp_widgets.client.scp_client import AsyncScpClient
from scp_widgets.emulator import DEMO_ACCESS_KEY, DEMO_SECRET_KEY, Emulator, EmulatorServer

SERVER = "2a9be312-5d4b-4bc8-b2ae-35100fa9241f"
HANG = b"hang"  # read the request, never answer
DROP = b"drop"  # read the request, close the connection


def _answer(status: str, body: bytes = b"", *headers: str) -> bytes:
    head = [f"HTTP/1.1 {status}", f"Content-Length: {len(body)}", *headers]
    return ("\r\n".join(head) + "\r\n\r\n").encode() + body


ACCEPTED = _answer("202 Accepted", b"", "X-Request-Id: req-1", "x-request-id: req-2")
ENVELOPE = b'{"errors": [{"code": "SERVER_NOT_FOUND", "detail": "no such server", "request_id": "req-9"}]}'
SCRIPTS: dict[str, list[bytes]] = {
    "accepted": [ACCEPTED],
    "not found": [_answer("404 Not Found", ENVELOPE, "Content-Type: application/json")],
    "retried 503": [_answer("503 Service Unavailable", b"busy"), ACCEPTED],
    "throttled": [_answer("429 Too Many Requests", b"", "Retry-After: 0"), ACCEPTED],
    "always 500": [_answer("500 Internal Server Error", b"<html><title>Oops</title></html>", "Content-Type: text/html")]
    * 2,
    "timeout": [HANG, HANG],
    "dropped": [DROP, DROP],
    "big error page": [_answer("502 Bad Gateway", b"x" * 100_000)] * 2,
}


async def _scripted(script: list[bytes]) -> tuple[asyncio.Server, list[bytes], asyncio.Event]:
    """A server answering each request with the script's next entry; `stop` releases the hung ones."""
    queue, stop = list(script), asyncio.Event()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while queue:
                await reader.readuntil(b"\r\n\r\n")
                step = queue.pop(0)
                if step == HANG:
                    await stop.wait()
                    return
                if step == DROP:
                    return
                writer.write(step)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    return server, queue, stop


async def _outcome(script: list[bytes], transport: httpx.AsyncBaseTransport | None) -> str:
    server, _, stop = await _scripted(script)
    port = server.sockets[0].getsockname()[1]
    try:
        async with AsyncScpClient(
            endpoint=f"http://127.0.0.1:{port}", access_key="AK", secret_key="SK", timeout=0.5,
            retry=RetryPolicy(retries=1, base=0.0, cap=0.0), transport=transport, discover_versions=False,
        ) as client:  # fmt: skip
            try:
                accepted = await client.lock(SERVER)
            except ScpRequestError as exc:
                status, code = getattr(exc, "status", None), getattr(exc, "code", None)
                return f"{type(exc).__name__} {status} {code} {exc.attempts} {exc}"
            return repr(accepted)
    finally:
        stop.set()
        server.close()


@pytest.mark.parametrize("case", sorted(SCRIPTS))
def test_a_lock_on_the_lean_path_ends_as_on_the_httpx_path(case: str) -> None:
    async def both() -> tuple[str, str]:
        lean = await _outcome(SCRIPTS[case], None)
        full = await _outcome(SCRIPTS[case], httpx.AsyncHTTPTransport())
        return lean, full

    lean, full = asyncio.run(both())
    assert lean == full
    if case == "accepted":
        assert "request_id='req-1, req-2'" in lean  # both values, joined as httpx joins them
    if case == "timeout":
        assert "no complete answer within the 0.5 s timeout" in lean


def test_the_public_request_hands_back_an_httpx_response_on_the_bulk_path() -> None:
    async def scenario() -> httpx.Response:
        server, _, stop = await _scripted([ACCEPTED])
        port = server.sockets[0].getsockname()[1]
        try:
            async with AsyncScpClient(
                endpoint=f"http://127.0.0.1:{port}", access_key="AK", secret_key="SK", discover_versions=False
            ) as client:
                response, attempts = await client.request("POST", f"/v1/servers/{SERVER}/lock", bulk=True)
                assert attempts == 1
                return response
        finally:
            stop.set()
            server.close()

    response = asyncio.run(scenario())
    assert isinstance(response, httpx.Response)
    assert (response.status_code, response.reason_phrase, response.content) == (202, "Accepted", b"")
    assert response.headers["x-request-id"] == "req-1, req-2"


def test_a_whole_small_answer_is_an_answer_and_a_big_one_streams() -> None:
    async def scenario() -> list[object]:
        body = b"y" * 40_000
        server, _, stop = await _scripted([ACCEPTED, _answer("200 OK", body)])
        port = server.sockets[0].getsockname()[1]
        transport = AiohttpTransport(2)
        timeout = transport.client_timeout(httpx.Timeout(5.0))
        seen: list[object] = []
        try:
            for _ in range(2):
                got = await transport.open(
                    "POST", yarl.URL(f"http://127.0.0.1:{port}/x"), {}, timeout=timeout, proxy=None,
                    whole_up_to=16 * 1024,
                )  # fmt: skip
                if isinstance(got, httpx.Response):
                    seen.append(await got.aread())
                    await got.aclose()
                else:
                    seen.append(got)
        finally:
            await transport.aclose()
            stop.set()
            server.close()
        return seen

    answer, streamed = asyncio.run(scenario())
    assert isinstance(answer, Answer) and answer.status_code == 202 and answer.header("X-REQUEST-ID") == "req-1, req-2"
    assert streamed == b"y" * 40_000


@pytest.mark.parametrize(
    ("timeout", "within", "expected"),
    [
        # the default timeout under its 15 s deadline: only the 5 s connect of a new connection stays
        (httpx.Timeout(15.0, connect=5.0), 15.0, (5.0, None, None)),
        # a part shorter than the deadline can fire first, with its own sentence: it stays
        (httpx.Timeout(30.0, read=5.0, connect=2.0, pool=1.0), 30.0, (2.0, 5.0, 3.0)),
        (httpx.Timeout(None), None, (None, None, None)),
    ],
)
def test_the_bulk_timeout_leaves_out_only_what_the_deadline_covers(
    timeout: httpx.Timeout, within: float | None, expected: tuple[float | None, ...]
) -> None:
    made = AiohttpTransport().client_timeout(timeout, within=within)
    assert (made.sock_connect, made.sock_read, made.connect) == expected
    assert made.total is None


def test_accepted_locks_make_no_httpx_response(
    emulator: Emulator, live_emulator: EmulatorServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    made: list[int] = []
    original = httpx.Response.__init__

    def counting(self: httpx.Response, status_code: int, *args: object, **kwargs: object) -> None:
        made.append(status_code)
        original(self, status_code, *args, **kwargs)  # type: ignore[arg-type]

    ids = emulator.own_ids[:10]

    async def scenario() -> list[str | None]:
        async with AsyncScpClient(
            endpoint=live_emulator.url, access_key=DEMO_ACCESS_KEY, secret_key=DEMO_SECRET_KEY
        ) as client:
            await client.version()  # discovery's GET makes its own response
            monkeypatch.setattr(httpx.Response, "__init__", counting)
            return [(await client.lock(server_id)).request_id for server_id in ids]

    request_ids = asyncio.run(scenario())
    assert made == []
    assert all(emulator.server(i)["locked"] for i in ids)
    assert all(request_ids) and len(set(request_ids)) == len(ids)
