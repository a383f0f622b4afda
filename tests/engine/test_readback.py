"""Batched read-back: many servers' state from one listing, per-server reads for the rest."""

from __future__ import annotations

import asyncio
from collections import Counter

import httpx

import scp_widgets
from scp_widgets.client.pools import ShardedTransport
from scp_widgets.client.retry import RetryBudget
from scp_widgets.client.scp_client import AsyncScpClient
from scp_widgets.emulator import DEMO_ACCESS_KEY, DEMO_SECRET_KEY, Emulator, EmulatorConfig, EmulatorServer, Faults
from scp_widgets.engine.readback import StateReader

UNKNOWN = "00000000-0000-4000-8000-000000000000"


class NoListing(httpx.AsyncBaseTransport):
    """The emulator, except that every listing fails with a 400."""

    def __init__(self, emulator: Emulator) -> None:
        self._inner = emulator.transport()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.path == "/v1/servers":
            return httpx.Response(400, json={"errors": [{"code": "bad", "detail": "no listing today"}]})
        return await self._inner.handle_async_request(request)


def actions(emulator: Emulator) -> Counter[str]:
    return Counter(r.action or "other" for r in emulator.record)


def lock_many(emulator: Emulator, ids: list[str], transport: httpx.AsyncBaseTransport | None = None, **options: object):  # type: ignore[no-untyped-def]
    return scp_widgets.lock(
        ids, endpoint="http://127.0.0.1:9", access_key=DEMO_ACCESS_KEY, secret_key=DEMO_SECRET_KEY,
        transport=transport or emulator.transport(), concurrency=32, journal=False, **options,
    )  # fmt: skip


def test_many_read_backs_come_from_listings_not_one_get_each() -> None:
    emulator = Emulator(EmulatorConfig(servers=200, foreign_servers=2, locked_fraction=0.0))
    ids = [*emulator.own_ids, emulator.foreign_ids[0], UNKNOWN]
    df = lock_many(emulator, ids, preflight=True)
    assert df.attrs["counts"] == {"locked": 200, "forbidden": 1, "not_found": 1}
    seen = actions(emulator)
    assert seen["lock"] == 200  # preflight errors stopped the foreign and unknown ids before a POST
    assert seen["list"] >= 1
    assert seen["show"] < 100  # without batching: 2 reads per server, 400 GETs
    assert df.locked[:200].all()


def test_when_the_listing_fails_each_server_is_read_on_its_own() -> None:
    emulator = Emulator(EmulatorConfig(servers=60, locked_fraction=0.0))

    df = lock_many(emulator, emulator.own_ids, transport=NoListing(emulator))
    assert set(df.outcome) == {"locked"}
    assert actions(emulator)["show"] >= 60


def test_sharded_transport_keeps_each_task_on_one_small_pool() -> None:
    emulator = Emulator(EmulatorConfig(servers=4))

    async def main(url: str) -> tuple[set[int], int]:
        transport = ShardedTransport(8, per_pool=2)
        used: dict[int, set[int]] = {}
        async with httpx.AsyncClient(transport=transport) as client:

            async def worker(n: int) -> None:
                for _ in range(3):
                    assert (await client.get(url + "/")).status_code == 200
                    task = asyncio.current_task()
                    assert task is not None
                    used.setdefault(n, set()).add(id(transport._by_task[task]))

            await asyncio.gather(*(worker(n) for n in range(8)))
        return {pool for pools in used.values() for pool in pools}, max(len(p) for p in used.values())

    with EmulatorServer(emulator) as server:
        pools, per_task = asyncio.run(main(server.url))
    assert len(pools) == 4  # 8 connections in pools of 2
    assert per_task == 1  # a task never hops between pools


def test_pollers_re_read_at_once_while_listings_show_changes_and_back_off_otherwise() -> None:
    emulator = Emulator(EmulatorConfig(servers=40, locked_fraction=0.0))
    listed, alone = emulator.own_ids[:20], emulator.own_ids[30]

    async def main() -> list[float]:
        async with AsyncScpClient(
            endpoint="http://127.0.0.1:9", access_key=DEMO_ACCESS_KEY, secret_key=DEMO_SECRET_KEY,
            transport=emulator.transport(),
        ) as client:  # fmt: skip
            reader = StateReader(client, await client.version(), RetryBudget())

            async def round_of_reads() -> None:  # 20 waiting, one not in the account: a listing and one GET
                await asyncio.gather(*(reader.read(i) for i in [*listed, UNKNOWN]), return_exceptions=True)

            await round_of_reads()
            pauses = [reader.next_pause(listed[0], 0.0), reader.next_pause(listed[0], 0.4)]  # nothing moved yet
            pauses.append(reader.next_pause(UNKNOWN, 0.4))  # the listing lacks it: per-server back-off
            await client.lock(listed[5])
            await round_of_reads()
            pauses.append(reader.next_pause(listed[0], 0.1))  # a lock became visible: the service is moving
            await round_of_reads()
            pauses.append(reader.next_pause(listed[0], 0.0))  # still again
            await reader.read(alone)  # alone: a per-server GET, and the listing no longer counts
            return [*pauses, reader.next_pause(listed[0], 0.4), reader.next_pause(alone, 0.8)]

    assert asyncio.run(main()) == [0.05, 0.25, 0.8, 0.0, 0.05, 0.8, 1.0]
    assert actions(emulator)["list"] == 3
    assert actions(emulator)["show"] == 4


def test_after_a_failed_listing_pollers_back_off() -> None:
    emulator = Emulator(EmulatorConfig(servers=40))

    async def main() -> float:
        async with AsyncScpClient(
            endpoint="http://127.0.0.1:9", access_key=DEMO_ACCESS_KEY, secret_key=DEMO_SECRET_KEY,
            transport=NoListing(emulator),
        ) as client:  # fmt: skip
            reader = StateReader(client, await client.version(), RetryBudget())
            await asyncio.gather(*(reader.read(i) for i in emulator.own_ids[:20]))
            return reader.next_pause(emulator.own_ids[0], 0.4)

    assert asyncio.run(main()) == 0.8  # not 0: each round would cost a GET per server
    assert actions(emulator)["show"] == 20


def test_servers_are_confirmed_while_the_others_are_still_being_sent() -> None:
    # Over a real socket and the default transport: the read-back's listing must not wait for a connection
    # until every send is done (it did when the pool held exactly `concurrency` connections: no server was
    # confirmed, or journaled as final, before the last request had gone out).

    emulator = Emulator(EmulatorConfig(servers=300, locked_fraction=0.0, faults=Faults(latency=0.03)))
    sent_when_first_done: list[int] = []

    def progress(p: scp_widgets.Progress) -> None:
        if p.done and not sent_when_first_done:
            sent_when_first_done.append(p.sent)

    with EmulatorServer(emulator) as server:
        df = scp_widgets.lock(
            emulator.own_ids, endpoint=server.url, access_key=DEMO_ACCESS_KEY, secret_key=DEMO_SECRET_KEY,
            concurrency=16, journal=False, progress=progress,
        )  # fmt: skip
    assert df.attrs["counts"] == {"locked": 300}
    assert sent_when_first_done and sent_when_first_done[0] < 300


def test_the_read_back_parses_about_two_listings_worth_of_objects_per_server_locked(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    # At 50,000 servers it listed the fleet back to back (18 objects parsed per server locked); while the run
    # sends, a listing now waits for half a fleet's worth of readers, and a listing keeps only their objects.
    readers: list[StateReader] = []

    class Counting(StateReader):
        def __init__(self, *args, **kwargs) -> None:  # type: ignore[no-untyped-def]
            super().__init__(*args, **kwargs)
            readers.append(self)

    monkeypatch.setattr("scp_widgets.engine.bulk.StateReader", Counting)
    for servers, concurrency in ((600, 16), (1500, 64)):
        emulator = Emulator(EmulatorConfig(servers=servers, locked_fraction=0.0, faults=Faults(latency=0.002)))
        df = scp_widgets.lock(
            emulator.own_ids, endpoint="http://127.0.0.1:9", access_key=DEMO_ACCESS_KEY, secret_key=DEMO_SECRET_KEY,
            transport=emulator.transport(), concurrency=concurrency, journal=False,
        )  # fmt: skip
        assert set(df.outcome) == {"locked"}
        parsed = readers[-1].objects_read
        print(servers, parsed, actions(emulator))
        assert parsed <= 2.5 * servers, (servers, parsed, actions(emulator))


def test_a_preflight_read_never_waits_for_a_listing_to_gather_readers() -> None:
    # Sends wait for their preflight reads: were those reads held for a listing until the sends were done (or
    # for verify_timeout), the run would stall; with the listing broken and a long verify timeout it would hang.
    emulator = Emulator(EmulatorConfig(servers=200, locked_fraction=0.0))  # 32 readers: not half the fleet
    df = lock_many(emulator, emulator.own_ids, transport=NoListing(emulator), preflight=True, verify_timeout=3600)
    assert set(df.outcome) == {"locked"}
    assert actions(emulator)["lock"] == 200


def test_a_read_back_that_the_first_listing_settles_starts_no_poller_task(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    # Waiting first reads are futures with a callback: at 50,000 servers a waiting poller task per server
    # was most of what each full garbage collection walked. Only servers still unsettled get a poller.
    import scp_widgets.engine.bulk as bulk

    pollers: list[str] = []
    original = bulk._ReadBacks._poll

    def counting(self, index, result, follow, since) -> None:  # type: ignore[no-untyped-def]
        pollers.append(result.server_id)
        original(self, index, result, follow, since)

    monkeypatch.setattr(bulk._ReadBacks, "_poll", counting)
    emulator = Emulator(EmulatorConfig(servers=300, locked_fraction=0.0))
    df = lock_many(emulator, emulator.own_ids)
    assert set(df.outcome) == {"locked"} and df.locked.all()
    assert pollers == []
    slow = Emulator(EmulatorConfig(servers=40, locked_fraction=0.0, lock_delay=0.3))
    df = lock_many(slow, slow.own_ids)
    assert set(df.outcome) == {"locked"}  # the first reads saw the lock pending: pollers confirmed it
    assert 0 < len(pollers) <= 40


def test_a_listing_stops_after_the_last_server_it_was_read_for() -> None:
    # A listing used to run to the fleet's end whoever it was for; its readers are now answered page by page,
    # so once the last one has its answer no further page is fetched or parsed.
    emulator = Emulator(EmulatorConfig(servers=2500, locked_fraction=0.0))

    async def main() -> tuple[list[str], int]:
        async with AsyncScpClient(
            endpoint="http://127.0.0.1:9", access_key=DEMO_ACCESS_KEY, secret_key=DEMO_SECRET_KEY,
            transport=emulator.transport(),
        ) as client:  # fmt: skip
            first_page = [str(s["id"]) for s in (await anext(aiter(client.list_pages(page_size=1000))))][:40]
            emulator.record.clear()
            reader = StateReader(client, await client.version(), RetryBudget())
            answers = await asyncio.gather(*(reader.read(i) for i in first_page))
            return [str(a["id"]) for a in answers], reader.objects_read

    answered, parsed = asyncio.run(main())
    assert len(answered) == 40 and len(set(answered)) == 40
    assert actions(emulator)["list"] == 1  # 3 pages without the stop
    assert parsed == 1000


def test_a_watched_read_keeps_no_object_per_server_while_it_waits() -> None:
    # At 50,000 servers tens of thousands of first reads wait at once, and every full garbage collection
    # walked each one with the GIL held: a future with its callback was seven objects, a list per server one.
    import gc

    emulator = Emulator(EmulatorConfig(servers=3000, locked_fraction=0.0))
    ids = emulator.own_ids

    async def main() -> tuple[int, dict[str, bool]]:
        async with AsyncScpClient(
            endpoint="http://127.0.0.1:9", access_key=DEMO_ACCESS_KEY, secret_key=DEMO_SECRET_KEY,
            transport=emulator.transport(),
        ) as client:  # fmt: skip
            reader = StateReader(client, await client.version(), RetryBudget(), expected=len(ids))
            got: dict[str, bool] = {}
            done = asyncio.Event()

            def watcher(server_id: str, answer: object) -> None:
                got[server_id] = isinstance(answer, dict) and answer.get("locked") is False
                if len(got) == len(ids):
                    done.set()

            gc.collect()
            before = len(gc.get_objects())
            for server_id in ids:
                reader.watch(server_id, watcher)
            grown = len(gc.get_objects()) - before
            await done.wait()
            return grown, got

    grown, got = asyncio.run(main())
    assert grown < 100, grown
    assert len(got) == 3000 and all(got.values())


def test_closing_the_reader_ends_a_listing_under_way() -> None:
    # The run is over and its client about to close: a listing still paging must stop, not go on to fail
    # against the closed client ("Task exception was never retrieved").
    emulator = Emulator(EmulatorConfig(servers=40))
    listing_started, never = asyncio.Event(), asyncio.Event()

    class SlowListing(httpx.AsyncBaseTransport):
        def __init__(self) -> None:
            self._inner = emulator.transport()

        async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
            if request.url.path == "/v1/servers":
                listing_started.set()
                await never.wait()
            return await self._inner.handle_async_request(request)

    async def main() -> BaseException | None:
        async with AsyncScpClient(
            endpoint="http://127.0.0.1:9", access_key=DEMO_ACCESS_KEY, secret_key=DEMO_SECRET_KEY,
            transport=SlowListing(),
        ) as client:  # fmt: skip
            reader = StateReader(client, await client.version(), RetryBudget())
            reads = asyncio.gather(*(reader.read(i) for i in emulator.own_ids[:20]), return_exceptions=True)
            await listing_started.wait()
            await reader.close()
            answers = await asyncio.wait_for(reads, 5)
            return next((a for a in answers if isinstance(a, BaseException)), None)

    error = asyncio.run(main())
    assert isinstance(error, asyncio.CancelledError)  # told, not left waiting


def test_a_reader_closed_mid_batch_answers_each_watcher_once() -> None:
    # Found under a slow run whose guard ended it: a batch read one by one was cut off by `close`, and every
    # server of the batch was answered again with the cancel, those already answered too (a KeyError each).
    emulator = Emulator(EmulatorConfig(servers=40))
    quick, stuck = emulator.own_ids[:16], emulator.own_ids[16:20]
    stuck_reads, never = asyncio.Event(), asyncio.Event()

    class StuckShows(httpx.AsyncBaseTransport):
        def __init__(self) -> None:
            self._inner = NoListing(emulator)

        async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
            if any(request.url.path.endswith(i) for i in stuck):
                stuck_reads.set()
                await never.wait()
            return await self._inner.handle_async_request(request)

    async def main() -> list[tuple[str, str]]:
        calls: list[tuple[str, str]] = []
        async with AsyncScpClient(
            endpoint="http://127.0.0.1:9", access_key=DEMO_ACCESS_KEY, secret_key=DEMO_SECRET_KEY,
            transport=StuckShows(),
        ) as client:  # fmt: skip
            reader = StateReader(client, await client.version(), RetryBudget(), batch_min=64)
            quick_answered = asyncio.Event()

            def watcher(server_id: str, answer: object) -> None:
                calls.append((server_id, type(answer).__name__))
                if len(calls) == len(quick):
                    quick_answered.set()

            for server_id in [*quick, *stuck]:
                reader.watch(server_id, watcher)
            await stuck_reads.wait()
            await quick_answered.wait()
            await reader.close()
        return calls

    calls = asyncio.run(main())
    assert sorted(calls) == sorted([*((i, "dict") for i in quick), *((i, "CancelledError") for i in stuck)])


def test_a_listing_cut_short_still_teaches_what_a_listing_costs() -> None:
    # Stopping after the last server read for must not leave the reader believing the fleet is one page:
    # a few readers would then start a listing of many pages each, where one GET each is cheaper.
    emulator = Emulator(EmulatorConfig(servers=3000, locked_fraction=0.0))

    async def main() -> tuple[int, int]:
        async with AsyncScpClient(
            endpoint="http://127.0.0.1:9", access_key=DEMO_ACCESS_KEY, secret_key=DEMO_SECRET_KEY,
            transport=emulator.transport(),
        ) as client:  # fmt: skip
            pages = client.list_pages(page_size=1000)
            await anext(pages)
            second_page = [str(s["id"]) for s in await anext(pages)]
            await pages.aclose()
            reader = StateReader(client, await client.version(), RetryBudget(), batch_min=2)
            await asyncio.gather(*(reader.read(i) for i in second_page[:20]))  # a listing, stopped at page 2
            emulator.record.clear()
            await asyncio.gather(*(reader.read(i) for i in second_page[20:25]))  # 5 readers: not worth 2+ pages
            return actions(emulator)["list"], actions(emulator)["show"]

    assert asyncio.run(main()) == (0, 5)


def test_a_few_readers_in_a_large_fleet_are_read_one_by_one() -> None:
    # A listing parses the whole fleet: for a few servers of a large one, a GET each costs less (300 servers of
    # 50,000 were answered by two 50-page listings, twice the time of one listing and GETs for the rest).
    emulator = Emulator(EmulatorConfig(servers=3000, locked_fraction=0.0))
    ids = emulator.own_ids

    async def main() -> tuple[int, int]:
        async with AsyncScpClient(
            endpoint="http://127.0.0.1:9", access_key=DEMO_ACCESS_KEY, secret_key=DEMO_SECRET_KEY,
            transport=emulator.transport(),
        ) as client:  # fmt: skip
            reader = StateReader(client, await client.version(), RetryBudget(), batch_min=2)
            await asyncio.gather(*(reader.read(i) for i in ids[:2000]))  # worth a listing: it learns the fleet
            emulator.record.clear()
            await asyncio.gather(*(reader.read(i) for i in ids[2000:2010]))  # 10 of 3,000: 300 objects each
            return actions(emulator)["list"], actions(emulator)["show"]

    assert asyncio.run(main()) == (0, 10)
