"""The drift guard: keep every server a rule selects locked, checking every few seconds in the background.

    g = scp_widgets.guard(where="name.str.startswith('db-') and state == 'ACTIVE'", every=60, regions=[...])
    g.actions     # what it locked, when, with each outcome
    g.stop()

Each check lists every region on its own (a region down is reported in `region_errors`, the others are
guarded), applies the rule, and locks the matching servers that read unlocked, except those inside a live
maintenance window; nothing outside the rule is ever sent. A server refused with 403 is remembered and not
sent again. A failing check is logged once per streak and the next one waits longer (exponential, capped at
`MAX_BACKOFF`). `actions` keeps the last `MAX_ACTIONS` rows (`attrs['total']` counts them all). `stop()`
cancels a check in flight (its unsent servers read `cancelled`) and returns within `STOP_TIMEOUT` seconds.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import datetime as dt
import logging
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable
from contextlib import suppress
from dataclasses import replace
from typing import Any

import pandas as pd

from scp_widgets.client.errors import ScpRequestError, ScpUsageError
from scp_widgets.client.loop_thread import background_loop
from scp_widgets.engine.cancel import CancelToken
from scp_widgets.engine.read_only import refuse_change
from scp_widgets.engine.results import Outcome, message_for_error
from scp_widgets.engine.runner import journal_name
from scp_widgets.engine.state_dirs import default_journal_dir
from scp_widgets.fleet import plan as fleet
from scp_widgets.fleet.windows import held_servers

logger = logging.getLogger(__name__)
ACTION_COLUMNS = ("checked_at", "server_id", "name", "region", "outcome", "message", "journal")
MIN_EVERY = 0.1
STOP_TIMEOUT = 2.0
MAX_ACTIONS = 1000
MAX_BACKOFF = 3600.0


class Guard:
    """A running drift guard (see the module doc). Shows a small widget in a notebook."""

    def __init__(self, where: str, every: float, options: dict[str, Any]) -> None:
        refuse_change("guard()")
        if isinstance(every, bool) or not isinstance(every, int | float) or not MIN_EVERY <= every <= 86400:
            raise ScpUsageError(f"every= must be a number of seconds from {MIN_EVERY:g} to 86400, not {every!r}.")
        for name in ("dry_run", "progress", "cancel"):
            if options.pop(name, None) is not None:
                raise ScpUsageError(f"guard() does not take {name}=; stop it with g.stop().")
        self.plan, self._options = fleet.prepare({**options, "where": where})
        if self._options.journal is True:  # one journal for the guard (per region), not one file per check
            path = default_journal_dir() / journal_name("guard", uuid.uuid4().hex[:8])
            self._options = replace(self._options, journal=path)
        self.where = str(self.plan.where)
        self.every = float(every)
        self.checks = 0
        self.failures = 0
        self.last_check: dt.datetime | None = None
        self.next_check: dt.datetime | None = None
        self.last_error: str | None = None
        self._rows: deque[dict[str, Any]] = deque(maxlen=MAX_ACTIONS)
        self.total_actions = 0
        self.region_errors: dict[str, str] = {}
        self.forbidden: set[str] = set()
        self.failures_in_row = 0
        self.phase = "starting"
        self._check_task: asyncio.Task[None] | None = None
        self._listeners: list[Callable[[Guard], None]] = []
        self._stopped = threading.Event()
        self._cancel = CancelToken()
        self._wake: asyncio.Event | None = None
        self._loop = background_loop()
        self._future = self._loop.submit(self._run())

    # -- public ---------------------------------------------------------------------------------------

    @property
    def running(self) -> bool:
        return not self._future.done()

    @property
    def locked_so_far(self) -> int:
        return sum(1 for row in self._rows if row["outcome"] in ("locked", "already_locked"))

    @property
    def actions(self) -> pd.DataFrame:
        """One row per lock the guard sent: when, which server, where, and what came of it."""
        rows = list(self._rows)
        frame = pd.DataFrame(
            {
                "checked_at": pd.to_datetime(pd.Series([r["checked_at"] for r in rows], dtype="object"), utc=True),
                **{c: pd.Series([r[c] for r in rows], dtype="string") for c in ACTION_COLUMNS[1:]},
            },
            columns=list(ACTION_COLUMNS),
        )
        frame.attrs.update(where=self.where, checks=self.checks, failures=self.failures, total=self.total_actions)
        return frame

    def stop(self, *, wait: bool = True, timeout: float = STOP_TIMEOUT) -> None:
        """Stop checking; a lock run in flight is cancelled (its unsent servers read `cancelled`)."""
        self._stopped.set()
        self._cancel.cancel()
        wake = self._wake
        if wake is not None:
            self._loop.loop.call_soon_threadsafe(wake.set)
        task = self._check_task
        if task is not None and self.phase == "listing":  # a listing has no rows to give back: end it now
            self._loop.loop.call_soon_threadsafe(task.cancel)
        if wait and not self._loop.in_loop_thread():
            try:
                self._future.result(timeout)
            except concurrent.futures.TimeoutError:
                self._future.cancel()
                logger.warning("drift guard did not end within %g s; its check was cancelled", timeout)
            except (Exception, concurrent.futures.CancelledError):
                logger.exception("drift guard ended with an error")
        self._notify()

    def on_change(self, listener: Callable[[Guard], None]) -> None:
        """Call `listener(guard)` after every check and on stop (the widget uses it)."""
        self._listeners.append(listener)

    def __repr__(self) -> str:
        state = "running" if self.running else "stopped"
        return f"<Guard {state}: where {self.where!r} every {self.every:g} s; {self.locked_so_far} locked so far>"

    # -- the loop -------------------------------------------------------------------------------------

    async def _run(self) -> None:
        self._wake = asyncio.Event()
        loop = asyncio.get_running_loop()
        while not self._stopped.is_set():
            started = loop.time()
            self._check_task = asyncio.ensure_future(self._check())
            with suppress(asyncio.CancelledError):
                await self._check_task
            delay = next_delay(self.every, self.failures_in_row, loop.time() - started)
            self.next_check = _utc_now() + dt.timedelta(seconds=delay)
            self.phase = "waiting"
            self._notify()
            with suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=delay)
        self.next_check = None
        self.phase = "stopped"

    async def _list(self, target: fleet.Target) -> pd.DataFrame:
        plan = fleet.FleetPlan((target,), self.plan.where, self.plan.client)
        # The listing itself takes no timeout=/retries=: bound it by the guard's own, one region at a time.
        deadline = self._options.timeout * (self._options.retries + 1)
        try:
            listing = fleet.alist_fleet(
                plan, api_version=self._options.api_version, retries=self._options.retries,
                timeout=self._options.timeout,
            )  # fmt: skip
            return await asyncio.wait_for(listing, deadline)
        except TimeoutError:
            raise TimeoutError(f"no listing within {deadline:g} s") from None

    async def _check(self) -> None:
        started = _utc_now()
        failed = False
        try:
            self.phase = "listing"
            targets = self.plan.targets
            listings = await asyncio.gather(*(self._list(t) for t in targets), return_exceptions=True)
            frames: list[pd.DataFrame] = []
            errors: dict[str, str] = {}
            for target, listing in zip(targets, listings, strict=True):
                if isinstance(listing, pd.DataFrame):
                    frames.append(listing)
                elif isinstance(listing, Exception):
                    errors[target.label] = _reason(listing)
                else:
                    raise listing
            self.region_errors = errors
            if not frames:
                raise RuntimeError("; ".join(errors.values()))
            matching = pd.concat(frames, ignore_index=True)
            held = held_servers()
            ids = matching["id"].str.lower()
            skip = ids.isin(list(held)) | ids.isin(list(self.forbidden))
            drifted = matching[(matching["locked"].eq(False).fillna(False) & ~skip).to_numpy(dtype=bool)]
            if len(drifted) and not self._stopped.is_set():
                self.phase = "locking"
                self._notify()
                failed = await self._lock(drifted, started)
            if errors:
                failed = True
                self.last_error = "; ".join(f"{place}: {why}" for place, why in errors.items())
            elif not failed:
                self.last_error = None
        except Exception as exc:  # the guard must outlive a bad check: say why, try again next time
            failed = True
            self.last_error = _reason(exc)
        finally:
            self.checks += 1
            self.last_check = started
        if failed:
            self.failures += 1
            self.failures_in_row += 1
            if self.failures_in_row == 1:
                logger.warning("drift guard check failed (backing off): %s", self.last_error)
        else:
            self.failures_in_row = 0

    async def _lock(self, drifted: pd.DataFrame, started: dt.datetime) -> bool:
        """Lock the drifted servers; -> whether the key was refused (401/403), to back off like a failure."""
        ids = [str(i).lower() for i in drifted["id"]]
        frame = await fleet.arun_fleet(
            "lock", ids, self.plan.by_ids(), self._options, cancel=self._cancel, listing=drifted
        )
        region = frame["region"] if "region" in frame.columns else pd.Series([None] * len(frame), dtype="string")
        refused = False
        for row, place in zip(frame.itertuples(index=False), region, strict=True):
            refused = refused or str(row.outcome) in (Outcome.FORBIDDEN, Outcome.UNAUTHORIZED)
            if str(row.outcome) == Outcome.FORBIDDEN:
                self.forbidden.add(str(row.server_id))  # reported once here, not re-sent every check
            self.total_actions += 1
            self._rows.append(
                {
                    "checked_at": started, "server_id": row.server_id, "name": _text(row.name),
                    "region": _text(place), "outcome": str(row.outcome), "message": _text(row.message),
                    "journal": _text(frame.attrs.get("journal") or ", ".join(frame.attrs.get("journals", []))),
                }
            )  # fmt: skip
            logger.info("drift guard locked %s: %s", row.server_id, row.outcome)
        if refused:
            self.last_error = f"the key was refused ({frame.attrs.get('summary', '')})"
        return refused

    def _notify(self) -> None:
        for listener in list(self._listeners):
            try:
                listener(self)
            except Exception:  # a broken display must not stop the guard
                logger.exception("drift guard listener failed")


def _reason(exc: BaseException) -> str:
    return message_for_error(exc) if isinstance(exc, ScpRequestError) else f"{exc}"


def _text(value: Any) -> str | None:
    return None if value is None or (not isinstance(value, str) and pd.isna(value)) else str(value)


def _utc_now() -> dt.datetime:
    return dt.datetime.fromtimestamp(time.time(), dt.UTC)


def next_delay(every: float, failures_in_row: int, check_took: float) -> float:
    """Seconds from the end of a check to the start of the next: checks start `every` seconds apart (a 6 s
    check at every=15 made them 21 s apart), or further apart while checks fail in a row (backoff)."""
    interval: float = min(every * 2.0 ** min(failures_in_row, 30), max(every, MAX_BACKOFF))
    return max(0.0, interval - check_took)
