"""The bulk path: a run's lock and unlock POSTs, signed and sent with the least work per request.

Through httpx each POST parsed its URL, built and merged header models, ran the auth flow and handed a
`httpx.Request` to the transport, which turned it back into aiohttp's arguments: at 10,000 servers that was
about half the client's CPU (issue 21's profile). Here, once per client, method and API version, httpx builds
one request and its headers are kept (so the wire request is the one httpx would send), the URL prefix is
checked against httpx's own rendering, and the HMAC key state is computed once (`Signer`). Each attempt
then only signs with a fresh timestamp and hands the request to `AiohttpTransport.open`, the
transport's lowest public level. A whole small answer (a 202) comes back as an `Answer` (answers.py): status,
headers and body as aiohttp parsed them, no httpx model; any other answer is the streamed `httpx.Response` the
httpx path gets. The attempt runs under the client's whole-attempt deadline (transfer.py), so aiohttp is
given only the timeout parts shorter than it (`AiohttpTransport.client_timeout(within=)`): under the default
timeout, one timer per request (the deadline's) where there were two.

Only for the client's own `AiohttpTransport`: with any other transport (`transport=`), every call keeps the
httpx path. httpx stays the client's public face: auth, requests and responses of every other call.
"""

from __future__ import annotations

from collections.abc import Callable

import aiohttp
import httpx
import yarl

from scp_widgets.client import transfer
from scp_widgets.client.aio_transport import AiohttpTransport
from scp_widgets.client.answers import Answer
from scp_widgets.client.auth import (
    ACCESS_KEY_HEADER,
    CLIENT_TYPE,
    CLIENT_TYPE_HEADER,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    Signer,
    epoch_ms,
)
from scp_widgets.client.credentials import Credentials

#: What aiohttp would add on its own to a bodiless POST, and httpx never sends.
_SKIP = ("Content-Type",)
#: An answer this small whose body has arrived with its headers comes read (a 202's, most error envelopes).
WHOLE = 16 * 1024
#: Headers aiohttp writes itself for the body it is given.
_OWN = frozenset({"transfer-encoding"})


class SignedPoster:
    """Makes `PreparedPost`s for one client; holds no secret in clear and shows none in its repr."""

    def __init__(
        self,
        http: httpx.AsyncClient,
        transport: AiohttpTransport,
        credentials: Credentials,
        clock: Callable[[], float],
    ) -> None:
        self._http = http
        self.transport = transport
        self.signer = Signer(credentials)
        self.clock = clock
        self._timeout_of: object = None
        self._timeout = aiohttp.ClientTimeout()
        self._templates: dict[tuple[str, str], tuple[dict[str, str], str | None] | None] = {}

    def __repr__(self) -> str:
        return "SignedPoster()"

    def prepare(self, url: str, version_header: str) -> PreparedPost | None:
        """The POST of `url` ready to sign and send, or None when httpx would send another URL than `url`
        (an endpoint it normalises): that call then takes the httpx path."""
        key = (url[: url.index("/v1/")] if "/v1/" in url else url, version_header)
        if key not in self._templates:
            self._templates[key] = self._template(url, version_header)
        template = self._templates[key]
        if template is None:
            return None
        headers, proxy = template
        return PreparedPost(self, url, headers, proxy)

    def _template(self, url: str, version_header: str) -> tuple[dict[str, str], str | None] | None:
        request = self._http.build_request("POST", url, headers={"Scp-Api-Version": version_header})
        if str(request.url) != url:
            return None
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in request.headers.raw}
        headers = {k: v for k, v in headers.items() if k.lower() not in _OWN}
        # In the order the auth flow adds them; the signature and timestamp are filled in per attempt.
        headers.update({ACCESS_KEY_HEADER: self.signer.access_key, SIGNATURE_HEADER: "", TIMESTAMP_HEADER: ""})
        headers[CLIENT_TYPE_HEADER] = CLIENT_TYPE
        return headers, self.transport.proxy_for(request.url)

    def timeout(self) -> aiohttp.ClientTimeout:
        """The aiohttp timeout of one attempt: the client's, less the parts its whole-attempt deadline covers."""
        timeout = self._http.timeout
        if timeout is not self._timeout_of:
            self._timeout = self.transport.client_timeout(timeout, within=transfer.attempt_deadline(timeout))
            self._timeout_of = timeout
        return self._timeout


class PreparedPost:
    __slots__ = ("headers", "poster", "proxy", "target", "url")

    def __init__(self, poster: SignedPoster, url: str, headers: dict[str, str], proxy: str | None) -> None:
        self.poster = poster
        self.url = url
        self.target = yarl.URL(url, encoded=True)  # the exact URL signed, not re-quoted
        self.headers = headers
        self.proxy = proxy

    def __repr__(self) -> str:
        return f"PreparedPost({self.url!r})"

    async def send(self) -> Answer | httpx.Response:
        """One attempt: signed now (every attempt gets a fresh timestamp), sent; a whole small answer (a 202)
        comes as an `Answer`, any other streamed as an `httpx.Response`."""
        poster = self.poster
        stamp = str(epoch_ms(poster.clock))
        headers = self.headers.copy()
        headers[SIGNATURE_HEADER] = poster.signer.sign("POST", self.url, stamp)
        headers[TIMESTAMP_HEADER] = stamp
        return await poster.transport.open(
            "POST", self.target, headers, timeout=poster.timeout(), proxy=self.proxy, skip_headers=_SKIP,
            whole_up_to=WHOLE,
        )  # fmt: skip
