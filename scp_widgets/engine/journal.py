"""The run journal, written ahead: what was sent, what the service accepted, and each final result.

One JSON line per event, appended (one buffered write, flushed to the OS) the moment it happens: a `run`
header, then per server a `sent` line just before its change request goes out, an `accepted` line when the
service answers 2xx (before the read-back), and a `result` line with the final outcome; an `end` line
closes the run. A kernel killed with `kill -9` loses nothing already written, so `read_journal` can tell
*never sent* from *sent, answer unknown*, *accepted, not confirmed* and final outcomes.

One run, one owner: every line carries its run's id, and the writer holds an exclusive `flock` on the
file for the whole run, so a second run on the same path is refused before it sends anything. A journal
that stops being writable mid-run (disk full, read-only, deleted) never costs the run its frame: the
failure is recorded in `error` for the caller to report. Nothing secret is ever written.
"""

from __future__ import annotations

import contextlib
import fcntl  # POSIX (Linux, macOS): the notebook servers this package runs on
import json
import os
import time
from pathlib import Path
from types import TracebackType
from typing import IO, Any, Self

import platformdirs

from scp_widgets.client.errors import ScpUsageError
from scp_widgets.engine.results import ServerResult

JOURNAL_DIR_ENV = "SCP_WIDGETS_JOURNAL_DIR"
FORMAT = 2
RECORD_TYPES = frozenset({"run", "sent", "accepted", "result", "end"})


class JournalWarning(UserWarning):
    """The journal could not be written (or read) in full; the run's frame itself is whole."""


def default_journal_dir() -> Path:
    configured = os.environ.get(JOURNAL_DIR_ENV)
    return Path(configured) if configured else platformdirs.user_state_path("scp-widgets") / "journal"


class Journal:
    """Append-only JSON Lines writer for one run; `open` it, then `sent` / `accepted` / `result`, `end`."""

    def __init__(self, path: Path, run_id: str, file: IO[str], *, fsync: bool = False) -> None:
        self.path = path
        self.run_id = run_id
        self.error: str | None = None  # why writing stopped, when it did
        self.written = 0
        self._file: IO[str] | None = file
        self._fsync = fsync

    @classmethod
    def open(cls, path: Path, header: dict[str, Any], *, fsync: bool = False) -> Journal:
        """Create or append to `path`, take it for this run and write the header; a usage error if it cannot."""
        run_id = str(header["run_id"])
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            file = path.open("a+", encoding="utf-8")
        except FileExistsError:  # mkdir met a file where a folder should be
            raise ScpUsageError(_cannot(path, f"{path.parent} is not a folder")) from None
        except OSError as exc:
            raise ScpUsageError(_cannot(path, exc)) from None
        try:
            _take(file, path)
            journal = cls(path, run_id, file, fsync=fsync)
            journal._write({"type": "run", "format": FORMAT, **header}, after_torn_line=_ends_torn(file))
        except OSError as exc:
            _close_quietly(file)
            raise ScpUsageError(_cannot(path, exc)) from None
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
        self._record({"type": "result", **result.to_record()})

    def end(self, footer: dict[str, Any]) -> None:
        self._record({"type": "end", **footer})

    def _record(self, record: dict[str, Any]) -> None:
        if self._file is None:
            return
        try:
            self._write(record)
        except OSError as exc:
            self._fail(exc.strerror or str(exc))

    def _write(self, record: dict[str, Any], *, after_torn_line: bool = False) -> None:
        assert self._file is not None
        line = json.dumps({**record, "run": self.run_id}, separators=(",", ":"), default=str)
        # A line torn by a crash gets its own line ended first, so this run's header starts a line of its own.
        self._file.write(("\n" if after_torn_line else "") + line + "\n")
        self._file.flush()  # into the OS at once: a process killed with -9 loses nothing already written
        if self._fsync:
            os.fsync(self._file.fileno())
        self.written += 1

    def _fail(self, reason: str) -> None:
        self.error = f"the journal {self.path} could not be written after {self.written} records ({reason})"
        file, self._file = self._file, None
        if file is not None:
            _close_quietly(file)

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


def _cannot(path: Path, why: OSError | str) -> str:
    reason = why if isinstance(why, str) else why.strerror or str(why)
    return f"Cannot write the journal {path}: {reason}; fix it or run with journal=False."


def _take(file: IO[str], path: Path) -> None:
    """An exclusive lock for the whole run (released when the file closes, or the process dies)."""
    try:
        fcntl.flock(file.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        raise ScpUsageError(
            f"The journal {path} is in use by another run that has not finished; give this run its own path "
            "(journal=True makes a new file per run)."
        ) from None


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
