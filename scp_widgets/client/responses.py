"""Reading SCP answers: the `errors` envelope, the gateway's 404 body, the edge's 417 HTML page, and
server objects that come flat or wrapped as `{"server": {...}}`."""

from __future__ import annotations

import html
import re
from typing import Any

import httpx

from scp_widgets.client.answers import Answer
from scp_widgets.client.errors import ScpApiError
from scp_widgets.client.retry import parse_retry_after

# Linear on any input: no part of a match can run past the next "<", so no start position rescans the page
# (the old `<title[^>]*>(.*?)</title>` took minutes on "<title>" * 40000).
_TITLE = re.compile(r"<title[^<>]*>([^<]*)", re.IGNORECASE)
_TAGS = re.compile(r"<[^<>]*>?")
#: Error pages are read only this far (the title is at the top); the body itself is capped at 64 KB.
_MAX_PAGE = 16 * 1024
_REQUEST_ID_HEADERS = ("x-request-id", "request-id", "x-scp-request-id", "scp-request-id")
_MAX_MESSAGE = 300
#: The code given to answers from the API gateway itself (no SCP error envelope).
GATEWAY_CODE = "GATEWAY"


def _first_line(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= _MAX_MESSAGE else text[: _MAX_MESSAGE - 1] + "…"


def request_id_of(response: httpx.Response | Answer) -> str | None:
    read = response.header if isinstance(response, Answer) else response.headers.get
    for name in _REQUEST_ID_HEADERS:
        value = read(name)
        if value is not None:
            return value
    return None


def _json(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


def error_from_response(response: httpx.Response, attempts: int = 1) -> ScpApiError:
    """One `ScpApiError` from any non-2xx answer, whatever shape its body has."""
    status = response.status_code
    code: str | None = None
    message = response.reason_phrase or f"HTTP {status}"
    request_id = request_id_of(response)
    body = _json(response)
    errors = body.get("errors") if isinstance(body, dict) else None
    if isinstance(errors, list) and errors and isinstance(errors[0], dict):
        first = errors[0]
        code = str(first["code"]) if first.get("code") else None
        detail = first.get("detail") or first.get("title") or message
        message = "; ".join(map(str, detail)) if isinstance(detail, list) else str(detail)
        request_id = first.get("request_id") or first.get("global_request_id") or request_id
    elif isinstance(body, dict) and "requestId" in body:  # the gateway's own body: it never reached the service
        code = GATEWAY_CODE
        message = f"the API gateway answered {status} {body.get('error') or ''}".strip()
        request_id = str(body["requestId"])
    elif "html" in response.headers.get("content-type", ""):
        page = response.text[:_MAX_PAGE]
        found = _TITLE.search(page)
        text = found.group(1).strip() if found else ""
        message = html.unescape(text or _TAGS.sub(" ", page)[: _MAX_MESSAGE * 2]).strip() or message
        code = "REQUEST_REJECTED" if status == 417 else None
    return ScpApiError(
        status,
        _first_line(message),
        code=code,
        request_id=str(request_id) if request_id else None,
        retry_after=parse_retry_after(response.headers.get("retry-after")),
        attempts=attempts,
    )


def server_object(body: Any) -> dict[str, Any]:
    """The server dict from a `show` answer, flat or wrapped."""
    if isinstance(body, dict) and isinstance(body.get("server"), dict):
        return dict(body["server"])
    if isinstance(body, dict):
        return dict(body)
    raise ValueError("the service answered with something that is not a server object")


#: The fields of a listed server the frame types, and the JSON types each may have (None: missing or null).
_ENTRY_TYPES: dict[str, tuple[type, ...]] = {
    "id": (str,), "name": (str,), "state": (str,), "locked": (bool,), "vpc_id": (str,),
    "created_at": (str,), "modified_at": (str,), "server_type": (dict,),
}  # fmt: skip
_SERVER_TYPE_TYPES: dict[str, tuple[type, ...]] = {"name": (str,), "vcpus": (int,), "ram": (int, float)}


def listing_entry_problem(server: dict[str, Any]) -> str | None:
    """What is wrong with one listed server's fields ("locked 'false', which is not true/false"), or None."""
    for fields, where in ((_ENTRY_TYPES, server), (_SERVER_TYPE_TYPES, server.get("server_type") or {})):
        for name, kinds in fields.items():
            value = where.get(name)
            wrong = value is not None and (
                not isinstance(value, kinds) or (bool not in kinds and isinstance(value, bool))
            )
            if wrong:
                wanted = {bool: "true/false", str: "text", dict: "an object", int: "a number"}[kinds[0]]
                return f"{name} {str(value)[:40]!r}, which is not {wanted}"
    return None


def bad_body(response: httpx.Response, attempts: int, what: str) -> ScpApiError:
    """A 2xx answer whose body is not what the call expects (an HTML portal page, a proxy's answer...)."""
    return ScpApiError(
        response.status_code, f"the service's answer {what}", request_id=request_id_of(response), attempts=attempts
    )


def json_body(response: httpx.Response, attempts: int) -> Any:
    try:
        return response.json()
    except ValueError:
        raise bad_body(response, attempts, "is not JSON") from None
