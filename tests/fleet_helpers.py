"""Shared helper for the fleet tests (no tests here): `scp-widgets emulator` as a real process."""

from __future__ import annotations

import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

SCRIPT = Path(sys.executable).parent / "scp-widgets"


@contextmanager
def emulator_process(*options: str, exports: int = 4) -> Iterator[dict[str, str]]:
    """Run `scp-widgets emulator --port 0 OPTIONS`, yield its `export NAME=value` lines; SIGINT stops it."""
    process = subprocess.Popen([str(SCRIPT), "emulator", "--port", "0", *options], stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        found: dict[str, str] = {}
        while len(found) < exports:
            line = process.stdout.readline()
            assert line, f"the emulator exited before printing its export lines: {found}"
            if line.startswith("export "):
                name, _, value = line.removeprefix("export ").strip().partition("=")
                found[name] = value
        yield found
    finally:
        process.send_signal(signal.SIGINT)
        assert process.wait(15) == 0
