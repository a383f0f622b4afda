"""Where and as whom a run sends: `Connection` builds the client for one endpoint."""

from __future__ import annotations

from dataclasses import dataclass, replace

import httpx

from scp_widgets.client.credentials import Secret, as_secret, resolve_credentials
from scp_widgets.client.endpoints import redact_url, resolve_endpoint
from scp_widgets.client.retry import RetryPolicy
from scp_widgets.client.scp_client import AsyncScpClient
from scp_widgets.engine.settings import optional_text

#: Connections beyond the workers' own, for the read-back's listings: with exactly `concurrency` connections the
#: workers, each asking again the moment it is done, kept the pool busy and a listing waited for every send to
#: finish, so no server was confirmed (nor journaled as final) until the last request had gone out.
READ_BACK_CONNECTIONS = 4


@dataclass(frozen=True)
class Connection:
    """Where and as whom: everything needed to build a client (None means: resolve as the client does).

    A `secret_key` given as a string is wrapped in `Secret` at once, so no frame or repr holds it in clear.
    """

    endpoint: str | None = None
    region: str | None = None
    environment: str | None = None
    access_key: str | None = None
    secret_key: str | Secret | None = None
    accept_language: str = "en-US"
    transport: httpx.AsyncBaseTransport | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "secret_key", as_secret(self.secret_key))
        for name in ("endpoint", "region", "environment", "access_key", "accept_language"):
            optional_text(name, getattr(self, name))

    def __repr__(self) -> str:  # the dataclass repr would show secret_key
        endpoint = None if self.endpoint is None else redact_url(self.endpoint)
        return f"Connection(endpoint={endpoint!r}, region={self.region!r}, environment={self.environment!r})"

    def resolved(self) -> Connection:
        """The endpoint and credentials looked up now (arguments, environment, ~/.scpconf) in the caller's
        thread, so a missing credential or endpoint is a `ScpUsageError` there, before any run starts."""
        endpoint = resolve_endpoint(self.endpoint, region=self.region, environment=self.environment)
        credentials = resolve_credentials(self.access_key, self.secret_key)
        return replace(
            self, endpoint=endpoint, region=None, environment=None,
            access_key=credentials.access_key, secret_key=credentials.secret_key,
        )  # fmt: skip

    def client(self, *, retries: int, timeout: float, concurrency: int) -> AsyncScpClient:
        return AsyncScpClient(
            endpoint=self.endpoint, region=self.region, environment=self.environment,
            access_key=self.access_key, secret_key=self.secret_key, accept_language=self.accept_language,
            transport=self.transport, retry=RetryPolicy(retries=retries),
            timeout=httpx.Timeout(timeout, connect=min(timeout, 5.0)),
            max_connections=max(concurrency, 10) + READ_BACK_CONNECTIONS,
        )  # fmt: skip


#: The keyword arguments of `Connection` (the rest of a call's options are filters or run settings).
CONNECTION_KEYS = frozenset(Connection.__dataclass_fields__)
