"""Reading a journal back (issue 21): `read_journal` of a 100,000-server run, target <= 1 s; and `history()`.

    .venv/bin/python benchmarks/journal_read.py                 # 100,000 servers, 5 rounds, against main
    .venv/bin/python benchmarks/journal_read.py --n 20000 --rounds 3
    .venv/bin/python benchmarks/journal_read.py --against HEAD~3  # the reader as it was at another commit
    .venv/bin/python benchmarks/journal_read.py --profile         # also a cProfile of one read

The journal is written with the real writer (`scp_widgets.engine.journal.Journal`), as a run with read-back
writes it: the header (with the settings), then per server a `sent`, an `accepted` and a `result` line,
64 servers in flight at a time, and the `end` footer. A second journal is the same run killed at about
two thirds (its last line torn): `read_journal` rebuilds its in-doubt rows, and `history()` reads it whole
(a finished run's history row comes from its first and last lines alone).

The reader of `--against` (default: `main`) is loaded from git into a module of its own (with that commit's
`journal_columns`), so old and new run interleaved in the same process. The writer writes format 3; the same
run is also written in format 2 (every field of every result, as before format 3). The old reader reads the
format 3 file when it knows format 3, else the format 2 one: each round checks that the new reader's frame of
the format 3 file, its frame of the format 2 file and the old reader's frame are equal. Times are medians of
`time.perf_counter` (wall) and `time.process_time` (CPU: the machine is shared and noisy).

At 9a1ea21 against main (2 cores, load average 1.3-1.6, 5 rounds): read_journal of the finished run 3.29 s ->
2.25 s (cpu 3.28 -> 2.24), of the run killed at 2/3 2.18 -> 1.56 s; history() 0.093 s on the finished run
(its first and last lines only, unchanged), 1.48 s on the killed one (main's reader: 2.42 s cpu in the same
process). The 1 s target is still missed: what is left is the patterns themselves (about 0.55 s for the
300,000 lines), their groups (0.4 s), json's int/float of each number (0.5 s), splitting and decoding the
72 MB (0.2 s) and the frame (0.3 s).

Read by column (journal_columns, branch journal-columnar, against main; 2 cores, load average 0.5-0.6,
5 rounds): read_journal of the finished run 2.41 -> 2.08 s (0.86x; 1.55-1.75 s when it runs alone in a
process, without main's reader's garbage beside it), of the killed run 1.68 -> 1.36 s; history() 0.109 s
finished, 1.63 s killed (unchanged: it reads line by line, it needs every run's dicts). The 1 s target
is still missed. Of a 1.6 s read: the three findalls 0.55-0.63 s (sre's per-character matching; the
tuples of the 100,000 result lines and the collector's passes over them), float() of the four time
columns 0.2 s (about 500 ns per 13-digit string, which a correctly rounded parse costs), transposing
and converting the columns 0.15 s, pandas' frame 0.15 s, reading and decoding 0.1 s.

Format 3 (branch journal3, against main; 2 cores, shared and loaded, medians of 3): the journal 713 -> 539
bytes/server; read_journal of the finished run 1.62 -> 1.06 s (0.65x; main's reader on the format 2 file,
this one on the format 3 file), of the killed run 1.16 -> 0.91 s; the new reader on the format 2 file 1.46 s;
history() of the killed run 0.59 s (by column, no frame made; it was line by line, about 1.5 s). In
scale.py (r), a fresh process after the 100,000-server lock: read_journal 1.71 / 1.82 / 1.99 s on main,
1.19 / 1.22 / 1.25 s here (medians 1.82 -> 1.22 s). Still above 1 s: the three findalls (about 0.45 s, the
result lines' 0.3 s of it), the columns' conversion (0.35 s), reading and decoding (0.09 s).

Reading format 3 in blocks (branch jread2, against main, main's reader on the format 3 file; 2 cores, load
average 1.4-1.6, 3 rounds): read_journal of the finished run 0.99 -> 0.71 s (0.72x), of the killed run 0.88
-> 0.83 s (its in-doubt rows are built one by one, as before); the new reader on the format 2 file 1.21 s;
history() 0.08 s finished, 0.68 s killed. On the journal scale.py's real run writes (its ids in one order,
its results in the read-back's), same process, interleaved, 7 rounds: 1.07 -> 0.68 s cpu. In scale.py (r),
fresh processes, main and this interleaved: main 1.01 / 1.05 / 1.06 / 1.12 / 1.33 / 1.39 s, this 0.74 /
0.74 / 0.75 / 0.76 / 0.77 / 0.78 / 1.07 / 1.11 s (medians 1.09 -> 0.77 s; cpu 0.73-0.78 s in the fast
runs: the slow ones are the machine's other load). What changed: `sent` and `accepted` lines found in one
scan (191 -> 171 ms); a result line taken in 5 groups, not 16 (262 -> 176 ms), its repeating fields taken
apart once per distinct text; the four times read by numpy from the lines' bytes (int() of each was 60-80
ms); a constant column converted once; each requested id looked up once (with the results in another order
than the ids, each lookup is a cache miss: 30 ms a pass, and main made four). Where the ~0.7 s goes now:
the two findalls ~0.37 s (sre, character by character, over 54 MB; every sent and accepted line is still
checked whole, so a corrupt one is refused as the line-by-line reading refuses it), reading and decoding
0.07 s, the header and the scans for another run, a backslash and the line count 0.07 s, the ids' dict and
places 0.05 s, the columns 0.1 s, pandas' frame and attrs 0.03 s.
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import importlib.util
import os
import pstats
import statistics
import subprocess
import sys
import tempfile
import time
import types
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pandas as pd

import scp_widgets
import scp_widgets.engine.journal_columns
from scp_widgets.client.errors import JournalError
from scp_widgets.engine import journal as journal_module
from scp_widgets.engine.journal import Journal, JournalWarning
from scp_widgets.engine.results import Outcome, ServerResult, count_outcomes, summary_line, utc_iso
from scp_widgets.engine.settings import RunOptions, RunOutcome, settings_record

ROOT = Path(__file__).resolve().parent.parent
READER = "scp_widgets/engine/journal_reader.py"
COLUMNS = "scp_widgets/engine/journal_columns.py"
IN_FLIGHT = 64


def server_ids(n: int) -> list[str]:
    return [f"{i:08x}-0000-4000-8000-{i:012x}" for i in range(n)]


def write_run(path: Path, n: int, *, kill_at: int | None = None, fmt: int = 3, started: float = 0.0) -> None:
    """A run of `n` servers as the engine journals it; `kill_at` stops it after that many servers finished,
    with a torn last line, as `kill -9` during a write leaves it; `fmt` 2: as the writer wrote it before.
    The writer's clock is a fake one from `started`: the same run written twice is the same run."""
    if fmt == 2:
        with pytest_free_patch(journal_module, "FORMAT", 2), pytest_free_patch(Journal, "result", _result_format_2):
            write_run(path, n, kill_at=kill_at, started=started)
        return
    ids = server_ids(n)
    endpoint, started = "https://scp.example.test", started or time.time()
    ticks = iter(range(10**9))
    clock = types.SimpleNamespace(time=lambda: started + next(ticks) * 0.0001)
    with pytest_free_patch(journal_module, "time", clock):
        _write(path, ids, kill_at, endpoint, started)


def _write(path: Path, ids: list[str], kill_at: int | None, endpoint: str, started: float) -> None:
    n = len(ids)
    header = {
        "run_id": f"bench{n}{'k' if kill_at else ''}", "action": "lock", "api_version": "1.3", "endpoint": endpoint,
        "started_at": utc_iso(started), "dry_run": False, "verify": True, "preflight": False, "duplicates": 0,
        "warning": None, "ids": ids, "concurrency": IN_FLIGHT, "retries": 3, "timeout": 30.0,
        "settings": settings_record(RunOptions()),
    }  # fmt: skip
    results: list[ServerResult] = []
    with Journal.open(path, header) as journal:
        for start in range(0, n, IN_FLIGHT):
            window = ids[start : start + IN_FLIGHT]
            batch = []
            for k, server_id in enumerate(window):
                at = started + (start + k) * 0.0005
                journal.sent(server_id)
                row = ServerResult(
                    server_id, "lock", Outcome.LOCKED, http_status=202, attempts=1, request_id=f"req-{start + k:08d}",
                    api_version="1.3", endpoint=endpoint, started_at=at, sent_at=at, answered_at=at + 0.002,
                )  # fmt: skip
                journal.accepted(row)
                batch.append(row)
            for row in batch:
                row.locked, row.finished_at = True, (row.answered_at or 0.0) + 0.05
                if kill_at is not None and len(results) >= kill_at:
                    assert journal._file is not None
                    journal._file.write('{"type":"result","server_id":"' + row.server_id[:9])  # killed mid-line
                    journal._file.flush()
                    return
                journal.result(row)
                results.append(row)
        counts = count_outcomes(r.outcome for r in results)
        ended = started + n * 0.0005 + 0.1
        summary = summary_line(counts, ended - started)
        outcome = RunOutcome(counts, round(ended - started, 3), 0, 0, False, 0, summary)
        journal.end({"finished_at": utc_iso(ended), **outcome.record()})


@contextlib.contextmanager
def pytest_free_patch(owner: Any, name: str, value: Any) -> Iterator[None]:
    old = getattr(owner, name)
    setattr(owner, name, value)
    try:
        yield
    finally:
        setattr(owner, name, old)


def _result_format_2(self: Journal, result: ServerResult) -> None:
    self._record({"type": "result", **result.to_record()})


def module_at(rev: str, path: str, name: str) -> types.ModuleType:
    """The module at `path` as it was at `rev`, as a module of its own named `name`."""
    source = subprocess.run(["git", "show", f"{rev}:{path}"], cwd=ROOT, capture_output=True, text=True, check=True)
    spec = importlib.util.spec_from_loader(name, loader=None)
    assert spec is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    exec(compile(source.stdout, f"{rev}:{path}", "exec"), module.__dict__)  # noqa: S102  # our own file
    return module


def reader_at(rev: str) -> types.ModuleType:
    """The journal reader as it was at `rev`, with its `journal_columns` (the rest is this tree's)."""
    tag = rev.replace("~", "_").replace("^", "_")
    columns = module_at(rev, COLUMNS, f"journal_columns_{tag}")
    with pytest_free_patch(sys.modules["scp_widgets.engine"], "journal_columns", columns):
        real = sys.modules["scp_widgets.engine.journal_columns"]
        sys.modules["scp_widgets.engine.journal_columns"] = columns  # what `from ... import` finds
        try:
            return module_at(rev, READER, f"journal_reader_{tag}")
        finally:
            sys.modules["scp_widgets.engine.journal_columns"] = real


def reads_format_3(reader: types.ModuleType, folder: Path) -> bool:
    """Whether `reader` reads a format 3 journal (a reader before it refuses it as a newer one's)."""
    probe = folder / "probe.jsonl"
    write_run(probe, 3)
    try:
        quietly(lambda: reader.read_journal(probe))()
    except JournalError:
        return False
    return True


def timed(call: Callable[[], Any]) -> tuple[float, float, Any]:
    wall, cpu = time.perf_counter(), time.process_time()
    value = call()
    return time.perf_counter() - wall, time.process_time() - cpu, value


def quietly(call: Callable[[], Any]) -> Callable[[], Any]:
    def run() -> Any:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", JournalWarning)
            return call()

    return run


def same_frames(new: pd.DataFrame, old: pd.DataFrame) -> None:
    """The same frame and attrs, but the file each was read from."""
    pd.testing.assert_frame_equal(new, old, check_exact=True)
    assert {**new.attrs, "journal": None} == {**old.attrs, "journal": None}


def report(name: str, samples: list[tuple[float, float]], base: list[tuple[float, float]] | None = None) -> None:
    wall = statistics.median(s[0] for s in samples)
    cpu = statistics.median(s[1] for s in samples)
    spread = f"{min(s[0] for s in samples):.3f}..{max(s[0] for s in samples):.3f}"
    line = f"  {name:<34} wall {wall:.3f} s ({spread}, n={len(samples)})  cpu {cpu:.3f} s"
    if base:
        line += f"  = {wall / statistics.median(s[0] for s in base):.2f}x of the old wall"
        line += f", {cpu / statistics.median(s[1] for s in base):.2f}x of its cpu"
    print(line)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--n", type=int, default=100_000, help="servers in the run (default 100,000)")
    parser.add_argument("--rounds", type=int, default=5, help="interleaved rounds (default 5)")
    parser.add_argument("--against", default="main", help="git revision of the old reader ('' for none)")
    parser.add_argument("--profile", action="store_true", help="print a cProfile of one read_journal")
    args = parser.parse_args(argv)
    old = reader_at(args.against) if args.against else None
    with tempfile.TemporaryDirectory() as tmp:
        done, killed = Path(tmp) / "done", Path(tmp) / "killed"
        done.mkdir()
        killed.mkdir()
        finished, unfinished = done / "run.jsonl", killed / "run.jsonl"
        started = time.time()
        write_run(finished, args.n, started=started)
        write_run(unfinished, args.n, kill_at=args.n * 2 // 3, started=started)
        finished2, unfinished2 = Path(tmp) / "done2.jsonl", Path(tmp) / "killed2.jsonl"  # format 2: as before
        write_run(finished2, args.n, fmt=2, started=started)
        write_run(unfinished2, args.n, kill_at=args.n * 2 // 3, fmt=2, started=started)
        size, size2 = finished.stat().st_size / args.n, finished2.stat().st_size / args.n
        print(f"journal of {args.n:,} servers: {size:.0f} bytes/server (format 2: {size2:.0f}); "
              f"load average {os.getloadavg()[0]:.2f}")  # fmt: skip
        cases: dict[str, Callable[[], Any]] = {
            "read_journal (finished)": quietly(lambda: scp_widgets.read_journal(finished)),
            "read_journal (killed at 2/3)": quietly(lambda: scp_widgets.read_journal(unfinished)),
            "read_journal (finished, format 2)": quietly(lambda: scp_widgets.read_journal(finished2)),
            "history() (finished)": quietly(lambda: scp_widgets.history(done)),
            "history() (killed at 2/3)": quietly(lambda: scp_widgets.history(killed)),
        }
        olds: dict[str, Callable[[], Any]] = {}
        if old is not None:  # the old reader reads what its writer wrote: format 3 if it knows it, else 2
            old_done, old_killed = (
                (finished, unfinished) if reads_format_3(old, Path(tmp)) else (finished2, unfinished2)
            )
            print(f"the reader of {args.against} reads format {3 if old_done is finished else 2}")
            olds["read_journal (finished)"] = quietly(lambda: old.read_journal(old_done))
            olds["read_journal (killed at 2/3)"] = quietly(lambda: old.read_journal(old_killed))
        same_as = {"read_journal (finished, format 2)": "read_journal (finished)"}
        frames_seen: dict[str, pd.DataFrame] = {}
        new_samples: dict[str, list[tuple[float, float]]] = {name: [] for name in cases}
        old_samples: dict[str, list[tuple[float, float]]] = {name: [] for name in olds}
        for round_ in range(args.rounds):
            order = list(cases) if round_ % 2 == 0 else list(reversed(cases))
            for name in order:
                pair = [("new", cases[name])] + ([("old", olds[name])] if name in olds else [])
                frames = {}
                for who, call in pair if round_ % 2 == 0 else reversed(pair):
                    wall, cpu, frames[who] = timed(call)
                    (new_samples if who == "new" else old_samples)[name].append((wall, cpu))
                if "old" in frames:
                    same_frames(frames["new"], frames["old"])
                if name in same_as and same_as[name] in frames_seen:
                    same_frames(frames["new"], frames_seen[same_as[name]])
                if name.startswith("read_journal"):
                    frames_seen[name] = frames["new"]
        print(f"{args.rounds} interleaved rounds, medians:")
        for name in cases:
            if name in old_samples:
                report(f"{name}, {args.against}", old_samples[name])
            report(name, new_samples[name], old_samples.get(name))
        wall = statistics.median(s[0] for s in new_samples["read_journal (finished)"])
        verdict = "target met" if wall <= 1.0 * max(args.n / 100_000, 0.1) else "target MISSED"
        print(f"read_journal of {args.n:,} servers: {wall:.3f} s (target <= 1 s at 100,000)  {verdict}")
        if args.profile:
            profile = cProfile.Profile()
            profile.runcall(quietly(lambda: scp_widgets.read_journal(finished)))
            pstats.Stats(profile).sort_stats("cumulative").print_stats(25)
    return 0


if __name__ == "__main__":
    sys.exit(main())
