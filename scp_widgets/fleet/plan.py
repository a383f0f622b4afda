"""Fleet-wide runs: one call over several regions and/or a `where=` rule, one DataFrame back.

`list_servers(regions=[...])` lists every region at once into one frame with a `region` column.
`lock(ids, regions=[...])` lists the regions first and sends each id only to the region whose listing
holds it; an id in none of them is a `not_found` row and is never sent anywhere. `lock(where=rule)` locks
exactly the servers the rule selects in that listing. Each region is an ordinary single-endpoint run
(`api.arun`, with its own journal); their frames are joined in request order, with `name` and `region`.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pandas as pd

from scp_widgets.client.credentials import resolve_credentials
from scp_widgets.client.errors import ScpError, ScpRequestError, ScpUsageError
from scp_widgets.client.ids import is_valid_id
from scp_widgets.client.regions import resolve_region_endpoints
from scp_widgets.engine.bulk import Action, ProgressCallback
from scp_widgets.engine.cancel import CancelToken, unless_cancelled
from scp_widgets.engine.connection import CONNECTION_KEYS, Connection
from scp_widgets.engine.listing import alist_one
from scp_widgets.engine.rerun import regional_attrs
from scp_widgets.engine.results import (
    NOT_SENT_CODE,
    Outcome,
    ServerResult,
    count_not_sent,
    count_outcomes,
    message_for_error,
    summary_line,
    to_frame,
    utc_iso,
)
from scp_widgets.engine.runner import arun, journal_results, plan_ids
from scp_widgets.engine.servers import servers_frame
from scp_widgets.engine.settings import RunOptions, RunOutcome, check_unlock_confirmed
from scp_widgets.fleet.progress import CombinedProgress
from scp_widgets.fleet.rules import check_rule, matching, select, with_region

FLEET_KEYS = ("where", "regions", "endpoints")


class FleetListingError(ScpError):
    """A region's listing failed, so its ids could not be routed; nothing was sent anywhere."""


@dataclass(frozen=True)
class Target:
    """One place to send to: a region (None: the single configured endpoint) and its resolved connection."""

    region: str | None
    connection: Connection | None = field(repr=False)  # None: the caller's own client= is used

    @property
    def endpoint(self) -> str | None:
        return self.connection.endpoint if self.connection is not None else None

    @property
    def label(self) -> str:
        endpoint = self.endpoint or "the given client"
        return f"{self.region} ({endpoint})" if self.region else endpoint


@dataclass(frozen=True)
class FleetPlan:
    targets: tuple[Target, ...]
    where: str | None
    client: Any = field(default=None, repr=False)

    @property
    def regional(self) -> bool:
        return self.targets[0].region is not None

    @property
    def endpoints(self) -> dict[str, str]:
        return {str(t.region): str(t.endpoint) for t in self.targets}

    @property
    def place(self) -> str:
        return f"regions {', '.join(str(t.region) for t in self.targets)}" if self.regional else "the fleet"

    def by_ids(self) -> FleetPlan:
        """The same targets without the rule (to send to servers already chosen)."""
        return replace(self, where=None)


def wanted(options: Mapping[str, Any]) -> bool:
    """Whether a call needs the fleet path (a rule, several regions or a region endpoint map)."""
    return any(options.get(key) is not None for key in FLEET_KEYS)


def make_plan(
    connection: Connection,
    *,
    where: str | None = None,
    regions: str | Iterable[str] | None = None,
    endpoints: Mapping[str, str] | None = None,
    client: Any = None,
    ids: Any = None,
) -> FleetPlan:
    """Check the fleet arguments in the caller's thread (no network): where to send, as whom, and the rule."""
    if where is not None:
        where = check_rule(where)
        if ids is not None:
            raise ScpUsageError("Give server ids or where=, not both.")
    if regions is None and endpoints is None:
        single = connection.resolved() if client is None else None
        return FleetPlan((Target(None, single),), where, client)
    if connection.endpoint or connection.region or client is not None:
        raise ScpUsageError("regions= picks the endpoints itself: leave out endpoint=, region= and client=.")
    if endpoints is not None and not isinstance(endpoints, Mapping):
        raise ScpUsageError('endpoints= must map region names to URLs, like {"kr-west1": "https://..."}.')
    urls = resolve_region_endpoints(regions, endpoints=endpoints, environment=connection.environment)
    return FleetPlan(targets_at(connection, urls), where)


def targets_at(connection: Connection, urls: Mapping[str, str]) -> tuple[Target, ...]:
    """One target per {place: URL}, all as whom `connection` says (the keys looked up once, now)."""
    keys = resolve_credentials(connection.access_key, connection.secret_key)
    return tuple(
        Target(place, replace(connection, endpoint=url, region=None, environment=None,
                              access_key=keys.access_key, secret_key=keys.secret_key))
        for place, url in urls.items()
    )  # fmt: skip


def split_options(options: Mapping[str, Any]) -> tuple[dict[str, Any], Connection, Any, RunOptions]:
    """Options as for `lock` -> (regions/endpoints/where, connection, client, run options), checked now."""

    rest = dict(options)
    fleet_args = {key: rest.pop(key, None) for key in FLEET_KEYS}
    connection = Connection(**{key: rest.pop(key) for key in CONNECTION_KEYS if key in rest})
    client = rest.pop("client", None)
    unknown = sorted(set(rest) - set(RunOptions.__dataclass_fields__))
    if unknown:
        raise ScpUsageError(f"No option {unknown[0]!r} here; options: those of lock, with regions= and where=.")
    return fleet_args, connection, client, RunOptions(**rest)


def prepare(options: Mapping[str, Any], *, ids: Any = None) -> tuple[FleetPlan, RunOptions]:
    """For windows, the guard and the panel: options as for `lock` -> (plan, run options), checked now."""
    fleet_args, connection, client, run = split_options(options)
    return make_plan(connection, client=client, ids=ids, **fleet_args), run


# -- listing ------------------------------------------------------------------------------------------


async def alist_options(client: Any, api_version: str | None, page_size: int, options: dict[str, Any]) -> pd.DataFrame:
    """`list_servers(regions=..., where=..., **filters)`: the plan from the options, the rest are filters."""

    fleet_args = {key: options.pop(key, None) for key in FLEET_KEYS}
    connection = Connection(**{key: options.pop(key) for key in CONNECTION_KEYS if key in options})
    plan = make_plan(connection, client=client, **fleet_args)
    return await alist_fleet(plan, api_version=api_version, page_size=page_size, **options)


async def alist_fleet(
    plan: FleetPlan,
    *,
    api_version: str | None = None,
    page_size: int = 100,
    apply_rule: bool = True,
    partial: bool = False,
    retries: int = 3,
    timeout: float = 30.0,
    **filters: Any,
) -> pd.DataFrame:
    """Every target's listing at once, joined, with a `region` column; the plan's rule applied if any.
    `partial`: a region whose listing fails is left out and named in `attrs["region_errors"]` (the others
    go on); only when every region fails is it an error. Otherwise the first failure is raised."""

    async def one(target: Target) -> pd.DataFrame:
        where = {k: getattr(target.connection, k) for k in CONNECTION_KEYS} if target.connection else {}
        try:
            frame = await alist_one(
                plan.client, api_version, page_size, {**where, **filters}, retries=retries, timeout=timeout
            )
        except ScpRequestError as exc:
            raise FleetListingError(f"Could not list the servers of {target.label}: {message_for_error(exc)}") from None
        return with_region(frame, target.region)

    answers = await asyncio.gather(*(one(t) for t in plan.targets), return_exceptions=True)
    errors = {str(t.region): a for t, a in zip(plan.targets, answers, strict=True) if isinstance(a, BaseException)}
    frames = [a for a in answers if isinstance(a, pd.DataFrame)]
    mistakes = [e for e in errors.values() if isinstance(e, ScpUsageError)]
    if mistakes:  # a region refusing the version asked for is the caller's mistake, not a region down:
        raise mistakes[0]  # one sentence before anything is sent anywhere (a partial run would lock the rest)
    if errors and (not partial or not frames):
        raise next(iter(errors.values()))
    fleet = pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]
    if plan.where is not None and apply_rule:
        fleet = matching(fleet, plan.where).reset_index(drop=True)
    fleet.attrs = {
        "endpoint": ", ".join(str(f.attrs.get("endpoint")) for f in frames),
        "api_version": frames[0].attrs.get("api_version"),
        "warning": next((f.attrs["warning"] for f in frames if f.attrs.get("warning")), None),
    }
    if plan.regional:
        fleet.attrs.update(regions=[t.region for t in plan.targets], endpoints=plan.endpoints)
    if errors:
        fleet.attrs["region_errors"] = {region: str(error) for region, error in errors.items()}
    return fleet


# -- runs ---------------------------------------------------------------------------------------------


def requested_ids(fleet: pd.DataFrame, plan: FleetPlan, ids: Any) -> tuple[list[str], int]:
    """The servers asked for, in order: the rule's matches in the listing, or the given ids (normalised, once)."""
    if plan.where is not None:
        return [str(i).lower() for i in select(fleet, plan.where, plan.place)["id"]], 0
    return plan_ids(ids)


def regions_of(fleet: pd.DataFrame, requested: list[str]) -> dict[str, str | None]:
    """Each listed id's region. An id two regions list is refused before anything is sent: sending it to
    one of them would leave the other's server unlocked while the frame said "locked" (half-locked)."""
    home: dict[str, str | None] = {}
    twice: dict[str, list[str]] = {}
    for server_id, region in zip(fleet["id"].str.lower(), fleet["region"], strict=True):
        place = None if pd.isna(region) else str(region)
        if server_id in home and home[server_id] != place:
            twice.setdefault(server_id, [str(home[server_id])]).append(str(place))
        home.setdefault(server_id, place)
    clash = next((i for i in requested if i in twice), None)
    if clash is not None:
        raise ScpUsageError(
            f"Server {clash} is listed in both {' and '.join(twice[clash])}; nothing was sent. Pass regions= "
            "one of them (or endpoint=) for that server."
        )
    return home


def _unsent(server_id: str, action: str, outcome: Outcome, code: str, message: str) -> ServerResult:
    now = time.time()
    return ServerResult(server_id, action, outcome, error_code=code, message=message, started_at=now, finished_at=now)


async def arun_fleet(
    action: Action,
    ids: Any,
    plan: FleetPlan,
    options: RunOptions | None = None,
    *,
    cancel: CancelToken | None = None,
    progress: ProgressCallback | None = None,
    listing: pd.DataFrame | None = None,
    confirmed: bool = True,
) -> pd.DataFrame:
    """List the targets (unless `listing` is given), pick the servers, send each to its own region, join."""
    options = options or RunOptions()
    started = time.time()
    token = cancel or CancelToken()
    cut = False
    if listing is None:  # a region that cannot be listed is reported; the others run
        listing = await unless_cancelled(
            alist_fleet(
                plan, api_version=options.api_version, apply_rule=False, partial=True,
                retries=options.retries, timeout=options.timeout,
            ),
            token.bind(asyncio.get_running_loop()),
        )  # fmt: skip
        if listing is None:  # a Cancel or an interrupt while listing (a dead endpoint waits minutes there)
            if plan.where is not None:
                raise ScpUsageError("Cancelled while listing the servers for the rule; nothing was sent.")
            listing, cut = with_region(servers_frame([])), True
    region_errors: dict[str, str] = dict(listing.attrs.get("region_errors") or {})
    fleet = listing
    names = dict(zip(fleet["id"].str.lower(), fleet["name"], strict=True))
    requested, duplicates = requested_ids(fleet, plan, ids)
    if action == "unlock" and not confirmed:  # a rule's matches are known only now: still before any send
        check_unlock_confirmed(len(requested), confirm=False, what=f" (the rule {plan.where!r} in {plan.place})")
    home = regions_of(fleet, requested)
    routed: dict[str | None, list[str]] = {}
    unsent: list[ServerResult] = []
    for server_id in requested:
        if not is_valid_id(server_id):
            message = "not a server id (expected a UUID like 2a9be312-5d4b-4bc8-b2ae-35100fa9241f); not sent"
            unsent.append(_unsent(server_id, action, Outcome.INVALID_ID, "INVALID_ID", message))
        elif cut:  # every row still: resume_cancelled sends them, listing again
            message = "cancelled while the servers were being listed; not sent"
            unsent.append(_unsent(server_id, action, Outcome.CANCELLED, NOT_SENT_CODE, message))
        elif server_id not in home and region_errors:  # it may be in a region that could not be listed
            down = ", ".join(region_errors)
            message = f"not sent: {down} could not be listed, and this server may be there ({_first(region_errors)})"
            unsent.append(_unsent(server_id, action, Outcome.NETWORK_ERROR, NOT_SENT_CODE, message))
        elif server_id not in home:
            message = f"server not found in {plan.place}; not sent"
            unsent.append(_unsent(server_id, action, Outcome.NOT_FOUND, "NOT_FOUND", message))
        else:
            routed.setdefault(home[server_id], []).append(server_id)

    combined = CombinedProgress(len(requested), progress, unsent)
    runs = [t for t in plan.targets if routed.get(t.region)]
    fleet_run = uuid.uuid4().hex[:12]  # one click, one run: each part's journal names it (history joins them)
    start = StartTogether(len(runs))

    async def part(target: Target) -> pd.DataFrame:
        try:
            return await arun(
                action, routed[target.region], journal_per_region(options, target.region, len(runs)),
                connection=target.connection, client=plan.client, progress=combined.part(target.region),
                cancel=token, tags={"fleet_run": fleet_run, "region": target.region or ""}, ready=start.ready,
            )  # fmt: skip
        except BaseException as exc:
            start.failed(exc)
            raise

    outcomes = await asyncio.gather(*(part(t) for t in runs), return_exceptions=True)
    if start.error is not None:  # a region refused before any request (its version, its journal): none sent
        raise start.error
    failed = [o for o in outcomes if isinstance(o, BaseException)]
    if failed:
        raise failed[0]
    ran = [f for f in outcomes if isinstance(f, pd.DataFrame)]
    try:  # every region has sent: a journal that cannot be written now is reported, never the rows lost
        unsent_journal = journal_results(
            action, unsent, journal_per_region(options, "not-sent", 2), {"fleet_run": fleet_run}
        )
        unsent_error = None
    except ScpUsageError as exc:
        unsent_journal, unsent_error = None, str(exc)
    frames = [with_region_rows(f, t.region) for t, f in zip(runs, ran, strict=True)]
    frames.append(with_region_rows(to_frame(unsent), None))
    joined = pd.concat(frames, ignore_index=True)
    order = {server_id: n for n, server_id in enumerate(requested)}
    joined = joined.sort_values("server_id", key=lambda s: s.map(order), kind="stable", ignore_index=True)
    joined.insert(1, "name", pd.Series([names.get(i) for i in joined["server_id"]], dtype="string"))
    if not plan.regional:
        joined = joined.drop(columns="region")
    joined.attrs.clear()
    joined.attrs.update(_attrs(action, plan, ran, joined, options))
    joined.attrs["run_id"] = fleet_run
    if unsent_journal is not None:
        joined.attrs["journals"] = [*joined.attrs["journals"], str(unsent_journal)]
    journal_error = unsent_error or next((f.attrs["journal_error"] for f in ran if f.attrs.get("journal_error")), None)
    joined.attrs.update(duplicates=duplicates, started_at=utc_iso(started))
    elapsed = time.time() - started
    not_sent = count_not_sent(joined["error_code"])
    outcome = RunOutcome(
        counts=joined.attrs["counts"], elapsed_s=round(elapsed, 3), cancelled=token.cancelled, not_sent=not_sent,
        retries_spent=sum(int(r.attrs.get("retries_spent") or 0) for r in ran),
        retries_denied=sum(int(r.attrs.get("retries_denied") or 0) for r in ran),
        summary=summary_line(joined.attrs["counts"], elapsed, duplicates=duplicates, not_sent=not_sent),
    )  # fmt: skip
    joined.attrs.update(outcome.record(), settings=options, outcome=outcome)
    if journal_error:  # the run is whole; only its record on disk is not (as for one region's run)
        joined.attrs["journal_error"] = journal_error
        joined.attrs["summary"] += f"; {journal_error}"
    if region_errors:  # said in the summary too: a rule's matches there are unknown, not zero
        joined.attrs["region_errors"] = region_errors
        joined.attrs["summary"] += f"; {', '.join(region_errors)} could not be listed ({_first(region_errors)})"
    return joined


class StartTogether:
    """The regions of one fleet run start sending together, or none does. Each part waits in `ready` once its
    version is known and its journal open; a part that fails before that (a version its region refuses, a
    journal it cannot open) stops every part before its first request, so the run's error is true: nothing
    was sent anywhere. A failure after the start changes nothing here."""

    def __init__(self, parts: int) -> None:
        self.waiting = parts
        self.go = asyncio.Event()
        self.error: BaseException | None = None

    async def ready(self) -> None:
        self.waiting -= 1
        if self.waiting <= 0:
            self.go.set()
        await self.go.wait()
        if self.error is not None:
            raise ScpUsageError(f"another region could not start ({self.error})")

    def failed(self, error: BaseException) -> None:
        if not self.go.is_set():
            self.error = error
            self.go.set()


def journal_per_region(options: RunOptions, region: str | None, runs: int) -> RunOptions:
    """A journal path given for a run over several regions becomes one file per region (`x-kr-west1.jsonl`):
    the regions run at once, and one run owns its journal, so one path for all would refuse all but one."""
    if runs < 2 or region is None or isinstance(options.journal, bool) or options.journal is None:
        return options
    path = Path(options.journal)
    return replace(options, journal=path.with_name(f"{path.stem}-{region}{path.suffix or '.jsonl'}"))


def _first(errors: Mapping[str, str]) -> str:
    text = next(iter(errors.values()))
    return text.split(": ", 1)[-1].rstrip(".")


def with_region_rows(frame: pd.DataFrame, region: str | None) -> pd.DataFrame:
    out = frame.copy()
    out.insert(1, "region", pd.Series([region] * len(out), index=out.index, dtype="string"))
    return out


def _attrs(
    action: str, plan: FleetPlan, runs: list[pd.DataFrame], joined: pd.DataFrame, options: RunOptions
) -> dict[str, Any]:
    counts = count_outcomes(joined["outcome"].astype(str))
    first = runs[0].attrs if runs else {}
    attrs: dict[str, Any] = {
        "run_id": uuid.uuid4().hex[:12],
        "action": action,
        "api_version": first.get("api_version", options.api_version),
        "endpoint": first.get("endpoint", plan.targets[0].endpoint),
        "dry_run": options.dry_run,
        "verify": options.verify,
        "preflight": options.preflight,
        "warning": next((r.attrs["warning"] for r in runs if r.attrs.get("warning")), None),
        "counts": counts,
        "concurrency": options.concurrency,
        "retries": options.retries,
        "timeout": options.timeout,
        "finished_at": utc_iso(time.time()),
        "journal": first.get("journal") if len(runs) == 1 else None,
        "journals": [r.attrs.get("journal") for r in runs if r.attrs.get("journal")],
        "complete": True,
    }
    if plan.regional:
        attrs.update(regional_attrs(plan.endpoints))
    if plan.where is not None:
        attrs["where"] = plan.where
    return attrs
