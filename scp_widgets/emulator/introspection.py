"""`/_emulator/...`: read what the emulator saw and steer its faults from outside the process.

No signing, no faults, not recorded, and only answered to loopback peers (403 otherwise):

- `GET  /_emulator/record[?since=N]` → `{"records": [...], "next": M}`: records from index N (default 0);
  pass `next` back as `since` to get only newer ones.
- `GET  /_emulator/counts` → the counters of `Emulator.counts()`.
- `GET  /_emulator/lock-history` → `{server_id: [[time, "lock"|"unlock"], ...]}`.
- `GET  /_emulator/faults` → the faults in force, as JSON.
- `POST /_emulator/faults` with a JSON object of `Faults` fields → replaces the faults (fields left out take
  their defaults); 400 on an unknown field or a bad value.
- `POST /_emulator/reset` → clears the record and the lock history (the fleet is kept).
"""

from __future__ import annotations

import dataclasses
import ipaddress
import json
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, Protocol

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from .config import Faults

if TYPE_CHECKING:
    from .record import Counts, RequestRecord


class Observed(Protocol):
    """What these routes read and change of the emulator (the app passes itself; no import back)."""

    @property
    def faults(self) -> Faults: ...
    @property
    def record(self) -> list[RequestRecord]: ...
    @property
    def lock_history(self) -> dict[str, list[tuple[float, str]]]: ...
    def set_faults(self, faults: Faults) -> None: ...
    def reset_record(self) -> None: ...
    def counts(self) -> Counts: ...


_FAULT_FIELDS = frozenset(f.name for f in dataclasses.fields(Faults))
Endpoint = Callable[[Request], Awaitable[Response]]


def faults_to_json(faults: Faults) -> dict[str, Any]:
    data = dataclasses.asdict(faults)
    data["error_rates"] = {str(k): v for k, v in faults.error_rates.items()}
    data["methods"] = sorted(faults.methods)
    data["garbled_listing_ids"] = sorted(faults.garbled_listing_ids)
    return data


def faults_from_json(data: object) -> Faults:
    """Raises ValueError with a readable message on anything that is not a valid Faults object."""
    if not isinstance(data, dict):
        raise ValueError("expected a JSON object of Faults fields")
    unknown = set(data) - _FAULT_FIELDS
    if unknown:
        raise ValueError(f"unknown Faults fields: {sorted(unknown)}")
    kwargs = dict(data)
    try:
        if "error_rates" in kwargs:
            kwargs["error_rates"] = {int(k): float(v) for k, v in kwargs["error_rates"].items()}
        if "methods" in kwargs:
            kwargs["methods"] = frozenset(kwargs["methods"])
        if "garbled_listing_ids" in kwargs:
            kwargs["garbled_listing_ids"] = frozenset(map(str, kwargs["garbled_listing_ids"]))
        return Faults(**kwargs)
    except (TypeError, AttributeError) as exc:
        raise ValueError(f"bad Faults value: {exc}") from exc


def _is_loopback(request: Request) -> bool:
    host = request.client.host if request.client else ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _loopback_only(endpoint: Endpoint) -> Endpoint:
    async def guarded(request: Request) -> Response:
        if not _is_loopback(request):
            return JSONResponse({"detail": "introspection is for loopback clients only"}, status_code=403)
        return await endpoint(request)

    return guarded


def routes(emulator: Observed) -> list[Route]:
    async def record(request: Request) -> Response:
        since_text = request.query_params.get("since", "0")
        if not since_text.isdigit():
            return JSONResponse({"detail": "since must be a non-negative integer"}, status_code=400)
        records = list(emulator.record)
        since = int(since_text)
        return JSONResponse({"records": [r.to_json() for r in records[since:]], "next": len(records)})

    async def counts(request: Request) -> Response:
        return JSONResponse(emulator.counts())

    async def lock_history(request: Request) -> Response:
        return JSONResponse(emulator.lock_history)

    async def get_faults(request: Request) -> Response:
        return JSONResponse(faults_to_json(emulator.faults))

    async def set_faults(request: Request) -> Response:
        try:
            faults = faults_from_json(json.loads(await request.body()))
        except ValueError as exc:  # json.JSONDecodeError is a ValueError too
            return JSONResponse({"detail": str(exc)}, status_code=400)
        emulator.set_faults(faults)
        return JSONResponse(faults_to_json(faults))

    async def reset(request: Request) -> Response:
        emulator.reset_record()
        return Response(status_code=204)

    table: list[tuple[str, Endpoint, str]] = [
        ("/_emulator/record", record, "GET"),
        ("/_emulator/counts", counts, "GET"),
        ("/_emulator/lock-history", lock_history, "GET"),
        ("/_emulator/faults", get_faults, "GET"),
        ("/_emulator/faults", set_faults, "POST"),
        ("/_emulator/reset", reset, "POST"),
    ]
    return [Route(path, _loopback_only(endpoint), methods=[method]) for path, endpoint, method in table]
