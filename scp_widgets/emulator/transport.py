"""httpx transports that call the emulator in process, without a socket.

`EmulatorTransport` wraps `httpx.ASGITransport`; `SyncEmulatorTransport` runs that on a private event loop in
a daemon thread, so a synchronous `httpx.Client` works even where a loop is already running (Jupyter).
"""

from __future__ import annotations

import asyncio
import threading

import httpx
from starlette.types import ASGIApp

from .drop import ConnectionDropped, DropAwareApp

# The peer address the app sees; loopback, so the /_emulator routes answer.
_CLIENT = ("127.0.0.1", 50000)


class EmulatorTransport(httpx.AsyncBaseTransport):
    def __init__(self, app: ASGIApp) -> None:
        self._inner = httpx.ASGITransport(app=DropAwareApp(app), client=_CLIENT)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        try:
            return await self._inner.handle_async_request(request)
        except ConnectionDropped as exc:
            # The same error httpx raises when a real server closes the socket without answering.
            raise httpx.RemoteProtocolError("Server disconnected without sending a response.", request=request) from exc

    async def aclose(self) -> None:
        await self._inner.aclose()


class SyncEmulatorTransport(httpx.BaseTransport):
    """The loop thread starts on the first request and stops on `close()` (which `httpx.Client.close` calls)."""

    def __init__(self, app: ASGIApp) -> None:
        self._async = EmulatorTransport(app)
        self._guard = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None

    def _running_loop(self) -> asyncio.AbstractEventLoop:
        with self._guard:
            if self._loop is None:
                loop = asyncio.new_event_loop()
                thread = threading.Thread(target=loop.run_forever, name="scp-emulator-transport", daemon=True)
                thread.start()
                self._loop, self._thread = loop, thread
            return self._loop

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        # After read() the body is a ByteStream, which serves the async transport as well.
        request.read()
        future = asyncio.run_coroutine_threadsafe(self._send(request), self._running_loop())
        return future.result()

    async def _send(self, request: httpx.Request) -> httpx.Response:
        response = await self._async.handle_async_request(request)
        content = await response.aread()
        return httpx.Response(response.status_code, headers=response.headers, content=content)

    def close(self) -> None:
        with self._guard:
            loop, thread = self._loop, self._thread
            self._loop = self._thread = None
        if loop is None or thread is None:
            return
        loop.call_soon_threadsafe(loop.stop)
        thread.join()
        loop.close()
