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
import contextlib
import logging
from collections.abc import Callable
from typing import Any, TypeAlias

from scp_widgets.client.errors import ScpRequestError
from scp_widgets.client.retry import RetryBudget
from scp_widgets.client.run_guard import RunGuard
from scp_widgets.client.scp_client import AsyncScpClient
from scp_widgets.client.versions import VersionChoice

logger = logging.getLogger(__name__)
PAGE = 1000
#: A listing answers its readers only when it parses at most this many server objects per reader: parsing
#: that many costs about one per-server GET's CPU. 300 servers of a 50,000-server fleet were answered by
#: two listings of 50 pages each (1.4 s), where GETs for those a first listing left take a fraction of it.
OBJECTS_PER_ANSWER = 20
#: Called with the server's id and its object, or the error that kept it from being read.
Watcher: TypeAlias = Callable[[str, "dict[str, Any] | BaseException"], None]
Waiter: TypeAlias = "asyncio.Future[dict[str, Any]] | Watcher"
#: Who waits for each server: one waiter as it is (almost always), several in a list. A list per server
#: was one more object for every full garbage collection to walk, tens of thousands at a time.
Waiters = dict[str, "Waiter | list[Waiter]"]


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
        # What the last listing told, in a few bytes rather than an entry per server (at 100,000 servers a
        # map of every server's `locked` and the objects of every server answered were a fifth of the
        # run's peak memory): whether the last batch went by listing, which of its servers it lacked, and a
        # digest of each page's (id, locked) pairs, to tell whether anything moved since the listing before.
        self._answered_by_listing = False
        self._absent: set[str] = set()
        self._digests: list[int] = []
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
        if self._answered_by_listing and server_id not in self._absent:
            return 0.0 if self._moving else min(max(pause * 2, 0.05), 0.25)
        return min(max(pause * 2, 0.05), 1.0)

    async def close(self) -> None:
        """The run is over: stop a listing still under way (its readers are gone) before the client closes."""
        if self._flusher is not None and not self._flusher.done():
            self._flusher.cancel()
            await asyncio.gather(self._flusher, return_exceptions=True)

    def sends_done(self) -> None:
        """No more changes will be sent: list as soon as enough servers wait."""
        self._sending = False

    async def snapshot(self, server_ids: list[str]) -> dict[str, dict[str, Any]]:
        """Current state of many servers from one listing (empty when too few to pay off, or on error)."""
        if len(server_ids) < self._batch_min:
            return {}
        found: dict[str, dict[str, Any]] = {}
        try:
            await self._listing(set(server_ids), found.__setitem__)
        except ScpRequestError:
            return {}
        return found

    async def _listing(self, wanted: set[str] | Waiters, on_found: Callable[[str, dict[str, Any]], None]) -> None:
        """One paged listing: each `wanted` server's object to `on_found` as its page arrives; learns the
        fleet's size and whether any `locked` changed since the last listing (so far, as pages arrive: the
        readers a page answers may read again before the next page). Holds one page at a time. `wanted`
        may shrink as it goes (`_by_listing` answers its readers): the listing stops once it is empty, so
        the pages after the last server waited for are neither fetched nor parsed."""
        fleet, moving, before, digests = 0, False, self._digests, list[int]()
        pages = self._client.list_pages(page_size=PAGE, **self._call)
        async with contextlib.aclosing(pages):
            async for page in pages:
                fleet += len(page)
                digest = 0
                for server in page:
                    server_id, locked = str(server.get("id")), server.get("locked")
                    digest ^= hash((server_id, locked is True, locked is False))
                    if server_id in wanted:
                        on_found(server_id, server)
                moving = moving or (len(digests) < len(before) and before[len(digests)] != digest)
                digests.append(digest)
                self._moving = moving
                if not wanted:
                    break
            else:  # the whole fleet: what a listing costs, and every page's digest
                self.objects_read += fleet
                self._fleet, self._pages, self._digests = fleet, fleet // PAGE + 1, digests
                return
        # Cut short: what it read is a floor of the fleet, and the pages not read stay as they were.
        self.objects_read += fleet
        self._fleet, self._pages = max(self._fleet, fleet), max(self._pages, fleet // PAGE + 1)
        self._digests = digests + before[len(digests) :]

    async def read(self, server_id: str, *, patient: bool = False) -> dict[str, Any]:
        """The server object as read after this call began (raises the per-server error, e.g. 404).
        `patient`: a read-back's read, which may wait while the run sends for a listing to gather more
        readers (a preflight's read, which a send waits for, never waits)."""
        return await self.request(server_id, patient=patient)

    def request(self, server_id: str, *, patient: bool = False) -> asyncio.Future[dict[str, Any]]:
        """`read` as a future."""
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._wait(server_id, future, patient)
        return future

    def watch(self, server_id: str, watcher: Watcher) -> None:
        """A patient `read` whose answer (or error) is handed to `watcher(server_id, answer)`. For a caller
        with thousands of reads waiting at once: a future with a callback is about seven objects that every
        full garbage collection walks (see bulk.py's `_ReadBacks`); a watcher shared by all of them is none."""
        self._wait(server_id, watcher, True)

    def _wait(self, server_id: str, waiter: Waiter, patient: bool) -> None:
        if not self._pending:
            self._oldest = asyncio.get_running_loop().time()
        if server_id not in self._pending and server_id not in self._absent:
            self._listable += 1  # a listing may answer it (the last one that lacked it will not)
        present = self._pending.get(server_id)
        if present is None:
            self._pending[server_id] = waiter
        elif isinstance(present, list):
            present.append(waiter)
        else:
            self._pending[server_id] = [present, waiter]
        self._urgent += not patient
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.create_task(self._flush())

    def _worth_listing(self) -> bool | None:
        """True: list now; False: read these one by one; None: let more readers gather first (only while
        the run sends, only when every waiting read is a patient one and enough wait to gather more)."""
        waiting = self._listable
        enough = waiting >= max(self._batch_min, 2 * self._pages) and waiting * OBJECTS_PER_ANSWER >= self._fleet
        if not self._sending or self._urgent or waiting < self._batch_min:
            return enough
        if enough and waiting * 2 >= self._fleet:
            return True
        waited = asyncio.get_running_loop().time() - (self._oldest or 0.0)
        return enough if waited >= self._max_wait else None

    async def _flush(self) -> None:
        # Let the other workers' reads join this batch; pollers re-reading at once after a listing are here.
        await asyncio.sleep(0 if self._answered_by_listing and self._moving else self._window)
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
                    self._answered_by_listing = False
                    await self._one_by_one(batch)
            except BaseException as exc:  # never leave a reader waiting forever
                _fail_all(batch, exc)
                raise

    async def _by_listing(self, batch: Waiters) -> None:
        """Answer the batch from one listing, page by page (each answered reader leaves `batch`); the rest
        (servers the listing lacks, or all left when it fails) one by one."""

        def answer(server_id: str, server: dict[str, Any]) -> None:
            _resolve(server_id, batch.pop(server_id), server)

        self._answered_by_listing, self._absent = True, set()  # before the first page wakes readers (`next_pause`)
        try:
            await self._listing(batch, answer)
        except ScpRequestError:
            self._answered_by_listing = False
            await self._one_by_one(batch)
            return
        self._absent = set(batch)
        if batch:
            await self._one_by_one(batch)

    async def _one_by_one(self, batch: Waiters) -> None:
        async def one(server_id: str, waiters: Waiter | list[Waiter]) -> None:
            answer: dict[str, Any] | BaseException
            try:
                async with self._slots:
                    answer = await self._client.show(server_id, **self._call)
                self.objects_read += 1
            except ScpRequestError as exc:
                answer = exc
            del batch[server_id]  # answered: a cancel of the rest (`_flush`) must not answer it again
            _resolve(server_id, waiters, answer)

        await asyncio.gather(*(one(server_id, waiters) for server_id, waiters in batch.items()))


def _resolve(server_id: str, waiters: Waiter | list[Waiter], answer: dict[str, Any] | BaseException) -> None:
    for waiter in waiters if isinstance(waiters, list) else (waiters,):
        if not isinstance(waiter, asyncio.Future):
            try:
                waiter(server_id, answer)
            except Exception:  # one broken watcher must not keep the others from their answers
                logger.exception("read-back watcher failed")
        elif waiter.done():
            continue
        elif isinstance(answer, BaseException):
            waiter.set_exception(answer)
        else:
            waiter.set_result(answer)


def _fail_all(batch: Waiters, exc: BaseException) -> None:
    for server_id, waiters in batch.items():
        _resolve(server_id, waiters, exc)
