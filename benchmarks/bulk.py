"""Benchmark of the bulk engine (issue 3): four measurements, baselines and candidates side by side in one run.

    .venv/bin/python benchmarks/bulk.py            # the full run (about two minutes)
    .venv/bin/python benchmarks/bulk.py --quick    # a smoke run with small sizes (a few seconds)
    .venv/bin/python benchmarks/bulk.py --profile  # also print cProfiles (loopback floor, client CPU)

(a) 500 servers, 20 ms emulator latency, real loopback: `scp_widgets.lock` (concurrency 32) vs a naive
    sequential loop of signed `httpx.Client` POSTs; speed-up, with read-back on and off (target >= 15x).
(b) The same servers, engine with verify and preflight off vs a minimal `asyncio.gather` + `Semaphore(32)`
    loop doing the same signed POSTs on one `httpx.AsyncClient`; overhead ratio (target <= 1.25).
(c) Client CPU per request over `httpx.MockTransport`: `AsyncScpClient.lock` vs bare `httpx.AsyncClient.post`
    (target <= 1.5x), plus bare httpx + `ScpAuth` to show what signing alone costs.
(d) `to_frame` for 100,000 results: wall time (target < 0.5 s) and memory (target < 100 MB).

The machine is shared and noisy, so contenders are interleaved (A B C, C B A, ...) and medians are reported.
By default the emulator runs in a child process (`python -m scp_widgets.emulator`, an `EmulatorServer`
under uvicorn) so its CPU does not share this interpreter's GIL with the client being measured, and its CPU
time is read from /proc to show whether it is the bottleneck. `--emulator thread` runs it in-process instead.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import datetime as dt
import gc
import io
import math
import os
import pstats
import random
import re
import statistics
import subprocess
import sys
import time
import tracemalloc
import uuid
from collections.abc import Awaitable, Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field

import httpx

import scp_widgets
from scp_widgets.auth import ScpAuth
from scp_widgets.client import AsyncScpClient
from scp_widgets.credentials import Credentials, Secret
from scp_widgets.emulator import DEMO_ACCESS_KEY, DEMO_SECRET_KEY, Emulator, EmulatorConfig, EmulatorServer, Faults
from scp_widgets.pools import ShardedTransport
from scp_widgets.results import Outcome, ServerResult, to_frame
from scp_widgets.versions import BUILTIN_CATALOG, choose_version

LATENCY = 0.02
CONCURRENCY = 32
CREDENTIALS = Credentials(DEMO_ACCESS_KEY, Secret(DEMO_SECRET_KEY))
VERSION_HEADER = choose_version(None, BUILTIN_CATALOG, dt.date.today()).header
MOCK_ENDPOINT = "https://virtualserver.mock.invalid"


@dataclass(frozen=True)
class Sizes:
    servers: int
    repeats_a: int
    repeats_b: int
    cpu_requests: int
    cpu_rounds: int
    frame_rows: int
    frame_repeats: int


FULL = Sizes(
    servers=500, repeats_a=3, repeats_b=7, cpu_requests=5000, cpu_rounds=5, frame_rows=100_000, frame_repeats=5
)
QUICK = Sizes(servers=64, repeats_a=1, repeats_b=2, cpu_requests=300, cpu_rounds=2, frame_rows=10_000, frame_repeats=1)


# ---- bookkeeping and printing -------------------------------------------------------------------------


@dataclass
class Sample:
    """Repeated measurements of one thing (seconds, or whatever `unit` says)."""

    label: str
    values: list[float] = field(default_factory=list)
    client_cpu: list[float] = field(default_factory=list)
    emulator_cpu: list[float] = field(default_factory=list)

    @property
    def median(self) -> float:
        return statistics.median(self.values)


def spread(values: Sequence[float], scale: float = 1.0, fmt: str = "{:.3f}") -> str:
    if len(values) == 1:
        return "n=1"
    return f"{fmt.format(min(values) * scale)}..{fmt.format(max(values) * scale)} (n={len(values)})"


def verdict(ok: bool) -> str:
    return "target met" if ok else "target MISSED"


def heading(text: str) -> None:
    print(f"\n{text}\n{'-' * len(text)}", flush=True)


def busy(cpu: Sequence[float], wall: Sequence[float]) -> str:
    """Median share of the wall time a process spent on CPU (100% = one core flat out)."""
    return f"{statistics.median(c / w for c, w in zip(cpu, wall, strict=True)):.0%}"


def print_runs(samples: Sequence[Sample], emulator_cpu_known: bool) -> None:
    """Wall time, and CPU of this process (the client) and of the emulator process, with their load."""
    who = "client CPU s (load)" if emulator_cpu_known else "client+emulator CPU s"
    cols = f"{'':48} {'median s':>9} {'min..max':>22} {who:>22}"
    print(cols + (f" {'emulator CPU s (load)':>22}" if emulator_cpu_known else ""))
    for s in samples:
        client = f"{statistics.median(s.client_cpu):.3f} ({busy(s.client_cpu, s.values)})"
        line = f"{s.label:48} {s.median:9.3f} {spread(s.values):>22} {client:>22}"
        if emulator_cpu_known:
            line += f" {f'{statistics.median(s.emulator_cpu):.3f} ({busy(s.emulator_cpu, s.values)})':>22}"
        print(line)


# ---- the emulator ---------------------------------------------------------------------------------------


class RunningEmulator:
    """The emulator on a loopback socket, in a child process (default) or a thread of this process."""

    def __init__(self, servers: int, mode: str) -> None:
        config = EmulatorConfig(servers=servers, faults=Faults(latency=LATENCY))
        # The fleet is seeded, so this local copy has exactly the ids the child process serves.
        self.ids = Emulator(config).own_ids
        self.mode = mode
        self._proc: subprocess.Popen[str] | None = None
        self._server: EmulatorServer | None = None
        if mode == "process":
            self._proc = subprocess.Popen(
                [sys.executable, "-m", "scp_widgets.emulator", "--port", "0", "--servers", str(servers),
                 "--latency", str(LATENCY)],
                stdout=subprocess.PIPE, text=True,
            )  # fmt: skip
            assert self._proc.stdout is not None
            first = self._proc.stdout.readline()
            match = re.search(r"listening on (http://\S+)", first)
            if match is None:
                self.close()
                raise RuntimeError(f"the emulator did not start: {first!r}")
            self.url = match.group(1)
        else:
            self._server = EmulatorServer(Emulator(config)).start()
            self.url = self._server.url
        self._http = httpx.Client(base_url=self.url, timeout=10.0)

    def cpu_seconds(self) -> float:
        """CPU time the emulator process has used (NaN in thread mode, where it is part of ours)."""
        if self._proc is None:
            return math.nan
        with open(f"/proc/{self._proc.pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def reset(self) -> None:
        self._http.post("/_emulator/reset").raise_for_status()

    def requests_seen(self) -> dict[str, int]:
        counts = self._http.get("/_emulator/counts").json()
        return {str(k): int(v) for k, v in counts["by_action_status"].items()}

    def close(self) -> None:
        if hasattr(self, "_http"):
            self._http.close()
        if self._server is not None:
            self._server.stop()
        if self._proc is not None:
            self._proc.terminate()
            try:
                self._proc.wait(10)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()


@contextmanager
def emulator(servers: int, mode: str) -> Iterator[RunningEmulator]:
    running = RunningEmulator(servers, mode)
    try:
        yield running
    finally:
        running.close()


# ---- the contenders for (a) and (b) -----------------------------------------------------------------------


def naive_sequential(url: str, ids: Sequence[str]) -> None:
    """What a user writes without the engine: a for-loop of signed POSTs on one keep-alive client."""
    with httpx.Client(auth=ScpAuth(CREDENTIALS), headers={"Scp-Api-Version": VERSION_HEADER}, timeout=15.0) as http:
        for server_id in ids:
            http.post(f"{url}/v1/servers/{server_id}/lock").raise_for_status()


def engine(url: str, ids: Sequence[str], *, verify: bool) -> None:
    frame = scp_widgets.lock(
        ids, endpoint=url, access_key=DEMO_ACCESS_KEY, secret_key=DEMO_SECRET_KEY,
        concurrency=CONCURRENCY, journal=False, verify=verify, preflight=False,
    )  # fmt: skip
    bad = frame[frame["outcome"] != str(Outcome.LOCKED)]
    if len(frame) != len(ids) or len(bad):
        raise RuntimeError(f"engine run not clean: {frame.attrs.get('summary')}")


async def _minimal(url: str, ids: Sequence[str], sharded: bool) -> None:
    """The floor: gather + semaphore, the same signed POSTs, one AsyncClient; no retries, no bookkeeping.

    `sharded` gives it the engine's own transport (small pools), so the ratio measures the engine's
    bookkeeping alone, not httpcore's cost for one big pool.
    """
    semaphore = asyncio.Semaphore(CONCURRENCY)
    limits = httpx.Limits(max_connections=CONCURRENCY, max_keepalive_connections=CONCURRENCY)
    headers = {"Scp-Api-Version": VERSION_HEADER}
    transport = ShardedTransport(CONCURRENCY) if sharded else None
    async with httpx.AsyncClient(
        auth=ScpAuth(CREDENTIALS), headers=headers, limits=limits, timeout=15.0, transport=transport
    ) as http:

        async def one(server_id: str) -> None:
            async with semaphore:
                (await http.post(f"{url}/v1/servers/{server_id}/lock")).raise_for_status()

        await asyncio.gather(*(one(i) for i in ids))


def minimal(url: str, ids: Sequence[str], sharded: bool = True) -> None:
    asyncio.run(_minimal(url, ids, sharded))


def timed_interleaved(
    emu: RunningEmulator, contenders: Sequence[tuple[Sample, Callable[[], None]]], repeats: int
) -> None:
    """Run each contender `repeats` times, alternating the order every round (A B C, C B A, ...)."""
    for round_no in range(repeats):
        order = list(contenders) if round_no % 2 == 0 else list(reversed(contenders))
        for sample, run in order:
            emu.reset()
            gc.collect()
            cpu0, emu0, t0 = time.process_time(), emu.cpu_seconds(), time.perf_counter()
            run()
            sample.values.append(time.perf_counter() - t0)
            sample.client_cpu.append(time.process_time() - cpu0)
            sample.emulator_cpu.append(emu.cpu_seconds() - emu0)


def posts_per_run(emu: RunningEmulator, run: Callable[[], None]) -> dict[str, int]:
    emu.reset()
    run()
    return emu.requests_seen()


def bench_a_b(sizes: Sizes, mode: str, profile: bool = False) -> list[bool]:
    n = sizes.servers
    with emulator(n, mode) as emu:
        ids = emu.ids
        url = emu.url
        known = mode == "process"
        # Warm-up (imports, the background loop thread, first connections) and a check that all do the same POSTs.
        seen = {
            "naive": posts_per_run(emu, lambda: naive_sequential(url, ids[:50])),
            "engine verify on": posts_per_run(emu, lambda: engine(url, ids[:50], verify=True)),
            "engine verify off": posts_per_run(emu, lambda: engine(url, ids[:50], verify=False)),
            "minimal": posts_per_run(emu, lambda: minimal(url, ids[:50])),
        }

        heading(
            f"(a) {n} servers, {LATENCY * 1000:.0f} ms emulator latency, loopback ({mode}), concurrency {CONCURRENCY}"
        )
        print("requests the emulator saw for 50 servers (warm-up): " + "; ".join(f"{k}: {v}" for k, v in seen.items()))
        naive = Sample("naive sequential loop (httpx.Client + ScpAuth)")
        on = Sample("engine lock(), verify on (POST + read-back)")
        off = Sample("engine lock(), verify off (POST only)")
        timed_interleaved(
            emu,
            [
                (naive, lambda: naive_sequential(url, ids)),
                (on, lambda: engine(url, ids, verify=True)),
                (off, lambda: engine(url, ids, verify=False)),
            ],
            sizes.repeats_a,
        )
        print_runs([naive, on, off], known)
        waves = math.ceil(n / CONCURRENCY)
        print(
            f"latency floor: naive {n} x {LATENCY * 1000:.0f} ms = {n * LATENCY:.2f} s; engine "
            f"{waves} waves x 2 round trips = {waves * 2 * LATENCY:.2f} s (verify on), "
            f"{waves * LATENCY:.2f} s (verify off)"
        )
        speed_on, speed_off = naive.median / on.median, naive.median / off.median
        ok_a = speed_on >= 15
        print(f"speed-up naive/engine, verify on : {speed_on:6.1f}x   (target >= 15x)  {verdict(ok_a)}")
        print(f"speed-up naive/engine, verify off: {speed_off:6.1f}x   (no read-back)   {verdict(speed_off >= 15)}")

        heading(f"(b) {n} servers, verify and preflight off: engine vs minimal gather + Semaphore({CONCURRENCY})")
        engine_b = Sample("engine lock(verify=False, preflight=False)")
        floor = Sample("minimal gather + Semaphore, sharded pools")
        one_pool = Sample("minimal gather + Semaphore, one httpx pool")
        timed_interleaved(
            emu,
            [
                (floor, lambda: minimal(url, ids)),
                (engine_b, lambda: engine(url, ids, verify=False)),
                (one_pool, lambda: minimal(url, ids, sharded=False)),
            ],
            sizes.repeats_b,
        )
        print_runs([floor, engine_b, one_pool], known)
        overhead = engine_b.median / floor.median
        ok_b = overhead <= 1.25
        print(f"latency floor: {waves} waves x {LATENCY * 1000:.0f} ms = {waves * LATENCY:.2f} s")
        print(f"overhead engine/minimal: {overhead:5.2f}x   (target <= 1.25)  {verdict(ok_b)}")
        per_request = statistics.median(floor.client_cpu) / n * 1e3
        print(f"client CPU per POST in the floor loop: {per_request:.2f} ms (a load near 100% = client-bound)")
        if profile:
            profile_loopback(url, ids)
    return [ok_a, ok_b]


def profile_loopback(url: str, ids: Sequence[str], top: int = 20) -> None:
    heading(f"cProfile of the minimal loop over loopback ({len(ids)} POSTs, concurrency {CONCURRENCY}): httpx/httpcore")
    profiler = cProfile.Profile()
    profiler.enable()
    minimal(url, ids)
    profiler.disable()
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out).strip_dirs().sort_stats("tottime")
    stats.print_stats(top)
    stats.sort_stats("cumulative").print_callers(r"_assign_requests_to_connections|_find_and_load\b")
    print(out.getvalue())


# ---- (c) client CPU per request ---------------------------------------------------------------------------


def _accept(request: httpx.Request) -> httpx.Response:
    return httpx.Response(202)


Call = Callable[[str], Awaitable[object]]


async def _cpu_contenders() -> tuple[list[tuple[str, Call]], Callable[[], Awaitable[None]]]:
    transport = httpx.MockTransport(_accept)
    bare = httpx.AsyncClient(transport=transport)
    signed = httpx.AsyncClient(transport=transport, auth=ScpAuth(CREDENTIALS))
    ours = AsyncScpClient(
        endpoint=MOCK_ENDPOINT, access_key=DEMO_ACCESS_KEY, secret_key=DEMO_SECRET_KEY, transport=transport,
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
    print(f"ratio AsyncScpClient.lock / httpx + ScpAuth: {ours / signed:5.2f}x   (our code on top of signing)")
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
    parser.add_argument(
        "--emulator", choices=("process", "thread"), default="process",
        help="run the loopback emulator in a child process (default) or in a thread of this one",
    )  # fmt: skip
    parser.add_argument("--profile", action="store_true", help="also print cProfiles of the loopback floor and of (c)")
    parser.add_argument("--only", default="abcd", help="which measurements to run, e.g. 'cd' (default: abcd)")
    args = parser.parse_args(argv)
    sizes = QUICK if args.quick else FULL
    print(
        f"scp-widgets {scp_widgets.__version__} benchmark{' (--quick)' if args.quick else ''}: "
        f"python {sys.version.split()[0]}, httpx {httpx.__version__}, {os.cpu_count()} CPUs, "
        f"emulator in a {args.emulator}"
    )
    verdicts: list[bool] = []
    if "a" in args.only or "b" in args.only:
        verdicts += bench_a_b(sizes, args.emulator, args.profile)
    if "c" in args.only:
        verdicts.append(bench_c(sizes))
        if args.profile:
            profile_client(sizes)
    if "d" in args.only:
        verdicts.append(bench_d(sizes))
    print(f"\n{sum(verdicts)} of {len(verdicts)} targets met")
    return 0


if __name__ == "__main__":
    sys.exit(main())
