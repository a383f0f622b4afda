"""A minimal, independent SCP Virtual Server fake for the benchmark, run in its own process.

    python benchmarks/fake_scp.py --servers 1000 --latency 0.02

It prints `listing on http://127.0.0.1:PORT` and serves until killed. Written on raw asyncio protocols, so its
own CPU per request (~50 us) stays far below the clients being measured; the bundled emulator (starlette +
uvicorn) costs several times more and would put the server, not the client, on the critical path.

It checks every `/v1` request's SCP signature with its own HMAC code (not the client's signer) and answers
401 on a mismatch; the benchmark asserts no 401 was seen. Routes: `POST /v1/servers/{id}/lock|unlock` (202),
`GET /v1/servers/{id}`, `GET /v1/servers?limit=&marker=` (paged by id), `POST /_reset`, `GET /_counts`.
Every `/v1` answer is held back by `--latency` seconds (a timer, no CPU). `--lock-delay` makes an accepted
change visible only that many seconds later, as the real service does.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import hashlib
import hmac
import json
import random
import time
import uuid
from collections import Counter
from urllib.parse import parse_qsl

ACCESS_KEY = "scp-demo-access-key"  # the public demo pair, as the bundled emulator uses
SECRET_KEY = "scp-demo-secret-key-NOT-A-REAL-SECRET"


def fleet_ids(servers: int, seed: int = 7) -> list[str]:
    rng = random.Random(seed)
    return [str(uuid.UUID(int=rng.getrandbits(128), version=4)) for _ in range(servers)]


class Fleet:
    def __init__(self, servers: int, lock_delay: float) -> None:
        self.ids = fleet_ids(servers)
        self.known = set(self.ids)
        self.ordered = sorted(self.ids)  # the listing's order, and each id's place in it (markers)
        self.position = {server_id: i for i, server_id in enumerate(self.ordered)}
        self.lock_delay = lock_delay
        self.counts: Counter[str] = Counter()
        self.reset()

    def reset(self) -> None:
        self.locked = dict.fromkeys(self.ids, False)
        self.pending: dict[str, tuple[float, bool]] = {}
        self.counts.clear()

    def state(self, server_id: str) -> dict[str, object]:
        due = self.pending.get(server_id)
        if due is not None and due[0] <= time.monotonic():
            self.locked[server_id] = due[1]
            del self.pending[server_id]
        return {"id": server_id, "name": f"vm-{server_id[:8]}", "state": "ACTIVE", "locked": self.locked[server_id]}

    def change(self, server_id: str, locked: bool) -> None:
        if self.lock_delay > 0:
            self.pending[server_id] = (time.monotonic() + self.lock_delay, locked)
        else:
            self.locked[server_id] = locked


def signature_ok(method: str, url: str, headers: dict[str, str]) -> bool:
    stamp = headers.get("scp-timestamp", "")
    message = f"{method}{url}{stamp}{headers.get('scp-accesskey', '')}{headers.get('scp-clienttype', '')}"
    digest = hmac.new(SECRET_KEY.encode(), message.encode(), hashlib.sha256).digest()
    expected = base64.b64encode(digest).decode()
    return (
        headers.get("scp-accesskey") == ACCESS_KEY
        and headers.get("scp-clienttype") == "Openapi"
        and stamp.isdigit()
        and abs(time.time() * 1000 - int(stamp)) < 300_000
        and hmac.compare_digest(expected, headers.get("scp-signature", ""))
    )


class Http(asyncio.Protocol):
    """HTTP/1.1 keep-alive, one request at a time per connection (no client here pipelines)."""

    def __init__(self, fleet: Fleet, latency: float) -> None:
        self.fleet = fleet
        self.latency = latency
        self.buffer = b""
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while b"\r\n\r\n" in self.buffer:
            head, _, rest = self.buffer.partition(b"\r\n\r\n")
            lines = head.decode("latin-1").split("\r\n")
            method, target, _ = lines[0].split(" ", 2)
            headers = {}
            for line in lines[1:]:
                name, _, value = line.partition(":")
                headers[name.strip().lower()] = value.strip()
            length = int(headers.get("content-length", "0"))
            if len(rest) < length:
                return
            self.buffer = rest[length:]
            status, body = self.answer(method, target, headers)
            delay = self.latency if target.startswith("/v1") else 0.0
            payload = json.dumps(body).encode() if body is not None else b""
            reply = (
                f"HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {len(payload)}\r\n"
                f"x-request-id: req-{id(payload):x}\r\n\r\n"
            ).encode() + payload
            if delay > 0:
                asyncio.get_running_loop().call_later(delay, self.send, reply)
            else:
                self.send(reply)

    def send(self, reply: bytes) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(reply)

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None

    def answer(self, method: str, target: str, headers: dict[str, str]) -> tuple[int, object]:
        fleet = self.fleet
        path, _, query = target.partition("?")
        if path == "/_reset":
            fleet.reset()
            return 200, {}
        if path == "/_counts":
            return 200, dict(fleet.counts)
        if not path.startswith("/v1/servers"):
            return 404, {"errors": [{"code": "NOT_FOUND", "detail": "no such route"}]}
        if not signature_ok(method, f"http://{headers.get('host', '')}{target}", headers):
            fleet.counts["401"] += 1
            return 401, {"errors": [{"code": "UNAUTHORIZED", "detail": "bad signature"}]}
        parts = path.split("/")  # ['', 'v1', 'servers', id?, action?]
        if len(parts) == 3 and method == "GET":
            fleet.counts["list 200"] += 1
            params = dict(parse_qsl(query))
            limit, marker = int(params.get("limit", "20")), params.get("marker")
            start = 0 if marker is None else fleet.position[marker] + 1
            return 200, {"servers": [fleet.state(i) for i in fleet.ordered[start : start + limit]]}
        server_id = parts[3] if len(parts) > 3 else ""
        if server_id not in fleet.known:
            return 404, {"errors": [{"code": "SERVER_NOT_FOUND", "detail": "server not found"}]}
        if len(parts) == 4 and method == "GET":
            fleet.counts["show 200"] += 1
            return 200, {"server": fleet.state(server_id)}
        if len(parts) == 5 and method == "POST" and parts[4] in ("lock", "unlock"):
            fleet.counts[f"{parts[4]} 202"] += 1
            fleet.change(server_id, parts[4] == "lock")
            return 202, None
        return 405, {"errors": [{"code": "METHOD_NOT_ALLOWED", "detail": "method not allowed"}]}


async def serve(servers: int, latency: float, lock_delay: float, port: int) -> None:
    fleet = Fleet(servers, lock_delay)
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: Http(fleet, latency), "127.0.0.1", port, backlog=1024)
    host, bound = server.sockets[0].getsockname()[:2]
    print(f"listening on http://{host}:{bound}", flush=True)
    async with server:
        await server.serve_forever()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--servers", type=int, default=1000)
    parser.add_argument("--latency", type=float, default=0.02)
    parser.add_argument("--lock-delay", type=float, default=0.0)
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()
    asyncio.run(serve(args.servers, args.latency, args.lock_delay, args.port))


if __name__ == "__main__":
    main()
