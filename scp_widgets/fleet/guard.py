"""The drift guard: keep every server a rule selects locked, checking every few seconds in the background.

    g = scp_widgets.guard(where="name.str.startswith('db-') and state == 'ACTIVE'", every=60, regions=[...])
    g.actions     # what it locked, when, with each outcome
    g.stop()

Each check lists the fleet (all regions at once), applies the rule, and locks the matching servers that read
unlocked; nothing outside the rule is ever sent. A failing check (network down, service errors) is logged and
kept in `last_error`; the next check tries again. Every lock it sends is an ordinary run with its journal.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import threading
import time
from collections.abc import Callable
from contextlib import suppress
from typing import Any

import pandas as pd

from scp_widgets.client.errors import ScpRequestError, ScpUsageError
from scp_widgets.client.loop_thread import background_loop
from scp_widgets.engine.bulk import CancelToken
from scp_widgets.engine.results import message_for_error
from scp_widgets.fleet import plan as fleet

logger = logging.getLogger(__name__)
ACTION_COLUMNS = ("checked_at", "server_id", "name", "region", "outcome", "message", "journal")
MIN_EVERY = 0.1
STOP_TIMEOUT = 30.0


class Guard:
    """A running drift guard (see the module doc). Shows a small widget in a notebook."""

    def __init__(self, where: str, every: float, options: dict[str, Any]) -> None:
        if isinstance(every, bool) or not isinstance(every, int | float) or not MIN_EVERY <= every <= 86400:
            raise ScpUsageError(f"every= must be a number of seconds from {MIN_EVERY:g} to 86400, not {every!r}.")
        for name in ("dry_run", "progress", "cancel"):
            if options.pop(name, None) is not None:
                raise ScpUsageError(f"guard() does not take {name}=; stop it with g.stop().")
        self.plan, self._options = fleet.prepare({**options, "where": where})
        self.where = str(self.plan.where)
        self.every = float(every)
        self.checks = 0
        self.failures = 0
        self.last_check: dt.datetime | None = None
        self.next_check: dt.datetime | None = None
        self.last_error: str | None = None
        self._rows: list[dict[str, Any]] = []
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
        frame.attrs.update(where=self.where, checks=self.checks, failures=self.failures)
        return frame

    def stop(self, *, wait: bool = True, timeout: float = STOP_TIMEOUT) -> None:
        """Stop checking; a lock run in flight is cancelled (its unsent servers read `cancelled`)."""
        self._stopped.set()
        self._cancel.cancel()
        wake = self._wake
        if wake is not None:
            self._loop.loop.call_soon_threadsafe(wake.set)
        if wait and not self._loop.in_loop_thread():
            try:
                self._future.result(timeout)
            except Exception:
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
        while not self._stopped.is_set():
            await self._check()
            self.next_check = _utc_now() + dt.timedelta(seconds=self.every)
            self._notify()
            with suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=self.every)
        self.next_check = None

    async def _check(self) -> None:
        started = _utc_now()
        try:
            matching = await fleet.alist_fleet(self.plan, api_version=self._options.api_version)
            drifted = matching[matching["locked"].eq(False).fillna(False).to_numpy(dtype=bool)]
            if len(drifted) and not self._stopped.is_set():
                await self._lock(drifted, started)
            self.last_error = None
        except Exception as exc:  # the guard must outlive a bad check: say why, try again next time
            self.failures += 1
            self.last_error = message_for_error(exc) if isinstance(exc, ScpRequestError) else f"{exc}"
            logger.warning("drift guard check failed (will retry in %g s): %s", self.every, self.last_error)
        finally:
            self.checks += 1
            self.last_check = started

    async def _lock(self, drifted: pd.DataFrame, started: dt.datetime) -> None:
        ids = [str(i).lower() for i in drifted["id"]]
        frame = await fleet.arun_fleet(
            "lock", ids, self.plan.by_ids(), self._options, cancel=self._cancel, listing=drifted
        )
        region = frame["region"] if "region" in frame.columns else pd.Series([None] * len(frame), dtype="string")
        for row, place in zip(frame.itertuples(index=False), region, strict=True):
            self._rows.append(
                {
                    "checked_at": started, "server_id": row.server_id, "name": _text(row.name),
                    "region": _text(place), "outcome": str(row.outcome), "message": _text(row.message),
                    "journal": _text(frame.attrs.get("journal") or ", ".join(frame.attrs.get("journals", []))),
                }
            )  # fmt: skip
            logger.info("drift guard locked %s: %s", row.server_id, row.outcome)

    def _notify(self) -> None:
        for listener in list(self._listeners):
            try:
                listener(self)
            except Exception:  # a broken display must not stop the guard
                logger.exception("drift guard listener failed")


def _text(value: Any) -> str | None:
    return None if value is None or (not isinstance(value, str) and pd.isna(value)) else str(value)


def _utc_now() -> dt.datetime:
    return dt.datetime.fromtimestamp(time.time(), dt.UTC)
