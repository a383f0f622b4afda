"""A transport that spreads requests over several small connection pools.

httpcore's pool re-scans every connection on each request and response, so its CPU cost grows with the
square of the pool size (encode/httpcore#1035); at 32 concurrent requests that, not the network, was the
bulk engine's limit. Each calling task sticks to one small pool, so a long-lived engine worker reuses its
own keep-alive connections and no pool ever holds more than a handful.

The client's default transport is now `AiohttpTransport` (aio_transport.py); this one is the pure-httpx
choice, `AsyncScpClient(transport=ShardedTransport(n))`, and the source of the shared TLS context.
"""

from __future__ import annotations

import asyncio
import functools
import itertools
import ssl
import weakref
from typing import Any

import certifi
import httpx

PER_POOL = 4


@functools.cache
def tls_context() -> ssl.SSLContext:
    """One verifying TLS context for the process: loading the CA bundle costs ~30 ms, so not once per pool."""
    return ssl.create_default_context(cafile=certifi.where())


class ShardedTransport(httpx.AsyncBaseTransport):
    def __init__(self, max_connections: int, *, per_pool: int = PER_POOL, **transport_options: Any) -> None:
        pools = max(1, -(-max_connections // per_pool))
        limits = httpx.Limits(max_connections=per_pool, max_keepalive_connections=per_pool)
        transport_options.setdefault("verify", tls_context())
        self._pools = [httpx.AsyncHTTPTransport(limits=limits, **transport_options) for _ in range(pools)]
        self._turn = itertools.cycle(self._pools)
        self._by_task: weakref.WeakKeyDictionary[asyncio.Task[Any], httpx.AsyncHTTPTransport] = (
            weakref.WeakKeyDictionary()
        )

    def _pool(self) -> httpx.AsyncHTTPTransport:
        task = asyncio.current_task()
        if task is None:
            return next(self._turn)
        pool = self._by_task.get(task)
        if pool is None:
            pool = self._by_task[task] = next(self._turn)
        return pool

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        return await self._pool().handle_async_request(request)

    async def aclose(self) -> None:
        for pool in self._pools:
            await pool.aclose()
