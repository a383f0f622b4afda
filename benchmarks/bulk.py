"""Benchmark of the bulk engine (issues 3 and 9): the engine and its peers side by side, interleaved, in one run.

    .venv/bin/python benchmarks/bulk.py            # the full run (one to two minutes)
    .venv/bin/python benchmarks/bulk.py --quick    # a smoke run with small sizes (a few seconds)
    .venv/bin/python benchmarks/bulk.py --profile  # also print cProfiles (the engine over loopback, client CPU)
    .venv/bin/python benchmarks/bulk.py --only 12  # run only some of the measurements

(1) 1,000 servers, 20 ms latency, concurrency 32, read-back off, against `fake_scp.py` in its own process:
    the engine (default aiohttp transport, and the pure-httpx transport) vs two peers outside httpx, (p1) a
    32-thread pool of keep-alive `http.client` connections and (p2) a bare `aiohttp` loop, all sending the
    same signed POSTs. Wall ratio engine / best peer (target <= 1.25) and client CPU per server (<= 1.0 ms).
(2) Kernel responsiveness: the engine locks 1,000 servers on its background thread (read-back and journal
    on) while the main thread runs a 10 ms timer loop; the worst lateness of a tick (target <= 100 ms).
(3) Default settings (concurrency 16, read-back on), 300 servers at 20 ms: speed-up over a one-at-a-time
    loop of the same signed POSTs (target >= 10x).
(4) Read-back cost: with the service applying each lock 0.5 s after accepting it, how much longer a run
    with read-back takes than one without (target: at most that delay plus one listing).
(c) Client CPU per request over `httpx.MockTransport`: `AsyncScpClient.lock` vs bare `httpx.AsyncClient.post`.
(d) `to_frame` for 100,000 results: wall time (target < 0.5 s) and memory (target < 100 MB).

The machine is shared and noisy, so contenders alternate (A B C D, D C B A, ...) and medians are reported with
min..max. The server is always another process (its CPU is read from /proc), so its work never shares this
interpreter's GIL with the client being measured; "client CPU" is `time.process_time()` of this process.
"""

from __future__ import annotations

import argparse
import asyncio
import concurrent.futures
import cProfile
import datetime as dt
import gc
import http.client
import io
import math
import os
import platform
import pstats
import random
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import tracemalloc
import uuid
from collections.abc import Awaitable, Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import httpx
from fake_scp import ACCESS_KEY, SECRET_KEY, fleet_ids

import scp_widgets
from scp_widgets.client.auth import ScpAuth, Signer, sign
from scp_widgets.client.credentials import Credentials, Secret
from scp_widgets.client.loop_thread import background_loop
from scp_widgets.client.pools import ShardedTransport
from scp_widgets.client.scp_client import AsyncScpClient
from scp_widgets.client.versions import BUILTIN_CATALOG, choose_version
from scp_widgets.engine.results import Outcome, ServerResult, to_frame

LATENCY = 0.02
CONCURRENCY = 32
LOCK_DELAY = 0.5
CREDENTIALS = Credentials(ACCESS_KEY, Secret(SECRET_KEY))
VERSION_HEADER = choose_version(None, BUILTIN_CATALOG, dt.date.today()).header
MOCK_ENDPOINT = "https://virtualserver.mock.invalid"
FAKE = Path(__file__).with_name("fake_scp.py")


@dataclass(frozen=True)
class Sizes:
    servers: int  # (1) and (2)
    rounds: int
    defaults_servers: int  # (3) and (4)
    sequential_rounds: int
    cpu_requests: int
    cpu_rounds: int
    frame_rows: int
    frame_repeats: int


FULL = Sizes(1000, 5, 300, 2, 5000, 5, 100_000, 5)
QUICK = Sizes(200, 1, 60, 1, 300, 2, 10_000, 1)


# ---- bookkeeping and printing -------------------------------------------------------------------------


@dataclass
class Sample:
    """Repeated runs of one contender: wall seconds, client CPU seconds, server CPU seconds."""

    label: str
    run: Callable[[], None] = field(repr=False, default=lambda: None)
    values: list[float] = field(default_factory=list)
    client_cpu: list[float] = field(default_factory=list)
    server_cpu: list[float] = field(default_factory=list)

    @property
    def median(self) -> float:
        return statistics.median(self.values)

    def cpu_per_server_ms(self, servers: int) -> float:
        return statistics.median(self.client_cpu) / servers * 1e3


def spread(values: Sequence[float], scale: float = 1.0, fmt: str = "{:.3f}") -> str:
    if len(values) == 1:
        return "n=1"
    return f"{fmt.format(min(values) * scale)}..{fmt.format(max(values) * scale)} (n={len(values)})"


def verdict(ok: bool) -> str:
    return "target met" if ok else "target MISSED"


def heading(text: str) -> None:
    print(f"\n{text}\n{'-' * len(text)}", flush=True)


def load(cpu: Sequence[float], wall: Sequence[float]) -> str:
    """Median share of the wall time a process spent on CPU (100% = one core flat out)."""
    return f"{statistics.median(c / w for c, w in zip(cpu, wall, strict=True)):.0%}"


def print_runs(samples: Sequence[Sample], servers: int) -> None:
    print(f"{'':50} {'median s':>9} {'min..max':>22} {'client CPU/server':>18} {'client load':>11} {'server load':>11}")
    for s in samples:
        print(
            f"{s.label:50} {s.median:9.3f} {spread(s.values):>22} {s.cpu_per_server_ms(servers):15.3f} ms "
            f"{load(s.client_cpu, s.values):>11} {load(s.server_cpu, s.values):>11}"
        )


def machine() -> str:
    model = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as info:
            model = next(line.split(":", 1)[1].strip() for line in info if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return (
        f"{os.cpu_count()} CPUs ({model}), python {platform.python_version()}, httpx {httpx.__version__}, "
        f"aiohttp {aiohttp.__version__}, load average {' '.join(f'{x:.1f}' for x in os.getloadavg())}"
    )


# ---- the server: an independent fake SCP in its own process ---------------------------------------------


class FakeScp:
    """`fake_scp.py` on a loopback port, in a child process."""

    def __init__(self, servers: int, *, lock_delay: float = 0.0, latency: float = LATENCY) -> None:
        self.ids = fleet_ids(servers)
        argv = [sys.executable, str(FAKE), "--servers", str(servers), "--latency", str(latency)]
        self._proc = subprocess.Popen([*argv, "--lock-delay", str(lock_delay)], stdout=subprocess.PIPE, text=True)
        assert self._proc.stdout is not None
        first = self._proc.stdout.readline()
        match = re.search(r"listening on (http://\S+)", first)
        if match is None:
            self.close()
            raise RuntimeError(f"the fake SCP did not start: {first!r}")
        self.url = match.group(1)
        self._http = httpx.Client(base_url=self.url, timeout=10.0)

    def cpu_seconds(self) -> float:
        with open(f"/proc/{self._proc.pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def reset(self) -> None:
        self._http.post("/_reset").raise_for_status()

    def requests_seen(self) -> dict[str, int]:
        return {str(k): int(v) for k, v in self._http.get("/_counts").json().items()}

    def close(self) -> None:
        if hasattr(self, "_http"):
            self._http.close()
        self._proc.terminate()
        try:
            self._proc.wait(10)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait()


@contextmanager
def fake_scp(servers: int, *, lock_delay: float = 0.0, latency: float = LATENCY) -> Iterator[FakeScp]:
    server = FakeScp(servers, lock_delay=lock_delay, latency=latency)
    try:
        yield server
    finally:
        server.close()


def timed_interleaved(server: FakeScp, samples: Sequence[Sample], rounds: int) -> None:
    """Run each contender `rounds` times, alternating the order every round (A B C, C B A, ...)."""
    for round_no in range(rounds):
        for sample in samples if round_no % 2 == 0 else list(reversed(samples)):
            server.reset()
            gc.collect()
            cpu0, server0, t0 = time.process_time(), server.cpu_seconds(), time.perf_counter()
            sample.run()
            sample.values.append(time.perf_counter() - t0)
            sample.client_cpu.append(time.process_time() - cpu0)
            sample.server_cpu.append(server.cpu_seconds() - server0)


def requests_seen(server: FakeScp, run: Callable[[], None]) -> dict[str, int]:
    server.reset()
    run()
    seen = server.requests_seen()
    if seen.get("401"):
        raise RuntimeError(f"the fake refused {seen['401']} signatures")
    return seen


# ---- the contenders --------------------------------------------------------------------------------------


def signed_headers(method: str, url: str) -> dict[str, str]:
    """The headers the engine sends on a state change, signed now (the peers send exactly these)."""
    stamp = str(int(time.time() * 1000))
    return {
        "Scp-Api-Version": VERSION_HEADER, "Accept": "application/json", "Scp-Accesskey": ACCESS_KEY,
        "Scp-Signature": sign(method, url, stamp, ACCESS_KEY, SECRET_KEY), "Scp-Timestamp": stamp,
        "Scp-ClientType": "Openapi",
    }  # fmt: skip


def thread_pool_peer(url: str, ids: Sequence[str], threads: int = CONCURRENCY) -> None:
    """(p1) What a user writes with the standard library: a thread pool, one keep-alive connection per thread."""
    where = urlsplit(url)
    local = threading.local()

    def one(server_id: str) -> None:
        connection = getattr(local, "connection", None)
        if connection is None:
            connection = local.connection = http.client.HTTPConnection(where.hostname, where.port, timeout=15)
        path = f"/v1/servers/{server_id}/lock"
        connection.request("POST", path, headers=signed_headers("POST", url + path))
        response = connection.getresponse()
        response.read()
        if response.status != 202:
            raise RuntimeError(f"p1: {response.status}")

    with concurrent.futures.ThreadPoolExecutor(threads) as pool:
        list(pool.map(one, ids))


async def _aiohttp_peer(url: str, ids: Sequence[str], concurrency: int) -> None:
    semaphore = asyncio.Semaphore(concurrency)
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=concurrency)) as session:

        async def one(server_id: str) -> None:
            target = f"{url}/v1/servers/{server_id}/lock"
            async with semaphore, session.post(target, headers=signed_headers("POST", target)) as response:
                await response.read()
                if response.status != 202:
                    raise RuntimeError(f"p2: {response.status}")

        await asyncio.gather(*(one(i) for i in ids))


def aiohttp_peer(url: str, ids: Sequence[str], concurrency: int = CONCURRENCY) -> None:
    """(p2) A bare aiohttp loop: gather + Semaphore(32), the same signed POSTs."""
    asyncio.run(_aiohttp_peer(url, ids, concurrency))


class _RawHttp(asyncio.Protocol):
    """(p3)'s connection: one request at a time, answers framed by Content-Length only (the fake's)."""

    def __init__(self) -> None:
        self.transport: Any = None
        self.buffer = b""
        self.waiter: asyncio.Future[int] | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        end = self.buffer.find(b"\r\n\r\n")
        if end < 0:
            return
        head = self.buffer[:end].lower()
        at = head.find(b"\r\ncontent-length:")
        length = int(head[at + 17 :].split(b"\r\n", 1)[0]) if at >= 0 else 0
        if len(self.buffer) < end + 4 + length:
            return
        self.buffer = self.buffer[end + 4 + length :]
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_result(int(head[9:12]))

    def connection_lost(self, exc: Exception | None) -> None:
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_exception(exc or ConnectionError("closed"))


async def _raw_peer(url: str, ids: Sequence[str], concurrency: int) -> None:
    where = urlsplit(url)
    loop = asyncio.get_running_loop()
    fixed = (
        f"Host: {where.netloc}\r\nAccept: application/json\r\nScp-Api-Version: {VERSION_HEADER}\r\n"
        f"Scp-Accesskey: {ACCESS_KEY}\r\nScp-ClientType: Openapi\r\nContent-Length: 0\r\n"
    )
    signer = Signer(CREDENTIALS)
    queue = iter(ids)

    async def worker() -> None:
        _, protocol = await loop.create_connection(_RawHttp, where.hostname, where.port)
        for server_id in queue:
            path = f"/v1/servers/{server_id}/lock"
            stamp = str(int(time.time() * 1000))
            signature = signer.sign("POST", url + path, stamp)
            protocol.waiter = loop.create_future()
            protocol.transport.write(
                f"POST {path} HTTP/1.1\r\n{fixed}Scp-Signature: {signature}\r\nScp-Timestamp: {stamp}\r\n\r\n".encode()
            )
            if await protocol.waiter != 202:
                raise RuntimeError("p3: not 202")
        protocol.transport.close()

    await asyncio.gather(*(worker() for _ in range(concurrency)))


def raw_peer(url: str, ids: Sequence[str], concurrency: int = CONCURRENCY) -> None:
    """(p3) The floor under any HTTP library: C keep-alive connections of a bare asyncio protocol, each writing
    a POST signed as the others are, as one prepared string, and reading only the status line and the body's
    length (no library, no checks beyond the status; not a client anyone should ship)."""
    asyncio.run(_raw_peer(url, ids, concurrency))


def sequential_peer(url: str, ids: Sequence[str]) -> None:
    """One at a time: a for-loop of signed POSTs on one keep-alive connection."""
    thread_pool_peer(url, ids, threads=1)


def engine_options(url: str, transport: str, **options: Any) -> dict[str, Any]:
    """Keyword arguments for `lock`/`alock`; `transport` is "aiohttp" (the default) or "httpx" (pure httpx)."""
    concurrency = options.setdefault("concurrency", CONCURRENCY)
    options.setdefault("journal", False)
    return {
        "endpoint": url, "access_key": ACCESS_KEY, "secret_key": SECRET_KEY,
        "transport": ShardedTransport(max(concurrency, 10)) if transport == "httpx" else None, **options,
    }  # fmt: skip


def check_clean(frame: Any, ids: Sequence[str]) -> None:
    bad = frame[frame["outcome"] != str(Outcome.LOCKED)]
    if len(frame) != len(ids) or len(bad):
        raise RuntimeError(f"engine run not clean: {frame.attrs.get('summary')}")


def engine(url: str, ids: Sequence[str], transport: str = "aiohttp", **options: Any) -> None:
    check_clean(scp_widgets.lock(ids, **engine_options(url, transport, **options)), ids)


# ---- (1) the engine vs its peers -----------------------------------------------------------------------


def bench_peers(sizes: Sizes, profile: bool) -> list[bool]:
    n = sizes.servers
    with fake_scp(n) as server:
        url, ids = server.url, server.ids
        contenders = [
            Sample("(p1) thread pool, 32 http.client connections", lambda: thread_pool_peer(url, ids)),
            Sample("(p2) bare aiohttp loop, Semaphore(32)", lambda: aiohttp_peer(url, ids)),
            Sample("engine lock(), default transport (aiohttp)", lambda: engine(url, ids, verify=False)),
            Sample("engine lock(), pure httpx (ShardedTransport)", lambda: engine(url, ids, "httpx", verify=False)),
        ]
        seen = {s.label.split(",")[0]: requests_seen(server, s.run) for s in contenders}  # also the warm-up
        heading(f"(1) {n} servers, {LATENCY * 1e3:.0f} ms latency, concurrency {CONCURRENCY}, read-back off")
        print("requests the fake saw per contender: " + "; ".join(f"{k}: {v}" for k, v in seen.items()))
        timed_interleaved(server, contenders, sizes.rounds)
        print_runs(contenders, n)
        p1, p2, ours, pure = contenders
        best = min((p1, p2), key=lambda s: s.median)
        ratio, pure_ratio = ours.median / best.median, pure.median / best.median
        cpu = ours.cpu_per_server_ms(n)
        ok_ratio, ok_cpu = ratio <= 1.25, cpu <= 1.0
        print(f"latency floor: {math.ceil(n / CONCURRENCY)} waves x {LATENCY * 1e3:.0f} ms = "
              f"{math.ceil(n / CONCURRENCY) * LATENCY:.2f} s")  # fmt: skip
        print(f"wall engine / best peer ({best.label[:4]}): {ratio:5.2f}x  (target <= 1.25)  {verdict(ok_ratio)}")
        print(f"wall pure-httpx engine / best peer : {pure_ratio:5.2f}x  (the transport the engine had before)")
        print(f"engine client CPU per server       : {cpu:5.3f} ms (target <= 1.0 ms)  {verdict(ok_cpu)}")
        if profile:
            profile_engine(url, ids)
    return [ok_ratio, ok_cpu]


def profile_engine(url: str, ids: Sequence[str], top: int = 25) -> None:
    heading(f"cProfile of the engine over loopback ({len(ids)} servers, concurrency {CONCURRENCY}, read-back off)")
    profiler = cProfile.Profile()
    profiler.enable()
    asyncio.run(scp_widgets.alock(ids, **engine_options(url, "aiohttp", verify=False)))
    profiler.disable()
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).strip_dirs().sort_stats("tottime").print_stats(top)
    print(out.getvalue())


# ---- (2) kernel responsiveness ---------------------------------------------------------------------------


def tick_lateness(done: Callable[[], bool], period: float = 0.01) -> list[float]:
    """A 10 ms timer loop on this (the main) thread until `done()`: how late each tick woke up, in seconds."""
    late: list[float] = []
    due = time.perf_counter() + period
    while not done():
        time.sleep(max(0.0, due - time.perf_counter()))
        now = time.perf_counter()
        late.append(now - due)
        due = now + period
    return late


def bench_responsiveness(sizes: Sizes) -> list[bool]:
    n = sizes.servers
    heading(
        f"(2) kernel responsiveness: a 10 ms timer on the main thread while the engine locks {n} servers on its "
        "background thread (concurrency 32, read-back and journal on)"
    )
    rows: dict[str, list[float]] = {}
    with fake_scp(n) as server, tempfile.TemporaryDirectory() as journals:
        idle_end = time.perf_counter() + 1.0
        rows["idle (no run): the machine's own noise"] = tick_lateness(lambda: time.perf_counter() > idle_end)
        for transport in ("aiohttp", "httpx") * max(1, sizes.rounds // 2):
            server.reset()
            options = engine_options(server.url, transport, verify=True, journal=str(Path(journals) / "j.jsonl"))
            future = background_loop().submit(scp_widgets.alock(server.ids, **options))
            late = tick_lateness(future.done)
            check_clean(future.result(), server.ids)
            label = f"engine, {'default transport (aiohttp)' if transport == 'aiohttp' else 'pure httpx'}"
            rows.setdefault(label, []).extend(late)
    print(f"{'':50} {'ticks':>6} {'median late ms':>15} {'p99 ms':>8} {'worst ms':>9}")
    for label, late in rows.items():
        p99 = sorted(late)[int(len(late) * 0.99)]
        print(f"{label:50} {len(late):6} {statistics.median(late) * 1e3:15.2f} {p99 * 1e3:8.2f} "
              f"{max(late) * 1e3:9.2f}")  # fmt: skip
    worst = max(rows["engine, default transport (aiohttp)"])
    ok = worst <= 0.1
    print(f"worst tick lateness during engine runs: {worst * 1e3:.1f} ms  (target <= 100 ms)  {verdict(ok)}")
    return [ok]


# ---- (3) default settings vs one at a time, (4) read-back cost -------------------------------------------


def bench_defaults(sizes: Sizes) -> list[bool]:
    n = sizes.defaults_servers
    with fake_scp(n) as server:
        url, ids = server.url, server.ids
        sequential = Sample("one at a time (http.client, one connection)", lambda: sequential_peer(url, ids))
        ours = Sample("engine lock(), defaults (c=16, read-back on)", lambda: engine(url, ids, concurrency=16))
        seen = requests_seen(server, ours.run)
        heading(f"(3) default settings, {n} servers, {LATENCY * 1e3:.0f} ms latency: engine vs one at a time")
        print(f"requests the fake saw from the engine: {seen}")
        timed_interleaved(server, [sequential, ours], sizes.sequential_rounds)
        timed_interleaved(server, [ours], max(0, sizes.rounds - sizes.sequential_rounds))
        print_runs([sequential, ours], n)
        speed = sequential.median / ours.median
        floor = n * LATENCY / ((math.ceil(n / 16) + 1) * LATENCY)
        ok = speed >= 10
        print(f"speed-up: {speed:5.1f}x  (target >= 10x; latency floor {floor:.1f}x: {math.ceil(n / 16)} waves "
              f"+ one listing)  {verdict(ok)}")  # fmt: skip
    return [ok]


def bench_readback(sizes: Sizes) -> list[bool]:
    n = sizes.defaults_servers
    with fake_scp(n, lock_delay=LOCK_DELAY) as server:
        url, ids = server.url, server.ids
        off = Sample("engine, read-back off", lambda: engine(url, ids, concurrency=16, verify=False))
        on = Sample("engine, read-back on", lambda: engine(url, ids, concurrency=16, verify=True))
        listing = Sample("one listing of the fleet (list_servers)", lambda: list_fleet(url))
        requests_seen(server, on.run)
        heading(
            f"(4) read-back cost: {n} servers, concurrency 16, the service applies each lock {LOCK_DELAY:g} s "
            "after accepting it"
        )
        timed_interleaved(server, [off, on, listing], sizes.rounds)
        print_runs([off, on, listing], n)
        extra = on.median - off.median
        bound = LOCK_DELAY + listing.median
        ok = extra <= bound
        print(f"read-back adds {extra:.3f} s; the service's delay + one listing = {LOCK_DELAY:g} + "
              f"{listing.median:.3f} = {bound:.3f} s  {verdict(ok)}")  # fmt: skip
    return [ok]


def list_fleet(url: str) -> None:
    scp_widgets.list_servers(endpoint=url, access_key=ACCESS_KEY, secret_key=SECRET_KEY, page_size=1000)


# ---- (c) client CPU per request ---------------------------------------------------------------------------


def _accept(request: httpx.Request) -> httpx.Response:
    return httpx.Response(202)


Call = Callable[[str], Awaitable[object]]


async def _cpu_contenders() -> tuple[list[tuple[str, Call]], Callable[[], Awaitable[None]]]:
    transport = httpx.MockTransport(_accept)
    bare = httpx.AsyncClient(transport=transport)
    signed = httpx.AsyncClient(transport=transport, auth=ScpAuth(CREDENTIALS))
    ours = AsyncScpClient(
        endpoint=MOCK_ENDPOINT, access_key=ACCESS_KEY, secret_key=SECRET_KEY, transport=transport,
        discover_versions=False,
    )  # fmt: skip

    async def bare_post(server_id: str) -> object:
        return await bare.post(f"{MOCK_ENDPOINT}/v1/servers/{server_id}/lock")

    async def signed_post(server_id: str) -> object:
        return await signed.post(f"{MOCK_ENDPOINT}/v1/servers/{server_id}/lock")

    async def close() -> None:
        await bare.aclose()
        await signed.aclose()
        await ours.aclose()

    contenders: list[tuple[str, Call]] = [
        ("bare httpx.AsyncClient.post (no auth)", bare_post),
        ("bare httpx + ScpAuth (signing only)", signed_post),
        ("AsyncScpClient.lock", ours.lock),
    ]
    return contenders, close


async def _cpu_rounds(sizes: Sizes) -> dict[str, list[float]]:
    contenders, close = await _cpu_contenders()
    ids = [str(uuid.UUID(int=random.Random(i).getrandbits(128), version=4)) for i in range(sizes.cpu_requests)]
    per_request: dict[str, list[float]] = {label: [] for label, _ in contenders}
    try:
        for _, call in contenders:  # warm-up
            for server_id in ids[:200]:
                await call(server_id)
        for round_no in range(sizes.cpu_rounds):
            order = contenders if round_no % 2 == 0 else contenders[::-1]
            for label, call in order:
                gc.collect()
                start = time.process_time()
                for server_id in ids:
                    await call(server_id)
                per_request[label].append((time.process_time() - start) / len(ids))
    finally:
        await close()
    return per_request


def bench_c(sizes: Sizes) -> bool:
    heading(
        f"(c) client CPU per request, httpx.MockTransport answering 202, {sizes.cpu_requests} sequential "
        f"requests x {sizes.cpu_rounds} interleaved rounds"
    )
    per_request = asyncio.run(_cpu_rounds(sizes))
    medians = {label: statistics.median(v) for label, v in per_request.items()}
    print(f"{'':44} {'median us/req':>14} {'min..max':>22}")
    for label, values in per_request.items():
        print(f"{label:44} {medians[label] * 1e6:14.1f} {spread(values, 1e6, '{:.1f}'):>22}")
    bare, signed, ours = medians.values()
    ratio = ours / bare
    ok = ratio <= 1.5
    print(f"ratio AsyncScpClient.lock / bare httpx     : {ratio:5.2f}x   (target <= 1.5)  {verdict(ok)}")
    print(f"ratio bare httpx + ScpAuth / bare httpx    : {signed / bare:5.2f}x   (what signing alone costs)")
    print(f"ratio AsyncScpClient.lock / httpx + ScpAuth: {ours / signed:5.2f}x   (ours, less cookie parsing)")
    return ok


def profile_client(sizes: Sizes, top: int = 30) -> None:
    heading(f"cProfile of AsyncScpClient.lock over MockTransport, {sizes.cpu_requests} requests")

    async def run() -> None:
        contenders, close = await _cpu_contenders()
        lock = contenders[-1][1]
        ids = [str(uuid.uuid4()) for _ in range(sizes.cpu_requests)]
        await lock(ids[0])
        profiler = cProfile.Profile()
        profiler.enable()
        for server_id in ids:
            await lock(server_id)
        profiler.disable()
        await close()
        for key in ("tottime", "cumulative"):
            out = io.StringIO()
            pstats.Stats(profiler, stream=out).strip_dirs().sort_stats(key).print_stats(top)
            print(out.getvalue())

    asyncio.run(run())


# ---- (d) the DataFrame ---------------------------------------------------------------------------------


def make_results(n: int) -> list[ServerResult]:
    """A realistic mix: mostly locked, some not_found / throttled / network errors with messages."""
    rng = random.Random(3)
    endpoint = "https://virtualserver.kr-west1.s.samsungsdscloud.com"
    base = time.time()
    results: list[ServerResult] = []
    for i in range(n):
        server_id = str(uuid.UUID(int=rng.getrandbits(128), version=4))
        started = base + i * 0.002
        roll = rng.random()
        result = ServerResult(
            server_id, "lock", Outcome.LOCKED, http_status=202, locked=True, attempts=1,
            request_id=f"req-{uuid.UUID(int=rng.getrandbits(128), version=4)}", api_version="1.3",
            endpoint=endpoint, started_at=started, finished_at=started + 0.02 + rng.random() * 0.05,
        )  # fmt: skip
        if roll < 0.02:
            result.outcome, result.http_status, result.locked = Outcome.NOT_FOUND, 404, None
            result.error_code, result.message = "SERVER_NOT_FOUND", "server not found in this account"
        elif roll < 0.03:
            result.outcome, result.http_status, result.attempts = Outcome.THROTTLED, 429, 4
            result.error_code = "TOO_MANY_REQUESTS"
            result.message = (
                "throttled by the service (429) after 4 attempts, it asked to wait 1 s; lower the concurrency"
            )
        elif roll < 0.035:
            result.outcome, result.http_status, result.locked, result.request_id = (
                Outcome.NETWORK_ERROR,
                None,
                None,
                None,
            )
            result.error_code = "NETWORK_ERROR"
            result.message = "network error after 4 attempts: connection failed (ReadError); check the endpoint"
        results.append(result)
    return results


def bench_d(sizes: Sizes) -> bool:
    n = sizes.frame_rows
    heading(f"(d) to_frame for {n:,} ServerResults")
    results = make_results(n)
    to_frame(results[:1000])  # warm-up
    walls: list[float] = []
    for _ in range(sizes.frame_repeats):
        gc.collect()
        t0 = time.perf_counter()
        frame = to_frame(results)
        walls.append(time.perf_counter() - t0)
    frame_bytes = int(frame.memory_usage(deep=True).sum())
    del frame
    gc.collect()
    tracemalloc.start()
    frame = to_frame(results)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    # Targets are for 100,000 rows; scale them for --quick so the smoke run says something too.
    scale = n / 100_000
    wall_target, mem_target = 0.5 * scale, 100e6 * scale
    wall = statistics.median(walls)
    ok_wall, ok_mem = wall < wall_target, max(frame_bytes, peak) < mem_target
    print(f"wall time (median)            : {wall:7.3f} s   {spread(walls):>22}  (target < {wall_target:.3g} s)  "
          f"{verdict(ok_wall)}")  # fmt: skip
    print(f"frame memory_usage(deep=True) : {frame_bytes / 1e6:7.1f} MB  ({frame_bytes / n:.0f} bytes/row)")
    print(f"tracemalloc peak during build : {peak / 1e6:7.1f} MB  (target < {mem_target / 1e6:.3g} MB, both)  "
          f"{verdict(ok_mem)}")  # fmt: skip
    print(f"dtypes: {', '.join(f'{c}={t}' for c, t in frame.dtypes.astype(str).items())}")
    return ok_wall and ok_mem


# ---- main ------------------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="small sizes, one or two repeats (a smoke run)")
    parser.add_argument("--profile", action="store_true", help="also print cProfiles of the engine and of (c)")
    parser.add_argument("--only", default="1234cd", help="which measurements to run, e.g. '12' (default: 1234cd)")
    args = parser.parse_args(argv)
    sizes = QUICK if args.quick else FULL
    print(f"scp-widgets {scp_widgets.__version__} benchmark{' (--quick)' if args.quick else ''}: {machine()}")
    verdicts: list[bool] = []
    if "1" in args.only:
        verdicts += bench_peers(sizes, args.profile)
    if "2" in args.only:
        verdicts += bench_responsiveness(sizes)
    if "3" in args.only:
        verdicts += bench_defaults(sizes)
    if "4" in args.only:
        verdicts += bench_readback(sizes)
    if "c" in args.only:
        verdicts.append(bench_c(sizes))
        if args.profile:
            profile_client(sizes)
    if "d" in args.only:
        verdicts.append(bench_d(sizes))
    print(f"\n{sum(verdicts)} of {len(verdicts)} targets met (load average at the end: "
          f"{' '.join(f'{x:.1f}' for x in os.getloadavg())})")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
