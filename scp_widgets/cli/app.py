"""`scp-widgets app`: the lock console as a web page for operators who never open a notebook.

    scp-widgets app                          # Voila serves the console at http://127.0.0.1:8866/
    scp-widgets app --read-only --region kr-west1,kr-east1 --port 9000 --no-browser

Voila renders the page notebook shipped beside this module (`app.ipynb`) with its sources stripped: no code
cell, no kernel UI. Its kernel inherits this process's environment, so credentials come from `SCP_*` or
`~/.scpconf` and never enter the page or its URL; the regions and the read-only flag travel as environment
variables too (`SCP_WIDGETS_APP_REGIONS`, `SCP_WIDGETS_READ_ONLY`), which `page()` reads in the kernel.
"""

from __future__ import annotations

import argparse
import os
import socket
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

from scp_widgets.engine.read_only import READ_ONLY_ENV

if TYPE_CHECKING:
    from scp_widgets.panel.console import LockConsole

PAGE = Path(__file__).with_name("app.ipynb")
REGIONS_ENV = "SCP_WIDGETS_APP_REGIONS"
DEFAULT_PORT = 8866
START_TIMEOUT = 120.0


def configure_parser(parser: argparse.ArgumentParser) -> None:
    add = parser.add_argument
    add("--port", type=int, default=DEFAULT_PORT, help="the page's port on 127.0.0.1 (default: %(default)s)")
    add("--no-browser", action="store_true", help="do not open a browser")
    add("--region", metavar="A,B", help="regions to list and lock in (default: the configured endpoint)")
    add("--read-only", action="store_true", help="list, history and charts only: Lock and Unlock hidden and refused")


def voila_command(port: int, *, browser: bool) -> list[str]:
    """Voila on the page notebook, sources stripped, on loopback only (it has no token of its own)."""
    return [
        sys.executable, "-m", "voila", str(PAGE), f"--port={port}", "--Voila.ip=127.0.0.1",
        "--strip_sources=True", "--show_tracebacks=False", "--theme=light", *([] if browser else ["--no-browser"]),
        "--Voila.port_retries=0",  # never a silent move to another port: the printed URL would be someone else's
    ]  # fmt: skip


def app_environment(regions: str | None, read_only: bool, base: dict[str, str] | None = None) -> dict[str, str]:
    """The environment of Voila and its kernels: the caller's, plus where and whether to change anything."""
    env = dict(os.environ if base is None else base)
    env.pop(REGIONS_ENV, None)
    env.pop(READ_ONLY_ENV, None)
    if regions:
        env[REGIONS_ENV] = regions
    if read_only:
        env[READ_ONLY_ENV] = "1"
    return env


def page() -> LockConsole:
    """The console the page shows, built from the environment `scp-widgets app` set (in the Voila kernel)."""
    from scp_widgets.panel.console import LockConsole  # here: the command line starts without pandas or widgets

    regions = [r.strip() for r in os.environ.get(REGIONS_ENV, "").split(",") if r.strip()]
    return LockConsole(regions=regions or None)


def port_in_use(port: int) -> bool:
    """Whether something listens on 127.0.0.1:port already (another app): Voila must not start, and a TCP
    connect there would reach that other page."""
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as Voila binds: TIME_WAIT is not "in use"
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return True
    return False


def wait_for_port(port: int, alive: object, timeout: float = START_TIMEOUT) -> bool:
    """Whether 127.0.0.1:port accepts a connection before `timeout` (a TCP connect: a GET would start a kernel)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and callable(alive) and alive():
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return True
        except OSError:
            time.sleep(0.2)
    return False
