"""Which `/v1` call a method and path are: the action name used in records, and the server id."""

from __future__ import annotations

import re
from dataclasses import dataclass

_SERVER = r"/v1/servers/(?P<id>[^/]+)"
_TABLE: tuple[tuple[str, re.Pattern[str], str], ...] = (
    ("GET", re.compile(r"/v1/servers"), "list"),
    ("GET", re.compile(_SERVER), "show"),
    ("DELETE", re.compile(_SERVER), "delete"),
    ("POST", re.compile(_SERVER + r"/lock"), "lock"),
    ("POST", re.compile(_SERVER + r"/unlock"), "unlock"),
    ("POST", re.compile(_SERVER + r"/start"), "start"),
    ("POST", re.compile(_SERVER + r"/stop"), "stop"),
)


@dataclass(frozen=True)
class RouteMatch:
    action: str | None  # None: no such call
    server_id: str | None
    path_known: bool  # the path exists for some other method → 405 rather than 404


def match(method: str, path: str) -> RouteMatch:
    path_known = False
    server_id: str | None = None
    for route_method, pattern, action in _TABLE:
        found = pattern.fullmatch(path)
        if found is None:
            continue
        server_id = found.groupdict().get("id")
        if route_method == method:
            return RouteMatch(action, server_id, True)
        path_known = True
    return RouteMatch(None, server_id, path_known)
