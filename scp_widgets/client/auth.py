"""SCP request signing: a pure `sign()` and an `httpx.Auth` that stamps the headers on every attempt.

The algorithm (scp-openapi.md section 1)::

    message   = METHOD + URL + TIMESTAMP + ACCESS_KEY + "Openapi"
    signature = base64(HMAC-SHA256(key=SECRET_KEY, msg=message))

The URL is the absolute URL exactly as it goes on the wire, so the auth flow signs `str(request.url)` of the
request httpx is about to send, never a string rebuilt by hand. The timestamp is signed, so every attempt
(including a retry) gets a fresh one: that is why signing lives in an auth flow and not in default headers.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from collections.abc import Callable, Generator

import httpx

from scp_widgets.client.credentials import Credentials

CLIENT_TYPE = "Openapi"

#: Header names, spelled as the SCP documentation spells them.
ACCESS_KEY_HEADER = "Scp-Accesskey"
SIGNATURE_HEADER = "Scp-Signature"
TIMESTAMP_HEADER = "Scp-Timestamp"
CLIENT_TYPE_HEADER = "Scp-ClientType"


def sign(method: str, url: str, timestamp_ms: int | str, access_key: str, secret_key: str) -> str:
    """Return the base64 HMAC-SHA256 signature of one request (pure; no I/O, no clock)."""
    message = f"{method.upper()}{url}{timestamp_ms}{access_key}{CLIENT_TYPE}"
    digest = hmac.new(secret_key.encode("utf-8"), message.encode("utf-8"), hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")


def epoch_ms(clock: Callable[[], float]) -> int:
    """Milliseconds since the epoch, from a clock that returns seconds (like `time.time`)."""
    return int(clock() * 1000)


class Signer:
    """`sign` for one key pair, with the HMAC key state computed once (the bulk path signs every attempt)."""

    def __init__(self, credentials: Credentials) -> None:
        self.access_key = credentials.access_key
        self._suffix = f"{credentials.access_key}{CLIENT_TYPE}"
        self._mac = hmac.new(credentials.secret_key.reveal().encode("utf-8"), digestmod=hashlib.sha256)

    def sign(self, method: str, url: str, timestamp_ms: int | str) -> str:
        """What `sign(method, url, timestamp_ms, access_key, secret_key)` returns, in less time."""
        mac = self._mac.copy()
        mac.update(f"{method.upper()}{url}{timestamp_ms}{self._suffix}".encode())
        return base64.b64encode(mac.digest()).decode("ascii")

    def __repr__(self) -> str:
        return "Signer()"


class ScpAuth(httpx.Auth):
    """Sign each request attempt with SCP's scheme; works for both sync and async httpx clients."""

    def __init__(self, credentials: Credentials, *, clock: Callable[[], float] = time.time) -> None:
        self._credentials = credentials
        self._clock = clock

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        timestamp = str(epoch_ms(self._clock))
        access_key = self._credentials.access_key
        signature = sign(request.method, str(request.url), timestamp, access_key, self._credentials.secret_key.reveal())
        request.headers[ACCESS_KEY_HEADER] = access_key
        request.headers[SIGNATURE_HEADER] = signature
        request.headers[TIMESTAMP_HEADER] = timestamp
        request.headers[CLIENT_TYPE_HEADER] = CLIENT_TYPE
        yield request

    def __repr__(self) -> str:
        return f"ScpAuth({self._credentials!r})"
