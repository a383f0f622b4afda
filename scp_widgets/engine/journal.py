"""The run journal, written ahead: what was sent, what the service accepted, and each final result.

One JSON line per event, appended (one buffered write, flushed to the OS) the moment it happens: a `run`
header, then per server a `sent` line just before its change request goes out, an `accepted` line when the
service answers 2xx (before the read-back), and a `result` line with the final outcome; an `end` line
closes the run. Format 3's `result` line is short, to be quick to read back (`compact_result`): short keys
(`COMPACT_KEYS`), a field equal to its run's value (the header's action, api_version, endpoint; None for the
rest) left out, times in whole nanoseconds. A kernel killed with `kill -9` loses nothing already written,
so `read_journal` can tell *never sent* from *sent, answer unknown*, *accepted, not confirmed* and final outcomes.

One run, one owner: every line carries its run's id, and the writer holds an exclusive `flock` on the
file for the whole run, so a second run on the same path is refused before it sends anything. A journal
that stops being writable mid-run (disk full, read-only, deleted) never costs the run its frame: the
failure is recorded in `error` for the caller to report. Nothing secret is ever written.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl  # POSIX (Linux, macOS): the notebook servers this package runs on
import json
import math
import os
import time
from pathlib import Path
from types import TracebackType
from typing import IO, Any, Self

from scp_widgets.client.errors import JournalError, JournalUnwritable
from scp_widgets.engine.results import OUTCOME_BY_NAME, ServerResult
from scp_widgets.engine.state_dirs import default_journal_dir

FORMAT = 3
RECORD_TYPES = frozenset({"run", "sent", "accepted", "result", "end"})
#: Blanks after each run's header, inside its line (JSON allows trailing whitespace): when the journal later
#: cannot grow (the disk is full), a `"stopped"` member is written over them in place, needing no new space,
#: so the file still says why it ends where it does.
SLOT_BYTES = 200


class JournalWarning(UserWarning):
    """The journal could not be written (or read) in full; the run's frame itself is whole."""


class Journal:
    """Append-only JSON Lines writer for one run; `open` it, then `sent` / `accepted` / `result`, `end`."""

    def __init__(self, path: Path, run_id: str, file: IO[str], *, fsync: bool = False) -> None:
        self.path = path
        self.run_id = run_id
        self.error: str | None = None  # why writing stopped, when it did
        self.written = 0
        self._file: IO[str] | None = file
        self._fsync = fsync
        self._slot: int | None = None  # where the blank slot for a `stopped` record starts
        self._defaults: dict[str, Any] = {}  # the header's values a result line leaves out (format 3)

    @classmethod
    def open(cls, path: Path, header: dict[str, Any], *, fsync: bool = False) -> Journal:
        """Create or append to `path`, take it for this run and write the header; a usage error if it cannot."""
        run_id = str(header["run_id"])
        try:
            private_folder(path.parent)
            # 0600: a journal names the account's servers and what was done to them; it is nobody else's.
            file = os.fdopen(os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o600), "a+", encoding="utf-8")
        except FileExistsError:  # mkdir met a file where a folder should be
            raise JournalUnwritable(_cannot(path, f"{path.parent} is not a folder")) from None
        except OSError as exc:
            raise JournalUnwritable(_cannot(path, exc)) from None
        try:
            _take(file, path)
            journal = cls(path, run_id, file, fsync=fsync)
            journal._defaults = {name: header.get(name) for name in RUN_DEFAULTS}
            journal._write({"type": "run", "format": FORMAT, **header}, after_torn_line=_ends_torn(file), slot=True)
        except OSError as exc:
            _close_quietly(file)
            raise JournalUnwritable(_cannot(path, exc)) from None
        except BaseException:
            _close_quietly(file)
            raise
        return journal

    def sent(self, server_id: str) -> None:
        self._record({"type": "sent", "id": server_id, "at": round(time.time(), 3)})

    def accepted(self, result: ServerResult) -> None:
        self._record({
            "type": "accepted", "id": result.server_id, "http_status": result.http_status,
            "attempts": result.attempts, "request_id": result.request_id, "at": round(time.time(), 3),
        })  # fmt: skip

    def result(self, result: ServerResult) -> None:
        self._record(compact_result(result.to_record(), self._defaults))

    def end(self, footer: dict[str, Any]) -> None:
        self._record({"type": "end", **footer})

    def _record(self, record: dict[str, Any]) -> None:
        if self._file is None:
            return
        try:
            self._write(record)
        except OSError as exc:
            self._fail(exc.strerror or str(exc))

    def _write(self, record: dict[str, Any], *, after_torn_line: bool = False, slot: bool = False) -> None:
        assert self._file is not None
        line = json.dumps({**record, "run": self.run_id}, separators=(",", ":"), default=str)
        # A line torn by a crash gets its own line ended first, so this run's header starts a line of its own.
        start = self._file.seek(0, os.SEEK_END) + (1 if after_torn_line else 0)
        if slot:  # the header's closing brace, then blanks a `"stopped"` member may later be written over
            self._slot = start + len(line.encode()) - 1
        self._file.write(("\n" if after_torn_line else "") + line + (" " * SLOT_BYTES if slot else "") + "\n")
        self._file.flush()  # into the OS at once: a process killed with -9 loses nothing already written
        if self._fsync:
            os.fsync(self._file.fileno())
        self.written += 1

    def _fail(self, reason: str) -> None:
        self.error = f"the journal {self.path} could not be written after {self.written} records ({reason})"
        file, self._file = self._file, None
        if file is not None:
            self._mark_stopped(file, reason)
            _close_quietly(file)

    def _mark_stopped(self, file: IO[str], reason: str) -> None:
        """Write `stopped` over the blank slot (no new space needed), so a reader knows that what follows
        was not recorded, rather than taking the servers for never sent."""
        if self._slot is None:
            return
        record = {"after": self.written, "reason": reason[:80], "at": round(time.time(), 3)}
        line = (',"stopped":' + json.dumps(record, separators=(",", ":")) + "}").encode()
        if len(line) > SLOT_BYTES:
            return
        with contextlib.suppress(OSError, ValueError):
            # A descriptor of its own: Linux's pwrite on an O_APPEND one appends, whatever the offset.
            fd = os.open(self.path, os.O_WRONLY)
            try:
                if os.fstat(fd).st_ino == os.fstat(file.fileno()).st_ino:
                    os.pwrite(fd, line, self._slot)  # over the brace and blanks: the line stays valid JSON
            finally:
                os.close(fd)

    def close(self) -> None:
        file = self._file
        if file is None:
            return
        try:
            file.flush()
            os.fsync(file.fileno())
            if not _same_file(file, self.path):
                self._fail("the file was deleted or replaced during the run")
                return
        except OSError as exc:
            self._fail(exc.strerror or str(exc))
            return
        self._file = None
        _close_quietly(file)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None) -> None:
        self.close()


#: The fields of a format 3 `result` line that default to the run header's value when left out.
RUN_DEFAULTS = ("action", "api_version", "endpoint")
#: A result's fields and their keys in a format 3 `result` line, in the order written; t0 (started), ts (sent),
#: ta (answered) and t1 (finished) are whole nanoseconds since the epoch.
COMPACT_KEYS = {
    "server_id": "id", "action": "a", "outcome": "o", "http_status": "s", "locked": "l", "attempts": "n",
    "error_code": "e", "message": "m", "request_id": "q", "api_version": "v", "endpoint": "u",
    "started_at": "t0", "finished_at": "t1", "sent_at": "ts", "answered_at": "ta",
}  # fmt: skip
TIME_FIELDS = frozenset({"started_at", "finished_at", "sent_at", "answered_at"})


def compact_result(record: dict[str, Any], defaults: dict[str, Any]) -> dict[str, Any]:
    """A result's format 3 line: `record` (`ServerResult.to_record`) under `COMPACT_KEYS`, without the fields
    equal to their run's value (`defaults`, the header's; None for the others), times in whole nanoseconds.
    A time nanoseconds cannot give back exactly (none from a clock) keeps the whole record, as format 2."""
    line: dict[str, Any] = {"type": "result", "id": record["server_id"]}
    for name, key in _FIELD_KEYS:
        if (value := record[name]) != defaults.get(name):
            line[key] = value
    for name, key in _TIME_KEYS:  # the last fields, in order
        if (value := record[name]) is not None:
            if (ns := seconds_to_ns(value)) is None:
                return {"type": "result", **record}
            line[key] = ns
    return line


_FIELD_KEYS = tuple((name, key) for name, key in COMPACT_KEYS.items() if name not in TIME_FIELDS and key != "id")
_TIME_KEYS = tuple((name, key) for name, key in COMPACT_KEYS.items() if name in TIME_FIELDS)


def compact(header: dict[str, Any]) -> bool:
    """Whether a run's result lines are format 3's (`compact_result`), by its header."""
    fmt = header.get("format")
    return isinstance(fmt, int) and fmt >= 3


def unknown_name(where: str, outcome: object, action: object) -> JournalError:
    """The one sentence for a result line whose outcome (checked first) or action is not one a run writes."""
    what = f"action {action!r}" if isinstance(outcome, str) and outcome in OUTCOME_BY_NAME else f"outcome {outcome!r}"
    return JournalError(f"{where} has an unknown {what}: the journal is corrupt.")


def expand_result(line: dict[str, Any], header: dict[str, Any]) -> dict[str, Any]:
    """The result record a format 3 line stands for (`compact_result` undone; `header`: its run's); ValueError
    for a time that is not whole nanoseconds (int64). The server id is not checked."""
    get = line.get
    record = {name: get(key) for name, key in _FIELD_KEYS}
    for name in RUN_DEFAULTS:
        if COMPACT_KEYS[name] not in line:
            record[name] = header.get(name)
    record["server_id"] = get("id")
    for name, key in _TIME_KEYS:
        ns = get(key)
        if ns is not None and (type(ns) is not int or not -(2**63) <= ns < 2**63):
            raise ValueError(f"{key} is not whole nanoseconds")
        record[name] = None if ns is None else ns_to_seconds(ns)
    return record


def seconds_to_ns(seconds: float) -> int | None:
    """Whole nanoseconds (int64) that `ns_to_seconds` turns back into exactly `seconds`, or None."""
    if not isinstance(seconds, float | int) or not -9e9 < seconds < 9e9:  # NaN too
        return None
    whole = math.floor(seconds)
    part = round((seconds - whole) * 1e9)
    if part == 1_000_000_000:
        whole, part = whole + 1, 0
    # ns_to_seconds(whole * 10**9 + part), without the divmod that gives (whole, part) back
    return whole * 1_000_000_000 + part if float(whole) + part / 1e9 == seconds else None


def ns_to_seconds(ns: int) -> float:
    """Epoch seconds of whole nanoseconds, as numpy computes them by column (journal_columns): the same float."""
    whole, part = divmod(ns, 1_000_000_000)
    return float(whole) + part / 1e9


def private_folder(folder: Path) -> None:
    """Create `folder` (and its parents) for the user alone (0700); a state folder of ours made earlier with
    the umask's 0755 is narrowed too. Someone else's existing folder (a path given by the user) is left as is."""
    missing = [p for p in (folder, *folder.parents) if not p.exists()]
    for part in reversed(missing):  # parents=True would give the parents the umask's mode, not 0700
        with contextlib.suppress(FileExistsError):
            part.mkdir(mode=0o700)
    if not folder.is_dir():
        raise FileExistsError(errno.EEXIST, "not a folder", str(folder))
    with contextlib.suppress(OSError):
        info = folder.stat()
        if info.st_uid == os.getuid() and info.st_mode & 0o077 and folder == default_journal_dir():
            folder.chmod(0o700)


def _cannot(path: Path, why: OSError | str) -> str:
    reason = why if isinstance(why, str) else why.strerror or str(why)
    return f"Cannot write the journal {path}: {reason}; fix it or run with journal=False."


def _take(file: IO[str], path: Path) -> None:
    """An exclusive lock for the whole run (released when the file closes, or the process dies)."""
    try:
        fcntl.flock(file.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        raise JournalUnwritable(
            f"The journal {path} is in use by another run that has not finished; give this run its own path "
            "(journal=True makes a new file per run)."
        ) from None


def held_by_a_live_run(path: Path) -> bool:
    """Whether a run is writing this journal now: its writer holds the exclusive lock (`_take`) until the
    file closes or its process dies, so a journal without its end line is a live run, not a dead one."""
    try:
        with open(path, "rb") as file:
            try:
                fcntl.flock(file.fileno(), fcntl.LOCK_SH | fcntl.LOCK_NB)
            except BlockingIOError:
                return True
            fcntl.flock(file.fileno(), fcntl.LOCK_UN)
    except OSError:
        return False
    return False


def _ends_torn(file: IO[str]) -> bool:
    """Whether the file's last line lacks its newline (a crash cut it short)."""
    try:
        size = file.seek(0, os.SEEK_END)
    except OSError:  # a device such as /dev/full
        return False
    if size == 0:
        return False
    return os.pread(file.fileno(), 1, size - 1) != b"\n"


def _same_file(file: IO[str], path: Path) -> bool:
    try:
        on_disk = os.stat(path)
    except FileNotFoundError:
        return False
    mine = os.fstat(file.fileno())
    return (on_disk.st_dev, on_disk.st_ino) == (mine.st_dev, mine.st_ino)


def _close_quietly(file: IO[str]) -> None:
    with contextlib.suppress(OSError):
        file.close()
