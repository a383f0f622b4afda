"""Both transports under the client: aiohttp (the default) and pure httpx (`ShardedTransport`).

The engine must behave the same over either, against the emulator on a real loopback socket; and the aiohttp
transport must look like plain httpx to the layers above: httpx exceptions, streamed bodies, keep-alive, and a
cancelled request that closes its connection instead of leaving it half-read in the pool.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

import httpx
import pytest
import trustme

import scp_widgets
from scp_widgets.client.aio_transport import AiohttpTransport
from scp_widgets.client.errors import ScpNetworkError
from scp_widgets.client.pools import ShardedTransport, tls_context
from scp_widgets.client.retry import RetryPolicy
from scp_widgets.client.scp_client import AsyncScpClient
from scp_widgets.emulator import DEMO_ACCESS_KEY, DEMO_SECRET_KEY, Emulator, EmulatorConfig, EmulatorServer, Faults

TRANSPORTS: dict[str, Callable[[], httpx.AsyncBaseTransport | None]] = {
    "aiohttp (default)": lambda: None,
    "pure httpx": lambda: ShardedTransport(16),
}


@pytest.mark.parametrize("transport", TRANSPORTS)
@pytest.mark.parametrize("verify", [True, False])
def test_engine_locks_and_unlocks_the_fleet_over_loopback(
    transport: str, verify: bool, emulator: Emulator, live_emulator: EmulatorServer
) -> None:
    ids = emulator.own_ids
    locked = scp_widgets.lock(ids, transport=TRANSPORTS[transport](), verify=verify, concurrency=8, journal=False)
    assert len(locked) == len(ids)
    assert set(locked["outcome"]) == {"locked"}
    assert all(emulator.server(i)["locked"] for i in ids)
    unlocked = scp_widgets.unlock(ids[:5], transport=TRANSPORTS[transport](), verify=verify, journal=False)
    assert set(unlocked["outcome"]) == {"unlocked"}
    assert not any(emulator.server(i)["locked"] for i in ids[:5])
    posts = [r for r in emulator.record if r.method == "POST"]
    assert len(posts) == len(ids) + 5


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_signed_query_with_spaces_and_paging_pass_the_emulator(
    transport: str, emulator: Emulator, live_emulator: EmulatorServer
) -> None:
    async def listing() -> tuple[list[object], list[object]]:
        async with AsyncScpClient(
            endpoint=live_emulator.url, access_key=DEMO_ACCESS_KEY, secret_key=DEMO_SECRET_KEY,
            transport=TRANSPORTS[transport](),
        ) as client:  # fmt: skip
            return await client.list_servers(name="web 0"), await client.list_servers(page_size=7)

    spaced, paged = asyncio.run(listing())
    assert spaced == []
    assert len(paged) == len(emulator.own_ids)  # the conftest fixture checks no signature was refused


# ---- a raw loopback server that misbehaves on purpose ---------------------------------------------------

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


class RawServer:
    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self.connections = 0
        self.closed_by_client = asyncio.Event()

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            await self.handler(reader, writer)
            # whatever the handler did, wait for the client to hang up
            while await reader.read(65536):
                pass
            self.closed_by_client.set()
        finally:
            writer.close()


@asynccontextmanager
async def raw_server(handler: Handler) -> AsyncIterator[tuple[RawServer, str]]:
    raw = RawServer(handler)
    server = await asyncio.start_server(raw.serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield raw, f"http://127.0.0.1:{port}"
    finally:
        server.close()


async def read_head(reader: asyncio.StreamReader) -> None:
    await reader.readuntil(b"\r\n\r\n")


async def black_hole(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await read_head(reader)


async def half_body(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await read_head(reader)
    writer.write(b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 100000\r\n\r\n" + b"[1" * 500)
    await writer.drain()


async def keep_alive(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    for _ in range(3):
        await read_head(reader)
        writer.write(b"HTTP/1.1 202 Accepted\r\ncontent-length: 2\r\nx-request-id: req-1\r\n\r\n{}")
        await writer.drain()


async def hang_up(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await read_head(reader)
    writer.close()


async def not_http(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await read_head(reader)
    writer.write(b"SSH-2.0-OpenSSH_9.6\r\n\r\n")
    await writer.drain()


async def in_parts(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Two keep-alive answers, each body sent in four parts 50 ms apart."""
    for _ in range(2):
        await read_head(reader)
        writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 40000\r\n\r\n")
        for part in b"abcd":
            writer.write(bytes([part]) * 10000)
            await writer.drain()
            await asyncio.sleep(0.05)


def test_a_streamed_body_arrives_as_it_is_sent_and_equals_the_whole() -> None:
    async def scenario() -> None:
        async with raw_server(in_parts) as (raw, url), httpx.AsyncClient(transport=AiohttpTransport()) as http:
            async with http.stream("GET", f"{url}/big") as response:
                chunks = [chunk async for chunk in response.aiter_bytes()]
            whole = (await http.get(f"{url}/big")).content
            assert len(chunks) >= 2  # read before the server had sent it all
            assert b"".join(chunks) == whole == b"a" * 10000 + b"b" * 10000 + b"c" * 10000 + b"d" * 10000
            assert raw.connections == 1

    asyncio.run(scenario())


def test_cancel_while_waiting_for_the_answer_closes_the_connection() -> None:
    async def scenario() -> None:
        async with raw_server(black_hole) as (raw, url), httpx.AsyncClient(transport=AiohttpTransport()) as http:
            task = asyncio.create_task(http.post(f"{url}/v1/servers/x/lock"))
            await asyncio.sleep(0.2)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            await asyncio.wait_for(raw.closed_by_client.wait(), 5)

    asyncio.run(scenario())


def test_cancel_mid_body_closes_the_connection_and_the_next_request_opens_a_new_one() -> None:
    async def scenario() -> None:
        async with raw_server(half_body) as (raw, url), httpx.AsyncClient(transport=AiohttpTransport()) as http:
            response = await http.send(http.build_request("GET", f"{url}/big"), stream=True)
            assert response.status_code == 200
            got: list[bytes] = []

            async def read_all() -> None:
                async for chunk in response.aiter_bytes():
                    got.append(chunk)

            task = asyncio.create_task(read_all())
            await asyncio.sleep(0.2)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            await response.aclose()
            assert got  # the first part did arrive as a stream
            await asyncio.wait_for(raw.closed_by_client.wait(), 5)

    asyncio.run(scenario())


def test_stopping_a_stream_early_closes_the_connection() -> None:
    async def scenario() -> None:
        async with raw_server(half_body) as (raw, url), httpx.AsyncClient(transport=AiohttpTransport()) as http:
            async with http.stream("GET", f"{url}/big") as response:
                async for _ in response.aiter_bytes():
                    break  # a byte cap reached: stop reading
            await asyncio.wait_for(raw.closed_by_client.wait(), 5)

    asyncio.run(scenario())


def test_an_answer_read_to_the_end_keeps_its_connection_alive() -> None:
    async def scenario() -> int:
        async with raw_server(keep_alive) as (raw, url), httpx.AsyncClient(transport=AiohttpTransport()) as http:
            for _ in range(3):
                assert (await http.post(f"{url}/v1/servers/x/lock")).status_code == 202
            return raw.connections

    assert asyncio.run(scenario()) == 1


@pytest.mark.parametrize(
    ("handler", "timeout", "error"),
    [
        (hang_up, 5.0, httpx.RemoteProtocolError),
        (not_http, 5.0, httpx.RemoteProtocolError),
        (black_hole, 0.3, httpx.ReadTimeout),
    ],
)
def test_failures_surface_as_the_httpx_exception_of_the_same_meaning(
    handler: Handler, timeout: float, error: type[httpx.TransportError]
) -> None:
    async def scenario() -> None:
        async with raw_server(handler) as (_, url), httpx.AsyncClient(transport=AiohttpTransport()) as http:
            with pytest.raises(error):
                await http.post(f"{url}/v1/servers/x/lock", timeout=timeout)

    asyncio.run(scenario())


def test_refused_connection_is_a_connect_error_and_one_clear_client_message() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]

    async def scenario() -> None:
        async with httpx.AsyncClient(transport=AiohttpTransport()) as http:
            with pytest.raises(httpx.ConnectError):
                await http.get(f"http://127.0.0.1:{port}/")
        async with AsyncScpClient(
            endpoint=f"http://127.0.0.1:{port}", access_key="ak", secret_key="sk", discover_versions=False,
            retry=RetryPolicy(retries=1, base=0.001),
        ) as client:  # fmt: skip
            with pytest.raises(ScpNetworkError, match="could not connect") as failed:
                await client.lock("2a9be312-5d4b-4bc8-b2ae-35100fa9241f")
            assert failed.value.attempts == 2

    asyncio.run(scenario())


async def tls_server(ca: trustme.CA) -> asyncio.Server:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(context)
    return await asyncio.start_server(keep_alive, "127.0.0.1", 0, ssl=context)


def test_https_is_verified_against_the_given_trust_and_refused_otherwise() -> None:
    ca = trustme.CA()
    trusted = ssl.create_default_context()
    ca.configure_trust(trusted)

    async def scenario() -> None:
        server = await tls_server(ca)
        url = f"https://127.0.0.1:{server.sockets[0].getsockname()[1]}/v1/servers/x/lock"
        try:
            async with httpx.AsyncClient(transport=AiohttpTransport(verify=trusted)) as http:
                assert (await http.post(url)).status_code == 202
            tls_context.cache_clear()
            async with httpx.AsyncClient(transport=AiohttpTransport()) as http:  # the system's CAs only
                with pytest.raises(httpx.ConnectError):
                    await http.post(url)
            assert tls_context.cache_info().currsize == 1  # the certifi context, made for the https request
        finally:
            server.close()

    asyncio.run(scenario())


def test_an_http_endpoint_loads_no_ca_bundle(emulator: Emulator, live_emulator: EmulatorServer) -> None:
    tls_context.cache_clear()
    frame = scp_widgets.lock(emulator.own_ids[:2], verify=False, journal=False)  # the default (aiohttp) transport
    assert set(frame["outcome"]) == {"locked"}
    assert tls_context.cache_info().currsize == 0  # a first call to an http:// endpoint pays no TLS setup


def test_both_transports_put_the_same_request_on_the_wire() -> None:
    heads: list[list[str]] = []

    async def record(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        for _ in range(2):
            head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1")
            heads.append([line for line in head.split("\r\n") if line])
            body = b'{"servers": []}'
            writer.write(b"HTTP/1.1 202 Accepted\r\ncontent-length: %d\r\n\r\n%s" % (len(body), body))
            await writer.drain()

    async def scenario() -> None:
        async with raw_server(record) as (_, url):
            for transport in TRANSPORTS.values():
                async with AsyncScpClient(
                    endpoint=url, access_key="ak", secret_key="sk", discover_versions=False, transport=transport(),
                    clock=lambda: 1_795_000_000.0,
                ) as client:  # fmt: skip
                    await client.lock("2a9be312-5d4b-4bc8-b2ae-35100fa9241f")
                    await client.list_servers(name="a b")

    asyncio.run(scenario())
    aiohttp_lock, aiohttp_list, httpx_lock, httpx_list = heads
    assert aiohttp_lock[0] == "POST /v1/servers/2a9be312-5d4b-4bc8-b2ae-35100fa9241f/lock HTTP/1.1"
    assert aiohttp_list[0] == "GET /v1/servers?limit=100&name=a+b HTTP/1.1"
    # the same lines (names spelled the same, same values, same signature), whatever their order
    assert sorted(aiohttp_lock) == sorted(httpx_lock)
    assert sorted(aiohttp_list) == sorted(httpx_list)
    assert "Scp-Accesskey: ak" in aiohttp_lock
    assert not any(line.lower().startswith("content-type") for line in aiohttp_lock)


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_dropped_connections_on_loopback_are_retried_and_every_server_ends_with_an_outcome(transport: str) -> None:
    emulator = Emulator(EmulatorConfig(servers=40, locked_fraction=0.0, faults=Faults(drop_rate=0.3)))
    with EmulatorServer(emulator) as server:
        frame = scp_widgets.lock(
            emulator.own_ids, endpoint=server.url, access_key=DEMO_ACCESS_KEY, secret_key=DEMO_SECRET_KEY,
            transport=TRANSPORTS[transport](), concurrency=8, journal=False, verify=False, retries=6,
        )  # fmt: skip
    assert len(frame) == 40
    assert set(frame["outcome"]) <= {"locked", "network_error"}
    assert (frame["attempts"] > 1).any()  # drops happened and were retried
    assert sum(r.fault == "drop" for r in emulator.record) >= 1
    failed = frame[frame["outcome"] == "network_error"]
    assert all("RemoteProtocolError" in m or "ReadError" in m for m in failed["message"])
    locked = frame[frame["outcome"] == "locked"]["server_id"]
    assert all(emulator.server(i)["locked"] for i in locked)


async def _through_a_recording_proxy(url: str, monkeypatch: pytest.MonkeyPatch, **env: str) -> list[bytes]:
    """GET `url` with HTTP_PROXY pointing at a loopback 'proxy' that answers 200 and records what it was asked."""
    asked: list[bytes] = []

    async def proxy(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        asked.append(await reader.readline())
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(proxy, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{port}")
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    transport = AiohttpTransport(4)
    try:
        async with httpx.AsyncClient(transport=transport, timeout=5) as client:
            await client.get(url)
    except httpx.TransportError:  # the direct case: nothing listens there
        pass
    finally:
        server.close()
    return asked


def test_the_default_transport_goes_through_the_proxy_the_environment_names(monkeypatch: pytest.MonkeyPatch) -> None:
    # httpx's own transport honours HTTP(S)_PROXY / NO_PROXY; the aiohttp one under it must too, or an operator
    # behind a corporate proxy gets connect errors (or bypasses a proxy that must see the traffic).
    asked = asyncio.run(_through_a_recording_proxy("http://scp.example.test/v1/servers", monkeypatch))
    assert asked == [b"GET http://scp.example.test/v1/servers HTTP/1.1\r\n"]
    asked = asyncio.run(_through_a_recording_proxy("http://127.0.0.1:9/", monkeypatch, NO_PROXY="localhost,127.0.0.1"))
    assert asked == []  # NO_PROXY: straight to the address (port 9 refuses; the proxy is never asked)
