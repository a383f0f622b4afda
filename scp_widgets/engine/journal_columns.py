"""Reading a journal whole, by column (issue 21): the per-server lines of a file all in the writer's shape.

`shaped_lines` runs each per-server line's pattern over the whole text at once (`findall`: C speed, strings,
no match object per line) and counts the lines that start like each kind: when every such line matched
(a killed run's torn last line aside), the few other lines (the header, the footer, blanks, debris) are
handed back with their line numbers for the json path to read in order; on any doubt it returns None and
the caller reads line by line, which says what is wrong in the same warnings and sentences.
`result_columns_frame` makes the result frame of the matched result lines' strings, column by column.

pandas and numpy are imported inside the functions: nothing on a run's sending path imports them.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from operator import itemgetter
from typing import TYPE_CHECKING, Any

from scp_widgets.engine.results import ACTIONS, RESULT_FIELDS, Outcome, result_frame

if TYPE_CHECKING:
    import pandas as pd

#: A string or null, as the line patterns take it apart (`match.groups()` gives None for null); `findall`
#: gives "" for both, so over the whole text the same value is captured with its quotes: '"x"' or 'null'.
STR_OR_NULL = r'(?:"([^"\\\x00-\x1f]*)"|null)'
_QUOTED_OR_NULL = r'("[^"\\\x00-\x1f]*"|null)'
PREFIXES = ('{"type":"sent",', '{"type":"accepted",', '{"type":"result",')
_OTHER_LINE = re.compile(r'\n(?!\{"type":"(?:sent|accepted|result)",)')
#: More lines than this outside the per-server shapes and the file is read line by line.
MAX_OTHERS = 64


@dataclass
class ShapedLines:
    """Every `sent` and `accepted` line's values as one string ('"id":"x","at":1.5'), every `result` line's
    group strings (null numbers as "", optional strings quoted or 'null'), and every other line as
    (line number, text), in file order."""

    sent: list[str]
    accepted: list[str]
    results: list[tuple[str, ...]]
    others: list[tuple[int, str]]

    def known_names(self) -> bool:
        """Every outcome and action is one the frame knows (else the line path says which one is not).
        An action left out ("", format 3) is its run's."""
        outcomes, actions = {row[_OUTCOME] for row in self.results}, {row[_ACTION] for row in self.results}
        return outcomes <= _OUTCOME_CODES.keys() and actions <= _ACTION_CODES.keys() | {""}


_STR = r'"([^"\\\x00-\x1f]*)"'
_RUN = rf',"run":{_STR}\}}'
_NO_ESCAPES = re.compile(r'[^"\\\x00-\x1f]*')


def whole_text(line: re.Pattern[str], run_id: str, *, values: bool = False) -> re.Pattern[str] | None:
    """A line's pattern (its full shape, ending in its run's id) matched at the start of any line after the
    first, up to its end, for `run_id`'s lines only; `values`: all its values as one group. None when the
    pattern is not of that form."""
    pattern = line.pattern
    if not pattern.endswith(_RUN) or not _NO_ESCAPES.fullmatch(run_id):
        return None
    pattern = pattern[: -len(_RUN)].replace(STR_OR_NULL, _QUOTED_OR_NULL)
    if values:
        head, _, rest = pattern.partition(",")
        pattern = head + ",(" + re.sub(r"\((?!\?)", "(?:", rest) + ")"
    return re.compile(r"\n(?:" + pattern + ',"run":"' + re.escape(run_id) + r'"\})(?=\n|\Z)')


def shaped_lines(text: str, lines: Sequence[re.Pattern[str]], run_id: str) -> ShapedLines | None:
    """The lines of `text` taken apart by the line patterns `lines` (sent, accepted, result) of `run_id`,
    or None when a line starting like one of them does not match it (but a torn last line) or other lines
    are many."""
    if text.startswith(PREFIXES):
        return None  # a per-server line before any header: refused line by line
    # What sends a file line by line anyway, found before the patterns' time is spent (a fallback would pay
    # it on top): another run's header, or text json escaped in a per-server line (the first backslash).
    backslash = text.find("\\", text.find("\n") + 1 or len(text))
    if '\n{"type":"run",' in text or (backslash > 0 and text.startswith(PREFIXES, text.rfind("\n", 0, backslash) + 1)):
        return None
    tail_start = text.rfind("\n") + 1
    tail = text[tail_start:]
    found: list[list[Any]] = []
    for prefix, line in zip(PREFIXES, lines, strict=True):
        pattern = whole_text(line, run_id, values=prefix != PREFIXES[-1])
        if pattern is None or pattern.groups != (1 if prefix != PREFIXES[-1] else len(RESULT_FIELDS)):
            return None
        found.append(pattern.findall(text))
    torn = bool(tail_start) and tail.startswith(PREFIXES) and not any(line.fullmatch(tail) for line in lines)
    # The usual file's other lines are the header and the few after the last per-server line (the footer,
    # a torn line, the empty one after the last newline): found from the end; when they do not add up (other
    # lines in between), every line's start is looked at.
    for starts in (_last_others(text, torn), None):
        if starts is None:
            starts = [0, *(m.end() for m in _OTHER_LINE.finditer(text))]
            if torn:
                starts.append(tail_start)  # cut short, most likely: the json path says what it is
        if len(starts) > MAX_OTHERS:
            return None
        others, number, previous = [], 1, 0
        for start in starts:
            number += text.count("\n", previous, start)
            previous = start
            end = text.find("\n", start)
            others.append((number, text[start : len(text) if end < 0 else end]))
        # Every line is another line or a match (a match is a line, each of its own): if they add up, every
        # line starting like a per-server line matched its pattern whole.
        if number + text.count("\n", previous) == len(others) + sum(map(len, found)):
            return ShapedLines(found[0], found[1], found[2], others)
    return None


def _last_others(text: str, torn: bool) -> list[int]:
    """The starts of the first line and of the lines after the last one starting like a per-server line
    (or after the torn last line)."""
    starts: list[int] = []
    end = len(text)
    while len(starts) < MAX_OTHERS:
        start = text.rfind("\n", 0, end) + 1
        if start == 0 or (text.startswith(PREFIXES, start) and not (torn and end == len(text))):
            break
        starts.append(start)
        end = start - 1
    return [0, *reversed(starts)]


_OUTCOME = RESULT_FIELDS.index("outcome")
_ACTION = RESULT_FIELDS.index("action")
_OUTCOME_CODES = {f'"{o}"': code for code, o in enumerate(Outcome)}  # in the categories' order (category_dtypes)
_ACTION_CODES = {f'"{name}"': code for code, name in enumerate(ACTIONS)}
_QUOTED = ("error_code", "message", "request_id", "api_version", "endpoint")
_NULLS = frozenset({"null", ""})  # "": left out of a format 3 line


def result_columns_frame(
    results: Sequence[tuple[str, ...]],
    order: Sequence[int],
    extra: Sequence[Sequence[Any]],
    attrs: Mapping[str, Any],
    defaults: Mapping[str, str | None] | None = None,
) -> pd.DataFrame:
    """The frame of the result lines' strings (`ShapedLines.results`, outcomes known) and `extra` rows of
    values (in `RESULT_FIELDS` order): row k of the frame is `order[k]`, an index into results then extra.
    `defaults`: the lines are format 3's (`journal.compact_result`): a field left out ("") is its run's value,
    times are whole nanoseconds. OverflowError: nanoseconds beyond int64 (the line-by-line reading takes them)."""
    import numpy as np
    import pandas as pd

    from scp_widgets.engine.results import category_dtypes

    take = np.asarray(order, dtype=np.intp)
    dtypes = dict(zip(("action", "outcome"), category_dtypes(), strict=True))
    typed: dict[str, Any] = {}
    for i, name in enumerate(RESULT_FIELDS):
        raw = list(map(itemgetter(i), results))  # a column at a time: 0.6x the time of zip(*results)
        more = [row[i] for row in extra]
        default = (defaults or {}).get(name)
        if name in dtypes:  # the codes of the quoted names ('null' or an unknown action: -1, missing)
            known = _ACTION_CODES if name == "action" else _OUTCOME_CODES
            codes = {value: known.get(value, -1) for value in {*raw, *(f'"{v}"' for v in more if v is not None)}}
            codes["null"] = -1
            codes[""] = known.get(f'"{default}"', -1)  # left out: the run's (format 3)
            quoted = [*raw, *("null" if v is None else f'"{v}"' for v in more)]
            every = np.fromiter(map(codes.__getitem__, quoted), dtype=np.int8, count=len(quoted))
            typed[name] = pd.Categorical.from_codes(every[take], dtype=dtypes[name])
        elif name == "server_id":
            typed[name] = pd.array(_objects([*raw, *more])[take], dtype="string")
        elif name in _QUOTED:  # each value once where most repeat
            if len(set(raw[:1000])) < 100:  # the endpoint, the version, no error code
                unquoted = {v: None if v == "null" else v[1:-1] for v in set(raw)}
                unquoted[""] = default
                plain = list(map(unquoted.__getitem__, raw))
            else:  # a request id: a set of 100,000 would cost 5x this
                plain = [None if v == "null" else default if v == "" else v[1:-1] for v in raw]
            typed[name] = pd.array(_objects([*plain, *more])[take], dtype="string")
        elif name == "locked":
            flags = np.array([v == "true" for v in raw] + [v is True for v in more], dtype=bool)
            nulls = np.array([v in _NULLS for v in raw] + [v is None for v in more], dtype=bool)
            typed[name] = pd.arrays.BooleanArray(flags[take], nulls[take])
        elif name in ("http_status", "attempts"):
            nulls = np.array([v == "" for v in raw] + [v is None for v in more], dtype=bool)
            values = np.fromiter(
                map(int, raw if "" not in raw else (v or "0" for v in raw)), dtype=np.int64, count=len(raw)
            )
            every = np.concatenate([values, np.array([v or 0 for v in more], dtype=np.int64)])[take]
            typed[name] = pd.arrays.IntegerArray(every, nulls[take]) if name == "http_status" else every
        else:  # a time: epoch seconds, NaN for none
            if defaults is None:
                seconds = np.fromiter(
                    map(float, raw if "" not in raw else (v or "nan" for v in raw)), dtype=np.float64, count=len(raw)
                )
            else:  # whole nanoseconds ("": none), read as `journal.ns_to_seconds` reads them: the same floats
                ns = np.fromiter(map(int, raw if "" not in raw else (v or "0" for v in raw)), np.int64, len(raw))
                whole, part = np.divmod(ns, 1_000_000_000)
                seconds = whole.astype(np.float64) + part / 1e9
                if "" in raw:
                    seconds[np.array([v == "" for v in raw], dtype=bool)] = np.nan
            typed[name] = np.concatenate([seconds, np.array([np.nan if v is None else v for v in more])])[take]
    return result_frame(typed, attrs)


def _objects(values: list[Any]) -> Any:
    import numpy as np

    every = np.empty(len(values), dtype=object)
    every[:] = values
    return every
