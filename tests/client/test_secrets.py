"""No secret key and no signature that went out ever shows up in logs, reprs or exceptions."""

from __future__ import annotations

import asyncio
import datetime as dt
import itertools
import logging
import socket
import traceback
from typing import Any

import httpx
import pytest

from scp_widgets.client.credentials import resolve_credentials
from scp_widgets.client.errors import ScpApiError, ScpError, ScpNetworkError
from scp_widgets.client.pools import ShardedTransport
from scp_widgets.client.retry import RetryPolicy
from scp_widgets.client.scp_client import AsyncScpClient, ScpClient

ACCESS = "AKSECRETSTEST0000000042"
SECRET = "do-not-leak-3b9c1e7f5a2d4f60"
SID = "2a9be312-5d4b-4bc8-b2ae-35100fa9241f"
TODAY = dt.date(2026, 11, 27)
LOGGERS = ("", "httpx", "httpcore", "aiohttp", "asyncio", "scp_widgets")


class Recorder:
    """A MockTransport handler: answers by path and keeps every signature it was sent."""

    def __init__(self) -> None:
        self.signatures: list[str] = []
        self.flaky = 0

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if "Scp-Signature" in request.headers:
            self.signatures.append(request.headers["Scp-Signature"])
        path = request.url.path
        if path == "/":
            return httpx.Response(200, json={"versions": [{"id": "v1.3", "status": "CURRENT"}]})
        if path.endswith("/lock"):
            return httpx.Response(202, headers={"x-request-id": "req-ok"})
        if path.endswith("/unlock"):
            body = {"errors": [{"code": "unauthorized", "detail": "bad signature", "request_id": "req-401"}]}
            return httpx.Response(401, json=body)
        if path.startswith("/v1/servers/") and request.method == "GET":
            self.flaky += 1
            if self.flaky < 3:
                return httpx.Response(503, text="busy")
            return httpx.Response(200, json={"id": SID, "locked": True})
        raise httpx.ConnectError("connection reset by peer")


async def real_401_server(signatures: list[str]) -> asyncio.Server:
    """A real HTTP server on 127.0.0.1 that refuses everything with 401, so httpcore logs a real exchange."""

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1")
        for line in head.split("\r\n"):
            name, _, value = line.partition(":")
            if name.lower() == "scp-signature":
                signatures.append(value.strip())
        body = b'{"errors":[{"code":"unauthorized","detail":"expired key","request_id":"req-real"}]}'
        writer.write(
            b"HTTP/1.1 401 Unauthorized\r\ncontent-type: application/json\r\n"
            + f"content-length: {len(body)}\r\nconnection: close\r\n\r\n".encode()
            + body
        )
        await writer.drain()
        writer.close()

    return await asyncio.start_server(serve, "127.0.0.1", 0)


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_nothing_secret_in_logs_reprs_or_exceptions(caplog: pytest.LogCaptureFixture) -> None:
    for name in LOGGERS:
        caplog.set_level(logging.DEBUG, logger=name or None)
    recorder = Recorder()
    real_signatures: list[str] = []
    raised: list[BaseException] = []
    shown: list[str] = []
    # A clock that moves 1 ms per signature, so every attempt's signature differs (two retries in the same
    # real millisecond would otherwise sign alike and the count below would be one short).
    ticks = itertools.count()
    options: dict[str, Any] = {
        "clock": lambda: 1_790_000_000.0 + (next(ticks) + 0.5) / 1000,  # mid-millisecond: no float rounding
        "access_key": ACCESS,
        "secret_key": SECRET,
        "retry": RetryPolicy(retries=2, base=0.001),
        "today": TODAY,
    }

    async def session() -> None:
        mock = AsyncScpClient(endpoint="https://scp.example.com", transport=httpx.MockTransport(recorder), **options)
        async with mock:
            shown.extend([repr(mock), str(mock), repr(mock.credentials), repr(mock._http.auth)])
            await mock.lock(SID)  # success
            await mock.show(SID)  # two 503s, then 200
            for call in (mock.unlock(SID), mock.request("POST", f"/v1/servers/{SID}/stop")):
                try:
                    await call  # 401, then a network error after retries
                except ScpError as exc:
                    raised.append(exc)

        server = await real_401_server(real_signatures)
        port = server.sockets[0].getsockname()[1]
        try:
            async with AsyncScpClient(endpoint=f"http://127.0.0.1:{port}", **options) as real:
                shown.append(repr(real))
                try:
                    await real.lock(SID)
                except ScpError as exc:
                    raised.append(exc)
        finally:
            server.close()
            await server.wait_closed()

        # the real server above goes over the default (aiohttp) transport, this one over pure httpx (httpcore)
        pure = ShardedTransport(4)
        async with AsyncScpClient(endpoint=f"http://127.0.0.1:{closed_port()}", transport=pure, **options) as refused:
            try:
                await refused.unlock(SID)
            except ScpError as exc:
                raised.append(exc)

    asyncio.run(session())

    # the run really did what the test is about
    assert [type(e) for e in raised] == [ScpApiError, ScpNetworkError, ScpApiError, ScpNetworkError]
    assert [getattr(e, "status", None) for e in raised] == [401, None, 401, None]
    assert raised[1].attempts == 3
    assert len(recorder.signatures) == 1 + 3 + 1 + 3  # lock, show x3, unlock, stop x3
    assert len(real_signatures) == 1
    signatures = set(recorder.signatures) | set(real_signatures)
    assert len(signatures) == 9
    assert caplog.records, "nothing was logged: the DEBUG capture is not working"
    assert any(r.name.startswith("httpcore") for r in caplog.records)
    assert any(r.name.startswith("httpx") for r in caplog.records)

    sync = ScpClient(endpoint="https://scp.example.com", transport=httpx.MockTransport(recorder), **options)
    shown.append(repr(sync))
    sync.close()
    creds = resolve_credentials(ACCESS, SECRET)
    shown.extend([repr(creds), str(creds), f"{creds}", repr(creds.secret_key), f"{creds.secret_key}"])

    for exc in raised:
        chain: BaseException | None = exc
        while chain is not None:
            shown.extend([repr(chain), str(chain)])
            chain = chain.__cause__ or chain.__context__
        shown.append("".join(traceback.format_exception(exc)))
    for record in caplog.records:
        shown.extend([record.getMessage(), repr(record.args)])
    shown.append(caplog.text)

    for text in shown:
        assert SECRET not in text, text
        for signature in signatures:
            assert signature not in text, text
    # the access key itself is masked in our own reprs
    for text in shown[:4]:
        assert ACCESS not in text, text
