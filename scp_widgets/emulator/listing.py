"""`GET /v1/servers`: query parsing, filters, sorting and marker paging, as pure functions."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any
from urllib.parse import parse_qsl

from .fleet import Server
from .responses import ApiError

DEFAULT_LIMIT = 20
MAX_LIMIT = 1000
# Documented filters the emulated servers carry no data for: accepted, and they filter nothing.
_IGNORED_FILTERS = frozenset({"product_category", "product_offering", "auto_scaling_group_id"})
_KNOWN = frozenset({"name", "ip", "state", "vpc_id", "server_type_id", "limit", "marker", "sort"}) | _IGNORED_FILTERS
_SORT_KEYS: dict[str, Callable[[Server], Any]] = {
    "created_at": lambda s: s.created_at,
    "modified_at": lambda s: s.modified_at,
    "name": lambda s: s.name,
    "state": lambda s: s.state,
    "id": lambda s: s.id,
}


def _invalid(detail: str) -> ApiError:
    return ApiError(400, "INVALID_PARAMETER", detail)


def parse_query(query_string: str) -> dict[str, str]:
    """`+` and %-escapes decoded; unknown parameters refused rather than silently ignored."""
    try:
        pairs = parse_qsl(query_string, keep_blank_values=True, strict_parsing=bool(query_string))
    except ValueError as exc:
        raise _invalid(f"Malformed query string: {exc}.") from exc
    params: dict[str, str] = {}
    for key, value in pairs:
        if key not in _KNOWN:
            raise _invalid(f"Unknown query parameter {key!r}.")
        if key in params:
            raise _invalid(f"Query parameter {key!r} given more than once.")
        params[key] = value
    return params


def _limit(params: dict[str, str]) -> int:
    raw = params.get("limit")
    if raw is None:
        return DEFAULT_LIMIT
    if not raw.isascii() or not raw.isdigit() or not 1 <= int(raw) <= MAX_LIMIT:
        raise _invalid(f"limit must be an integer from 1 to {MAX_LIMIT}, got {raw!r}.")
    return int(raw)


def _sorter(params: dict[str, str]) -> tuple[Callable[[Server], Any], bool]:
    key, _, direction = params.get("sort", "created_at:desc").partition(":")
    direction = direction or "asc"
    if key not in _SORT_KEYS or direction not in ("asc", "desc"):
        raise _invalid(f"sort must be one of {sorted(_SORT_KEYS)} with ':asc' or ':desc'.")
    return _SORT_KEYS[key], direction == "desc"


def _matches(server: Server, params: dict[str, str]) -> bool:
    return (
        params.get("name", "") in server.name
        and params.get("state", server.state) == server.state
        and params.get("vpc_id", server.vpc_id) == server.vpc_id
        and params.get("server_type_id", server.server_type["id"]) == server.server_type["id"]
        and params.get("ip", server.ip) == server.ip
    )


def page(servers: Sequence[Server], query_string: str) -> list[Server]:
    """One page of `servers` (already limited to the caller's account)."""
    params = parse_query(query_string)
    limit = _limit(params)
    key, descending = _sorter(params)
    # Sorting by id second makes the order total, so marker paging never skips or repeats.
    ordered = sorted(servers, key=lambda s: s.id)
    ordered.sort(key=key, reverse=descending)
    chosen = [s for s in ordered if _matches(s, params)]
    start = 0
    if "marker" in params:
        ids = [s.id for s in chosen]
        if params["marker"] not in ids:
            raise _invalid(f"marker {params['marker']!r} is not a server of this listing.")
        start = ids.index(params["marker"]) + 1
    return chosen[start : start + limit]
