"""The SCP request signature, written from the public docs (scp-openapi.md section 1).

Kept independent of the client's signer on purpose: the emulator is the ground truth the client is tested
against, so a shared bug must not be able to make both sides agree.
"""

from __future__ import annotations

import base64
import hashlib
import hmac

from starlette.types import Scope

CLIENT_TYPE = "Openapi"


def string_to_sign(method: str, url: str, timestamp: str, access_key: str) -> str:
    """METHOD + URL + TIMESTAMP + ACCESS_KEY + "Openapi", concatenated without separators."""
    return method.upper() + url + timestamp + access_key + CLIENT_TYPE


def signature(secret_key: str, method: str, url: str, timestamp: str, access_key: str) -> str:
    """base64(HMAC-SHA256(secret, message)), standard alphabet, padded."""
    message = string_to_sign(method, url, timestamp, access_key)
    digest = hmac.new(secret_key.encode("utf-8"), message.encode("utf-8"), hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")


def signature_matches(expected: str, given: str) -> bool:
    # Bytes, because compare_digest refuses non-ASCII str and a header may carry anything.
    return hmac.compare_digest(expected.encode("utf-8"), given.encode("utf-8"))


def wire_url(scope: Scope) -> str:
    """The absolute URL exactly as the client sent it: scheme, Host header, raw path, raw query.

    Nothing is decoded or re-encoded, so a client that re-encodes its URL after signing gets a 401,
    as the real service does.
    """
    raw_path: bytes = scope.get("raw_path") or scope["path"].encode("utf-8")
    # Some servers put the query into raw_path as well; the query string is taken from its own field.
    raw_path = raw_path.partition(b"?")[0]
    query: bytes = scope.get("query_string", b"")
    url = origin(scope) + raw_path.decode("latin-1")
    return f"{url}?{query.decode('latin-1')}" if query else url


def origin(scope: Scope) -> str:
    """scheme://host[:port] as the client addressed it (the Host header), for signing and for links."""
    host = _header(scope, b"host")
    if host is None:  # HTTP/1.0 without Host: fall back to the address the server listens on
        server = scope.get("server") or ("localhost", None)
        host = server[0] if server[1] is None else f"{server[0]}:{server[1]}"
    return f"{scope['scheme']}://{host}"


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope["headers"]:
        if key.lower() == name:
            return str(value.decode("latin-1"))
    return None
