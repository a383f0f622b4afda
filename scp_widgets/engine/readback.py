"""Reading many servers' state at once: one paged listing instead of one GET per server.

A bulk lock reads `locked` back for every server (and, with preflight, reads it first). Reads that
arrive together are batched: when enough servers wait, one `GET /v1/servers` listing (1,000 a page)
answers them all; the few it does not cover (another account's, unknown ids) and small batches get a
per-server `GET`, whose errors (403, 404, ...) reach the waiting caller as usual.

A listing costs the whole fleet's objects, so while the run is still sending (`sends_done` not called yet)
the reader lists only once at least half a fleet's worth of servers wait (at most about two objects parsed
per server answered) or the oldest has waited `max_wait`: at 50,000 servers the read-back listed the fleet
back to back about 18 times a run, and parsed 18 objects per server locked. Once the sends are done it
lists as soon as enough wait (see `next_pause`). A listing is read a page at a time: only the waiting
servers' objects are kept.
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
        expected: int = 0,
        max_wait: float = 5.0,
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
        self._fleet = expected  # servers a listing returns (the run's size until a listing says)
        self._sending = True  # until `sends_done`: listings wait for half a fleet's worth of readers
        self._max_wait = max_wait
        self._oldest: float | None = None  # loop time of the oldest read not answered yet
        self._listable = 0  # waiting servers a listing may answer
        self._urgent = 0  # waiting reads that are not patient (see `read`)
        #: Server objects the listings and per-server reads returned (what the read-back parsed).
        self.objects_read = 0

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

    def sends_done(self) -> None:
        """No more changes will be sent: list as soon as enough servers wait."""
        self._sending = False

    async def snapshot(self, server_ids: list[str]) -> dict[str, dict[str, Any]]:
        """Current state of many servers from one listing (empty when too few to pay off, or on error)."""
        if len(server_ids) < self._batch_min:
            return {}
        found: dict[str, dict[str, Any]] = {}
        try:
            await self._listing(set(server_ids), found)
        except ScpRequestError:
            return {}
        return found

    async def _listing(self, wanted: set[str] | Waiters, found: dict[str, dict[str, Any]]) -> None:
        """One paged listing: the `wanted` servers' objects into `found`; learns the fleet's size and whether
        any `locked` changed since the last listing. Holds one page at a time, never the fleet."""
        fleet, moving, seen = 0, False, self._seen
        async for page in self._client.list_pages(page_size=PAGE, **self._call):
            fleet += len(page)
            for server in page:
                server_id, locked = str(server.get("id")), server.get("locked")
                moving = moving or seen.get(server_id, locked) != locked
                seen[server_id] = locked
                if server_id in wanted:
                    found[server_id] = server
        self.objects_read += fleet
        self._fleet, self._pages, self._moving = fleet, fleet // PAGE + 1, moving

    async def read(self, server_id: str, *, patient: bool = False) -> dict[str, Any]:
        """The server object as read after this call began (raises the per-server error, e.g. 404).
        `patient`: a read-back's read, which may wait while the run sends for a listing to gather more
        readers (a preflight's read, which a send waits for, never waits)."""
        return await self.request(server_id, patient=patient)

    def request(self, server_id: str, *, patient: bool = False) -> asyncio.Future[dict[str, Any]]:
        """`read` as a future, for a caller that waits with a callback rather than a task."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[dict[str, Any]] = loop.create_future()
        if not self._pending:
            self._oldest = loop.time()
        if server_id not in self._pending and (not self._seen or server_id in self._seen):
            self._listable += 1  # a listing may answer it (one that lacked it will not)
        self._pending.setdefault(server_id, []).append(future)
        self._urgent += not patient
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.create_task(self._flush())
        return future

    def _worth_listing(self) -> bool | None:
        """True: list now; False: read these one by one; None: let more readers gather first (only while
        the run sends, only when every waiting read is a patient one and enough wait to gather more)."""
        waiting = self._listable
        enough = waiting >= max(self._batch_min, 2 * self._pages)
        if not self._sending or self._urgent or waiting < self._batch_min:
            return enough
        if enough and waiting * 2 >= self._fleet:
            return True
        waited = asyncio.get_running_loop().time() - (self._oldest or 0.0)
        return enough if waited >= self._max_wait else None

    async def _flush(self) -> None:
        # Let the other workers' reads join this batch; pollers re-reading at once after a listing are here.
        await asyncio.sleep(0 if self._listed and self._moving else self._window)
        while self._pending:
            worth = self._worth_listing()
            if worth is None:
                await asyncio.sleep(self._window)
                continue
            batch, self._pending, self._listable, self._urgent = self._pending, {}, 0, 0
            try:
                if worth:
                    await self._by_listing(batch)
                else:
                    self._listed = set()
                    await self._one_by_one(batch)
            except BaseException as exc:  # never leave a reader waiting forever
                _fail_all(batch, exc)
                raise

    async def _by_listing(self, batch: Waiters) -> None:
        found: dict[str, dict[str, Any]] = {}
        try:
            await self._listing(batch, found)
        except ScpRequestError:
            self._listed = set()
            await self._one_by_one(batch)
            return
        # Before the pollers wake: which of them the listing answered (whether the service moves: `_listing`).
        self._listed = set(found)
        rest: Waiters = {}
        for server_id, futures in batch.items():
            if server_id in found:
                _resolve(futures, found[server_id])
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
                self.objects_read += 1
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
