"""`AsyncScpClient` and `ScpClient`: the Virtual Server API over httpx, signed, versioned and retried.

Every call resolves to either a value or one exception type (`ScpApiError` for an answer, `ScpNetworkError`
for no answer). Configuration mistakes raise `ScpUsageError` in the constructor, before anything is sent.
`ScpClient` is the same client driven from the shared background event loop, so it works in scripts,
notebook cells and widget callbacks alike.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import platform
import time
from collections.abc import AsyncGenerator, Awaitable, Callable, Coroutine, Mapping
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Self, TypeVar
from urllib.parse import quote_plus, urlencode

import httpx

from scp_widgets.client import transfer
from scp_widgets.client.aio_transport import AiohttpTransport
from scp_widgets.client.answers import Answer, as_response
from scp_widgets.client.auth import ScpAuth
from scp_widgets.client.credentials import Credentials, Secret, as_secret, resolve_credentials
from scp_widgets.client.endpoints import resolve_endpoint
from scp_widgets.client.errors import (
    Aborted,
    RetryCancelled,
    ScpApiError,
    ScpNetworkError,
    ScpRequestError,
    ScpUsageError,
    UnsupportedVersionError,
)
from scp_widgets.client.ids import check_id
from scp_widgets.client.lean_httpx import LeanAsyncClient
from scp_widgets.client.loop_thread import background_loop
from scp_widgets.client.ratelimit import AdaptiveRate
from scp_widgets.client.responses import (
    bad_body,
    error_from_response,
    json_body,
    listing_entry_problem,
    request_id_of,
    server_object,
)
from scp_widgets.client.retry import RETRYABLE_STATUS, THROTTLE_STATUS, RetryBudget, RetryPolicy
from scp_widgets.client.run_guard import RunGuard
from scp_widgets.client.signed_posts import SignedPoster
from scp_widgets.client.version import __version__
from scp_widgets.client.versions import (
    BUILTIN_CATALOG,
    ApiVersion,
    VersionChoice,
    choose_version,
    merge_catalogs,
    normalise_number,
    parse_service_versions,
    warn_if_deprecated,
)

T = TypeVar("T")
USER_AGENT = f"scp-widgets/{__version__} httpx/{httpx.__version__} python/{platform.python_version()}"
DEFAULT_TIMEOUT = httpx.Timeout(15.0, connect=5.0)
#: `GET /` (version discovery) is optional: a service that does not answer it soon is not waited for.
DISCOVERY_TIMEOUT = 3.0
#: Filters the list call understands (scp-openapi.md section 3).
LIST_FILTERS = frozenset(
    {"name", "ip", "state", "vpc_id", "server_type_id", "product_category", "product_offering",
     "auto_scaling_group_id", "sort"}
)  # fmt: skip


@dataclass(frozen=True)
class Accepted:
    """A state-changing call the service accepted (202)."""

    status: int
    request_id: str | None
    attempts: int


def build_query(params: Mapping[str, object]) -> str:
    """Sorted keys and `+` for spaces, as the signing docs ask; None values are left out."""
    items = sorted((k, str(v)) for k, v in params.items() if v is not None)
    return urlencode(items, quote_via=quote_plus)


class AsyncScpClient:
    """The Virtual Server API (lock, unlock, show, list) for one endpoint, account and API version."""

    def __init__(
        self,
        *,
        endpoint: str | None = None,
        region: str | None = None,
        environment: str | None = None,
        access_key: str | None = None,
        secret_key: str | Secret | None = None,
        credentials: Credentials | None = None,
        api_version: str | None = None,
        accept_language: str = "en-US",
        timeout: float | httpx.Timeout | None = DEFAULT_TIMEOUT,
        retry: RetryPolicy | None = None,
        budget: RetryBudget | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        max_connections: int = 100,
        discover_versions: bool = True,
        warn_deprecated: bool = True,
        clock: Callable[[], float] = time.time,
        today: dt.date | None = None,
        env: Mapping[str, str] | None = None,
    ) -> None:
        secret_key = as_secret(secret_key)  # first: no frame below (or this one) holds it in clear
        self.endpoint = resolve_endpoint(endpoint, region=region, environment=environment, env=env)
        self.credentials = credentials or resolve_credentials(access_key, secret_key, env=env)
        self.retry = retry or RetryPolicy()
        self.budget = budget
        #: The send rate, shared by every call of this client: throttling anywhere slows all of them.
        self.limiter = AdaptiveRate()
        #: Seconds one attempt may take in all (connect, headers and body); None: no limit.
        self.deadline = transfer.attempt_deadline(timeout)
        self._today = today
        self._requested = api_version
        self._discover = discover_versions
        self._warn = warn_deprecated
        self._catalog: tuple[ApiVersion, ...] = BUILTIN_CATALOG
        self._choice: VersionChoice | None = None
        self._version_lock = asyncio.Lock()
        self._discovered = False
        precheck_version(api_version, self.today)
        own = AiohttpTransport(max_connections) if transport is None else None
        self._http = LeanAsyncClient(
            auth=ScpAuth(self.credentials, clock=clock),
            timeout=timeout,
            transport=transport or own,
            limits=httpx.Limits(max_connections=max_connections, max_keepalive_connections=max_connections),
            headers={
                "User-Agent": USER_AGENT,
                "Accept": "application/json",
                "Accept-Language": accept_language,
            },
        )
        #: Lock and unlock POSTs skip httpx's per-request models over the client's own transport (signed_posts.py).
        self._poster = SignedPoster(self._http, own, self.credentials, clock) if own is not None else None

    @property
    def today(self) -> dt.date:
        return self._today or dt.date.today()

    def __repr__(self) -> str:
        version = self._choice.number if self._choice else self._requested or "auto"
        return f"AsyncScpClient(endpoint={self.endpoint!r}, api_version={version!r}, {self.credentials!r})"

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    # -- versions ---------------------------------------------------------------------------------------

    async def service_versions(self) -> tuple[ApiVersion, ...]:
        """The service's own version list from `GET /` (unauthenticated); empty when it does not answer."""
        seconds = DISCOVERY_TIMEOUT if self.deadline is None else min(self.deadline, DISCOVERY_TIMEOUT)
        try:
            request = self._http.build_request("GET", self.endpoint + "/")
            response = await transfer.attempt(self._http, request, seconds=seconds, signed=False)
            return parse_service_versions(response.json()) if response.is_success else ()
        except (httpx.TransportError, TimeoutError, ValueError, transfer.BodyTooLarge):
            return ()

    async def catalog(self) -> tuple[ApiVersion, ...]:
        """The versions known now: the service's list (asked once) merged over the built-in table."""
        if self._discover and not self._discovered:
            async with self._version_lock:
                if not self._discovered:
                    self._catalog = merge_catalogs(await self.service_versions(), BUILTIN_CATALOG)
                    self._discovered = True
        return self._catalog

    async def resolve_version(self, requested: str | None = None, *, warn: bool = True) -> VersionChoice:
        """Choose the version to send (`requested`, else the client's own, else CURRENT).

        A version the built-in table already refuses is refused before anything is sent.
        """
        requested = self._requested if requested is None else requested
        precheck_version(requested, self.today)
        choice = choose_version(requested, await self.catalog(), self.today)
        if warn:
            warn_if_deprecated(choice)
        return choice

    async def version(self) -> VersionChoice:
        """The client's own version, chosen once."""
        if self._choice is None:
            self._choice = await self.resolve_version(warn=self._warn)
        return self._choice

    # -- the calls --------------------------------------------------------------------------------------

    async def lock(self, server_id: str, **call: Any) -> Accepted:
        """Lock one server (202 accepted). `call` takes `version=`, `cancel=`, `budget=` (see `request`)."""
        return await self._change(server_id, "lock", **call)

    async def unlock(self, server_id: str, **call: Any) -> Accepted:
        return await self._change(server_id, "unlock", **call)

    async def show(self, server_id: str, **call: Any) -> dict[str, Any]:
        path = f"/v1/servers/{check_id(server_id)}"
        response, attempts = await self.request("GET", path, body_cap=transfer.OBJECT_BODY_CAP, **call)
        body = json_body(response, attempts)
        if not isinstance(body, dict):
            raise bad_body(response, attempts, "is not a server object")
        return server_object(body)

    async def list_servers(
        self,
        *,
        page_size: int = 100,
        version: VersionChoice | None = None,
        budget: RetryBudget | None = None,
        guard: RunGuard | None = None,
        **filters: object,
    ) -> list[dict[str, Any]]:
        """Every server matching the filters, following `marker` pages to the end."""
        pages = self.list_pages(page_size=page_size, version=version, budget=budget, guard=guard, **filters)
        return [server async for page in pages for server in page]

    async def list_pages(
        self,
        *,
        page_size: int = 100,
        version: VersionChoice | None = None,
        budget: RetryBudget | None = None,
        guard: RunGuard | None = None,
        **filters: object,
    ) -> AsyncGenerator[list[dict[str, Any]], None]:
        """`list_servers` a page at a time, so a reader of a large fleet holds one page, not the fleet."""
        unknown = set(filters) - LIST_FILTERS
        if unknown:
            raise ScpUsageError(
                f"Unknown filter {', '.join(sorted(unknown))}; known: {', '.join(sorted(LIST_FILTERS))}."
            )
        if not 1 <= page_size <= 1000:
            raise ScpUsageError(f"page_size must be between 1 and 1000, not {page_size!r}.")
        seen_markers: set[str] = set()
        marker: str | None = None
        while True:
            query = {**filters, "limit": page_size, "marker": marker}
            response, attempts = await self.request(
                "GET", "/v1/servers", query=query, version=version, budget=budget, guard=guard
            )
            body = json_body(response, attempts)
            page = body.get("servers", []) if isinstance(body, dict) else None
            if not isinstance(page, list) or not all(isinstance(s, dict) and "id" in s for s in page):
                raise bad_body(response, attempts, "is not a list of servers")
            for server in page:
                problem = listing_entry_problem(server)
                if problem is not None:  # one sentence naming the server, not a TypeError from pandas
                    raise bad_body(response, attempts, f"lists server {str(server.get('id'))[:64]!r} with {problem}")
            yield page
            if len(page) < page_size or not page:
                return
            marker = str(page[-1]["id"])
            if marker in seen_markers:  # a service that loops would keep us here forever
                raise ScpApiError(200, "the service repeated a page while listing servers")
            seen_markers.add(marker)

    async def _change(self, server_id: str, action: str, **call: Any) -> Accepted:
        path = f"/v1/servers/{check_id(server_id)}/{action}"
        response, attempts = await self._exchange("POST", path, need_body=False, bulk=True, **call)
        return Accepted(response.status_code, request_id_of(response), attempts)

    async def request(self, method: str, path: str, **call: Any) -> tuple[httpx.Response, int]:
        """Send one call with retries; return the 2xx response and the attempts it took (`_exchange`)."""
        response, attempts = await self._exchange(method, path, **call)
        return as_response(response), attempts

    async def _exchange(
        self,
        method: str,
        path: str,
        *,
        query: Mapping[str, object] | None = None,
        version: VersionChoice | None = None,
        cancel: asyncio.Event | None = None,
        budget: RetryBudget | None = None,
        guard: RunGuard | None = None,
        need_body: bool = True,
        body_cap: int = transfer.SUCCESS_BODY_CAP,
        bulk: bool = False,
    ) -> tuple[httpx.Response | Answer, int]:
        """Send one call with retries; return the 2xx answer and the attempts it took.

        `version` overrides the client's own API version for this call; `cancel` ends a wait between
        attempts (raising `RetryCancelled`); `budget` is a retry budget shared with other calls; `guard` (a
        bulk run's) also ends attempts in flight on cancel (`Aborted`) and refuses to send once the run has
        stopped (`NotSent`). `need_body=False`: a 2xx body is not needed (a 202's), only its status.

        Each attempt is bounded as a whole by the client's timeout. 429/417 slow the client's send rate
        (`self.limiter`) and are retried (after their Retry-After, else a jittered backoff) without counting
        as retries, for up to `retry.max_throttled` s; with `retries=0` nothing is retried.

        `bulk=True` (a bodiless POST: lock, unlock): over the client's own transport each attempt is signed and
        sent without an `httpx.Request` (signed_posts.py), and a whole small 2xx answer comes as an `Answer`
        (no httpx model; `request` turns it into the `httpx.Response`, which then has no `.request`).
        """
        choice = version or await self.version()
        qs = build_query(query) if query else ""
        url = f"{self.endpoint}{path}" + (f"?{qs}" if qs else "")
        headers = {"Scp-Api-Version": choice.header}
        fast = bulk and method == "POST" and not qs and self._poster is not None
        post = self._poster.prepare(url, choice.header) if fast and self._poster is not None else None

        def send() -> Awaitable[httpx.Response | Answer]:
            return self._http.send(self._http.build_request(method, url, headers=headers), stream=True)

        sender = send if post is None else post.send  # the bulk POST's own coroutine: no frame around it

        budget = budget or self.budget
        cancel = cancel or (guard.cancel if guard is not None else None)
        deadline = guard.deadline_at if guard is not None else transfer.plain_deadline
        attempt = counted = throttles = 0
        throttled_since: float | None = None
        failure: ScpRequestError | None = None
        while True:
            if guard is not None and guard.stopped:
                if failure is None:
                    raise guard.not_sent()
                if isinstance(failure, ScpApiError) and throttled_since is not None:
                    failure.throttled_for = time.monotonic() - throttled_since
                raise failure  # this call was sent: its row keeps what really happened to it
            wait, sent_at = self.limiter.reserve()
            if wait > 0:
                await _pause(wait, cancel, failure, attempt)
            attempt += 1
            counted += 1
            try:
                response = await transfer.attempt_with(
                    sender, seconds=self.deadline, need_body=need_body, deadline=deadline, body_cap=body_cap
                )
            except (httpx.TransportError, TimeoutError) as exc:
                if cancel is not None and cancel.is_set():
                    raise Aborted(in_flight=True, attempts=attempt) from None
                failure = ScpNetworkError(transfer.describe_error(exc, self.deadline), attempts=attempt)
                if guard is not None and transfer.unanswered(exc):
                    guard.on_unanswered()
                retry_after = None
            except transfer.BodyTooLarge as exc:
                raise bad_body(exc.response, attempt, f"is larger than the {exc.cap / 2**20:g} MB cap") from None
            else:
                if guard is not None:
                    guard.on_answer(response.status_code)
                if response.is_success:
                    self.limiter.on_success(sent_at)
                    if budget is not None:
                        budget.on_success()
                    if guard is not None:
                        guard.on_success()
                    return response, attempt
                failure = error_from_response(as_response(response), attempts=attempt)
                retry_after = failure.retry_after
                if failure.status in THROTTLE_STATUS:
                    self.limiter.on_throttle(sent_at)
                    now = time.monotonic()
                    throttled_since = now if throttled_since is None else throttled_since
                    if retry_after is not None and retry_after > self.retry.max_retry_after:
                        raise failure
                    if now - throttled_since >= self.retry.max_throttled:
                        failure.throttled_for = now - throttled_since
                        if guard is not None:
                            guard.on_throttled_out(self.retry.max_throttled)
                        raise failure
                    if self.retry.retries > 0:  # retries=0 means one attempt, throttled or not
                        counted -= 1  # "slower", not "failed": no retry spent
                        throttles += 1
                        wait = retry_after if retry_after else self.retry.backoff(throttles)
                        await _pause(wait, cancel, failure, attempt, guard)
                        continue
                if failure.status not in RETRYABLE_STATUS:
                    raise failure
            delay = self.retry.delay(counted, retry_after)
            if delay is None or (budget is not None and not budget.try_spend()):
                raise failure
            await _pause(delay, cancel, failure, attempt, guard)


async def _pause(
    seconds: float,
    cancel: asyncio.Event | None,
    failure: ScpRequestError | None,
    attempts: int,
    guard: RunGuard | None = None,
) -> None:
    """Wait before an attempt; a cancel ends the wait (`RetryCancelled` after a failure, else `Aborted`).
    With a guard, the wait shows in the run's `retry_in`."""
    with guard.waiting(seconds) if guard is not None else contextlib.nullcontext():
        if cancel is None:
            await asyncio.sleep(seconds)
            return
        try:
            await asyncio.wait_for(cancel.wait(), seconds)
        except TimeoutError:
            return
    if failure is None:
        raise Aborted(in_flight=False, attempts=attempts)
    raise RetryCancelled(failure)


def precheck_version(requested: str | None, today: dt.date) -> None:
    """Refuse, before any request, a version that is malformed or that the built-in table refuses."""
    if requested is None:
        return
    number = normalise_number(requested)
    if number is None or number in {v.number for v in BUILTIN_CATALOG}:
        choose_version(requested, BUILTIN_CATALOG, today)


class ScpClient:
    """The blocking face of `AsyncScpClient`, safe to call from a notebook cell or a widget callback."""

    def __init__(self, **options: Any) -> None:
        if "secret_key" in options:
            options["secret_key"] = as_secret(options["secret_key"])  # first: no frame holds it in clear
        self._loop = background_loop()
        try:
            self._async: AsyncScpClient = self._loop.run(_construct({**options, "warn_deprecated": False}))
        except ScpUsageError as exc:  # one sentence at the caller's line, not the loop thread's frames
            raise exc.with_traceback(None) from None
        self._warned = not options.get("warn_deprecated", True)

    def _run(self, coro: Coroutine[Any, Any, T]) -> T:
        try:
            result = self._loop.run(coro)
        except ScpUsageError as exc:
            raise exc.with_traceback(None) from None
        choice = self._async._choice
        if choice is not None and not self._warned:
            # Warn here, in the caller's thread, where a notebook shows it (not on the loop thread).
            self._warned = True
            warn_if_deprecated(choice)
        return result

    @property
    def endpoint(self) -> str:
        return self._async.endpoint

    @property
    def aclient(self) -> AsyncScpClient:
        return self._async

    def __repr__(self) -> str:
        return repr(self._async).replace("AsyncScpClient", "ScpClient", 1)

    def version(self) -> VersionChoice:
        return self._run(self._async.version())

    def lock(self, server_id: str) -> Accepted:
        return self._run(self._async.lock(server_id))

    def unlock(self, server_id: str) -> Accepted:
        return self._run(self._async.unlock(server_id))

    def show(self, server_id: str) -> dict[str, Any]:
        return self._run(self._async.show(server_id))

    def list_servers(self, *, page_size: int = 100, **filters: Any) -> list[dict[str, Any]]:
        return self._run(self._async.list_servers(page_size=page_size, **filters))

    def request(self, method: str, path: str, **call: Any) -> httpx.Response:
        """Any signed, versioned, retried call (e.g. `request("POST", f"/v1/servers/{id}/stop")`)."""
        response, _ = self._run(self._async.request(method, path, **call))
        return response

    def close(self) -> None:
        self._run(self._async.aclose())

    def __enter__(self) -> Self:
        return self

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None) -> None:
        self.close()


async def _construct(options: dict[str, Any]) -> AsyncScpClient:
    # Built on the loop thread so its asyncio objects belong to the loop that will use them.
    return AsyncScpClient(**options)


__all__ = ["Accepted", "AsyncScpClient", "RetryCancelled", "ScpClient", "UnsupportedVersionError"]
