"""`scp-widgets prune | head -1`: the reader goes away after one line. The command ends as `ls | head -1` does,
quietly with 141 (128 + SIGPIPE); it printed a BrokenPipeError traceback and exited 1, as if the prune had
failed when it had done its job (found by the engine review)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

from scp_widgets.cli.main import CLOSED_PIPE


def test_a_closed_pipe_is_not_a_traceback(tmp_path: Path) -> None:
    folder = tmp_path / "journal"
    folder.mkdir()
    old = time.time() - 200 * 86400
    for n in range(3000):  # finished and 200 days old: the listing of their paths is far more than a pipe holds
        path = folder / f"2025{n:06d}-lock-{n:012x}.jsonl"
        run = {
            "type": "run",
            "format": 3,
            "run_id": f"{n:012x}",
            "action": "lock",
            "started_at": "2025-01-01T00:00:00+00:00",
            "ids": [],
        }
        end = {
            "type": "end",
            "run": f"{n:012x}",
            "finished_at": "2025-01-01T00:00:01+00:00",
            "counts": {},
            "summary": "x",
        }
        path.write_text(f"{json.dumps(run)}\n{json.dumps(end)}\n")
        os.utime(path, (old, old))
    env = {**os.environ, "SCP_WIDGETS_JOURNAL_DIR": str(folder)}
    argv = [sys.executable, "-m", "scp_widgets.cli.main", "prune"]
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdout is not None and proc.stderr is not None
    assert proc.stdout.readline() == b"deleted 3000 journals\n"
    proc.stdout.close()  # as `head -1` does
    assert proc.wait(60) == CLOSED_PIPE == 141
    assert proc.stderr.read() == b""  # no traceback
    assert list(folder.iterdir()) == []  # and the prune did its job
