"""`Answer`: a whole, small answer on the bulk path (a lock's 202), kept as aiohttp parsed it.

A bulk run needs of an accepted change only its status and request id: building an `httpx.Response` per POST
(its `Headers` model re-encodes every header), closing it and looking the request id up in it was about a
tenth of the engine's own client CPU per server (issue 21). An `Answer` holds what aiohttp already made (the
status, its case-insensitive headers, the raw header pairs and the body read); `response()` makes the
`httpx.Response` the transport would have made, for an error answer and for a caller of the public
`request`, so everything past the bulk path still sees httpx.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import httpx

if TYPE_CHECKING:
    from multidict import CIMultiDictProxy


class Answer:
    __slots__ = ("content", "headers", "raw_headers", "reason", "status_code")

    def __init__(
        self,
        status: int,
        headers: CIMultiDictProxy[str],
        raw_headers: tuple[tuple[bytes, bytes], ...],
        content: bytes,
        reason: str | None,
    ) -> None:
        self.status_code = status
        self.headers = headers
        self.raw_headers = raw_headers
        self.content = content
        self.reason = reason

    @property
    def is_success(self) -> bool:
        return 200 <= self.status_code < 300

    def header(self, name: str) -> str | None:
        """A header's value as httpx reads it (case-insensitive; several values joined by ", "), or None."""
        values = self.headers.getall(name, None)
        return None if values is None else ", ".join(values)

    def response(self, request: httpx.Request | None = None) -> httpx.Response:
        """The same answer as an `httpx.Response`, its body read."""
        response = httpx.Response(
            self.status_code, headers=self.raw_headers, stream=httpx.ByteStream(self.content), request=request,
            extensions={"http_version": b"HTTP/1.1", "reason_phrase": (self.reason or "").encode("latin-1", "replace")},
        )  # fmt: skip
        response.read()  # from memory: the body is already here
        return response

    def __repr__(self) -> str:
        return f"<Answer [{self.status_code}]>"


def as_response(answer: Answer | httpx.Response) -> httpx.Response:
    return answer.response() if isinstance(answer, Answer) else answer
