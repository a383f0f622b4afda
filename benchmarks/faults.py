"""Benchmark of the engine against misbehaving services (issue 10), each on a real loopback socket.

    .venv/bin/python benchmarks/faults.py              # every section (about a minute)
    .venv/bin/python benchmarks/faults.py --only a     # only some sections
    .venv/bin/python benchmarks/faults.py --quick      # smaller sizes (a smoke run)

(a) 1,000 servers against a 100 requests/s limit (above it: 429, half with `Retry-After: 1`, half with none),
    concurrency 32: wall time against the floor N/R and the target 2 N/R, the 429 count, and the rate the
    service admitted against R.
(b) the same 1,000 servers through the fault storm (20% 503, 5% dropped, 5% 429) under a 250 requests/s
    limit, retries=12: every row locked, each server locked exactly once, wall time against N/R.
(c) a black hole (accepts TCP, never answers), 300 servers, timeout=2: wall time (target < 30 s).
(d) a wrong secret on 300 servers: signed requests that reach the service (target: a few dozen).

The emulator runs in a child process (`python -m scp_widgets.emulator`), so its CPU does not share this
interpreter's GIL, and what it saw is read from its `/_emulator/counts`.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx

import scp_widgets
from scp_widgets.emulator import DEMO_ACCESS_KEY, DEMO_SECRET_KEY, Emulator, EmulatorConfig
from scp_widgets.engine.bulk import Progress

SEED = 7


@contextmanager
def emulator(servers: int, *options: str) -> Iterator[tuple[str, list[str]]]:
    """The emulator in a child process: its URL and its own server ids (the fleet is seeded)."""
    ids = Emulator(EmulatorConfig(servers=servers, foreign_servers=0, locked_fraction=0.0, seed=SEED)).own_ids
    command = [sys.executable, "-m", "scp_widgets.emulator", "--port", "0", "--servers", str(servers),
               "--foreign-servers", "0", "--locked-fraction", "0", "--seed", str(SEED), *options]  # fmt: skip
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        match = re.search(r"listening on (http://\S+)", process.stdout.readline())
        assert match, "the emulator did not start"
        yield match.group(1), ids
    finally:
        process.terminate()
        process.wait(10)


def counts(url: str) -> dict[str, Any]:
    result: dict[str, Any] = httpx.get(f"{url}/_emulator/counts").json()
    return result


def lock(url: str, ids: list[str], **options: Any) -> tuple[Any, float]:
    options = {"access_key": DEMO_ACCESS_KEY, "secret_key": DEMO_SECRET_KEY, "journal": False, **options}
    started = time.monotonic()
    df = scp_widgets.lock(ids, endpoint=url, **options)
    return df, time.monotonic() - started


def heading(text: str) -> None:
    print(f"\n{text}\n{'-' * len(text)}", flush=True)


def verdict(ok: bool) -> str:
    return "target met" if ok else "target MISSED"


def rate_limited(n: int) -> bool:
    limit = 100.0
    heading(f"(a) {n} servers, {limit:g} requests/s limit (429: half Retry-After: 1, half none), concurrency 32")
    options = ("--rate-limit", str(limit), "--rate-limit-retry-after", "1", "--rate-limit-bare-rate", "0.5")
    with emulator(n, *options) as (url, ids):
        rates: list[float] = []

        def watch(progress: Progress) -> None:
            if progress.rate is not None:
                rates.append(progress.rate)

        df, elapsed = lock(url, ids, concurrency=32, progress=watch)
        seen = counts(url)
    statuses = {int(k): v for k, v in seen["by_status"].items()}
    throttled = statuses.get(429, 0)
    admitted = seen["total"] - throttled - seen["by_action"].get("versions", 0)
    floor = n / limit
    print(f"rows: {df.attrs['counts']}")
    print(f"wall time: {elapsed:.1f} s   floor N/R = {floor:.1f} s   ratio {elapsed / floor:.2f}  (target <= 2.0)")
    print(f"429s: {throttled} ({throttled / n:.2f} per server); requests admitted: {admitted} "
          f"({seen['by_action_status'].get('lock 202', 0)} locks, the rest read-backs)")  # fmt: skip
    print(f"achieved rate: {admitted / elapsed:.1f} requests/s = {admitted / elapsed / limit:.2f} R "
          f"(the first second's burst of {limit:g} included)")  # fmt: skip
    if rates:
        print(f"client rate shown in the progress: {min(rates):.0f}..{max(rates):.0f} requests/s")
    ok = df.attrs["counts"] == {"locked": n} and elapsed <= 2 * floor
    print(verdict(ok))
    return ok


def storm(n: int) -> bool:
    limit = 250.0
    heading(f"(b) {n} servers, fault storm (20% 503, 5% drop, 5% 429) under a {limit:g} requests/s limit, retries=12")
    options = ("--error-rate", "503=0.2", "--drop-rate", "0.05", "--throttle-rate", "0.05", "--retry-after", "0.2",
               "--rate-limit", str(limit))  # fmt: skip
    with emulator(n, *options) as (url, ids):
        df, elapsed = lock(url, ids, concurrency=32, retries=12)
        records = httpx.get(f"{url}/_emulator/record").json()["records"]
    accepted: dict[str, int] = {}
    for record in records:
        if record["action"] == "lock" and record["status"] == 202:
            accepted[record["server_id"]] = accepted.get(record["server_id"], 0) + 1
    faults = {k: sum(1 for r in records if r["fault"] == k) for k in ("5xx", "drop", "429", "rate_limit")}
    print(f"rows: {df.attrs['counts']}; faults met: {faults}")
    print(f"servers locked exactly once: {sum(1 for v in accepted.values() if v == 1)} of {n}; "
          f"locked more than once: {sum(1 for v in accepted.values() if v > 1)}")  # fmt: skip
    print(f"wall time: {elapsed:.1f} s   floor N/R = {n / limit:.1f} s")
    ok = df.attrs["counts"] == {"locked": n} and len(accepted) == n
    print(verdict(ok))
    return ok


def black_hole(n: int) -> bool:
    heading(f"(c) a black hole, {n} servers, timeout=2")
    with emulator(1, "--black-hole") as (url, _):
        ids = [f"00000000-0000-4000-8000-{i:012d}" for i in range(n)]
        df, elapsed = lock(url, ids, timeout=2)
    print(
        f"rows: {df.attrs['counts']}; sent: {int((df.attempts > 0).sum())}, not sent: {int((df.attempts == 0).sum())}"
    )
    print(f"wall time: {elapsed:.1f} s  (target < 30 s; before issue 10: 15 s per server)")
    ok = elapsed < 30 and len(df) == n
    print(verdict(ok))
    return ok


def wrong_secret(n: int) -> bool:
    heading(f"(d) a wrong secret on {n} servers")
    with emulator(n) as (url, ids):
        df, _ = lock(url, ids, secret_key="wrong-secret")
        seen = counts(url)
    signed = seen["total"] - seen["by_action"].get("versions", 0)
    print(f"rows: {df.attrs['counts']}; signed requests that reached the service: {signed} (before issue 10: {n})")
    ok = signed <= 40
    print(verdict(ok))
    return ok


SECTIONS = {"a": rate_limited, "b": storm, "c": black_hole, "d": wrong_secret}
SIZES = {"a": 1000, "b": 1000, "c": 300, "d": 300}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", default="abcd", help="sections to run, e.g. 'ac'")
    parser.add_argument("--quick", action="store_true", help="a fifth of the sizes")
    args = parser.parse_args()
    print(f"scp-widgets {scp_widgets.__version__} fault benchmark: python {sys.version.split()[0]}")
    results = [SECTIONS[key](SIZES[key] // (5 if args.quick else 1)) for key in args.only if key in SECTIONS]
    print(f"\n{sum(results)} of {len(results)} targets met")


if __name__ == "__main__":
    main()
