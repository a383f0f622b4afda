"""uvicorn's h11 protocol, plus the drop hook (see `drop.py`): the one place that may touch the socket."""

from __future__ import annotations

import asyncio
from typing import Any

from starlette.types import ASGIApp, Receive, Scope, Send
from uvicorn.protocols.http.h11_impl import H11Protocol

from .drop import DropHook, with_drop_hook


class DroppingH11Protocol(H11Protocol):
    """One instance per TCP connection, so the hook it hands out aborts exactly this connection."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._lost = asyncio.Event()
        self.app = _HookedApp(self.app, self._drop)

    def connection_lost(self, exc: Exception | None) -> None:
        super().connection_lost(exc)
        self._lost.set()

    async def _drop(self) -> None:
        self.transport.abort()
        # Wait until uvicorn marks the request disconnected, else it would answer 500 to a closed socket.
        await self._lost.wait()


class _HookedApp:
    def __init__(self, app: ASGIApp, hook: DropHook) -> None:
        self._app = app
        self._hook = hook

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            scope = with_drop_hook(scope, self._hook)
        await self._app(scope, receive, send)
