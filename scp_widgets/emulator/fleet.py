"""The emulated servers: a seeded fleet and the state changes the API can make to it.

Lock changes are stored as a pending change with the time it becomes visible and settled lazily whenever a
server is read, so `lock_delay` needs no background task and follows the injected clock exactly.
"""

from __future__ import annotations

import dataclasses
import datetime
import random
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

_ROLES = ("web", "app", "db", "batch", "cache")
# (name, vcpus, ram in MiB, disk in GiB)
_SERVER_TYPES = (
    ("s1v1m2", 1, 2048, 50),
    ("s1v2m4", 2, 4096, 100),
    ("s1v4m8", 4, 8192, 100),
    ("s1v8m16", 8, 16384, 200),
)
_VPC_COUNT = 3
# Seeded creation times spread over 2025, far from any real clock, so a seed always gives the same fleet.
_EPOCH_2025 = datetime.datetime(2025, 1, 1, tzinfo=datetime.UTC).timestamp()
_YEAR = 365 * 24 * 3600.0


def new_uuid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def iso(timestamp: float) -> str:
    moment = datetime.datetime.fromtimestamp(timestamp, datetime.UTC)
    return moment.isoformat(timespec="seconds").replace("+00:00", "Z")


@dataclass
class Server:
    id: str
    name: str
    account_id: str
    state: str
    locked: bool
    created_at: float
    modified_at: float
    server_type: dict[str, Any]
    vpc_id: str
    subnet_id: str
    ip: str
    image_id: str
    keypair_name: str
    pending_lock: tuple[float, bool] | None = field(default=None)

    def settle(self, now: float) -> None:
        if self.pending_lock is not None and now >= self.pending_lock[0]:
            at, value = self.pending_lock
            self.pending_lock = None
            if value != self.locked:
                self.locked = value
                self.modified_at = at

    def view(self) -> dict[str, Any]:
        """The flat public object the API returns (call `settle` first)."""
        return {
            "id": self.id,
            "name": self.name,
            "state": self.state,
            "locked": self.locked,
            "account_id": self.account_id,
            "created_at": iso(self.created_at),
            "modified_at": iso(self.modified_at),
            "server_type": dict(self.server_type),
            "vpc_id": self.vpc_id,
            "addresses": [{"subnet_id": self.subnet_id, "ip_addresses": [self.ip]}],
            "image_id": self.image_id,
            "keypair_name": self.keypair_name,
        }


class Fleet:
    """All servers by id; own and foreign ones live side by side, as in a real region."""

    def __init__(self, servers: list[Server]) -> None:
        self._servers = {s.id: s for s in servers}
        self._order = [s.id for s in servers]

    @classmethod
    def seeded(
        cls,
        rng: random.Random,
        *,
        own: int,
        foreign: int,
        account_id: str,
        foreign_account_id: str,
        locked_fraction: float,
        shutoff_fraction: float,
    ) -> Fleet:
        types = [
            {"id": new_uuid(rng), "name": name, "vcpus": cpu, "ram": ram, "disk": disk}
            for name, cpu, ram, disk in _SERVER_TYPES
        ]
        vpcs = [(new_uuid(rng), new_uuid(rng)) for _ in range(_VPC_COUNT)]
        image_id = new_uuid(rng)
        counters = dict.fromkeys(_ROLES, 0)
        # Sorted, so numbers within a role follow creation order (web-001 is the oldest web server).
        created_times = sorted(_EPOCH_2025 + rng.random() * _YEAR for _ in range(own + foreign))
        servers: list[Server] = []
        for index, created in enumerate(created_times):
            role = rng.choice(_ROLES)
            counters[role] += 1
            vpc_index = rng.randrange(_VPC_COUNT)
            servers.append(
                Server(
                    id=new_uuid(rng),
                    name=f"{role}-{counters[role]:03d}",
                    account_id=account_id if index < own else foreign_account_id,
                    state="ACTIVE",
                    locked=False,
                    created_at=created,
                    modified_at=created + rng.random() * 30 * 24 * 3600,
                    server_type=rng.choice(types),
                    vpc_id=vpcs[vpc_index][0],
                    subnet_id=vpcs[vpc_index][1],
                    ip=f"10.{vpc_index}.{index // 250}.{index % 250 + 4}",
                    image_id=image_id,
                    keypair_name=f"kp-{role}",
                )
            )
        own_servers = servers[:own]
        for server in rng.sample(own_servers, round(own * locked_fraction)):
            server.locked = True
        for server in rng.sample(own_servers, round(own * shutoff_fraction)):
            server.state = "SHUTOFF"
        return cls(servers)

    def add_twins(self, server_ids: Sequence[str], account_id: str) -> None:
        """Own servers with exactly these ids (`twin-001`...), modelled on the first server: configured alike
        in two regions, they make one id that two regions list (a fault to test routing against)."""
        model = self._servers[self._order[0]] if self._order else None
        for number, server_id in enumerate(server_ids, 1):
            if model is None:
                raise ValueError("twins need at least one seeded server to model them on")
            twin = dataclasses.replace(
                model, id=server_id, name=f"twin-{number:03d}", account_id=account_id, locked=False, pending_lock=None
            )
            self._servers[server_id] = twin
            self._order.append(server_id)

    def ids(self, account_id: str, *, own: bool) -> list[str]:
        """Ids of the servers that still exist, in seeded order."""
        return [i for i in self._order if i in self._servers and (self._servers[i].account_id == account_id) == own]

    def get(self, server_id: str, now: float) -> Server | None:
        server = self._servers.get(server_id)
        if server is not None:
            server.settle(now)
        return server

    def of_account(self, account_id: str, now: float) -> list[Server]:
        found = [s for s in self._servers.values() if s.account_id == account_id]
        for server in found:
            server.settle(now)
        return found

    def delete(self, server_id: str) -> None:
        del self._servers[server_id]


def request_lock(server: Server, locked: bool, now: float, delay: float) -> None:
    """Accept a lock/unlock; it becomes visible `delay` seconds later (at once when 0)."""
    server.settle(now)
    if delay <= 0:
        server.pending_lock = None
        if server.locked != locked:
            server.locked = locked
            server.modified_at = now
    else:
        server.pending_lock = (now + delay, locked)
