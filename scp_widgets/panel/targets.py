"""What a panel run would act on: the picked servers, then the pasted entries, each resolved or flagged.

A pasted entry is an id (any case), a console URL holding one, or a server name from the listing. What
cannot be resolved is flagged with the reason and never counted nor sent. Pure functions, tested without
widgets.
"""

from __future__ import annotations

import html
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from scp_widgets.client.ids import is_valid_id, normalise_id
from scp_widgets.client.wording import counted

_UUID_IN = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
_COMMENT = re.compile(r"(?:^|\s)#.*$")  # '#' after a space starts a comment; inside a URL it does not
_SEPARATORS = re.compile(r"[\s,;]+")
_MUTED = "var(--jp-content-font-color2, #5f6368)"
_ERROR = "var(--jp-error-color1, #d32f2f)"


@dataclass(frozen=True)
class Targets:
    """The ids a run would send (picked first, then pasted; each once) and what was left out and why."""

    ids: list[str]
    picked: int
    pasted: int
    resolved: list[tuple[str, str]] = field(default_factory=list)  # (entry as pasted, the id it named)
    invalid: list[tuple[str, str]] = field(default_factory=list)  # (entry as pasted, why it is left out)


def pasted_entries(text: str) -> list[str]:
    entries: list[str] = []
    for line in text.splitlines():
        entries.extend(part for part in _SEPARATORS.split(_COMMENT.sub("", line)) if part)
    return entries


def resolve(entry: str, by_name: Mapping[str, Sequence[str]]) -> tuple[str | None, str]:
    """(id, '') when the entry names one server, else (None, the reason)."""
    server_id = normalise_id(entry)
    if is_valid_id(server_id):
        return server_id, ""
    found = {m.lower() for m in _UUID_IN.findall(entry)}
    if len(found) == 1:
        return found.pop(), ""
    if len(found) > 1:
        return None, "holds more than one id"
    named = by_name.get(entry.strip().strip("'\"").lower(), ())
    if len(named) == 1:
        return named[0], ""
    if named:
        return None, f"{len(named)} servers have this name; paste the id"
    return None, "not an id, a console URL or a server name in the list"


def targets(picked: Sequence[str], pasted_text: str, by_name: Mapping[str, Sequence[str]]) -> Targets:
    ids = list(dict.fromkeys(picked))
    chosen = set(ids)
    resolved: list[tuple[str, str]] = []
    invalid: list[tuple[str, str]] = []
    pasted = 0
    for entry in pasted_entries(pasted_text):
        server_id, why = resolve(entry, by_name)
        if server_id is None:
            invalid.append((entry, why))
            continue
        if normalise_id(entry) != server_id:
            resolved.append((entry, server_id))
        if server_id not in chosen:
            chosen.add(server_id)
            ids.append(server_id)
            pasted += 1
    return Targets(ids, len(dict.fromkeys(picked)), pasted, resolved, invalid)


def target_line(plan: Targets) -> str:
    """'Target: 8 servers: 5 picked in the list + 3 pasted (1 pasted entry left out)', in plain words."""
    if not plan.ids:
        text = "Target: nothing yet: pick servers in the list or paste ids"
    else:
        sources = []
        if plan.picked:
            sources.append(f"{plan.picked} picked in the list")
        if plan.pasted:
            sources.append(f"{plan.pasted} pasted")
        text = f"Target: {counted(len(plan.ids), 'server')}: {' + '.join(sources)}"
    if plan.invalid:
        text += f" ({counted(len(plan.invalid), 'pasted entry')} left out, see below the box)"
    return f"<span style='color:var(--jp-content-font-color1, #1f1f1f)'>{html.escape(text)}</span>"


def paste_notes(plan: Targets, limit: int = 8) -> str:
    """Inline notes under the paste box: entries left out (and why), names and URLs resolved to ids."""
    lines = [
        f"<div style='color:{_ERROR}'>✖ <code>{html.escape(entry)}</code>: {html.escape(why)}; left out</div>"
        for entry, why in plan.invalid[:limit]
    ]
    if len(plan.invalid) > limit:
        lines.append(f"<div style='color:{_ERROR}'>✖ and {len(plan.invalid) - limit} more left out</div>")
    lines += [
        f"<div style='color:{_MUTED}'>{html.escape(entry[:40])} → <code>{server_id[:8]}…</code></div>"
        for entry, server_id in plan.resolved[:limit]
    ]
    return f"<div class='scp-paste-notes' style='font-size:11px;overflow-wrap:anywhere'>{''.join(lines)}</div>"
