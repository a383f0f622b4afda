"""Dropping a connection without answering.

ASGI has no message for "hang up", so the app asks whoever serves it through a scope extension,
`scope["extensions"][DROP_EXTENSION]`, an async callable with no arguments:
- over a real socket, `protocol.DroppingH11Protocol` aborts the TCP connection and waits until the server
  has noticed, so uvicorn neither answers 500 nor logs an error;
- in process, `DropAwareApp` notes the request and raises `ConnectionDropped` once the app returns, which
  the transport turns into `httpx.RemoteProtocolError`, what a client sees when a server hangs up.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from starlette.background import BackgroundTask
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

DROP_EXTENSION = "scp_emulator.drop"
DropHook = Callable[[], Awaitable[None]]


class ConnectionDropped(Exception):
    """The app chose to hang up. Raised only where nothing can answer instead (no drop hook)."""


def with_drop_hook(scope: Scope, hook: DropHook) -> Scope:
    extensions: dict[str, Any] = {**scope.get("extensions", {}), DROP_EXTENSION: hook}
    return {**scope, "extensions": extensions}


class DropResponse(Response):
    """A "response" that sends nothing and asks the server to hang up."""

    def __init__(self, background: BackgroundTask | None = None) -> None:
        super().__init__(status_code=200, background=background)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        hook: DropHook | None = scope.get("extensions", {}).get(DROP_EXTENSION)
        if hook is None:
            raise ConnectionDropped("no drop hook in the ASGI scope: serve through EmulatorServer or transport()")
        await hook()


class DropAwareApp:
    """In-process wrapper: gives the app a drop hook and raises `ConnectionDropped` when it was used."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        dropped = False

        async def hook() -> None:
            nonlocal dropped
            dropped = True

        await self.app(with_drop_hook(scope, hook), receive, send)
        if dropped:
            raise ConnectionDropped("the emulator dropped the connection")
