"""Maintenance windows: unlock what is locked, run the block, lock exactly those again, whatever happens.

    with scp_widgets.unlocked(ids_or_rule, regions=[...]) as window:   # or: async with aunlocked(...)
        resize(...)                                                     # may raise: they are re-locked anyway

Servers that were already unlocked are left alone. A window is a lease with a truthful record
(`<journal dir>/windows/<id>.json`, 0600, replaced atomically; host and pid of its holder): `servers` is what
may still be unlocked and why, `unlocked` and `relocked` what happened. The re-lock sends no listing (the
record knows each server's region), so a region down owes only its own servers: the record turns `owed` and
`relock_pending()`, in any process, sends exactly those. An open window of a dead process on this host is
owed too; one recorded on another host is never taken as dead unless asked.
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
from scp_widgets.client.loop_thread import background_loop, wait_for
from scp_widgets.engine.cancel import CancelToken
from scp_widgets.engine.journal import private_folder
from scp_widgets.engine.read_only import refuse_change
from scp_widgets.engine.rerun import regional_attrs
from scp_widgets.engine.results import Outcome
from scp_widgets.engine.runner import run_blocking
from scp_widgets.engine.settings import RunOptions
from scp_widgets.engine.state_dirs import windows_dir as windows_dir
from scp_widgets.fleet import plan as fleet
from scp_widgets.fleet.relock import WindowWarning, relock_servers

logger = logging.getLogger(__name__)
FORMAT = 2
#: Unlock outcomes that prove the server was not changed: nothing to lock again for those.
UNCHANGED = frozenset(
    {
        Outcome.INVALID_ID, Outcome.UNAUTHORIZED, Outcome.FORBIDDEN, Outcome.NOT_FOUND,
        Outcome.UNSUPPORTED_VERSION, Outcome.CONFLICT, Outcome.REJECTED, Outcome.PLANNED,
    }
)  # fmt: skip


class WindowHeldError(ScpUsageError):
    """The servers asked for are held by another live maintenance window."""


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
    """Replace the record atomically (temp file + os.replace), 0600, on disk before returning."""
    private_folder(path.parent)  # 0700, as the journals: records name the servers a window unlocked
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as file:
        json.dump(record, file)
        file.flush()
        os.fsync(file.fileno())
    os.replace(temporary, path)


@dataclass
class Window:
    """One maintenance window, a lease. `ids`: what it unlocked (and will lock again); `left_alone`: already
    unlocked; `owed`: servers the re-lock could not lock again, with the reason (finished by relock_pending())."""

    window_id: str = field(default_factory=lambda: uuid.uuid4().hex[:12])
    ids: list[str] = field(default_factory=list)
    left_alone: list[str] = field(default_factory=list)
    unlocked: pd.DataFrame | None = None
    relocked: pd.DataFrame | None = None
    path: Path | None = None
    owed: dict[str, str] = field(default_factory=dict)
    relocked_ids: list[str] = field(default_factory=list)
    _servers: dict[str, dict[str, Any]] = field(default_factory=dict, repr=False)

    def __repr__(self) -> str:
        return f"Window({self.window_id}: {len(self.ids)} unlocked, {len(self.left_alone)} left alone)"

    # -- the record on disk ---------------------------------------------------------------------------

    def _write(self, state: str, owed: dict[str, str], *, before_sending: bool = False) -> None:
        """The record: `servers` is what may still be unlocked (with why), `unlocked`/`relocked` what happened.

        `before_sending`: nothing is unlocked yet, so a record that cannot be written stops the window there
        (one sentence). Later, the window goes on (its re-lock matters more) and a warning tells the truth
        the record cannot: which servers may still be unlocked."""
        self.path = windows_dir() / f"{self.window_id}.json"
        stat = _process_stat(os.getpid())
        record = {
            "format": FORMAT, "window_id": self.window_id, "state": state, "updated_at": _now(),
            "pid": os.getpid(), "process_start": stat[1] if stat else None, "host": socket.gethostname(),
            "servers": [{**self._servers[i], "reason": why} for i, why in owed.items()],
            "unlocked": list(self.ids), "relocked": list(self.relocked_ids),
        }  # fmt: skip
        try:
            _save(self.path, record)
        except OSError as exc:
            why = exc.strerror or str(exc)
            if before_sending:
                raise ScpUsageError(
                    f"Cannot write the maintenance window's record {self.path} ({why}); nothing was unlocked."
                ) from None
            still = f"{len(owed)} server(s) may still be unlocked: {', '.join(list(owed)[:5])}" if owed else "none owed"
            warnings.warn(
                f"Could not update maintenance window {self.window_id}'s record to {state!r} ({why}); {still}.",
                WindowWarning,
                stacklevel=5,
            )


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
    options = request.options  # the window's own timeout and retries bound its listing too
    listing = await fleet.alist_fleet(
        request.plan, api_version=options.api_version, apply_rule=False, retries=options.retries,
        timeout=options.timeout,
    )  # fmt: skip
    wanted, _ = fleet.requested_ids(listing, request.plan, request.ids)
    known = listing.assign(id=listing["id"].str.lower()).drop_duplicates("id").set_index("id")
    chosen = known.loc[[i for i in wanted if i in known.index]]
    locked = chosen["locked"].fillna(False).astype(bool)
    held = held_servers(but=window.window_id)
    taken = [i for i in chosen.index if i in held]
    if taken:
        raise WindowHeldError(
            f"{len(taken)} of these servers are held by maintenance window {held[taken[0]]} (still open); "
            "wait for it to close, or leave them out."
        )
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
    # Before anything is sent: every chosen server may end up unlocked (a crash mid-unlock owes them all).
    try:
        window._write("open", dict.fromkeys(window.ids, "the window is open"), before_sending=True)
    except ScpUsageError:
        window.ids = []  # nothing was unlocked: nothing to lock again
        raise
    try:
        frame = await fleet.arun_fleet(
            "unlock", window.ids, request.plan.by_ids(), request.options, cancel=cancel, listing=listing
        )
    except ScpUsageError:  # refused before any request (its journal, its version): nothing to lock again
        window.ids = []
        window._write("closed", {})
        raise
    window.unlocked = frame
    maybe = frame[~frame["outcome"].astype(str).isin([str(o) for o in UNCHANGED])]
    window.ids = [str(i) for i in maybe["server_id"]]
    window._write("open", dict.fromkeys(window.ids, "the window is open"))


async def _close(window: Window, request: _Request, cancel: CancelToken) -> None:
    if not window.ids:
        return
    by_region: dict[str | None, list[dict[str, Any]]] = {}
    for server_id in window.ids:
        by_region.setdefault(window._servers[server_id]["region"], []).append(window._servers[server_id])
    groups = [
        (fleet.FleetPlan((t,), None, request.plan.client), by_region[t.region])
        for t in request.plan.targets
        if t.region in by_region
    ]
    try:
        frame, owed = await relock_servers(groups, request.options, cancel)
    except BaseException:
        window._write("owed", dict.fromkeys(window.ids, "the re-lock was interrupted"))
        raise
    window.relocked = frame
    window.relocked_ids = [i for i in window.ids if i not in owed]
    window.owed = owed
    if owed:  # owed: the block is over, so relock_pending() may take these at once, even in this process
        window._write("owed", owed)
        reasons = "; ".join(sorted(set(owed.values()))[:3])
        warnings.warn(
            f"{len(owed)} server(s) of maintenance window {window.window_id} could not be locked again "
            f"({reasons}); run scp_widgets.relock_pending() to retry.",
            WindowWarning,
            stacklevel=4,
        )
    else:
        window._write("closed", {})


@contextmanager
def unlocked(ids_or_where: Any = None, *, where: str | None = None, **options: Any) -> Iterator[Window]:
    """Unlock the locked servers among `ids_or_where` (ids, or a rule), run the block, lock them again.

    Options as for `lock` (regions=, endpoints=, credentials, concurrency, timeout, retries, ...). The
    exception of a failing block propagates after the re-lock; a Ctrl-C inside the block re-locks too, and a
    Ctrl-C during the re-lock does not abandon it (it is bounded by the window's timeout and retries).
    """
    refuse_change("unlocked()")
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
        future = background_loop().submit(_close(window, request, CancelToken()))
        while True:
            try:
                wait_for(future)
                break
            except KeyboardInterrupt:
                logger.warning("still locking the window's servers again; it ends within its timeout")


@asynccontextmanager
async def aunlocked(ids_or_where: Any = None, *, where: str | None = None, **options: Any) -> AsyncIterator[Window]:
    """`async with scp_widgets.aunlocked(...) as window:` the async `unlocked`."""
    refuse_change("aunlocked()")
    wrap_secret(options)
    request = _request(ids_or_where, where, options)
    window = Window()
    try:
        await _open(window, request, CancelToken())
        yield window
    finally:
        # Shielded, also from a second cancel: the task gets its servers locked again before it goes.
        closing = asyncio.ensure_future(_close(window, request, CancelToken()))
        cancelled = False
        while not closing.done():
            try:
                await asyncio.shield(closing)
            except asyncio.CancelledError:
                cancelled = True
        closing.result()
        if cancelled:
            raise asyncio.CancelledError


# -- windows left open by a dead process, or owing servers -------------------------------------------------


def _well_formed(record: Any) -> bool:
    if not isinstance(record, dict) or not isinstance(record.get("servers", []), list):
        return False
    return all(isinstance(s, dict) and isinstance(s.get("server_id"), str) for s in record.get("servers", []))


def scan_windows(*, include_other_hosts: bool = False) -> tuple[list[dict[str, Any]], list[str]]:
    """(records to finish, sentences about records skipped): owed windows, and open ones of a dead process."""
    found: list[dict[str, Any]] = []
    notes: list[str] = []
    folder = windows_dir()
    for path in sorted(folder.glob("*.json")) if folder.is_dir() else []:
        try:
            record = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            record = None
        if not _well_formed(record):
            logger.warning("skipping malformed maintenance window record %s", path)
            continue
        state = record.get("state")
        if state == "owed" or (state == "open" and record.get("released")):
            found.append({**record, "path": str(path)})
        elif state == "open":
            host = record.get("host")
            if host != socket.gethostname() and not include_other_hosts:
                notes.append(
                    f"Maintenance window {record.get('window_id')} is open on host {host}, whose process this "
                    "host cannot see; it is left alone (pass include_other_hosts=True to lock it again)."
                )
            elif host != socket.gethostname() or not _owner_alive(record):
                found.append({**record, "path": str(path)})
    return found, notes


def held_servers(*, but: str | None = None) -> dict[str, str]:
    """{server id: window id} of servers inside a live window (open, its holder alive or on another host)."""
    held: dict[str, str] = {}
    folder = windows_dir()
    for path in sorted(folder.glob("*.json")) if folder.is_dir() else []:
        try:
            record = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if not _well_formed(record) or record.get("state") != "open" or record.get("window_id") == but:
            continue
        if record.get("host") != socket.gethostname() or _owner_alive(record):
            held.update({s["server_id"]: str(record.get("window_id")) for s in record["servers"]})
    return held


def pending_windows(*, include_other_hosts: bool = False) -> list[dict[str, Any]]:
    """Records of windows owing servers: open with a dead owner, or ended with servers not locked again."""
    return scan_windows(include_other_hosts=include_other_hosts)[0]


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


async def arelock_pending(*, include_other_hosts: bool = False, **options: Any) -> pd.DataFrame:
    """Async `relock_pending`."""
    refuse_change("relock_pending()")
    frames: list[pd.DataFrame] = []
    _, connection, _, run = fleet.split_options(options)  # the endpoints are the windows' own
    records, notes = scan_windows(include_other_hosts=include_other_hosts)
    for note in notes:
        warnings.warn(note, WindowWarning, stacklevel=3)
    for record in records:
        servers = record.get("servers", [])
        if not servers:
            _mark(record, "closed", [], {})
            continue
        by_place: dict[str, list[dict[str, Any]]] = {}
        urls: dict[str, str] = {}
        for s in servers:
            place = str(s.get("region") or s.get("endpoint"))
            by_place.setdefault(place, []).append(s)
            urls.setdefault(place, str(s.get("endpoint")))
        groups = [(fleet.FleetPlan((t,), None), by_place[str(t.region)]) for t in fleet.targets_at(connection, urls)]
        frame, owed = await relock_servers(groups, run, CancelToken())
        _mark(
            record,
            "owed" if owed else "closed",
            [{**s, "reason": owed[s["server_id"]]} for s in servers if s["server_id"] in owed],
            owed,
        )
        if frame is not None:
            frame.insert(0, "window_id", pd.Series([record.get("window_id")] * len(frame), dtype="string"))
            frames.append(frame)
    if not frames:
        empty = pd.DataFrame({"window_id": pd.Series([], dtype="string"), "server_id": pd.Series([], dtype="string")})
        empty.attrs.update(summary="no maintenance window left servers unlocked", windows=0)
        return empty
    joined = pd.concat(frames, ignore_index=True)
    joined.attrs = dict(frames[0].attrs)
    places = {str(f.attrs.get("endpoint")) for f in frames}
    endpoints = {k: v for f in frames for k, v in (f.attrs.get("endpoints") or {}).items()}
    if any(f.attrs.get("several_endpoints") or not f.attrs.get("endpoints") for f in frames) and len(places) > 1:
        joined.attrs["several_endpoints"] = sorted(places)  # windows of different plain endpoints
    elif endpoints:
        joined.attrs.update(regional_attrs(endpoints))
    counts = joined["outcome"].astype(str).value_counts()
    joined.attrs.update(
        windows=len(frames), summary=", ".join(f"{n} {o}" for o, n in counts.items() if n) or "nothing to do"
    )
    return joined


def relock_pending(*, include_other_hosts: bool = False, **options: Any) -> pd.DataFrame:
    """Lock again exactly what windows still owe: one row per server sent.

    Finishes windows that ended owing servers (in any process, this one included) and open windows of a
    process that is gone. Windows of a live process are left alone; an open window recorded on another host
    is skipped with a warning unless `include_other_hosts=True`. Options: credentials and run options as
    for `lock` (the endpoints are the ones each window used). A window owing nothing more is closed.
    """
    refuse_change("relock_pending()")
    wrap_secret(options)
    return background_loop().run(arelock_pending(include_other_hosts=include_other_hosts, **options))


def _mark(record: dict[str, Any], state: str, servers: list[dict[str, Any]], owed: dict[str, str]) -> None:
    data = {k: v for k, v in record.items() if k != "path"}
    done = [s["server_id"] for s in record.get("servers", []) if s["server_id"] not in owed]
    relocked = [*data.get("relocked", []), *done]
    data.update(state=state, servers=servers, relocked=relocked, updated_at=_now(), relocked_by=os.getpid())
    _save(Path(record["path"]), data)
