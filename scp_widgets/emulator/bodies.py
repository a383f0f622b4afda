"""Answers that misbehave in their body or never come: a trickle, a huge body, a big hostile HTML page,
and the black hole. All bodies are streamed, so a 50 MB answer costs the emulator no 50 MB of memory."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from .drop import DropResponse

#: Bodies shorter than this are padded with spaces before trickling, so even an empty 202 takes a while.
TRICKLE_MIN_BYTES = 40
_CHUNK = 64 * 1024
_HOSTILE_TAG = b"<title>"


def _headers(response: Response, length: int | None) -> dict[str, str]:
    headers = {k: v for k, v in response.headers.items() if k.lower() != "content-length"}
    if length is not None:
        headers["content-length"] = str(length)
    return headers


def trickled(response: Response, bytes_per_second: float) -> StreamingResponse:
    """The same answer, its body sent a few bytes at a time at `bytes_per_second`."""
    body = bytes(response.body).ljust(TRICKLE_MIN_BYTES)
    step = max(1, int(bytes_per_second / 10))

    async def chunks() -> AsyncIterator[bytes]:
        for start in range(0, len(body), step):
            await asyncio.sleep(step / bytes_per_second)
            yield body[start : start + step]

    return StreamingResponse(chunks(), status_code=response.status_code, headers=_headers(response, len(body)))


def _spaces(count: int) -> AsyncIterator[bytes]:
    async def chunks() -> AsyncIterator[bytes]:
        block = b" " * _CHUNK
        left = count
        while left > 0:
            yield block[: min(left, _CHUNK)]
            left -= _CHUNK

    return chunks()


def huge(response: Response, padding: int) -> StreamingResponse:
    """The same answer followed by `padding` spaces (valid JSON stays valid JSON, just enormous)."""
    body = bytes(response.body)

    async def chunks() -> AsyncIterator[bytes]:
        yield body
        async for block in _spaces(padding):
            yield block

    length = len(body) + padding
    return StreamingResponse(chunks(), status_code=response.status_code, headers=_headers(response, length))


def hostile_html_503(size: int, request_id_header: tuple[str, str]) -> StreamingResponse:
    """A load balancer's 503 page of exactly `size` bytes: `<title>` over and over, never closed."""
    whole, rest = divmod(size, len(_HOSTILE_TAG))

    async def chunks() -> AsyncIterator[bytes]:
        per_chunk = _CHUNK // len(_HOSTILE_TAG)
        for start in range(0, whole, per_chunk):
            yield _HOSTILE_TAG * min(per_chunk, whole - start)
        yield _HOSTILE_TAG[:rest]

    headers = {"content-type": "text/html; charset=utf-8", "content-length": str(size)}
    headers[request_id_header[0]] = request_id_header[1]
    return StreamingResponse(chunks(), status_code=503, headers=headers)


async def black_hole(request: Request) -> Response:
    """Say nothing until the client hangs up (or the request is cancelled), then hang up too."""
    # After the request body, `receive` blocks until the client disconnects.
    while (await request.receive())["type"] != "http.disconnect":
        pass
    return DropResponse()
