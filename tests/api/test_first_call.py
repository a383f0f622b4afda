"""The first `lock()` in a fresh process sends before pandas is imported: the caller's thread imports it while
the requests are in flight (`run_blocking(meanwhile=...)`), and the frame and its `.scp` accessor are whole."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest

import scp_widgets
from scp_widgets.emulator import EmulatorServer
from scp_widgets.engine.cancel import CancelToken
from scp_widgets.engine.runner import run_blocking

TESTS = str(Path(__file__).resolve().parents[1])  # for the child's `import_hooks`
# Holds pandas' import (from any thread) until the run's first POST has gone out, or 20 s: an import that began
# before the sending (in the caller's thread before the run, or on the loop thread before its requests) waits
# the whole 20 s for a POST that cannot come, and says so.
CHILD = """
import json, sys, threading
import httpx
sys.path.insert(0, sys.argv[4])
from import_hooks import before_import

posted = threading.Event()
seen = []


def hold_pandas():
    seen.append({"thread": threading.current_thread().name, "after_first_post": posted.wait(20)})


class Watching(httpx.AsyncHTTPTransport):
    async def handle_async_request(self, request):
        if request.method == "POST":
            posted.set()
        return await super().handle_async_request(request)


before_import("pandas", hold_pandas)
if sys.argv[3] == "shell":  # a kernel: importing scp_widgets starts the warm-up thread, which imports pandas too
    from IPython.core.interactiveshell import InteractiveShell
    InteractiveShell.instance()
import scp_widgets
from scp_widgets.notebook import warm_up

lock = scp_widgets.lock
loaded_with_lock = "pandas" in sys.modules
frame = lock(sys.argv[1].split(","), verify=False, journal=sys.argv[2] == "default", transport=Watching())
print(json.dumps({
    "loaded_with_lock": loaded_with_lock, "seen": seen, "outcomes": frame["outcome"].astype(str).tolist(),
    "ids": frame["server_id"].tolist(), "accessor": hasattr(frame, "scp"),
    "dtypes": {"outcome": str(frame["outcome"].dtype), "sent_at": str(frame["sent_at"].dtype)},
    "warm_up": warm_up.started() is not None,
}))
"""


@pytest.mark.parametrize(("journal", "where"), [("off", "script"), ("default", "script"), ("off", "shell")])
def test_a_first_lock_sends_before_pandas_is_imported(
    live_emulator: EmulatorServer, journal: str, where: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # In a shell the warm-up thread imports pandas while the first lock() sends: whichever thread imports it
    # first holds the others until the first POST; the run must neither wait for it nor fail on a module
    # another thread is still importing.
    # With the default journal the run first prunes the journal folder, reading its old files: that must not
    # import pandas either (it did, through history.py, before retention had a module of its own).
    ids = live_emulator.emulator.own_ids[:3]
    monkeypatch.setenv("SCP_WIDGETS_JOURNAL_DIR", str(tmp_path))
    scp_widgets.lock(ids, endpoint=live_emulator.url, journal=str(tmp_path / "old.jsonl"))
    os.utime(tmp_path / "old.jsonl", (1e9, 1e9))  # old enough to be read by the retention
    done = subprocess.run(
        [sys.executable, "-c", CHILD, ",".join(ids), journal, where, TESTS], capture_output=True, text=True,
        timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    got = json.loads(done.stdout)
    assert got["loaded_with_lock"] is False  # `scp_widgets.lock` and the sending path need no pandas
    assert len(got["seen"]) == 1
    assert got["seen"][0]["after_first_post"] is True, got["seen"]
    assert got["ids"] == ids
    assert got["outcomes"] == ["locked"] * 3
    assert got["accessor"] is True  # `frame.scp` registered by the first call, as by any use of the package
    assert got["dtypes"] == {"outcome": "category", "sent_at": "datetime64[ns, UTC]"}
    assert got["warm_up"] is (where == "shell")


def test_meanwhile_runs_once_the_run_says_it_is_sending() -> None:
    sending = threading.Event()
    order: list[str] = []

    async def run() -> str:
        await asyncio.sleep(0.05)
        order.append("sending")
        sending.set()
        await asyncio.sleep(0.05)
        return "rows"

    assert run_blocking(run(), CancelToken(), meanwhile=lambda: order.append("meanwhile"), after=sending) == "rows"
    assert order == ["sending", "meanwhile"]


def test_meanwhile_still_runs_when_the_run_ends_without_sending() -> None:
    ran: list[bool] = []

    async def run() -> str:
        return "nothing sent"

    never = threading.Event()
    assert run_blocking(run(), CancelToken(), meanwhile=lambda: ran.append(True), after=never) == "nothing sent"
    assert ran == [True]


def test_a_failing_meanwhile_is_logged_and_the_run_still_returns(caplog: pytest.LogCaptureFixture) -> None:
    async def run() -> str:
        await asyncio.sleep(0.01)
        return "rows"

    def broken() -> None:
        raise ImportError("no pandas here")

    with caplog.at_level(logging.DEBUG, logger="scp_widgets.engine.runner"):
        assert run_blocking(run(), CancelToken(), meanwhile=broken) == "rows"
    assert "no pandas here" in caplog.text


def test_ctrl_c_during_meanwhile_cancels_the_run_and_returns_its_rows() -> None:
    token = CancelToken()

    async def run() -> str:
        await token.bind(asyncio.get_running_loop()).wait()
        return "cancelled rows"

    def interrupted() -> None:
        raise KeyboardInterrupt

    assert run_blocking(run(), token, meanwhile=interrupted) == "cancelled rows"
    assert token.cancelled
