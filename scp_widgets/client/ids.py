"""Server ids: what a valid one looks like and how user input (text, lists, Series, columns) becomes a list."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping
from typing import Any

from scp_widgets.client.errors import InvalidServerIdError, ScpUsageError

# SCP server ids are UUIDs (seed page: 2a9be312-5d4b-4bc8-b2ae-35100fa9241f); we send them lower case.
_UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
_SEPARATORS = re.compile(r"[\s,;]+")


def normalise_id(raw: object) -> str:
    """Strip whitespace and quotes, lower-case. An id already in shape is returned as it is, not copied: a
    run keeps every id it sends, 85 bytes each (8.5 MB at 100,000 servers)."""
    text = str(raw).strip().strip("'\"").strip()
    if _UUID.match(text):
        return text
    # a zero-width space, byte-order mark or bidi mark copied from a web page, a chat or a Windows file prints
    # as nothing: every format character (Unicode category Cf) goes
    visible = "".join(c for c in text if unicodedata.category(c) != "Cf")
    return visible.strip().strip("'\"").strip().lower()


def is_valid_id(server_id: str) -> bool:
    return bool(_UUID.match(server_id))


def check_id(raw: object) -> str:
    """The normalised id, or `InvalidServerIdError` before anything is sent."""
    if type(raw) is str and _UUID.match(raw):  # already in shape (every id of a bulk run): as it is
        return raw
    server_id = normalise_id(raw)
    if not is_valid_id(server_id):
        raise InvalidServerIdError(f"{str(raw)!r} is not a server id; expected a UUID like 2a9be312-5d4b-...")
    return server_id


def split_ids(text: str) -> list[str]:
    """Ids from free text: commas, semicolons and whitespace separate; `#` starts a comment on a line."""
    found: list[str] = []
    for line in text.splitlines():
        line = line.split("#", 1)[0]
        found.extend(part for part in _SEPARATORS.split(line) if part)
    return found


def ids_from(value: Any) -> list[str]:
    """Raw ids, in order, from a string, any iterable, a pandas Series, Index or one-column DataFrame."""
    if isinstance(value, str):
        return split_ids(value)
    columns = getattr(value, "columns", None)
    if columns is not None:  # a DataFrame: take its id column, or its only column
        if "server_id" in columns:
            value = value["server_id"]
        elif "id" in columns:
            value = value["id"]
        elif len(columns) == 1:
            value = value[columns[0]]
        else:
            raise ScpUsageError("A DataFrame of ids needs an 'id' or 'server_id' column (or a single column).")
    if isinstance(value, Mapping):  # iterating would send its keys, which are rarely the ids
        raise ScpUsageError(
            f"Cannot tell whether the ids are the keys or the values of this {type(value).__name__}; pass "
            "list(d) for its keys or list(d.values()) for its values."
        )
    if isinstance(value, Iterable):
        out: list[str] = []
        for item in value:
            if item is None or (isinstance(item, float) and item != item):  # None / NaN
                continue
            out.extend(split_ids(item) if isinstance(item, str) else [str(item)])
        return out
    raise ScpUsageError(
        f"Cannot read server ids from {type(value).__name__} {value!r}; pass a string, list or Series of ids."
    )
