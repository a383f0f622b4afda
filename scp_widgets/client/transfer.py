"""One HTTP attempt with a deadline over all of it and a cap on the bytes read.

httpx's `timeout` bounds each network wait, not the attempt: a body trickling a byte a second never trips it.
Here the whole attempt (connect, headers, body) runs under one `asyncio.timeout`, and the body is read as a
stream up to a cap, so a huge answer costs at most the cap in memory and the connection is dropped after it.

Once the status line has arrived the attempt has an answer: an error body (or a 2xx body the caller does
not need, e.g. a 202's) that is cut short by the deadline or the cap is used as far as it came. Only a 2xx
body the caller needs (a show, a listing page) must arrive whole, in time and under the cap.

Only the public httpx API (`send(..., stream=True)`, `aiter_bytes`), so it works over any httpx transport.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from typing import Any, TypeVar

import httpx

from scp_widgets.client.answers import Answer

#: Enough for any error envelope or error page's title; the rest of a 280 KB page is never read.
ERROR_BODY_CAP = 64 * 1024
#: A 1,000-server listing page is about 0.6 MB from the emulator; 16 MB leaves room for richer real objects.
SUCCESS_BODY_CAP = 16 * 1024 * 1024
#: One server's object is a few KB: a `show` (the read-back's per-server read, many at once) needs far less
#: room than a listing page, so twenty concurrent reads of a 200 MB answer cost 20 MB, not 20 x 16 MB.
OBJECT_BODY_CAP = 1024 * 1024
#: Headers that no longer describe the body once it is decoded (and maybe cut short).
_STALE = frozenset({"content-encoding", "content-length", "transfer-encoding"})

#: What one attempt's `send` gives: always an `httpx.Response`, or (the bulk path's POSTs) maybe an `Answer`.
R = TypeVar("R", httpx.Response, Answer | httpx.Response)
#: Makes the attempt's one deadline scope for an absolute loop time (None: none); yields the asyncio.Timeout.
Deadline = Callable[[float | None], AbstractAsyncContextManager[asyncio.Timeout]]


class BodyTooLarge(Exception):
    def __init__(self, response: httpx.Response, cap: int) -> None:
        super().__init__(f"the answer is larger than {cap // (1024 * 1024)} MB")
        self.response = response
        self.cap = cap


def plain_deadline(when: float | None) -> AbstractAsyncContextManager[asyncio.Timeout]:
    return asyncio.timeout_at(when)


async def attempt(
    http: httpx.AsyncClient,
    request: httpx.Request,
    *,
    seconds: float | None,
    need_body: bool = True,
    deadline: Deadline = plain_deadline,
    signed: bool = True,
    body_cap: int = SUCCESS_BODY_CAP,
) -> httpx.Response:
    """Send `request`; a complete response (body read up to its cap), except a 2xx with `need_body=False`,
    whose body may be left unavailable. Raises TimeoutError past `seconds` (None: no deadline),
    httpx.TransportError when the network fails, `BodyTooLarge` for a needed 2xx body over `body_cap`.
    Memory is bounded by the cap: one buffer, never more than the cap plus one chunk, and no copy of it."""
    auth: Any = httpx.USE_CLIENT_DEFAULT if signed else None
    return await attempt_with(
        lambda: http.send(request, stream=True, auth=auth),
        seconds=seconds, need_body=need_body, deadline=deadline, body_cap=body_cap,
    )  # fmt: skip


async def attempt_with(
    send: Callable[[], Awaitable[R]],
    *,
    seconds: float | None,
    need_body: bool = True,
    deadline: Deadline = plain_deadline,
    body_cap: int = SUCCESS_BODY_CAP,
) -> R | httpx.Response:
    """`attempt` for any `send` that returns a streamed `httpx.Response`, or an `Answer` (the bulk path's
    signed POSTs): a 2xx `Answer` is whole and returned as it is; any other becomes its `httpx.Response`."""
    loop = asyncio.get_running_loop()
    end = None if seconds is None else loop.time() + seconds
    response: httpx.Response | None = None
    required = need_body
    cap = ERROR_BODY_CAP
    body = bytearray()
    size = 0
    try:
        async with deadline(end):
            sent = await send()
            if isinstance(sent, Answer):
                if sent.is_success:
                    return sent  # whole, read and released: nothing to read or close
                sent = sent.response()
            response = sent
            if response.is_success and not need_body and isinstance(response.stream, httpx.ByteStream):
                return response  # whole in memory already (a 202 on the bulk path): nothing to read or hand back
            required = need_body and response.is_success
            cap = body_cap if required else ERROR_BODY_CAP
            if _fits(response, cap):  # the usual case: one read, and the response as httpx made it
                await response.aread()
                return response
            async for chunk in response.aiter_bytes():
                size += len(chunk)
                if size > cap:  # stop reading: what is past the cap is never held
                    body += chunk[: max(0, cap - len(body))]
                    break
                body += chunk
    except (TimeoutError, httpx.TransportError):
        if response is None or required:
            raise
        # Otherwise the status is the answer, and a body cut short changes nothing.
    finally:
        if response is not None:
            await response.aclose()
    assert response is not None
    if size > cap and required:
        raise BodyTooLarge(response, cap)
    if response.is_success and not need_body:
        return response  # read (to keep the connection) and closed; its body was not wanted
    headers = [(k, v) for k, v in response.headers.multi_items() if k.lower() not in _STALE]
    return httpx.Response(response.status_code, headers=headers, content=bytes(body), request=_request_of(response))


def _request_of(response: httpx.Response) -> httpx.Request | None:
    """The response's request, or None for one sent without an `httpx.Request` (the bulk path's POSTs)."""
    try:
        return response.request
    except RuntimeError:
        return None


def _fits(response: httpx.Response, cap: int) -> bool:
    """A plain body whose declared length is within the cap (httpcore reads no more than it declares)."""
    length = response.headers.get("content-length")
    return length is not None and length.isdigit() and int(length) <= cap and "content-encoding" not in response.headers


def attempt_deadline(timeout: float | httpx.Timeout | None) -> float | None:
    """The longest of the timeout's parts bounds a whole attempt (a plain number is the whole bound)."""
    if isinstance(timeout, httpx.Timeout):
        parts = [t for t in (timeout.connect, timeout.read, timeout.write, timeout.pool) if t is not None]
        return max(parts) if parts else None
    return None if timeout is None else float(timeout)


def describe_error(exc: Exception, deadline: float | None = None) -> str:
    if isinstance(exc, TimeoutError) and deadline is not None:
        return f"no complete answer within the {deadline:g} s timeout"
    if isinstance(exc, TimeoutError | httpx.TimeoutException):
        return f"no answer in time ({type(exc).__name__})"
    if isinstance(exc, httpx.ConnectError):
        return "could not connect to the service"
    return f"connection failed ({type(exc).__name__})"


def unanswered(exc: Exception) -> bool:
    """No sign of the service at all: refused, or nothing back in time (a dropped reply is not this)."""
    return isinstance(exc, TimeoutError | httpx.TimeoutException | httpx.ConnectError)
