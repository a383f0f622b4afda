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
from dataclasses import dataclass, field
from operator import itemgetter
from typing import TYPE_CHECKING, Any

from scp_widgets.engine.journal import COMPACT_KEYS
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
    """Every `sent` and `accepted` line as one string from its kind to its last value ('sent","id":"x","at":1.5'),
    every `result` line's group strings (null numbers as "", optional strings quoted or 'null'), and every
    other line as (line number, text), in file order."""

    events: list[str]
    results: list[tuple[str, ...]]
    others: list[tuple[int, str]]
    #: Format 3's: the result lines' groups are `_BLOCKS`, each taken apart by its pattern (None: one field).
    blocks: list[re.Pattern[str] | None] | None = None
    _columns: dict[int, list[str]] = field(default_factory=dict, repr=False)
    _seconds: dict[int, Any] | None = field(default=None, repr=False)

    def column(self, index: int) -> list[str]:
        """The result lines' strings of field `index` (`RESULT_FIELDS`), taken out once."""
        if (column := self._columns.get(index)) is None:
            if self.blocks is None:
                column = self._columns[index] = list(map(itemgetter(index), self.results))  # 0.6x zip(*results)
            else:
                block, _ = _BLOCK_OF[index]
                texts = list(map(itemgetter(block), self.results))
                decoder = self.blocks[block]
                for name, values in zip(_BLOCKS[block], _taken_apart(texts, decoder), strict=True):
                    self._columns[RESULT_FIELDS.index(name)] = values
                column = self._columns[index]
        return column

    def seconds(self, index: int) -> Any:
        """Format 3's time field `index` as epoch seconds when every line has the four times in 19 digits
        (read by numpy at once), else None."""
        if self.blocks is None:
            return None
        if self._seconds is None:
            self._seconds = _every_time(list(map(itemgetter(len(_BLOCKS) - 1), self.results))) or {}
        return self._seconds.get(index)

    def known_names(self) -> bool:
        """Every outcome and action is one the frame knows (else the line path says which one is not).
        An action left out ("", format 3) is its run's."""
        outcomes, actions = set(self.column(_OUTCOME)), set(self.column(_ACTION))
        return outcomes <= _OUTCOME_CODES.keys() and actions <= _ACTION_CODES.keys() | {""}


_STR = r'"([^"\\\x00-\x1f]*)"'
_RUN = rf',"run":{_STR}\}}'
_TYPE = r'\{"type":"'
_NO_ESCAPES = re.compile(r'[^"\\\x00-\x1f]*')


def whole_text(lines: Sequence[re.Pattern[str]], run_id: str, *, values: bool = False) -> re.Pattern[str] | None:
    """Line patterns (each a full shape, from its type to its run's id) matched at the start of any line after
    the first, up to its end, for `run_id`'s lines only; `values`: each line from its type's name to its last
    value as one group (several patterns: one scan of the text for all of them), else each pattern's groups.
    None when a pattern is not of that form."""
    shapes = [line.pattern for line in lines]
    if not all(p.startswith(_TYPE) and p.endswith(_RUN) for p in shapes) or not _NO_ESCAPES.fullmatch(run_id):
        return None
    bodies = [p[len(_TYPE) : -len(_RUN)].replace(STR_OR_NULL, _QUOTED_OR_NULL) for p in shapes]
    if values:
        bodies = ["(" + "|".join(re.sub(r"\((?!\?)", "(?:", body) for body in bodies) + ")"]
    if len(bodies) != 1:
        return None
    return re.compile(r"\n" + _TYPE + "(?:" + bodies[0] + ',"run":"' + re.escape(run_id) + r'"\})(?=\n|\Z)')


#: Format 3's result fields (`journal.compact_result`) in blocks, each one group of the whole-text pattern:
#: the id and the request id alone (each line's its own); runs of fields that mostly repeat line after line
#: (outcome, status, attempts...; version, endpoint), taken apart once per distinct text; the four times,
#: read by numpy at once when every line has all four. A group per field made the result lines' findall
#: 1.5x as long (262 -> 176 ms), and gave 16 strings a line to transpose and free.
_BLOCKS = (
    ("server_id",), ("action", "outcome", "http_status", "locked", "attempts", "error_code", "message"),
    ("request_id",), ("api_version", "endpoint"), ("started_at", "finished_at", "sent_at", "answered_at"),
)  # fmt: skip
_BLOCK_OF = {RESULT_FIELDS.index(name): (b, j) for b, names in enumerate(_BLOCKS) for j, name in enumerate(names)}
_ID_HEAD = _TYPE + 'result","id":' + _STR


def compact_blocks(line: re.Pattern[str], run_id: str) -> tuple[re.Pattern[str], list[re.Pattern[str] | None]] | None:
    """Format 3's result line pattern by `_BLOCKS`: the whole-text pattern of `run_id`'s lines, a group a
    block, and each block's own pattern (None: a field alone, its group is its value). None when `line` is
    not format 3's (its fields in `RESULT_FIELDS` order, each optional, under `COMPACT_KEYS`)."""
    pattern = line.pattern
    starts = [pattern.find(f'(?:,"{COMPACT_KEYS[name]}":') for name in RESULT_FIELDS[1:]]
    if (
        tuple(name for names in _BLOCKS for name in names) != RESULT_FIELDS or not pattern.startswith(_ID_HEAD)
        or starts[0] != len(_ID_HEAD) or starts != sorted(starts) or not pattern.endswith(_RUN)
        or not _NO_ESCAPES.fullmatch(run_id)
    ):  # fmt: skip
        return None
    ends = [*starts[1:], len(pattern) - len(_RUN)]
    spans = zip(RESULT_FIELDS[1:], starts, ends, strict=True)
    pieces = {name: pattern[a:b].replace(STR_OR_NULL, _QUOTED_OR_NULL) for name, a, b in spans}
    whole, decoders = [r"\n" + _ID_HEAD], list[re.Pattern[str] | None]([None])
    for names in _BLOCKS[1:]:
        body = "".join(pieces[name] for name in names)
        decoder = re.compile(body) if len(names) > 1 else None
        if (decoder.groups if decoder else re.compile(body).groups) != len(names):
            return None
        whole.append(body if decoder is None else "(" + re.sub(r"\((?!\?)", "(?:", body) + ")")
        decoders.append(decoder)
    found = re.compile("".join(whole) + ',"run":"' + re.escape(run_id) + r'"\}(?=\n|\Z)')
    return (found, decoders) if found.groups == len(_BLOCKS) else None


def _taken_apart(texts: list[str], decoder: re.Pattern[str] | None) -> list[list[str]]:
    """A block's texts (one a line) as a list of strings per field, as a group per field gives them ("" for
    a field left out or null)."""
    if decoder is None:
        return [texts]
    if _same(texts):
        return [[value or ""] * len(texts) for value in _fullmatch(decoder, texts[0])]
    if len(set(texts[:1000])) < 100:  # a few distinct ones (the usual): each taken apart once
        distinct = {text: _fullmatch(decoder, text) for text in set(texts)}
        rows = list(map(distinct.__getitem__, texts))
    else:  # each its own (times): one findall over them all
        rows = re.compile(f"^(?:{decoder.pattern})$", re.MULTILINE).findall("\n".join(texts))
        if len(rows) != len(texts):  # (each text, empty or not, matches whole once)
            rows = [_fullmatch(decoder, text) for text in texts]
    return [list(map(itemgetter(j), rows)) for j in range(decoder.groups)]


def _fullmatch(decoder: re.Pattern[str], text: str) -> tuple[str, ...]:
    match = decoder.fullmatch(text)
    assert match is not None  # the whole-text pattern matched it
    return tuple(value or "" for value in match.groups())


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
    events = whole_text(lines[:2], run_id, values=True)  # sent and accepted in one scan
    compact = compact_blocks(lines[2], run_id)
    results = compact[0] if compact else whole_text(lines[2:], run_id)
    groups = len(_BLOCKS if compact else RESULT_FIELDS)
    if events is None or events.groups != 1 or results is None or results.groups != groups:
        return None
    found: list[list[Any]] = [events.findall(text), results.findall(text)]
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
            return ShapedLines(found[0], found[1], others, compact[1] if compact else None)
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
    shaped: ShapedLines,
    order: Sequence[int],
    extra: Sequence[Sequence[Any]],
    attrs: Mapping[str, Any],
    defaults: Mapping[str, str | None] | None = None,
) -> pd.DataFrame:
    """The frame of the result lines' strings (`shaped.results`, outcomes known) and `extra` rows of values
    (in `RESULT_FIELDS` order): row k of the frame is `order[k]`, an index into results then extra.
    `defaults`: the lines are format 3's (`journal.compact_result`): a field left out ("") is its run's value,
    times are whole nanoseconds. OverflowError: nanoseconds beyond int64 (the line-by-line reading takes them).
    A column whose lines all say the same (the outcome, the status, the endpoint...) is converted once."""
    import numpy as np
    import pandas as pd

    from scp_widgets.engine.results import category_dtypes

    take = np.asarray(order, dtype=np.intp)
    dtypes = dict(zip(("action", "outcome"), category_dtypes(), strict=True))
    typed: dict[str, Any] = {}
    for i, name in enumerate(RESULT_FIELDS):
        raw = shaped.column(i) if (seconds := shaped.seconds(i) if defaults is not None else None) is None else []
        same = name not in ("server_id", *_TIMES) and _same(raw)
        more = [row[i] for row in extra]
        default = (defaults or {}).get(name)
        if name in dtypes:  # the codes of the quoted names ('null' or an unknown action: -1, missing)
            known = _ACTION_CODES if name == "action" else _OUTCOME_CODES
            names = {*(raw[:1] if same else raw), *(f'"{v}"' for v in more if v is not None)}
            codes = {value: known.get(value, -1) for value in names}
            codes.update({"null": -1, "": known.get(f'"{default}"', -1)})  # "": left out, the run's (format 3)
            lines = np.full(len(raw), codes[raw[0]], np.int8) if same else _codes(raw, codes)
            every = np.concatenate([lines, _codes(["null" if v is None else f'"{v}"' for v in more], codes)])
            typed[name] = pd.Categorical.from_codes(every[take], dtype=dtypes[name])
        elif name == "server_id":
            typed[name] = pd.array(_objects([*raw, *more])[take], dtype="string")
        elif name in _QUOTED:
            if same and not more:  # (the version, the endpoint, no error code)
                constant = np.empty(len(take), dtype=object)
                constant.fill(_unquoted(raw[0], default))  # (np.full of an object: 30x as long)
                typed[name] = pd.array(constant, dtype="string")
                continue
            plain = [_unquoted(raw[0], default)] * len(raw) if same else _unquote(raw, default)
            typed[name] = pd.array(_objects([*plain, *more])[take], dtype="string")
        elif name == "locked":
            if same:
                flags, nulls = np.full(len(raw), raw[0] == "true"), np.full(len(raw), raw[0] in _NULLS)
            else:
                flags, nulls = np.array([v == "true" for v in raw], bool), np.array([v in _NULLS for v in raw], bool)
            flags = np.concatenate([flags, np.array([v is True for v in more], dtype=bool)])
            nulls = np.concatenate([nulls, np.array([v is None for v in more], dtype=bool)])
            typed[name] = pd.arrays.BooleanArray(flags[take], nulls[take])
        elif name in ("http_status", "attempts"):
            if same:
                values, nulls = np.full(len(raw), int(raw[0] or "0"), np.int64), np.full(len(raw), raw[0] == "")
            else:
                nulls = np.array([v == "" for v in raw], dtype=bool)
                values = np.fromiter(map(int, raw if "" not in raw else (v or "0" for v in raw)), np.int64, len(raw))
            nulls = np.concatenate([nulls, np.array([v is None for v in more], dtype=bool)])[take]
            every = np.concatenate([values, np.array([v or 0 for v in more], dtype=np.int64)])[take]
            typed[name] = pd.arrays.IntegerArray(every, nulls) if name == "http_status" else every
        else:  # a time: epoch seconds, NaN for none
            if seconds is None:
                seconds = _seconds(raw) if defaults is None else _ns_seconds(raw)
            typed[name] = np.concatenate([seconds, np.array([np.nan if v is None else v for v in more])])[take]
    return result_frame(typed, attrs)


def _same(raw: list[str]) -> bool:
    """Whether every line has the same string (list.count compares in C: 1 ms a column of 100,000)."""
    return bool(raw) and raw.count(raw[0]) == len(raw)


def _codes(raw: list[str], codes: dict[str, int]) -> Any:
    import numpy as np

    return np.fromiter(map(codes.__getitem__, raw), dtype=np.int8, count=len(raw))


def _unquoted(value: str, default: str | None) -> str | None:
    return None if value == "null" else default if value == "" else value[1:-1]


def _unquote(raw: list[str], default: str | None) -> list[str | None]:
    """A quoted column's values: 'null' None, "" (left out) `default`, '"x"' x."""
    if len(set(raw[:1000])) < 100:  # the endpoint, the version, no error code: each value once
        unquoted = {v: _unquoted(v, default) for v in set(raw)}
        return list(map(unquoted.__getitem__, raw))
    if "null" in raw or "" in raw:
        return [_unquoted(v, default) for v in raw]
    # A request id: its quotes cut off all at once, in C (0.3x a comprehension's time); the values hold no
    # '"' nor control character (the pattern took them so).
    return "\x00".join(raw)[1:-1].split('"\x00"')  # type: ignore[return-value]


def _seconds(raw: list[str]) -> Any:
    """Format 2's times: floats of their strings ("": none, NaN)."""
    import numpy as np

    return np.fromiter(map(float, raw if "" not in raw else (v or "nan" for v in raw)), np.float64, len(raw))


#: Whole nanoseconds since the epoch from 2001-09-09 to 2286-11-20 have 19 digits: a column of them all is
#: read by numpy, digit by digit, at once (0.1x int() of each); the first 10 digits are the whole seconds.
_NS_DIGITS = 19
_MAX_WHOLE = (2**63 - 1) // 1_000_000_000  # whole seconds beyond it (int64): int() finds out, OverflowError


def _ns_seconds(raw: list[str]) -> Any:
    """Format 3's times: epoch seconds of whole nanoseconds, as `journal.ns_to_seconds` computes them ("": none,
    NaN). OverflowError for a value beyond int64."""
    import numpy as np

    joined = "".join(raw)
    if raw and len(joined) == _NS_DIGITS * len(raw):  # with no "" and no '-' but all digits: 19 each
        seconds = _digit_seconds(np.frombuffer(joined.encode("ascii"), dtype=np.uint8).reshape(len(raw), _NS_DIGITS))
        if seconds is not None:
            return seconds
    ns = np.fromiter(map(int, raw if "" not in raw else (v or "0" for v in raw)), np.int64, len(raw))
    whole, part = np.divmod(ns, 1_000_000_000)
    seconds = whole.astype(np.float64) + part / 1e9
    if "" in raw:
        seconds[np.array([v == "" for v in raw], dtype=bool)] = np.nan
    return seconds


def _digit_seconds(text: Any) -> Any:
    """Epoch seconds of rows of 19 ASCII bytes each (uint8), as `journal.ns_to_seconds` computes them from
    the whole nanoseconds they write; None unless every byte is a digit and every value below int64's end."""
    import numpy as np

    digits = text - ord("0")
    if digits.max() > 9:  # (below '0': a large uint8)
        return None
    whole = digits[:, :10].astype(np.int64) @ 10 ** np.arange(9, -1, -1, dtype=np.int64)
    part = digits[:, 10:].astype(np.int64) @ 10 ** np.arange(8, -1, -1, dtype=np.int64)
    if whole.max() >= _MAX_WHOLE:  # (at it, int() says whether the nanoseconds pass int64)
        return None
    return whole.astype(np.float64) + part / 1e9


_TIMES = ("started_at", "finished_at", "sent_at", "answered_at")
_TIME_BLOCK = "".join(f',"{COMPACT_KEYS[name]}":' + "0" * _NS_DIGITS for name in _TIMES)


def _every_time(texts: list[str]) -> dict[int, Any] | None:
    """Format 3's time blocks as epoch seconds by field (`RESULT_FIELDS` index), when every line has all four
    times in 19 digits: numpy reads them at once, as one array of the texts' bytes. Else None."""
    import numpy as np

    if not texts or set(map(len, texts)) != {len(_TIME_BLOCK)}:
        return None
    text = np.frombuffer("".join(texts).encode("ascii"), dtype=np.uint8).reshape(len(texts), len(_TIME_BLOCK))
    template = np.frombuffer(_TIME_BLOCK.encode("ascii"), dtype=np.uint8)
    keys = template != ord("0")
    if not (text[:, keys] == template[keys]).all():  # the four keys in order: each time is 19 bytes
        return None
    seconds = {}
    for k, name in enumerate(_TIMES):
        start = (k + 1) * len(_TIME_BLOCK) // len(_TIMES) - _NS_DIGITS
        if (column := _digit_seconds(text[:, start : start + _NS_DIGITS])) is None:
            return None
        seconds[RESULT_FIELDS.index(name)] = column
    return seconds


def _objects(values: list[Any]) -> Any:
    import numpy as np

    every = np.empty(len(values), dtype=object)
    every[:] = values
    return every
