"""`AiohttpTransport`: httpx requests carried by aiohttp's connection pool (the client's default transport).

Users still get an `httpx.AsyncClient` (requests, responses, auth flows, `transport=`); only the layer under
it changes. Per request, httpcore + anyio + h11 made the engine spend about 1.6x the client CPU it spends over
this transport (benchmarks/README.md), and in a kernel that CPU holds the GIL the user's next cell waits for.
The pure-httpx path stays available as `transport=ShardedTransport(n)` (scp_widgets/pools.py).

What this module owns, so the layers above see plain httpx behaviour:
- errors: aiohttp's exceptions become the httpx exception that means the same thing (a timeout is a
  `httpx.TimeoutException`, a refused connection `httpx.ConnectError`, a dropped one `RemoteProtocolError`);
- bodies: the response body is an `httpx.AsyncByteStream` read as it arrives, so `send(stream=True)` and
  `aiter_bytes()` stream and can stop early;
- proxies: HTTP_PROXY / HTTPS_PROXY / ALL_PROXY and NO_PROXY from the environment, as httpx's own transport
  honours them (looked up once per scheme, host and port; aiohttp's `trust_env` would also read ~/.netrc);
- cancellation: a task cancelled while waiting for headers or mid-body closes that connection (never
  returns a half-read one to the pool); a body read to the end hands its connection back for keep-alive.

One difference stays: when a reused keep-alive connection turns out closed before any answer, aiohttp resends
an idempotent request (a GET) once, unchanged (RFC 9112 9.3.1), where httpcore raised and the client retried
with a fresh signature. aiohttp never resends a POST, so a lock or unlock is never sent twice by this layer.
"""

from __future__ import annotations

import ssl
import urllib.request
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import httpx
import yarl

from scp_widgets.client.answers import Answer, as_response
from scp_widgets.client.pools import tls_context

#: aiohttp exception -> the httpx exception with the same meaning; the first match wins (most specific first).
_ERRORS: tuple[tuple[type[BaseException], type[httpx.TransportError]], ...] = (
    (aiohttp.ConnectionTimeoutError, httpx.ConnectTimeout),
    (aiohttp.SocketTimeoutError, httpx.ReadTimeout),
    (aiohttp.ServerTimeoutError, httpx.ReadTimeout),
    (aiohttp.ClientConnectorError, httpx.ConnectError),
    (aiohttp.ServerDisconnectedError, httpx.RemoteProtocolError),
    (aiohttp.ClientPayloadError, httpx.RemoteProtocolError),
    (aiohttp.ClientResponseError, httpx.RemoteProtocolError),  # a reply that is not HTTP
    (aiohttp.InvalidURL, httpx.UnsupportedProtocol),
    (aiohttp.ClientOSError, httpx.ReadError),
    (aiohttp.ClientError, httpx.NetworkError),
)


_BODY_METHODS = frozenset(aiohttp.ClientRequest.POST_METHODS)
_NO_CONTENT_TYPE = ("Content-Type",)
_OWN = frozenset({b"transfer-encoding"})  # headers aiohttp writes itself for the body it is given


def to_httpx_error(exc: aiohttp.ClientError, request: httpx.Request | None) -> httpx.TransportError:
    for source, target in _ERRORS:
        if isinstance(exc, source):
            error = target(str(exc) or type(exc).__name__, request=request)
            error.__cause__ = exc
            return error
    raise AssertionError("unreachable: aiohttp.ClientError is the last entry")  # pragma: no cover


class _Body(httpx.AsyncByteStream):
    """The response body as it arrives; closing before the end closes the connection."""

    def __init__(self, response: aiohttp.ClientResponse, request: httpx.Request | None) -> None:
        self._response = response
        self._request = request

    async def __aiter__(self) -> AsyncIterator[bytes]:
        content = self._response.content
        try:
            while chunk := await content.readany():
                yield chunk
        except aiohttp.ClientError as exc:
            self._response.close()
            raise to_httpx_error(exc, self._request) from exc
        except BaseException:  # cancelled, or the reader stopped early (GeneratorExit)
            self._response.close()
            raise

    async def aclose(self) -> None:
        # release() hands a fully read connection back to the pool; aiohttp closes one with body left unread.
        self._response.release()


class AiohttpTransport(httpx.AsyncBaseTransport):
    """At most `max_connections` keep-alive connections in one aiohttp pool, opened on first use."""

    def __init__(
        self,
        max_connections: int = 100,
        *,
        verify: ssl.SSLContext | bool = True,
        keepalive_expiry: float = 5.0,
    ) -> None:
        self._limit = max_connections
        # True: the shared certifi context, looked up per request (`_tls`) so that a client of an http://
        # endpoint never loads the CA bundle (~25 ms of a first call's CPU).
        self._ssl: ssl.SSLContext | bool = verify
        self._keepalive = keepalive_expiry
        self._session: aiohttp.ClientSession | None = None
        self._timeouts: dict[tuple[float | None, float | None, float | None], aiohttp.ClientTimeout] = {}
        self._proxies: dict[tuple[str, str, int | None], str | None] = {}
        self._covered: dict[tuple[float | None, ...], aiohttp.ClientTimeout] = {}

    def _open(self) -> aiohttp.ClientSession:
        # Made on first use, inside the running loop that owns it (aiohttp binds a session to its loop).
        connector = aiohttp.TCPConnector(limit=self._limit, ssl=self._ssl, keepalive_timeout=self._keepalive)
        self._session = aiohttp.ClientSession(
            connector=connector,
            auto_decompress=False,  # httpx decodes Content-Encoding itself
            cookie_jar=aiohttp.DummyCookieJar(),  # httpx keeps the cookies
            timeout=aiohttp.ClientTimeout(total=None),
            # No skip_auto_headers: httpx always sends User-Agent, Accept and Accept-Encoding, so aiohttp adds
            # none of its defaults, and a skip list would cost a CIMultiDict per request.
        )
        return self._session

    def _timeout(self, request: httpx.Request) -> aiohttp.ClientTimeout:
        given = request.extensions.get("timeout", {})
        return self._timeout_of((given.get("connect"), given.get("read"), given.get("pool")))

    def _timeout_of(self, key: tuple[float | None, float | None, float | None]) -> aiohttp.ClientTimeout:
        """httpx's per-request timeouts as aiohttp's, made once per distinct setting."""
        timeout = self._timeouts.get(key)
        if timeout is None:
            connect, read, pool = key
            # aiohttp's `connect` covers waiting for a pooled connection *and* opening one: httpx's pool + connect.
            waiting = None if pool is None else pool + (connect or 0.0)
            timeout = aiohttp.ClientTimeout(total=None, sock_connect=connect, sock_read=read, connect=waiting)
            self._timeouts[key] = timeout
        return timeout

    def _proxy(self, url: httpx.URL) -> str | None:
        """The proxy the environment names for this URL (None: NO_PROXY or none set), once per origin."""
        origin = (url.scheme, url.host, url.port)
        if origin not in self._proxies:
            self._proxies[origin] = environment_proxy(url.scheme, url.host)
        return self._proxies[origin]

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        # Names as httpx spells them (not lower-cased) and the body in one piece (aiohttp sets its length), so
        # both transports put the same request on the wire.
        headers = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in request.headers.raw if k.lower() not in _OWN]
        body = await request.aread()
        # aiohttp gives a POST without Content-Type one (application/octet-stream); httpx sends none.
        skip = _NO_CONTENT_TYPE if request.method in _BODY_METHODS and "content-type" not in request.headers else None
        # encoded=True: the exact URL httpx built and the auth flow signed, not re-quoted by yarl.
        url = yarl.URL(str(request.url), encoded=True)
        answer = await self.open(
            request.method, url, headers, timeout=self._timeout(request), proxy=self._proxy(request.url),
            body=body or None, skip_headers=skip, request=request,
        )  # fmt: skip
        return as_response(answer)  # whole_up_to=0: only an empty body comes whole, as an Answer

    async def open(
        self,
        method: str,
        url: yarl.URL,
        headers: Any,
        *,
        timeout: aiohttp.ClientTimeout,
        proxy: str | None,
        body: bytes | None = None,
        skip_headers: tuple[str, ...] | None = None,
        request: httpx.Request | None = None,
        whole_up_to: int = 0,
    ) -> Answer | httpx.Response:
        """The transport's lowest public level: one request as given (`headers` as aiohttp takes them), its
        answer as a streamed `httpx.Response`, aiohttp's errors as httpx's. An answer whose whole body has
        already arrived and is at most `whole_up_to` bytes (a 202's) comes as an `Answer`: read, its
        connection back in the pool, no httpx model made for it. The bulk path sends its signed POSTs here,
        with headers built once and no `httpx.Request` (`request` may be None)."""
        session = self._session
        if session is None or session.closed:
            session = self._open()
        try:
            response = await session.request(
                method, url, headers=headers, data=body, allow_redirects=False, timeout=timeout,
                skip_auto_headers=skip_headers, proxy=proxy, ssl=self._tls(url, proxy),
            )  # fmt: skip
        except aiohttp.ClientError as exc:
            raise to_httpx_error(exc, request) from exc
        arrived = response.content
        if arrived.is_eof() and arrived.exception() is None and arrived.total_bytes <= whole_up_to:
            content = await response.read()  # in memory already: this read cannot wait or fail
            return Answer(response.status, response.headers, response.raw_headers, content, response.reason)
        return httpx.Response(
            response.status,
            headers=response.raw_headers,
            stream=_Body(response, request),
            request=request,
            extensions={
                "http_version": b"HTTP/1.1",
                "reason_phrase": (response.reason or "").encode("latin-1", "replace"),
            },
        )

    def _tls(self, url: yarl.URL, proxy: str | None) -> ssl.SSLContext | bool:
        """The TLS setting of one request: a plain http request with no proxy uses none, so needs no context."""
        if self._ssl is not True or (proxy is None and url.scheme == "http"):
            return self._ssl
        return tls_context()

    def client_timeout(self, timeout: httpx.Timeout, *, within: float | None = None) -> aiohttp.ClientTimeout:
        """httpx's timeouts as aiohttp's, for `open` (made once per distinct setting). `within`: the attempt
        runs under a deadline of this many seconds, set before the request starts, so a part of at least as
        many seconds (timed from later, and rounded up by aiohttp) could only fire after it: such a part is
        left out, and with it a timer per request (the bulk path's sock_read, 15 s under a 15 s deadline)."""
        parts = (timeout.connect, timeout.read, timeout.pool)
        if within is None:
            return self._timeout_of(parts)
        key = (*parts, within)
        made = self._covered.get(key)
        if made is None:
            full = self._timeout_of(parts)
            made = self._covered[key] = aiohttp.ClientTimeout(
                total=None, sock_connect=_below(full.sock_connect, within), sock_read=_below(full.sock_read, within),
                connect=_below(full.connect, within),
            )  # fmt: skip
        return made

    def proxy_for(self, url: httpx.URL) -> str | None:
        """The proxy `open` should use for this URL (None: none), as `handle_async_request` chooses it."""
        return self._proxy(url)

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


def _below(seconds: float | None, deadline: float) -> float | None:
    return seconds if seconds is not None and seconds < deadline else None


def environment_proxy(scheme: str, host: str) -> str | None:
    """The proxy URL for `scheme://host` from the environment (as curl and httpx read it), or None."""
    proxies = urllib.request.getproxies_environment()
    if not proxies or urllib.request.proxy_bypass(host):  # NO_PROXY
        return None
    return proxies.get(scheme) or proxies.get("all")
