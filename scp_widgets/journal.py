"""The run journal: one JSON line per finished server, written the moment it is known.

A dead kernel, a closed laptop or a crash still leaves every finished server on disk; `read_journal`
turns the file back into the same DataFrame. Nothing secret is ever written: results hold no keys or
signatures, and the header holds only the endpoint, version and ids.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import IO, Any, Self

import pandas as pd
import platformdirs

from .errors import ScpUsageError
from .results import ServerResult, count_outcomes, summary_line, to_frame

JOURNAL_DIR_ENV = "SCP_WIDGETS_JOURNAL_DIR"
FORMAT = 1


def default_journal_dir() -> Path:
    configured = os.environ.get(JOURNAL_DIR_ENV)
    return Path(configured) if configured else platformdirs.user_state_path("scp-widgets") / "journal"


class Journal:
    """Append-only JSON Lines file for one run: a `run` header, `result` lines, an `end` line."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self._file: IO[str] | None = path.open("a", encoding="utf-8")

    def _write(self, record: dict[str, Any]) -> None:
        if self._file is None:
            return
        self._file.write(json.dumps(record, separators=(",", ":"), default=str) + "\n")
        self._file.flush()  # into the OS at once: a killed process loses nothing already written

    def start(self, header: dict[str, Any]) -> None:
        self._write({"type": "run", "format": FORMAT, **header})

    def result(self, result: ServerResult) -> None:
        self._write({"type": "result", **result.to_record()})

    def end(self, footer: dict[str, Any]) -> None:
        self._write({"type": "end", **footer})

    def close(self) -> None:
        if self._file is not None:
            self._file.flush()
            os.fsync(self._file.fileno())
            self._file.close()
            self._file = None

    def __enter__(self) -> Self:
        return self

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None) -> None:
        self.close()


def read_journal(path: str | os.PathLike[str]) -> pd.DataFrame:
    """Rebuild a run's DataFrame from its journal (every finished server, in request order).

    For a run that never ended (killed kernel), `attrs["complete"]` is False and `attrs["missing"]` lists
    the requested ids with no result yet. A file holding several runs yields the last one.
    """
    file = Path(path)
    if not file.is_file():
        raise ScpUsageError(f"No journal at {file}.")
    header: dict[str, Any] = {}
    footer: dict[str, Any] | None = None
    results: list[ServerResult] = []
    lines = file.read_text(encoding="utf-8").splitlines()
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except ValueError:
            if number == len(lines):  # a last line cut short by a crash: everything before it stands
                break
            raise ScpUsageError(f"{file} line {number} is not JSON; is this an scp-widgets journal?") from None
        kind = record.pop("type", None)
        if kind == "run":
            header, footer, results = record, None, []
        elif kind == "result":
            results.append(ServerResult.from_record(record))
        elif kind == "end":
            footer = record
    results = _in_request_order(results, header.get("ids", []))
    counts = count_outcomes(r.outcome for r in results)
    attrs = {**{k: v for k, v in header.items() if k != "ids"}, **(footer or {})}
    attrs.update(counts=counts, complete=footer is not None, journal=str(file))
    done = {r.server_id for r in results}
    attrs["missing"] = [i for i in header.get("ids", []) if i not in done]
    attrs["summary"] = summary_line(counts, attrs.get("elapsed_s"), duplicates=int(attrs.get("duplicates") or 0))
    return to_frame(results, attrs)


def _in_request_order(results: list[ServerResult], ids: Sequence[str]) -> list[ServerResult]:
    position = {server_id: n for n, server_id in enumerate(ids)}
    return sorted(results, key=lambda r: position.get(r.server_id, len(position)))
