"""The API gateway's checks on a `/v1` request: signing headers, access key, timestamp, signature.

Missing headers never reach the service (gateway 404); everything else that fails is a 401.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from . import signing

REQUIRED_HEADERS = ("scp-accesskey", "scp-signature", "scp-timestamp", "scp-clienttype")
_TIMESTAMP_RE = re.compile(r"[0-9]{1,16}")


@dataclass(frozen=True)
class GateResult:
    """`missing` → gateway 404; `code`/`detail` set → 401; neither → let the request through."""

    missing: bool = False
    code: str | None = None
    detail: str | None = None

    @property
    def passed(self) -> bool:
        return not self.missing and self.code is None


PASSED = GateResult()


def check(
    headers: Mapping[str, str],
    *,
    method: str,
    url: str,
    now: float,
    access_key: str,
    secret_key: str,
    skew_seconds: float,
) -> GateResult:
    """`headers` is case-insensitive (starlette's Headers); `url` the wire URL."""
    if any(name not in headers for name in REQUIRED_HEADERS):
        return GateResult(missing=True)
    if headers["scp-clienttype"] != signing.CLIENT_TYPE:
        return GateResult(code="INVALID_CLIENT_TYPE", detail="Scp-ClientType must be 'Openapi'.")
    given_key = headers["scp-accesskey"]
    if not signing.signature_matches(access_key, given_key):
        return GateResult(code="INVALID_ACCESS_KEY", detail="The access key is unknown or expired.")
    timestamp = headers["scp-timestamp"]
    if not _TIMESTAMP_RE.fullmatch(timestamp):
        return GateResult(code="INVALID_TIMESTAMP", detail="Scp-Timestamp must be Unix epoch milliseconds.")
    if abs(int(timestamp) / 1000 - now) > skew_seconds:
        return GateResult(
            code="INVALID_TIMESTAMP",
            detail=f"Scp-Timestamp is more than {skew_seconds:g} seconds away from the server clock.",
        )
    expected = signing.signature(secret_key, method, url, timestamp, given_key)
    if not signing.signature_matches(expected, headers["scp-signature"]):
        return GateResult(code="SIGNATURE_MISMATCH", detail="The request signature does not match.")
    return PASSED
