"""Maintenance windows: unlock what is locked, run the block, lock exactly those again, whatever happens.

    with scp_widgets.unlocked(ids_or_rule, regions=[...]) as window:   # or: async with aunlocked(...)
        resize(...)                                                     # may raise: they are re-locked anyway

Servers that were already unlocked are left alone. Before anything is unlocked a small record is written
(`<journal dir>/windows/<id>.json`: who holds it, which servers, where); it is marked closed once they are
locked again. If the process dies inside the window, `relock_pending()` re-locks what every unclosed
window of a dead process had unlocked. One file per window, replaced atomically, independent of run journals.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import logging
import os
import socket
import uuid
import warnings
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from scp_widgets.client.credentials import wrap_secret
from scp_widgets.client.errors import ScpUsageError
from scp_widgets.client.ids import is_valid_id, split_ids
from scp_widgets.client.loop_thread import background_loop
from scp_widgets.engine.bulk import CancelToken
from scp_widgets.engine.journal import default_journal_dir
from scp_widgets.engine.results import Outcome
from scp_widgets.engine.runner import run_blocking
from scp_widgets.engine.settings import RunOptions
from scp_widgets.fleet import plan as fleet

logger = logging.getLogger(__name__)
FORMAT = 1
#: Unlock outcomes that prove the server was not changed: nothing to lock again for those.
UNCHANGED = frozenset(
    {
        Outcome.INVALID_ID, Outcome.UNAUTHORIZED, Outcome.FORBIDDEN, Outcome.NOT_FOUND,
        Outcome.UNSUPPORTED_VERSION, Outcome.CONFLICT, Outcome.REJECTED, Outcome.PLANNED,
    }
)  # fmt: skip
#: Lock outcomes after which a server needs nothing more (a deleted server cannot be locked again either).
SETTLED = frozenset({Outcome.LOCKED, Outcome.ALREADY_LOCKED, Outcome.NOT_FOUND})


class WindowWarning(UserWarning):
    """A window closed with servers it could not lock again; `relock_pending()` retries them."""


def windows_dir() -> Path:
    return default_journal_dir() / "windows"


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


def _process_stat(pid: int) -> tuple[str, str] | None:
    """(state, start time) of a process from /proc (Linux): a zombie is dead, and a reused pid starts later."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return fields[0], fields[19]
    except (OSError, IndexError):
        return None


def _owner_alive(record: dict[str, Any]) -> bool:
    pid = int(record.get("pid", -1))
    if record.get("host") != socket.gethostname() or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # exists, owned by someone else
    stat = _process_stat(pid)
    if stat is None:
        return True  # no /proc: the pid exists, assume it is the owner
    return stat[0] != "Z" and stat[1] == record.get("process_start")


def _save(path: Path, record: dict[str, Any]) -> None:
    """Replace the record atomically, on disk before returning: a crash right after must not lose it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(".tmp")
    with temporary.open("w", encoding="utf-8") as file:
        json.dump(record, file)
        file.flush()
        os.fsync(file.fileno())
    os.replace(temporary, path)


@dataclass
class Window:
    """One maintenance window. `ids`: what it unlocked (and will lock again); `left_alone`: already unlocked."""

    window_id: str = field(default_factory=lambda: uuid.uuid4().hex[:12])
    ids: list[str] = field(default_factory=list)
    left_alone: list[str] = field(default_factory=list)
    unlocked: pd.DataFrame | None = None
    relocked: pd.DataFrame | None = None
    path: Path | None = None
    _servers: dict[str, dict[str, Any]] = field(default_factory=dict, repr=False)

    def __repr__(self) -> str:
        return f"Window({self.window_id}: {len(self.ids)} unlocked, {len(self.left_alone)} left alone)"

    # -- the record on disk ---------------------------------------------------------------------------

    def _write(self, state: str, servers: list[str], *, released: bool = False) -> None:
        self.path = windows_dir() / f"{self.window_id}.json"
        stat = _process_stat(os.getpid())
        record = {
            "format": FORMAT, "window_id": self.window_id, "state": state, "updated_at": _now(),
            "pid": os.getpid(), "process_start": stat[1] if stat else None, "host": socket.gethostname(),
            "servers": [self._servers[i] for i in servers], "released": released,
        }  # fmt: skip
        _save(self.path, record)


@dataclass(frozen=True)
class _Request:
    ids: Any
    plan: fleet.FleetPlan
    options: RunOptions


def _request(ids_or_where: Any, where: str | None, options: dict[str, Any]) -> _Request:
    """Check the arguments (no network). A string that is not all server ids is taken as a rule."""
    if where is None and isinstance(ids_or_where, str):
        tokens = split_ids(ids_or_where)
        if not tokens or not all(is_valid_id(t.strip().lower()) for t in tokens):
            ids_or_where, where = None, ids_or_where
    if ids_or_where is None and where is None:
        raise ScpUsageError("unlocked() needs server ids or a rule (where=...).")
    for name in ("dry_run", "preflight", "progress"):
        if options.pop(name, None):
            raise ScpUsageError(f"A maintenance window does not take {name}=: it must really unlock and re-lock.")
    plan, rest = fleet.prepare({**options, "where": where}, ids=ids_or_where)
    return _Request(ids_or_where, plan, rest)


async def _open(window: Window, request: _Request, cancel: CancelToken) -> None:
    listing = await fleet.alist_fleet(request.plan, api_version=request.options.api_version, apply_rule=False)
    wanted, _ = fleet.requested_ids(listing, request.plan, request.ids)
    known = listing.assign(id=listing["id"].str.lower()).drop_duplicates("id").set_index("id")
    chosen = known.loc[[i for i in wanted if i in known.index]]
    locked = chosen["locked"].fillna(False).astype(bool)
    window.ids = [str(i) for i in chosen.index[locked.to_numpy()]]
    window.left_alone = [str(i) for i in chosen.index[~locked.to_numpy()]]
    # The URLs used, also when the endpoint came from SCP_ENDPOINT (the listing knows it): relock_pending needs them.
    endpoints = {t.region: t.endpoint or listing.attrs.get("endpoint") for t in request.plan.targets}
    for server_id in window.ids:
        value: Any = chosen.at[server_id, "region"]
        region = None if pd.isna(value) else str(value)
        window._servers[server_id] = {"server_id": server_id, "region": region, "endpoint": endpoints.get(region)}
    if not window.ids:
        return
    window._write("open", window.ids)
    frame = await fleet.arun_fleet(
        "unlock", window.ids, request.plan.by_ids(), request.options, cancel=cancel, listing=listing
    )
    window.unlocked = frame
    maybe = frame[~frame["outcome"].astype(str).isin([str(o) for o in UNCHANGED])]
    window.ids = [str(i) for i in maybe["server_id"]]
    window._write("open", window.ids)


async def _close(window: Window, request: _Request, cancel: CancelToken) -> None:
    if not window.ids:
        return
    frame = await fleet.arun_fleet("lock", window.ids, request.plan.by_ids(), request.options, cancel=cancel)
    window.relocked = frame
    left = unsettled(frame)
    if left:  # released: the block is over, so relock_pending() may take these at once, even in this process
        window._write("open", left, released=True)
        warnings.warn(
            f"{len(left)} server(s) of maintenance window {window.window_id} could not be locked again "
            f"({summary_of(frame)}); run scp_widgets.relock_pending() to retry.",
            WindowWarning,
            stacklevel=4,
        )
    else:
        window._write("closed", [])


def unsettled(frame: pd.DataFrame) -> list[str]:
    """Servers of a re-lock that may still be unlocked."""
    outcomes = frame["outcome"].astype(str)
    return [str(i) for i in frame["server_id"][~outcomes.isin([str(o) for o in SETTLED])]]


def summary_of(frame: pd.DataFrame) -> str:
    return str(frame.attrs.get("summary", ""))


@contextmanager
def unlocked(ids_or_where: Any = None, *, where: str | None = None, **options: Any) -> Iterator[Window]:
    """Unlock the locked servers among `ids_or_where` (ids, or a rule), run the block, lock them again.

    Options as for `lock` (regions=, endpoints=, credentials, concurrency, ...). The exception of a failing
    block propagates after the re-lock; a Ctrl-C inside the block re-locks too.
    """
    wrap_secret(options)
    request = _request(ids_or_where, where, options)
    window = Window()
    cancel = CancelToken()
    try:
        run_blocking(_open(window, request, cancel), cancel)
        if cancel.cancelled:
            raise KeyboardInterrupt
        yield window
    finally:
        closing = CancelToken()
        run_blocking(_close(window, request, closing), closing)


@asynccontextmanager
async def aunlocked(ids_or_where: Any = None, *, where: str | None = None, **options: Any) -> AsyncIterator[Window]:
    """`async with scp_widgets.aunlocked(...) as window:` the async `unlocked`."""
    wrap_secret(options)
    request = _request(ids_or_where, where, options)
    window = Window()
    try:
        await _open(window, request, CancelToken())
        yield window
    finally:
        # Shielded: a cancelled task still gets its servers locked again before it goes.
        await asyncio.shield(_close(window, request, CancelToken()))


# -- windows left open by a dead process ------------------------------------------------------------------


def pending_windows() -> list[dict[str, Any]]:
    """Records of open windows whose process is gone, or that ended with servers not locked again."""
    found: list[dict[str, Any]] = []
    folder = windows_dir()
    for path in sorted(folder.glob("*.json")) if folder.is_dir() else []:
        try:
            record = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            logger.warning("unreadable maintenance window record %s", path)
            continue
        if (
            isinstance(record, dict)
            and record.get("state") == "open"
            and (record.get("released") or not _owner_alive(record))
        ):
            found.append({**record, "path": str(path)})
    return found


def pending_notice() -> str | None:
    """One sentence for the magics and the panel when a dead process left servers unlocked, else None."""
    with suppress(OSError):
        records = pending_windows()
        servers = sum(len(r.get("servers", [])) for r in records)
        if servers:
            return (
                f"{servers} server(s) are still unlocked by {len(records)} maintenance window(s) that never "
                "closed; run scp_widgets.relock_pending() to lock them again."
            )
    return None


async def arelock_pending(**options: Any) -> pd.DataFrame:
    """Async `relock_pending`."""
    frames: list[pd.DataFrame] = []
    _, connection, _, run = fleet.split_options(options)  # the endpoints are the windows' own
    records = pending_windows()
    for record in records:
        servers = record.get("servers", [])
        if not servers:
            _mark(record, "closed", [])
            continue
        by_place: dict[str, str] = {}
        for s in servers:
            by_place.setdefault(str(s.get("region") or s.get("endpoint")), str(s.get("endpoint")))
        plan = fleet.FleetPlan(fleet.targets_at(connection, by_place), None)
        frame = await fleet.arun_fleet("lock", [s["server_id"] for s in servers], plan, run)
        frame.insert(0, "window_id", pd.Series([record["window_id"]] * len(frame), dtype="string"))
        left = {
            str(i) for i, o in zip(frame["server_id"], frame["outcome"], strict=True) if Outcome(str(o)) not in SETTLED
        }
        _mark(record, "open" if left else "closed", [s for s in servers if s["server_id"] in left])
        frames.append(frame)
    if not frames:
        empty = pd.DataFrame({"window_id": pd.Series([], dtype="string"), "server_id": pd.Series([], dtype="string")})
        empty.attrs.update(summary="no maintenance window left servers unlocked", windows=0)
        return empty
    joined = pd.concat(frames, ignore_index=True)
    counts = joined["outcome"].astype(str).value_counts()
    joined.attrs.update(
        windows=len(frames), summary=", ".join(f"{n} {o}" for o, n in counts.items() if n) or "nothing to do"
    )
    return joined


def relock_pending(**options: Any) -> pd.DataFrame:
    """Lock again what every window left open by a dead process had unlocked; one row per server.

    Windows of a process still running are left alone. Options: credentials and run options as for `lock`
    (the endpoints are the ones each window used). A window whose servers are all locked again is closed.
    """
    wrap_secret(options)
    return background_loop().run(arelock_pending(**options))


def _mark(record: dict[str, Any], state: str, servers: list[dict[str, Any]]) -> None:
    data = {k: v for k, v in record.items() if k != "path"}
    data.update(state=state, servers=servers, updated_at=_now(), relocked_by=os.getpid())
    _save(Path(record["path"]), data)
