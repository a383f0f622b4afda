"""`LeanAsyncClient`: an `httpx.AsyncClient` that does not parse cookies out of answers that set none.

After every answer httpx wraps the request and response in urllib compatibility objects and hands them to
`http.cookiejar` to look for `Set-Cookie`, about a tenth of the client's CPU per request (benchmarks/README.md).
SCP sets no cookies, but an answer that does set one is still stored exactly as httpx would store it.
"""

from __future__ import annotations

from typing import Any

import httpx


class LeanCookies(httpx.Cookies):
    def extract_cookies(self, response: httpx.Response) -> None:
        if "set-cookie" in response.headers:
            super().extract_cookies(response)


class LeanAsyncClient(httpx.AsyncClient):
    """An `httpx.AsyncClient` in every way, whose cookie jar is a `LeanCookies`."""

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self._lean_cookies = LeanCookies(super().cookies)

    @property
    def cookies(self) -> httpx.Cookies:
        return self._lean_cookies

    @cookies.setter
    def cookies(self, cookies: Any) -> None:  # whatever httpx.Cookies accepts
        self._lean_cookies = LeanCookies(cookies)
