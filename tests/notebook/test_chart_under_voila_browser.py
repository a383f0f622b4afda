"""`%scp_lock --chart` in a notebook Voila renders, in Debian's Chromium: the timeline draws with no
"Javascript Error" under it. JupyterLab's Vega renderer adds a PNG to a plain output through `model.setData`,
which Voila's cell outputs lack ("e.setData is not a function" under the chart); the magic puts its chart in
an Output widget there, as the app does.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

import nbformat
import pytest
from browser_helpers import SLOW, chromium, stop_process
from playwright.sync_api import expect

from scp_widgets.emulator import DEMO_ACCESS_KEY, DEMO_SECRET_KEY, Emulator, EmulatorConfig, EmulatorServer

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def fleet() -> Iterator[EmulatorServer]:
    with EmulatorServer(Emulator(EmulatorConfig(servers=8, foreign_servers=0, locked_fraction=0.0))) as server:
        yield server


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def voila(notebook: Path, env: dict[str, str]) -> Iterator[str]:
    """Voila serving `notebook` on a free port; yields its URL (Voila runs the notebook on each request)."""
    port = _free_port()
    argv = [sys.executable, "-m", "voila", notebook.name, "--no-browser", f"--port={port}", "--Voila.ip=127.0.0.1"]
    log = (notebook.parent / "voila.log").open("w")
    proc = subprocess.Popen(argv, env=env, cwd=notebook.parent, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/"
    try:
        deadline = time.monotonic() + SLOW / 1000
        while True:  # until it listens (or has died)
            assert proc.poll() is None, (notebook.parent / "voila.log").read_text()
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert time.monotonic() < deadline, "Voila did not listen in time"
                with suppress(subprocess.TimeoutExpired):
                    proc.wait(0.1)  # a pause that ends at once if Voila dies
        yield url
    finally:
        stop_process(proc)
        log.close()


def test_magic_chart_draws_under_voila_without_a_javascript_error(fleet: EmulatorServer, tmp_path: Path) -> None:
    ids = fleet.emulator.own_ids[:5]
    notebook = tmp_path / "chart.ipynb"
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_code_cell("%load_ext scp_widgets"),
        nbformat.v4.new_code_cell(f"%scp_lock --chart {' '.join(ids)}"),
    ]
    nbformat.write(nb, notebook)
    env = {
        **os.environ, "SCP_ENDPOINT": fleet.url, "SCP_ACCESS_KEY": DEMO_ACCESS_KEY, "SCP_SECRET_KEY": DEMO_SECRET_KEY,
        "SCP_WIDGETS_JOURNAL_DIR": str(tmp_path / "journal"), "PYTHONPATH": str(ROOT),
    }  # fmt: skip
    with chromium() as browser, voila(notebook, env) as url:
        page = browser.new_page()
        page.goto(url, timeout=SLOW)  # Voila answers once the notebook has run
        expect(page.locator("body")).to_contain_text("5 locked", timeout=SLOW)
        chart = page.locator(".vega-embed").first
        expect(chart.locator("svg, canvas").first).to_be_visible(timeout=SLOW)
        # The renderer's PNG step follows the drawing, asynchronously: let the page go quiet, then no error.
        page.wait_for_load_state("networkidle", timeout=SLOW)
        expect(page.locator("body")).not_to_contain_text("Javascript Error")
        assert page.locator(".jupyter-widgets.widget-output .vega-embed").count() == 1  # in an Output widget
    assert all(fleet.emulator.server(i)["locked"] for i in ids)
