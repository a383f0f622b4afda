"""A Ctrl-C during a first `lock()`'s critical steps (found by review): inside the caller thread's `import pandas`
it left numpy or pandas half-imported for the whole process, and while the loop thread started it raised with
no rows and a coroutine never awaited. Both now wait for the step to be whole, then cancel the run, which
returns every row. Each case runs in a fresh interpreter, the interrupt fired by `_thread.interrupt_main` (what
a kernel's interrupt does) from inside the step itself, so it lands there every time."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from scp_widgets.emulator import EmulatorServer

TESTS = str(Path(__file__).resolve().parents[1])  # for the child's `import_hooks`
CHILD = """
import _thread, json, signal, sys
signal.signal(signal.SIGINT, signal.default_int_handler)
where = sys.argv[2]
sys.path.insert(0, sys.argv[3])
from import_hooks import before_import

import scp_widgets
from scp_widgets.engine import runner

if where == "pandas-import":
    # pandas.core.frame comes after pandas' compiled parts, which cannot load twice: an interrupt there left a
    # pandas no later import could mend ("module 'pandas' has no attribute 'array'"). The interrupt lands at
    # the main thread's next instruction: inside pandas' import.
    before_import("pandas.core.frame", _thread.interrupt_main)
else:  # the loop thread's start, on the first call
    start = runner.background_loop

    def interrupted_start():
        _thread.interrupt_main()
        return start()

    runner.background_loop = interrupted_start
frame = scp_widgets.lock(sys.argv[1].split(","), journal=False, verify=False)
import pandas as pd
print(json.dumps({
    "ids": frame["server_id"].tolist(), "outcomes": frame["outcome"].astype(str).tolist(),
    "pandas_whole": len(pd.DataFrame({"a": [1, 2]}).astype("category")),
}))
"""


@pytest.mark.parametrize("where", ["pandas-import", "loop-start"])
def test_a_ctrl_c_in_a_first_calls_critical_step_still_returns_every_row(
    live_emulator: EmulatorServer, where: str
) -> None:
    ids = live_emulator.emulator.own_ids[:4]
    done = subprocess.run(
        [sys.executable, "-W", "error::RuntimeWarning", "-c", CHILD, ",".join(ids), where, TESTS],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    got = json.loads(done.stdout)
    assert got["ids"] == ids  # every row, in order
    assert got["pandas_whole"] == 2  # pandas works for the rest of the process
    if where == "loop-start":  # interrupted before anything was sent: every row says it was not sent
        assert got["outcomes"] == ["cancelled"] * len(ids)
    else:  # interrupted while the run sends: each row either finished or says it was cancelled
        assert set(got["outcomes"]) <= {"locked", "accepted", "cancelled"}
