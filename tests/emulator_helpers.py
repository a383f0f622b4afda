"""Shared helpers for the emulator tests (no tests here).

The signer is written again from the documented formula, on purpose: it must not share code with the
emulator's check nor with the client's signer.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import httpx

from scp_widgets.emulator import DEMO_ACCESS_KEY, DEMO_SECRET_KEY, Emulator

BASE = "http://emulator.test"


def sign(method: str, url: str, timestamp: str, access_key: str, secret: str) -> str:
    message = f"{method}{url}{timestamp}{access_key}Openapi"
    return base64.b64encode(hmac.new(secret.encode(), message.encode(), hashlib.sha256).digest()).decode()


class FakeClock:
    def __init__(self, now: float = 1_800_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def signed_headers(
    method: str,
    url: str,
    *,
    clock: Callable[[], float] = time.time,
    access_key: str = DEMO_ACCESS_KEY,
    secret: str = DEMO_SECRET_KEY,
    version: str | None = "1.3",
    timestamp: str | None = None,
) -> dict[str, str]:
    stamp = timestamp if timestamp is not None else str(int(clock() * 1000))
    headers = {
        "Scp-Accesskey": access_key,
        "Scp-Signature": sign(method, url, stamp, access_key, secret),
        "Scp-Timestamp": stamp,
        "Scp-ClientType": "Openapi",
        "Accept-Language": "en-US",
        "Accept": "application/json",
    }
    if version is not None:
        headers["Scp-Api-Version"] = f"virtualserver {version}"
    return headers


class Api:
    """Signs exactly the URL it sends."""

    def __init__(self, client: httpx.Client, base: str, clock: Callable[[], float]) -> None:
        self.client = client
        self.base = base
        self.clock = clock

    def call(self, method: str, path: str, **sign_options: str | None) -> httpx.Response:
        url = self.base + path
        headers = signed_headers(method, url, clock=self.clock, **sign_options)  # type: ignore[arg-type]
        return self.client.request(method, url, headers=headers)

    def show(self, server_id: str) -> httpx.Response:
        return self.call("GET", f"/v1/servers/{server_id}")

    def post(self, server_id: str, action: str) -> httpx.Response:
        return self.call("POST", f"/v1/servers/{server_id}/{action}")


@contextmanager
def in_process(emulator: Emulator, clock: Callable[[], float] = time.time) -> Iterator[Api]:
    with httpx.Client(transport=emulator.sync_transport()) as client:
        yield Api(client, BASE, clock)


def error(response: httpx.Response) -> dict[str, object]:
    """The single entry of an errors envelope."""
    body = response.json()
    assert set(body) == {"errors"}
    assert len(body["errors"]) == 1
    entry: dict[str, object] = body["errors"][0]
    return entry


def unlocked(emulator: Emulator, n: int) -> list[str]:
    """The first `n` own servers that are not locked (the test fails when the fleet has fewer)."""
    ids = [i for i in emulator.own_ids if not emulator.server(i)["locked"]][:n]
    assert len(ids) == n
    return ids


def posts(emulator: Emulator) -> list[Any]:
    """The state-changing requests the emulator received."""
    return [r for r in emulator.record if r.method == "POST"]
