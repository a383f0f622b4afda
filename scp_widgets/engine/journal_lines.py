"""Reading a journal line by line: every line, whatever the file holds (several runs, escapes, any format).

A line cut short by a crash (no closing brace, a half-written character, NUL debris) is skipped with a
`JournalWarning`, wherever it is. Anything else that is not a journal record (not JSON, a JSON array, an
unknown record type or outcome, a record with no run header before it) is refused with one `JournalError`
sentence naming the file and the line. Lines are grouped by the run id each one carries, so runs that
shared a file never mix. The per-server lines in the writer's exact shape are taken apart by the patterns
`SENT`, `ACCEPTED`, `RESULT` (and format 3's `RESULT3`, which the column reading uses); every other line
goes through json. `journal_reader` makes frames of what this reads.
"""

from __future__ import annotations

import json
import re
import warnings
from collections.abc import Collection
from dataclasses import dataclass, field
from itertools import filterfalse, repeat
from pathlib import Path
from typing import Any

from scp_widgets.client.errors import JournalError
from scp_widgets.engine import journal as writer  # format 3: its compact result lines
from scp_widgets.engine.journal import FORMAT, RECORD_TYPES, JournalWarning
from scp_widgets.engine.journal_columns import STR_OR_NULL
from scp_widgets.engine.results import (
    ACTIONS,
    OUTCOME_BY_NAME,
    RESULT_FIELDS,
    Outcome,
    ServerResult,
)

_SENT_MESSAGE = "sent, but the run ended before an answer was recorded; read the server's state before sending again"
#: A result row: the values of a `ServerResult`'s fields in order (`RESULT_FIELDS`), the outcome by name.
Row = tuple[Any, ...]


@dataclass
class JournalRun:
    """Everything one run wrote: its header, per-server events, final results and (if it ended) its footer."""

    header: dict[str, Any]
    footer: dict[str, Any] | None = None
    sent: dict[str, float | None] = field(default_factory=dict)
    accepted: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: The final result of each server, as a row of values (an object per server made reading 3x slower).
    results: dict[str, Row] = field(default_factory=dict)
    #: The `stopped` record: the journal could not be written past this point (a full disk), so what the run
    #: did after it is unknown, not "never sent".
    stopped: dict[str, Any] | None = None

    @property
    def run_id(self) -> str:
        return str(self.header["run_id"])

    @property
    def ids(self) -> list[str]:
        return list(self.header.get("ids", []))

    @property
    def complete(self) -> bool:
        return self.footer is not None

    def rows(self) -> list[ServerResult]:
        """A row per server the run touched, in request order: final results, else sent / accepted."""
        return [_server_result(row) for row in self.row_values()]

    def row_values(self) -> list[Row]:
        """`rows()` as rows of values (`frame_from_rows` makes the frame of them)."""
        rows: list[Row] = []
        results = self.results
        for server_id in dict.fromkeys([*self.ids, *results]):
            row = results.get(server_id) or self.in_doubt(server_id)
            if row is not None:
                rows.append(row)
        return rows

    def never_sent(self) -> list[str]:
        """Ids the run surely never sent (write-ahead: `sent` is written before a request goes out); none
        when the journal itself stopped, since the run went on sending without it."""
        return [] if self.stopped is not None else self.unrecorded()

    def unrecorded(self, finals: Collection[str] | None = None) -> list[str]:
        """Ids with no line at all; `finals`: the ids with a result, when `results` is not filled in."""
        touched = (self.results.keys() if finals is None else finals) | self.sent.keys() | self.accepted.keys()
        return list(filterfalse(touched.__contains__, self.ids))  # C's loop: 3x a comprehension's speed

    def in_doubt(self, server_id: str) -> Row | None:
        header = self.header
        row = ServerResult(
            server_id, str(header.get("action")), Outcome.SENT, api_version=header.get("api_version"),
            endpoint=header.get("endpoint"), started_at=self.sent.get(server_id), message=_SENT_MESSAGE,
        )  # fmt: skip
        accepted = self.accepted.get(server_id)
        if accepted is not None:
            row.outcome, row.http_status = Outcome.ACCEPTED, accepted.get("http_status")
            row.attempts, row.request_id = int(accepted.get("attempts") or 0), accepted.get("request_id")
            row.message = f"accepted ({row.http_status}), but the run ended before the read-back confirmed it"
        elif server_id not in self.sent:
            return None
        return _values(row)


def runs_of(file: Path, data: bytes) -> list[JournalRun]:
    """Every run in `data`, the file's bytes, in the order their headers were written."""
    runs: dict[str, JournalRun] = {}
    current: JournalRun | None = None
    sent, accepted, result = SENT.fullmatch, ACCEPTED.fullmatch, RESULT.fullmatch
    raws = data.split(b"\n")
    try:  # the whole file at once; a line that is not UTF-8 text (a torn character) makes it line by line
        texts = data.decode("utf-8").split("\n")
    except UnicodeDecodeError:
        texts = [_text(raw) for raw in raws]
    for number, text in enumerate(texts, 1):
        # The lines the writer writes per server, in its exact shape (no escapes, no blanks), are taken apart
        # by a pattern that only matches valid JSON; every other line goes through json and its checks.
        kind = text[9:12]
        if kind == "res" and (match := result(text)):
            (server_id, action, name, status, locked, attempts, error_code, message, request_id, api_version,
             endpoint, started, finished, sent_at, answered, owner) = match.groups()  # fmt: skip
            if (taker := runs.get(owner)) is None:
                raise _orphan(file, number)
            if (outcome := OUTCOME_BY_NAME.get(name)) is None or action not in ACTIONS:
                raise writer.unknown_name(f"{file} line {number}", name, action)
            taker.results[server_id] = (
                server_id, action, outcome, None if status is None else int(status), _BOOLS[locked],
                0 if attempts is None else int(attempts), error_code, message, request_id, api_version, endpoint,
                None if started is None else float(started), None if finished is None else float(finished),
                None if sent_at is None else float(sent_at), None if answered is None else float(answered),
            )  # fmt: skip
            continue
        if kind == "sen" and (match := sent(text)):
            server_id, at, owner = match.groups()
            if (taker := runs.get(owner)) is None:
                raise _orphan(file, number)
            taker.sent[server_id] = float(at)
            continue
        if kind == "acc" and (match := accepted(text)):
            server_id, status, attempts, request_id, at, owner = match.groups()
            if (taker := runs.get(owner)) is None:
                raise _orphan(file, number)
            taker.accepted[server_id] = {
                "id": server_id, "http_status": None if status is None else int(status),
                "attempts": None if attempts is None else int(attempts), "request_id": request_id, "at": float(at),
            }  # fmt: skip
            continue
        record = _parse_line(file, number, raws[number - 1])
        if record is None:
            continue
        where = f"{file} line {number}"
        kind = record.pop("type")
        owner = record.pop("run", None)
        if kind == "run":
            current = runs[str(record.get("run_id"))] = header_run(where, record, owner)
            continue
        run = runs.get(str(owner)) if owner is not None else current  # format 1 lines carry no run id
        if run is None:
            raise JournalError(f"{where} belongs to no run started before it: not an scp-widgets journal.")
        _apply(where, run, kind, record)
    return list(runs.values())


def _text(raw: bytes) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return ""  # not the writer's shape: _parse_line says what it is


def _orphan(file: Path, number: int) -> JournalError:
    return JournalError(f"{file} line {number} belongs to no run started before it: not an scp-widgets journal.")


# The per-server lines exactly as `Journal` writes them (json.dumps, compact, ASCII): strings without escapes,
# numbers in the forms json reads as int (INT) and float (FLOAT). A line these match is valid JSON, and the
# values taken from the groups are the ones json.loads gives; anything else (escapes, blanks, other key
# orders, NaN, a newer writer's keys) does not match and is read by json, with its checks and sentences.
_STR = r'"([^"\\\x00-\x1f]*)"'
_STR_OR_NULL = STR_OR_NULL  # (also how journal_columns finds it in the patterns to take them whole)
_INT_OR_NULL = r"(?:(-?(?:0|[1-9][0-9]{0,17}))|null)"
_FLOAT = r"(-?(?:0|[1-9][0-9]*)\.[0-9]+(?:[eE][-+]?[0-9]+)?)"
_FLOAT_OR_NULL = rf"(?:{_FLOAT}|null)"
_BOOLS = {"true": True, "false": False, "null": None}
SENT = re.compile(rf'\{{"type":"sent","id":{_STR},"at":{_FLOAT},"run":{_STR}\}}')
ACCEPTED = re.compile(
    rf'\{{"type":"accepted","id":{_STR},"http_status":{_INT_OR_NULL},"attempts":{_INT_OR_NULL},'
    rf'"request_id":{_STR_OR_NULL},"at":{_FLOAT},"run":{_STR}\}}'
)
_RESULT_SHAPE = {
    "server_id": _STR, "action": _STR_OR_NULL, "outcome": _STR_OR_NULL, "http_status": _INT_OR_NULL,
    "locked": "(true|false|null)", "attempts": _INT_OR_NULL, "error_code": _STR_OR_NULL, "message": _STR_OR_NULL,
    "request_id": _STR_OR_NULL, "api_version": _STR_OR_NULL, "endpoint": _STR_OR_NULL, "started_at": _FLOAT_OR_NULL,
    "finished_at": _FLOAT_OR_NULL, "sent_at": _FLOAT_OR_NULL, "answered_at": _FLOAT_OR_NULL,
}  # fmt: skip
# In `ServerResult`'s field order, as `to_record` writes them; were the fields to change, this matches nothing
# (every result line then goes through json) until the shape and the row built from it are brought along.
RESULT = re.compile(
    r'\{"type":"result",' + "".join(f'"{name}":{_RESULT_SHAPE[name]},' for name in RESULT_FIELDS)
    + rf'"run":{_STR}\}}'
    if tuple(_RESULT_SHAPE) == RESULT_FIELDS
    else "(?!)"
)  # fmt: skip


# A format 3 `result` line (`journal.compact_result`): the same fields in the same order under short keys, each
# left out when it is its run's value, times in whole nanoseconds (at most 19 digits: int64 or not, the column
# reading finds out). One group per field, in `RESULT_FIELDS` order, as `RESULT`. `(?:x|)`, not `(?:x)?`: the
# same, and sre's branch is cheaper than its repeat (the findall over 100,000 lines: 360 -> 293 ms cpu).
_NS = r"(-?(?:0|[1-9][0-9]{0,18}))"
RESULT3 = re.compile(
    rf'\{{"type":"result","id":{_STR}'
    + "".join(
        f'(?:,"{writer.COMPACT_KEYS[name]}":{_NS if name in writer.TIME_FIELDS else _RESULT_SHAPE[name]}|)'
        for name in RESULT_FIELDS[1:]
    )
    + rf',"run":{_STR}\}}'
)


class Torn(Exception):
    """A line cut short: skipped, with a warning."""


def _parse_line(file: Path, number: int, raw: bytes) -> dict[str, Any] | None:
    try:
        return record_of(file, number, raw)
    except Torn:
        warn_torn(file, number)
        return None


def record_of(file: Path, number: int, raw: bytes) -> dict[str, Any] | None:
    """The record on a line; None for a blank line; `Torn` for one cut short; `JournalError` for the rest."""
    if not raw.strip(b" \t\r\x00"):
        if raw.strip(b" \t\r"):
            raise Torn
        return None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.reason == "unexpected end of data" and exc.end == len(raw):
            raise Torn from None  # a character cut in half at the end of a torn line
        raise JournalError(f"{file} line {number} has a byte that is not UTF-8 text: the journal is corrupt.") from None
    text = text.strip()
    try:
        record = json.loads(text)
    except RecursionError:
        raise JournalError(
            f"{file} line {number} nests too deep to be a journal record: the journal is corrupt."
        ) from None
    except ValueError as exc:
        if text.startswith('{"') and (not text.endswith("}") or getattr(exc, "pos", 0) >= len(text)):
            raise Torn from None
        raise JournalError(f"{file} line {number} is not JSON: it is not an scp-widgets journal.") from None
    if not isinstance(record, dict):
        kind = {list: "array", str: "string", int: "number", float: "number"}.get(type(record), "value")
        raise JournalError(f"{file} line {number} is not a journal record (a JSON {kind}): the journal is corrupt.")
    if record.get("type") not in RECORD_TYPES:
        raise JournalError(f"{file} line {number} has no known record type: not an scp-widgets journal.")
    return record


def warn_torn(file: Path, number: int, stacklevel: int = 5) -> None:
    warning = f"{file} line {number} was cut short (a run was killed while writing it); skipped."
    warnings.warn(warning, JournalWarning, stacklevel=stacklevel)  # the frame that called read_journal


def header_run(where: str, record: dict[str, Any], owner: Any) -> JournalRun:
    fmt = record.get("format")
    if not isinstance(fmt, int) or fmt < 1:
        raise JournalError(f"{where} is a run header without a format number: the journal is corrupt.")
    if fmt > FORMAT:
        raise JournalError(f"{where} was written by a newer scp-widgets (journal format {fmt}); upgrade to read it.")
    ids = record.get("ids", [])
    if not isinstance(record.get("run_id"), str) or not (
        isinstance(ids, list) and all(map(isinstance, ids, repeat(str)))  # map: 100,000 ids in 4 ms, not 40
    ):
        raise JournalError(f"{where} is a run header without a run id or with bad server ids: the journal is corrupt.")
    if owner is not None and owner != record["run_id"]:
        raise JournalError(f"{where} is a run header for two different runs: the journal is corrupt.")
    stopped = record.pop("stopped", None)  # written over the header's blanks when the journal could not grow
    return JournalRun(record, stopped=stopped if isinstance(stopped, dict) else None)


def _apply(where: str, run: JournalRun, kind: str, record: dict[str, Any]) -> None:
    if kind == "end":
        run.footer = record
        return
    if kind == "result":
        if "server_id" not in record and writer.compact(run.header):
            try:
                record = writer.expand_result(record, run.header)
            except ValueError as exc:
                raise JournalError(f"{where} is a corrupt result record ({exc}).") from None
        run.results[_server_id(where, record, "server_id")] = _result(where, record)
        return
    server_id = _server_id(where, record, "id")
    at = record.get("at")
    if kind == "sent":
        run.sent[server_id] = float(at) if isinstance(at, int | float) else None
    else:
        run.accepted[server_id] = record


def _server_id(where: str, record: dict[str, Any], key: str) -> str:
    value = record.get(key)
    if not isinstance(value, str):
        raise JournalError(f"{where} is a record without a server id: the journal is corrupt.")
    return value


_OUTCOMES = frozenset(str(o) for o in Outcome)  # once: per result record it was a fifth of read_journal


def _result(where: str, record: dict[str, Any]) -> Row:
    outcome, action = record.get("outcome"), record.get("action")
    if not isinstance(outcome, str) or outcome not in _OUTCOMES or action not in ACTIONS:  # str: [..] is no key
        raise writer.unknown_name(where, outcome, action)
    try:
        return _values(ServerResult.from_record(record))
    except (TypeError, ValueError) as exc:
        raise JournalError(f"{where} is a corrupt result record ({exc}).") from None


OUTCOME = RESULT_FIELDS.index("outcome")


def _values(result: ServerResult) -> Row:
    return tuple(getattr(result, name) for name in RESULT_FIELDS)


def _server_result(row: Row) -> ServerResult:
    return ServerResult(*row)
