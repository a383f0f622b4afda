"""Benchmark of the lock panel at fleet scale (issue 18): the panel's run against `alock`, and the list's
actions, side by side and interleaved. A script, not a test: it prints medians and ratios, never fails.

    .venv/bin/python benchmarks/panel.py            # 10,000 and 50,000 servers (several minutes)
    .venv/bin/python benchmarks/panel.py --quick    # 2,000 and 5,000 servers (about a minute)

(1) A panel run (list loaded, Select shown, Lock, until the results table and the buttons are back; the
    charts drawn after it are timed apart) against
    `scp_widgets.lock` on the same servers, same settings (concurrency 64, read-back on, no journal), against
    `fake_scp.py` in its own process. Target: panel wall / lock wall <= 1.2.
(2) "Select shown" on the whole fleet (target < 0.3 s), and one filter keystroke with 10,000 servers picked
    (target < 50 ms): each measured through the panel, so the target line's redraw is included.
"""

from __future__ import annotations

import argparse
import statistics
import threading
import time
from collections.abc import Callable, Sequence

import pandas as pd
from bulk import ACCESS_KEY, SECRET_KEY, FakeScp, fake_scp, machine

import scp_widgets
from scp_widgets.panel.lock_panel import LockPanel

CONCURRENCY = 64


def listing(ids: Sequence[str]) -> pd.DataFrame:
    """The fleet as the panel's list holds it (the fake's names: vm-<id's start>)."""
    return pd.DataFrame({"id": list(ids), "name": [f"vm-{i[:8]}" for i in ids], "state": "ACTIVE", "locked": False})


def panel_for(server: FakeScp) -> LockPanel:
    panel = LockPanel(
        endpoint=server.url, access_key=ACCESS_KEY, secret_key=SECRET_KEY, autoload=False, journal=False,
        concurrency=CONCURRENCY, confirm_above=10**9,
    )  # fmt: skip
    panel.chooser.load(listing(server.ids))
    return panel


CHARTS: list[float] = []  # seconds from the results table to its pictures, per panel run


def panel_run(server: FakeScp) -> float:
    """Click to results: until the table, the summary and the buttons are back (the charts come after)."""
    panel = panel_for(server)
    back = threading.Event()  # the Lock button enabled again after a result: the table is up (no polling)
    panel.lock_button.observe(lambda c: back.set() if not c["new"] and panel.results is not None else None, "disabled")
    started = time.perf_counter()
    panel.select_shown_button.click()
    panel.lock_button.click()
    back.wait(600)
    elapsed = time.perf_counter() - started
    panel.wait(600)
    CHARTS.append(time.perf_counter() - started - elapsed)
    frame = panel.results
    if frame is None or (frame["outcome"] != "locked").any() or len(frame) != len(server.ids):
        raise RuntimeError(f"panel run not clean: {None if frame is None else frame.attrs.get('summary')}")
    return elapsed


def lock_run(server: FakeScp) -> float:
    started = time.perf_counter()
    frame = scp_widgets.lock(
        server.ids, endpoint=server.url, access_key=ACCESS_KEY, secret_key=SECRET_KEY, concurrency=CONCURRENCY,
        journal=False,
    )  # fmt: skip
    elapsed = time.perf_counter() - started
    if (frame["outcome"] != "locked").any():
        raise RuntimeError(f"lock() not clean: {frame.attrs.get('summary')}")
    return elapsed


def median(values: Sequence[float]) -> str:
    return f"{statistics.median(values):8.3f} s  ({min(values):.3f}..{max(values):.3f}, n={len(values)})"


def verdict(ok: bool) -> str:
    return "target met" if ok else "target MISSED"


def bench_runs(servers: int, rounds: int) -> bool:
    print(f"\n(1) {servers:,} servers, concurrency {CONCURRENCY}, read-back on: the panel against lock()")
    times: dict[str, list[float]] = {"lock()": [], "panel": []}
    contenders: list[tuple[str, Callable[[FakeScp], float]]] = [("lock()", lock_run), ("panel", panel_run)]
    with fake_scp(servers) as server:
        for round_no in range(rounds):
            for name, run in contenders if round_no % 2 == 0 else contenders[::-1]:
                server.reset()
                times[name].append(run(server))
    for name, values in times.items():
        print(f"    {name:<8} {median(values)}")
    print(f"    (the panel's charts were drawn {median(CHARTS[-rounds:])} after its table)")
    ratio = statistics.median(times["panel"]) / statistics.median(times["lock()"])
    print(f"    panel / lock(): {ratio:.2f}x (target <= 1.2)  {verdict(ratio <= 1.2)}")
    return ratio <= 1.2


def timed(action: Callable[[], None], rounds: int = 5, before: Callable[[], None] | None = None) -> list[float]:
    values = []
    for _ in range(rounds):
        if before is not None:
            before()
        started = time.perf_counter()
        action()
        values.append(time.perf_counter() - started)
    return values


def bench_list(servers: int) -> list[bool]:
    from fake_scp import fleet_ids

    ids = fleet_ids(servers)
    panel = LockPanel(autoload=False, journal=False, endpoint="http://127.0.0.1:9")
    panel.chooser.load(listing(ids))
    select = timed(panel.select_shown_button.click, before=panel.clear)
    print(f"\n(2) the list at {servers:,} servers")
    print(f"    Select shown               {median(select)}   target < 0.3 s  {verdict(min(select) < 0.3)}")
    picked = panel.chooser.picked_count  # every server: Select shown with no filter
    words = iter(["vm-", "vm-0", "vm-1", "vm-a", "vm-b", "vm-c", "vm-d"] * 3)
    keystroke = timed(lambda: setattr(panel.chooser.filter_box, "value", next(words)), rounds=7)
    print(f"    one filter keystroke, {picked:,} picked {median(keystroke)}   target < 50 ms  "
          f"{verdict(statistics.median(keystroke) < 0.05)}")  # fmt: skip
    return [min(select) < 0.3, statistics.median(keystroke) < 0.05]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="small sizes: a smoke run")
    args = parser.parse_args(argv)
    print(f"scp-widgets panel benchmark: {machine()}")
    sizes = (2_000, 5_000) if args.quick else (10_000, 50_000)
    met: list[bool] = []
    for servers in sizes:
        met.extend(bench_list(servers))
    for servers, rounds in zip(sizes, (3, 2) if not args.quick else (2, 2), strict=True):
        met.append(bench_runs(servers, rounds))
    print(f"\n{sum(met)} of {len(met)} targets met")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
