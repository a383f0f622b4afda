"""Reading a journal back into a frame: `read_journal`, and `history()`'s counts (`run_counts`).

A file holding one run whose per-server lines are all in the writer's shape is read by column
(`journal_columns`: whole-text patterns, a frame made column by column); anything else (several runs,
escapes, torn lines in the middle, a corrupt line) is read line by line (`journal_lines`), which says what
is wrong in its warnings and sentences. Both give the same frame.
"""

from __future__ import annotations

import os
import warnings
from collections import Counter
from collections.abc import Collection
from itertools import filterfalse, repeat
from operator import itemgetter
from pathlib import Path
from typing import TYPE_CHECKING, Any

from scp_widgets.client.errors import JournalError, ScpUsageError
from scp_widgets.engine import journal as writer  # format 3: its compact result lines
from scp_widgets.engine import journal_lines as lines  # its patterns looked up when used (tests turn them off)
from scp_widgets.engine.journal import JournalWarning
from scp_widgets.engine.journal_columns import ShapedLines, result_columns_frame, shaped_lines
from scp_widgets.engine.journal_lines import OUTCOME, JournalRun, Row, Torn, header_run, record_of, runs_of, warn_torn
from scp_widgets.engine.results import count_outcomes, frame_from_rows, ordered_counts, summary_line
from scp_widgets.engine.settings import settings_from_record

if TYPE_CHECKING:  # pandas is imported when a frame is built (results.result_frame), never on the sending path
    import pandas as pd


def read_journal(path: str | os.PathLike[str], run_id: str | None = None) -> pd.DataFrame:
    """Rebuild a run's DataFrame from its journal: the last run in the file, or the one with `run_id`.

    A finished run gives the frame the run returned. For a run that never finished (killed kernel),
    `attrs["complete"]` is False; servers whose request went out have rows (their final outcome, or
    `sent` / `accepted` when the run died first), and `attrs["never_sent"]` lists the requested ids that
    were never sent: rows + never_sent cover every requested id, with no overlap. `attrs["running"]` tells a
    run going on now (its process holds the journal) from one that died.
    """
    file = Path(path)
    data = _read(file)
    if (frame := _whole_file_frame(file, data, run_id)) is not None:
        return _marked_if_running(frame, file)
    runs = runs_of(file, data)
    if not runs:
        raise JournalError(f"{file} is empty: it is not an scp-widgets journal.")
    if run_id is None or run_id == runs[-1].run_id:
        return _marked_if_running(run_frame(runs[-1], file), file)
    for run in runs:
        if run.run_id == run_id:
            return run_frame(run, file)  # not the file's last run: it cannot be going on
    raise ScpUsageError(f"The journal {file} has no run {run_id!r}; it holds {', '.join(r.run_id for r in runs)}.")


def _marked_if_running(frame: pd.DataFrame, file: Path) -> pd.DataFrame:
    """A run without its end whose process still holds the journal is going on, not dead: `attrs["running"]`,
    and a summary that says so (its never-sent ids are being sent now; `retry_failed` refuses the frame)."""
    attrs = frame.attrs
    attrs["running"] = attrs.get("complete") is False and writer.held_by_a_live_run(file)
    if attrs["running"]:
        never_sent = len(attrs.get("never_sent") or ())
        attrs["summary"] = f"{summary_line(attrs['counts'])}; {never_sent} not yet sent; the run is still going"
    return frame


def run_frame(run: JournalRun, file: Path) -> pd.DataFrame:
    rows = run.row_values()
    return frame_from_rows(rows, _attrs(run, file, count_outcomes(map(itemgetter(OUTCOME), rows)), run.results.keys()))


def _attrs(run: JournalRun, file: Path, counts: dict[str, int], finals: Collection[str] | None) -> dict[str, Any]:
    """The frame's attrs: `counts` of its rows' outcomes, `finals` the ids with a result (None: every requested
    id has one, the usual; looking each up again was 30 ms at 100,000 when they come in another order)."""
    attrs = {k: v for k, v in run.header.items() if k not in ("ids", "format", "type", "settings")}
    attrs.update(run.footer or {})
    if run.footer is not None and "retries" in run.footer:  # journals before 0.2 put the retries spent there
        attrs["retries_spent"] = run.footer["retries"]
        attrs["retries"] = run.header.get("retries")
    attrs["settings"] = settings_from_record(run.header.get("settings") or run.header)
    missing = [] if finals is None else list(filterfalse(finals.__contains__, run.ids))  # in doubt, never sent
    unknown = run.unrecorded(finals) if missing else []  # (an id with no line has no result: the usual none)
    never_sent = [] if run.stopped is not None else unknown  # run.never_sent()
    attrs.update(counts=counts, complete=run.complete, journal=str(file), never_sent=never_sent, missing=missing)
    if run.stopped is not None:
        attrs.update(complete=False, unrecorded=unknown, journal_error=run.stopped.get("reason"))
        attrs["summary"] = (
            f"{summary_line(counts)}; the journal stopped after {run.stopped.get('after')} records "
            f"({run.stopped.get('reason')}): what happened to {len(unknown)} more servers is unknown, not "
            "never sent (read their state)"
        )
    elif not run.complete:
        attrs["summary"] = f"{summary_line(counts)}; {len(never_sent)} never sent; the run did not finish"
    return attrs


def _whole_file_frame(file: Path, data: bytes, run_id: str | None = None) -> pd.DataFrame | None:
    """The frame of a file holding one run, its per-server lines all in the writer's shape, read by column;
    None (having said nothing) when the file is anything else: the line-by-line reading then says it all."""
    read = _whole_file_columns(file, data, run_id)
    if read is None:
        return None
    run, shaped, order, extra, counts, finals, torn = read
    defaults = {name: run.header.get(name) for name in writer.RUN_DEFAULTS} if writer.compact(run.header) else None
    try:
        frame = result_columns_frame(shaped, order, extra, _attrs(run, file, counts, finals), defaults)
    except OverflowError:  # nanoseconds beyond int64: the line-by-line reading takes them
        return None
    for number in torn:
        warn_torn(file, number, stacklevel=4)
    return frame


def run_counts(file: Path) -> list[tuple[JournalRun, dict[str, int], int]]:
    """Each run in `file` with its rows' outcome counts and how many ids it never sent (`history()`'s row),
    by column when the file holds one run (no frame is made), else line by line. Says nothing of torn lines."""
    data = _read(file)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", JournalWarning)
        read = _whole_file_columns(file, data)
        if read is not None:
            run, _, _, _, counts, finals, _ = read
            return [(run, counts, 0 if run.stopped is not None or finals is None else len(run.unrecorded(finals)))]
        runs = runs_of(file, data)
    return [(run, count_outcomes(map(itemgetter(OUTCOME), run.row_values())), len(run.never_sent())) for run in runs]


#: What `_whole_file_columns` reads: the run, its lines, the frame's row order and in-doubt rows, the rows'
#: outcome counts, the ids with a result (None: every requested id, the usual), and the numbers of torn lines
#: (not yet warned of).
_Columns = tuple[JournalRun, ShapedLines, list[int], list[Row], dict[str, int], Collection[str] | None, list[int]]


def _whole_file_columns(file: Path, data: bytes, run_id: str | None = None) -> _Columns | None:
    """A file of one run, its per-server lines all in the writer's shape, taken apart by column; None (having
    said nothing) when the file is anything else."""
    try:
        text = data.decode("utf-8")
        header = record_of(file, 1, text[: text.find("\n") % (len(text) + 1)].encode())
        if header is None or header.pop("type") != "run":
            return None
        run = header_run(f"{file} line 1", header, header.pop("run", None))
    except (UnicodeDecodeError, Torn, JournalError):
        return None
    if run_id is not None and run.run_id != run_id:
        return None  # the line-by-line reading says the file has no such run
    compact = writer.compact(run.header)
    if compact and not all(isinstance(run.header.get(name), str | None) for name in writer.RUN_DEFAULTS):
        return None
    shaped = shaped_lines(text, (lines.SENT, lines.ACCEPTED, lines.RESULT3 if compact else lines.RESULT), run.run_id)
    if shaped is None or not shaped.known_names():
        return None
    torn: list[int] = []
    for number, line in shaped.others[1:]:  # the first is the header
        try:
            record = record_of(file, number, line.encode())
        except Torn:
            torn.append(number)
            continue
        except JournalError:
            return None
        if record is None:
            continue
        kind, owner = record.pop("type"), record.pop("run", None)
        if kind != "end" or (owner is not None and str(owner) != run.run_id):
            return None  # another run, a per-server record json had to read
        run.footer = record
    results = shaped.results
    last = dict(zip(shaped.column(0), range(len(results)), strict=True))  # last result, first place
    places = list(map(last.get, run.ids, repeat(-1)))  # each requested id's result, -1: none
    if len(places) == len(last) == len(results) and -1 not in places and len(set(places)) == len(places):
        outcomes = Counter(shaped.column(OUTCOME))  # each requested id, one result: the usual
        counts = ordered_counts({name.strip('"'): n for name, n in outcomes.items()})
        return run, shaped, places, [], counts, None, torn
    # Only the requested ids with no result read their sent and accepted lines (an in-doubt row, or never
    # sent): the others are in `last`, and were touched whatever else they have.
    pending = {server_id for server_id, place in zip(run.ids, places, strict=True) if place < 0}
    for event in shaped.events if pending else ():  # 'sent","id":"x","at":1.5', in file order
        kind, _, values = event.partition('",')
        if (server_id := values[6 : values.index('"', 6)]) not in pending:
            continue
        if kind == "sent":
            run.sent[server_id] = float(values[values.rindex(":") + 1 :])
        else:
            match = lines.ACCEPTED.fullmatch('{"type":"accepted",' + values + f',"run":"{run.run_id}"}}')
            assert match is not None  # the line matched it whole
            _, status, attempts, request_id, at, _ = match.groups()
            run.accepted[server_id] = {
                "id": server_id, "http_status": None if status is None else int(status),
                "attempts": None if attempts is None else int(attempts), "request_id": request_id, "at": float(at),
            }  # fmt: skip
    requested = dict.fromkeys(run.ids)
    order: list[int] = []
    extra: list[Row] = []
    for server_id in dict.fromkeys([*requested, *last]):
        index = last.get(server_id)
        if index is None:
            if (row := run.in_doubt(server_id)) is None:
                continue
            index = len(shaped.results) + len(extra)
            extra.append(row)
        order.append(index)
    names = [*shaped.column(OUTCOME), *(str(row[OUTCOME]) for row in extra)]
    return run, shaped, order, extra, count_outcomes(names[index].strip('"') for index in order), last.keys(), torn


def _read(file: Path) -> bytes:
    try:
        return file.read_bytes()
    except FileNotFoundError:
        raise ScpUsageError(f"No journal at {file}.") from None
    except IsADirectoryError:
        raise ScpUsageError(f"{file} is a folder, not a journal.") from None
    except OSError as exc:
        raise ScpUsageError(f"Cannot read the journal {file}: {exc.strerror or exc}.") from None


def read_runs(file: Path) -> list[JournalRun]:
    """Every run in the file, in the order their headers were written."""
    return runs_of(file, _read(file))
