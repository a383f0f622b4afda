"""Reading many servers' state at once: one paged listing instead of one GET per server.

A bulk lock reads `locked` back for every server (and, with preflight, reads it first). Reads that
arrive together are batched: when enough servers wait, one `GET /v1/servers` listing (1,000 a page)
answers them all; the few it does not cover (another account's, unknown ids) and small batches get a
per-server `GET`, whose errors (403, 404, ...) reach the waiting caller as usual.
"""

from __future__ import annotations

import asyncio
from typing import Any

from scp_widgets.client.errors import ScpRequestError
from scp_widgets.client.retry import RetryBudget
from scp_widgets.client.run_guard import RunGuard
from scp_widgets.client.scp_client import AsyncScpClient
from scp_widgets.client.versions import VersionChoice

PAGE = 1000
Waiters = dict[str, list["asyncio.Future[dict[str, Any]]"]]


class StateReader:
    def __init__(
        self,
        client: AsyncScpClient,
        version: VersionChoice,
        budget: RetryBudget,
        *,
        concurrency: int = 16,
        batch_min: int = 16,
        window: float = 0.02,
        guard: RunGuard | None = None,
    ) -> None:
        self._client = client
        self._call: dict[str, Any] = {"version": version, "budget": budget, "guard": guard}
        self._batch_min = batch_min
        self._window = window
        self._pending: Waiters = {}
        self._slots = asyncio.Semaphore(concurrency)  # per-server reads keep to the run's concurrency
        self._flusher: asyncio.Task[None] | None = None
        # A listing pays off only when more servers wait than it has pages; learn the page count.
        self._pages = 1
        self._listed: set[str] = set()  # the servers the last batch's listing answered
        self._seen: dict[str, object] = {}  # `locked` of every server in the last listing
        self._moving = False  # whether the last listing saw any `locked` change since the one before

    def next_pause(self, server_id: str, pause: float) -> float:
        """How long a poller of `server_id` waits before it reads again, given its last pause.

        While listings answer and the service is applying changes (a listing shows `locked` moving), a
        poller re-reads at once: one listing answers every waiting server, so a round costs one request
        however many wait, and a run ends about one listing after the service applies its last change.
        While nothing moves (the service's own delay), rounds back off to one every 0.25 s, so a long wait
        is not spent listing back to back. Per-server reads (few waiting, a failed listing, a server the
        listing lacks) back off further, up to 1 s.
        """
        if server_id in self._listed:
            return 0.0 if self._moving else min(max(pause * 2, 0.05), 0.25)
        return min(max(pause * 2, 0.05), 1.0)

    async def snapshot(self, server_ids: list[str]) -> dict[str, dict[str, Any]]:
        """Current state of many servers from one listing (empty when too few to pay off, or on error)."""
        if len(server_ids) < self._batch_min:
            return {}
        try:
            by_id = await self._listing()
        except ScpRequestError:
            return {}
        return {server_id: by_id[server_id] for server_id in server_ids if server_id in by_id}

    async def _listing(self) -> dict[str, dict[str, Any]]:
        """Every server of the account by id, from one paged listing (and the page count learnt from it)."""
        servers = await self._client.list_servers(page_size=PAGE, **self._call)
        self._pages = len(servers) // PAGE + 1
        return {str(s.get("id")): s for s in servers}

    async def read(self, server_id: str) -> dict[str, Any]:
        """The server object as read after this call began (raises the per-server error, e.g. 404)."""
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._pending.setdefault(server_id, []).append(future)
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.create_task(self._flush())
        return await future

    async def _flush(self) -> None:
        # Let the other workers' reads join this batch; pollers re-reading at once after a listing are here.
        await asyncio.sleep(0 if self._listed and self._moving else self._window)
        while self._pending:
            batch, self._pending = self._pending, {}
            try:
                if len(batch) >= max(self._batch_min, 2 * self._pages):
                    await self._by_listing(batch)
                else:
                    self._listed = set()
                    await self._one_by_one(batch)
            except BaseException as exc:  # never leave a reader waiting forever
                _fail_all(batch, exc)
                raise

    async def _by_listing(self, batch: Waiters) -> None:
        try:
            by_id = await self._listing()
        except ScpRequestError:
            self._listed = set()
            await self._one_by_one(batch)
            return
        # Before the pollers wake: which of them the listing answered, and whether the service is moving.
        self._listed = {server_id for server_id in batch if server_id in by_id}
        seen = {server_id: server.get("locked") for server_id, server in by_id.items()}
        self._moving = any(self._seen.get(server_id, locked) != locked for server_id, locked in seen.items())
        self._seen = seen
        rest: Waiters = {}
        for server_id, futures in batch.items():
            if server_id in by_id:
                _resolve(futures, by_id[server_id])
            else:
                rest[server_id] = futures
        if rest:
            await self._one_by_one(rest)

    async def _one_by_one(self, batch: Waiters) -> None:
        async def one(server_id: str, futures: list[asyncio.Future[dict[str, Any]]]) -> None:
            try:
                async with self._slots:
                    server = await self._client.show(server_id, **self._call)
            except ScpRequestError as exc:
                _fail_all({server_id: futures}, exc)
            else:
                _resolve(futures, server)

        await asyncio.gather(*(one(server_id, futures) for server_id, futures in batch.items()))


def _resolve(futures: list[asyncio.Future[dict[str, Any]]], server: dict[str, Any]) -> None:
    for future in futures:
        if not future.done():
            future.set_result(server)


def _fail_all(batch: Waiters, exc: BaseException) -> None:
    for futures in batch.values():
        for future in futures:
            if not future.done():
                future.set_exception(exc)
