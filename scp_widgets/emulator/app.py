"""`Emulator`: the state, the request pipeline and the Starlette app that serves them.

A `/v1` request goes through, in order: latency → drop → 417 page → 503 HTML page → rate limit / 429 →
signing headers and signature → API version → injected 5xx → the call itself; then its body may trickle or
be padded to a huge size. Faults apply to `/v1` only (and only to the configured methods); `GET /` and
`/_emulator/...` are never faulted, except by the black hole, which swallows `/` and every `/v1` request.

All state changes happen synchronously under one threading lock (never held across an await), so one
emulator can serve a uvicorn thread, a private sync-transport loop and the test's own loop at once.
"""

from __future__ import annotations

import asyncio
import itertools
import random
import threading
import uuid
from dataclasses import dataclass
from typing import Any

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from . import bodies, gate, introspection, responses, routes, signing, versions
from .config import EmulatorConfig, Faults
from .drop import DropResponse
from .faults import EdgeFault, FaultInjector, format_retry_after
from .fleet import Fleet
from .record import NO_RESPONSE, Counts, Recorder, RequestRecord
from .responses import ApiError
from .service import Service
from .transport import EmulatorTransport, SyncEmulatorTransport

FOREIGN_ACCOUNT_ID = "other-account"
_ALL_METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]


@dataclass
class _Answer:
    response: Response
    fault: str | None = None
    retry_after: str | None = None


@dataclass(frozen=True)
class _Arrival:
    number: int
    time: float
    request_id: str
    global_request_id: str


class Emulator:
    def __init__(self, config: EmulatorConfig | None = None) -> None:
        self.config = config or EmulatorConfig()
        cfg = self.config
        self._lock = threading.Lock()
        # Separate seeded streams: the fleet is the same for a seed whatever faults are later switched on.
        self._fleet = Fleet.seeded(
            random.Random(cfg.seed),
            own=cfg.servers,
            foreign=cfg.foreign_servers,
            account_id=cfg.account_id,
            foreign_account_id=FOREIGN_ACCOUNT_ID,
            locked_fraction=cfg.locked_fraction,
            shutoff_fraction=cfg.shutoff_fraction,
        )
        self._fleet.add_twins(cfg.twin_ids, cfg.account_id)
        self._injector = FaultInjector(cfg.faults, random.Random(cfg.seed + 1), cfg.clock)
        self._ids = random.Random(cfg.seed + 2)
        self._arrivals = itertools.count()
        self._service = Service(self._fleet, cfg.account_id, cfg.lock_delay)
        self._recorder = Recorder()
        self.app = Starlette(
            routes=[
                Route("/", self._versions, methods=["GET"]),
                *introspection.routes(self),
                Route("/v1/{rest:path}", self._v1, methods=_ALL_METHODS),
                Route("/{rest:path}", self._outside_api, methods=_ALL_METHODS),
            ]
        )

    # ---- public Python API -------------------------------------------------------------------------

    @property
    def own_ids(self) -> list[str]:
        """The caller's servers that still exist, in seeded order."""
        with self._lock:
            return self._fleet.ids(self.config.account_id, own=True)

    @property
    def foreign_ids(self) -> list[str]:
        with self._lock:
            return self._fleet.ids(self.config.account_id, own=False)

    def server(self, server_id: str) -> dict[str, Any]:
        """The public view of any server (own or foreign) as of now; KeyError when it does not exist."""
        with self._lock:
            server = self._fleet.get(server_id, self.config.clock())
            if server is None:
                raise KeyError(server_id)
            return server.view()

    @property
    def faults(self) -> Faults:
        return self._injector.faults

    def set_faults(self, faults: Faults) -> None:
        """Replace the faults; the rate-limit bucket starts full again."""
        with self._lock:
            self._injector.replace(faults)

    @property
    def record(self) -> list[RequestRecord]:
        return self._recorder.records

    @property
    def lock_history(self) -> dict[str, list[tuple[float, str]]]:
        return self._recorder.lock_history

    def reset_record(self) -> None:
        with self._lock:
            self._recorder.clear()

    def counts(self) -> Counts:
        with self._lock:
            return self._recorder.counts()

    def transport(self) -> httpx.AsyncBaseTransport:
        """Calls this emulator in process; a dropped connection raises `httpx.RemoteProtocolError`."""
        return EmulatorTransport(self.app)

    def sync_transport(self) -> httpx.BaseTransport:
        """The same for `httpx.Client`; close it (or its Client) to stop its private loop thread."""
        return SyncEmulatorTransport(self.app)

    # ---- request handling --------------------------------------------------------------------------

    def _arrive(self) -> _Arrival:
        with self._lock:
            ids = [f"req-{uuid.UUID(int=self._ids.getrandbits(128), version=4)}" for _ in range(2)]
            return _Arrival(next(self._arrivals), self.config.clock(), ids[0], ids[1])

    def _finish(
        self,
        request: Request,
        arrival: _Arrival,
        answer: _Answer,
        *,
        action: str | None = None,
        server_id: str | None = None,
    ) -> Response:
        headers = request.headers
        status = NO_RESPONSE if isinstance(answer.response, DropResponse) else answer.response.status_code
        record = RequestRecord(
            time=arrival.time,
            method=request.method,
            path=request.url.path,
            query=_query(request),
            server_id=server_id,
            action=action,
            status=status,
            api_version=versions.requested(headers.get("scp-api-version")),
            access_key=headers.get("scp-accesskey"),
            retry_after=float(answer.retry_after) if answer.retry_after is not None else None,
            fault=answer.fault,
            request_id=arrival.request_id,
        )
        with self._lock:
            self._recorder.add(arrival.number, record)
            if action in ("lock", "unlock") and status == 202 and server_id is not None:
                self._recorder.lock_event(server_id, self.config.clock(), action)
        return answer.response

    async def _swallow(self, request: Request, arrival: _Arrival, action: str | None = None) -> Response:
        """The black hole: recorded as unanswered at once (the client may give up at any moment), then mute."""
        route = routes.match(request.method, request.url.path)
        self._finish(request, arrival, _Answer(DropResponse(), fault="black_hole"), action=action or route.action,
                     server_id=route.server_id)  # fmt: skip
        return await bodies.black_hole(request)

    async def _versions(self, request: Request) -> Response:
        arrival = self._arrive()
        if self.faults.black_hole:
            return await self._swallow(request, arrival, "versions")
        body = versions.listing(self.config.versions, self.config.current_date(), signing.origin(request.scope))
        return self._finish(request, arrival, _Answer(responses.ok(body, arrival.request_id)), action="versions")

    async def _outside_api(self, request: Request) -> Response:
        arrival = self._arrive()
        answer = _Answer(responses.gateway_not_found(request.url.path, arrival.request_id, arrival.time))
        return self._finish(request, arrival, answer)

    async def _v1(self, request: Request) -> Response:
        arrival = self._arrive()
        if self.faults.black_hole:
            return await self._swallow(request, arrival)
        route = routes.match(request.method, request.url.path)
        with self._lock:
            faulted = self._injector.applies_to(request.method)
            delay = self._injector.latency() if faulted else 0.0
        if delay > 0:
            await asyncio.sleep(delay)
        with self._lock:
            answer = self._answer_v1(request, arrival, route, faulted)
            # A body fault reshapes a whole answer; a streamed one (a hostile 503 page) is a body fault already.
            whole = not isinstance(answer.response, (DropResponse, StreamingResponse))
            body = self._injector.body() if faulted and whole else None
        if body == "trickle":
            answer.response = bodies.trickled(answer.response, self.faults.trickle_bytes_per_second)
        elif body == "huge":
            answer.response = bodies.huge(answer.response, self.faults.huge_body_bytes)
        if body is not None:
            answer.fault = body if answer.fault is None else f"{answer.fault}+{body}"
        return self._finish(request, arrival, answer, action=route.action, server_id=route.server_id)

    def _answer_v1(self, request: Request, arrival: _Arrival, route: routes.RouteMatch, faulted: bool) -> _Answer:
        """Everything after the latency; runs under the lock."""
        if faulted:
            edge = self._injector.edge()
            if edge is not None:
                return self._edge_answer(edge, arrival)
        cfg = self.config
        now = cfg.clock()
        result = gate.check(
            request.headers,
            method=request.method,
            url=signing.wire_url(request.scope),
            now=now,
            access_key=cfg.access_key,
            secret_key=cfg.secret_key,
            skew_seconds=cfg.skew_seconds,
        )
        if result.missing:
            return _Answer(responses.gateway_not_found(request.url.path, arrival.request_id, now))
        if result.code is not None:
            return self._error(arrival, ApiError(401, result.code, result.detail or ""))
        choice = versions.choose(request.headers.get("scp-api-version"), cfg.versions, cfg.current_date())
        if choice.refusal is not None:
            return self._error(arrival, ApiError(406, "UNSUPPORTED_API_VERSION", choice.refusal))
        status = self._injector.server_error() if faulted else None
        if status is not None:
            error = ApiError(status, responses.server_error_code(status), "Injected server error.")
            wait = self.faults.error_retry_after
            retry_after = None if wait is None else format_retry_after(wait)
            return _Answer(self._error(arrival, error, retry_after).response, fault="5xx", retry_after=retry_after)
        if route.action is None:
            if route.path_known:
                return self._error(arrival, ApiError(405, "METHOD_NOT_ALLOWED", f"{request.method} is not allowed."))
            return self._error(arrival, ApiError(404, "NOT_FOUND", f"No such API: {request.url.path}."))
        try:
            outcome = self._service.perform(route.action, route.server_id, _query(request), now)
        except ApiError as error:
            return self._error(arrival, error)
        if outcome.status == 202:
            return _Answer(responses.accepted(arrival.request_id))
        return _Answer(responses.ok(self._garbled(outcome.body), arrival.request_id))

    def _garbled(self, body: object) -> object:
        """The listing with `locked` as text for the servers the faults name (a malformed entry)."""
        garbled = self.faults.garbled_listing_ids
        if not garbled or not isinstance(body, dict) or not isinstance(body.get("servers"), list):
            return body
        servers = [
            {**s, "locked": str(s.get("locked")).lower()} if s.get("id") in garbled else s for s in body["servers"]
        ]
        return {**body, "servers": servers}

    def _edge_answer(self, edge: EdgeFault, arrival: _Arrival) -> _Answer:
        if edge.kind == "drop":
            return _Answer(DropResponse(), fault="drop")
        if edge.kind == "417":
            return _Answer(responses.request_rejected(arrival.request_id, self._injector.support_id()), fault="417")
        if edge.kind == "html503":
            page = bodies.hostile_html_503(
                self.faults.html_503_bytes, (responses.REQUEST_ID_HEADER, arrival.request_id)
            )
            return _Answer(page, fault="html503")
        retry_after = edge.retry_after
        response = responses.errors_envelope(
            429,
            "TOO_MANY_REQUESTS",
            "Too many requests; retry later.",
            arrival.request_id,
            arrival.global_request_id,
            headers=None if retry_after is None else {"Retry-After": retry_after},
        )
        return _Answer(response, fault=edge.kind, retry_after=retry_after)

    @staticmethod
    def _error(arrival: _Arrival, error: ApiError, retry_after: str | None = None) -> _Answer:
        response = responses.errors_envelope(
            error.status, error.code, error.detail, arrival.request_id, arrival.global_request_id,
            headers=None if retry_after is None else {"Retry-After": retry_after},
        )  # fmt: skip
        return _Answer(response)


def _query(request: Request) -> str:
    # The raw query, so the listing decodes it once, exactly as sent.
    return str(request.scope.get("query_string", b"").decode("latin-1"))
