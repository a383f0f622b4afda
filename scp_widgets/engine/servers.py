"""The fleet listing as a DataFrame: one row per server, the columns a person picks servers by."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pandas as pd

SERVER_COLUMNS = (
    "id", "name", "state", "locked", "server_type", "vcpus", "ram", "vpc_id", "ip", "created_at",
    "modified_at",
)  # fmt: skip


def _first_ip(server: dict[str, Any]) -> str | None:
    for address in server.get("addresses") or []:
        ips = address.get("ip_addresses") if isinstance(address, dict) else None
        for ip in ips or []:
            return str(ip.get("ip_address") if isinstance(ip, dict) else ip)
    return None


def _times(values: list[Any]) -> pd.DatetimeIndex:
    texts = [str(v) if v else None for v in values]
    return pd.DatetimeIndex(pd.to_datetime(pd.Series(texts, dtype="object"), utc=True, format="ISO8601"))


def servers_frame(servers: Sequence[dict[str, Any]]) -> pd.DataFrame:
    def server_type(s: dict[str, Any]) -> dict[str, Any]:
        value = s.get("server_type")
        return value if isinstance(value, dict) else {}

    return pd.DataFrame(
        {
            "id": pd.array([s.get("id") for s in servers], dtype="string"),
            "name": pd.array([s.get("name") for s in servers], dtype="string"),
            "state": pd.array([s.get("state") for s in servers], dtype="string"),
            "locked": pd.array([s.get("locked") for s in servers], dtype="boolean"),
            "server_type": pd.array([server_type(s).get("name") for s in servers], dtype="string"),
            "vcpus": pd.array([server_type(s).get("vcpus") for s in servers], dtype="Int64"),
            "ram": pd.array([server_type(s).get("ram") for s in servers], dtype="Float64"),
            "vpc_id": pd.array([s.get("vpc_id") for s in servers], dtype="string"),
            "ip": pd.array([_first_ip(s) for s in servers], dtype="string"),
            "created_at": _times([s.get("created_at") for s in servers]),
            "modified_at": _times([s.get("modified_at") for s in servers]),
        },
        columns=list(SERVER_COLUMNS),
    )
