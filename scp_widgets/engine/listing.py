"""The listing of one endpoint as a DataFrame (the engine under `list_servers` and each region's listing)."""

from __future__ import annotations

from typing import Any

import pandas as pd

from scp_widgets.client.errors import ScpRequestError
from scp_widgets.client.scp_client import AsyncScpClient, ScpClient
from scp_widgets.engine.connection import CONNECTION_KEYS, Connection
from scp_widgets.engine.results import message_for_error
from scp_widgets.engine.servers import servers_frame
from scp_widgets.engine.settings import version_text


async def alist_one(
    client: AsyncScpClient | ScpClient | None,
    api_version: str | None,
    page_size: int,
    options: dict[str, Any],
    *,
    retries: int = 3,
    timeout: float = 30.0,
) -> pd.DataFrame:
    """One endpoint's listing; `retries` / `timeout` are the run's own when a run lists (a window, a fleet
    run), so a dead region costs what the caller allowed, not 4 x 30 s."""
    filters = {k: options.pop(k) for k in list(options) if k not in CONNECTION_KEYS}
    if isinstance(filters.get("state"), str):  # SCP states are upper case; `state="active"` means ACTIVE
        filters["state"] = str(filters["state"]).upper()
    if isinstance(client, ScpClient):
        client = client.aclient
    owned = client is None
    if client is None:
        client = Connection(**options).client(retries=retries, timeout=timeout, concurrency=4)
    try:
        choice = await client.resolve_version(version_text(api_version), warn=False)
        servers = await client.list_servers(page_size=page_size, version=choice, **filters)
    except ScpRequestError as exc:  # one sentence that says where and what to do, not "HTTP 401 SIGNATURE..."
        exc.explanation = f"Could not list the servers at {client.endpoint}: {message_for_error(exc)}."
        raise
    finally:
        if owned:
            await client.aclose()
    frame = servers_frame(servers)
    frame.attrs.update(endpoint=client.endpoint, api_version=choice.number, warning=choice.warning)
    return frame
