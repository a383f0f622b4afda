"""The Virtual Server calls themselves, once the gateway, version and fault checks have passed.

Choices for what the docs leave open (scp-openapi.md section 3):
- lock/unlock are idempotent: locking a locked server is another 202;
- stop/start/delete on a locked server → 409 `SERVER_LOCKED` ("server is locked"), judged on the *visible*
  lock state, so a lock still pending under `lock_delay` does not protect yet;
- start on an ACTIVE server / stop on a SHUTOFF one → 409 `INVALID_SERVER_STATE`;
- start/stop take effect at once; delete removes the server (404 afterwards);
- ids must be UUID-shaped (else 400) and are matched exactly, so an upper-cased id is a 404.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from . import listing
from .fleet import Fleet, Server, request_lock
from .responses import ApiError

_UUID_RE = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
_TRANSITIONS = {"start": ("SHUTOFF", "ACTIVE"), "stop": ("ACTIVE", "SHUTOFF")}


@dataclass(frozen=True)
class Result:
    status: int  # 200 with `body`, or 202 with none
    body: object | None = None


class Service:
    def __init__(self, fleet: Fleet, account_id: str, lock_delay: float) -> None:
        self.fleet = fleet
        self.account_id = account_id
        self.lock_delay = lock_delay

    def perform(self, action: str, server_id: str | None, query: str, now: float) -> Result:
        if action == "list":
            servers = listing.page(self.fleet.of_account(self.account_id, now), query)
            return Result(200, {"servers": [s.view() for s in servers]})
        server = self._own_server(server_id or "", now)
        if action == "show":
            return Result(200, server.view())
        if action in ("lock", "unlock"):
            request_lock(server, action == "lock", now, self.lock_delay)
        elif action in _TRANSITIONS:
            self._refuse_if_locked(server, action)
            before, after = _TRANSITIONS[action]
            if server.state != before:
                raise ApiError(409, "INVALID_SERVER_STATE", f"Cannot {action} a server that is {server.state}.")
            server.state = after
            server.modified_at = now
        elif action == "delete":
            self._refuse_if_locked(server, action)
            self.fleet.delete(server.id)
        else:
            raise ValueError(f"unknown action {action!r}")
        return Result(202)

    def _own_server(self, server_id: str, now: float) -> Server:
        if not _UUID_RE.fullmatch(server_id):
            raise ApiError(400, "INVALID_SERVER_ID", f"Server id {server_id!r} is not a UUID.")
        server = self.fleet.get(server_id, now)
        if server is None:
            raise ApiError(404, "SERVER_NOT_FOUND", f"Server {server_id} was not found.")
        if server.account_id != self.account_id:
            raise ApiError(403, "FORBIDDEN", f"Server {server_id} belongs to another account.")
        return server

    @staticmethod
    def _refuse_if_locked(server: Server, action: str) -> None:
        if server.locked:
            raise ApiError(409, "SERVER_LOCKED", f"Cannot {action} server {server.id}: server is locked.")
