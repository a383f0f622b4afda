"""`LeanAsyncClient`: cookies are parsed only from answers that set one, and then exactly as httpx does."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from scp_widgets.client.lean_httpx import LeanAsyncClient
from scp_widgets.client.scp_client import AsyncScpClient


def answer(request: httpx.Request) -> httpx.Response:
    if request.url.path == "/login":
        return httpx.Response(200, headers={"set-cookie": "session=abc; Path=/"})
    return httpx.Response(202, json={"echo": request.headers.get("cookie")})


def test_answers_without_set_cookie_skip_the_cookie_parser(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []
    real = httpx.Cookies.extract_cookies

    def spy(self: httpx.Cookies, response: httpx.Response) -> None:
        calls.append(response.url.path)
        real(self, response)

    monkeypatch.setattr(httpx.Cookies, "extract_cookies", spy)

    async def scenario() -> tuple[object, object]:
        async with LeanAsyncClient(transport=httpx.MockTransport(answer)) as http:
            before = (await http.post("https://scp.example.com/v1/servers/x/lock")).json()["echo"]
            await http.get("https://scp.example.com/login")
            after = (await http.post("https://scp.example.com/v1/servers/x/lock")).json()["echo"]
            assert http.cookies.get("session") == "abc"
            return before, after

    assert asyncio.run(scenario()) == (None, "session=abc")
    assert calls == ["/login"]  # the two POST answers set no cookie and were never parsed


def test_cookies_set_on_the_client_are_kept_and_sent() -> None:
    async def scenario() -> list[object]:
        url = "https://scp.example.com/v1/servers/x/lock"
        async with LeanAsyncClient(transport=httpx.MockTransport(answer), cookies={"a": "1"}) as http:
            first = (await http.post(url)).json()["echo"]
            http.cookies = {"b": "2"}
            return [first, (await http.post(url)).json()["echo"]]

    assert asyncio.run(scenario()) == ["a=1", "b=2"]


def test_the_scp_client_uses_it() -> None:
    client = AsyncScpClient(endpoint="https://scp.example.com", access_key="ak", secret_key="sk")
    assert isinstance(client._http, LeanAsyncClient)
    asyncio.run(client.aclose())
