"""The three answer shapes SCP is seen to use: the service's `errors` envelope, the gateway's 404 body for
unsigned requests, and the edge's 417 HTML page.
"""

from __future__ import annotations

import datetime
from collections.abc import Mapping

from starlette.responses import HTMLResponse, JSONResponse, Response

REQUEST_ID_HEADER = "X-Request-Id"

_TITLES = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    406: "Not Acceptable",
    409: "Conflict",
    429: "Too Many Requests",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
}
_SERVER_ERROR_CODES = {
    500: "INTERNAL_SERVER_ERROR",
    502: "BAD_GATEWAY",
    503: "SERVICE_UNAVAILABLE",
    504: "GATEWAY_TIMEOUT",
}

_REJECTED_PAGE = """<html><head><title>Request Rejected</title></head>
<body>The requested URL was rejected. Please consult with your administrator.<br><br>
Your support ID is: {support_id}<br><br><a href='javascript:history.back();'>[Go Back]</a></body></html>
"""


class ApiError(Exception):
    """A refusal the handlers raise; the app turns it into the errors envelope."""

    def __init__(self, status: int, code: str, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.code = code
        self.detail = detail


def title(status: int) -> str:
    return _TITLES.get(status, "Error")


def server_error_code(status: int) -> str:
    return _SERVER_ERROR_CODES.get(status, "SERVER_ERROR")


def errors_envelope(
    status: int,
    code: str,
    detail: str,
    request_id: str,
    global_request_id: str,
    headers: Mapping[str, str] | None = None,
) -> JSONResponse:
    body = {
        "errors": [
            {
                "code": code,
                "title": title(status),
                "detail": detail,
                "status": status,
                "request_id": request_id,
                "global_request_id": global_request_id,
                "links": [],
                "related_resources": [],
                "response": None,
            }
        ]
    }
    return JSONResponse(body, status_code=status, headers=_with_id(headers, request_id))


def gateway_not_found(path: str, request_id: str, now: float) -> JSONResponse:
    """What the API gateway answers when the signing headers are missing (it never reaches the service)."""
    moment = datetime.datetime.fromtimestamp(now, datetime.UTC)
    body = {
        "timestamp": moment.isoformat(timespec="milliseconds"),
        "path": path,
        "status": 404,
        "error": "Not Found",
        "requestId": request_id,
    }
    return JSONResponse(body, status_code=404, headers=_with_id(None, request_id))


def request_rejected(request_id: str, support_id: int) -> HTMLResponse:
    """The edge firewall's burst refusal: 417 with an HTML page, not JSON."""
    return HTMLResponse(
        _REJECTED_PAGE.format(support_id=support_id),
        status_code=417,
        headers=_with_id(None, request_id),
    )


def accepted(request_id: str) -> Response:
    return Response(status_code=202, headers=_with_id(None, request_id))


def ok(body: object, request_id: str) -> JSONResponse:
    return JSONResponse(body, headers=_with_id(None, request_id))


def _with_id(headers: Mapping[str, str] | None, request_id: str) -> dict[str, str]:
    return {**(headers or {}), REQUEST_ID_HEADER: request_id}
