"""The panel in a real JupyterLab, driven in Debian's Chromium by Playwright (recipe: shared/browser-testing.md).

The test starts the emulator (on a loopback socket) and an isolated JupyterLab whose kernel reaches it through
SCP_ENDPOINT / SCP_ACCESS_KEY / SCP_SECRET_KEY, opens a fresh notebook, runs it, picks three servers in the
multi-select, clicks Lock and waits for the table to read `locked`, saves artifacts/panel.png (the README's
docs/panel.png is a copy of it), then clicks Unlock.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import nbformat
import pytest
from playwright.sync_api import Browser, Locator, Page, expect, sync_playwright

from scp_widgets.emulator import EmulatorServer

pytestmark = pytest.mark.browser

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip
TOKEN = "panel-test-token"
NOTEBOOK = "panel.ipynb"
NB_CODE = "from scp_widgets import LockPanel\np = LockPanel()\np"
SCREENSHOT = Path(__file__).resolve().parents[1] / "artifacts" / "panel.png"
SLOW = 120_000  # ms: generous for a loaded 2-core CI machine; waits end as soon as the condition holds


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _isolated_lab_env(cfg: Path) -> dict[str, str]:
    # Fresh config, settings and workspaces: no stale tabs, and no "Jupyter news?" toast over the panel.
    (cfg / "config/labconfig").mkdir(parents=True)
    (cfg / "config/labconfig/page_config.json").write_text(
        json.dumps({"disabledExtensions": {"@jupyterlab/apputils-extension:announcements": True}})
    )
    return dict(
        os.environ,  # carries SCP_ENDPOINT and the demo keys set by `live_emulator`, for the kernel
        JUPYTER_CONFIG_DIR=str(cfg / "config"),
        JUPYTER_RUNTIME_DIR=str(cfg / "runtime"),
        JUPYTERLAB_SETTINGS_DIR=str(cfg / "settings"),
        JUPYTERLAB_WORKSPACES_DIR=str(cfg / "workspaces"),
    )


def _wait_until_up(base: str, proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + SLOW / 1000
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{base}/api/status", params={"token": TOKEN}, timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        if proc.poll() is not None:
            raise RuntimeError(f"JupyterLab exited:\n{log.read_text()}")
        time.sleep(0.25)
    raise RuntimeError(f"JupyterLab did not answer in time:\n{log.read_text()}")


@pytest.fixture
def lab(live_emulator: EmulatorServer, tmp_path: Path) -> Iterator[str]:
    root, cfg = tmp_path / "root", tmp_path / "jupyter"
    root.mkdir()
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(NB_CODE)])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"}
    nbformat.write(nb, root / NOTEBOOK)
    env = _isolated_lab_env(cfg)
    port = _free_port()
    log = cfg / "lab.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "jupyterlab", "--no-browser", "--allow-root", "--ip=127.0.0.1", f"--port={port}",
             "--port-retries=0", f"--IdentityProvider.token={TOKEN}", f"--ServerApp.root_dir={root}",
             "--LabApp.news_url=None", "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate"],
            cwd=root, env=env, stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_until_up(base, proc, log)
        yield base
    finally:
        _delete_sessions(base)
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(30)


def _delete_sessions(base: str) -> None:
    """Kernels outlive the page; shut them down so nothing keeps talking to the emulator."""
    headers = {"Authorization": f"token {TOKEN}"}
    try:
        for session in httpx.get(f"{base}/api/sessions", headers=headers, timeout=10).json():
            httpx.delete(f"{base}/api/sessions/{session['id']}", headers=headers, timeout=30)
    except httpx.HTTPError:
        pass  # lab already gone: terminating it below is all that is left


@pytest.fixture
def browser() -> Iterator[Browser]:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: install Debian's chromium (apt-get install chromium); CI does.")
    with sync_playwright() as p:
        launched = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@pytest.fixture
def page(browser: Browser, lab: str) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1360, "height": 1000})
    yield context.new_page()
    context.close()


def wait_kernel_idle(page: Page) -> None:
    # Not the execution indicator: it can read idle while the session still says "No Kernel" (recipe pitfall 2).
    page.wait_for_function(
        """() => [...document.querySelectorAll('#jp-main-statusbar .jp-StatusBar-TextItem')]
        .some(e => /\\| Idle$/.test(e.textContent.trim()) && !e.textContent.includes('No Kernel'))""",
        timeout=SLOW,
    )


def run_all_cells(page: Page, lab: str) -> None:
    page.goto(f"{lab}/lab/tree/{NOTEBOOK}?token={TOKEN}")
    page.locator(".jp-NotebookPanel .jp-Cell").first.wait_for(timeout=SLOW)
    wait_kernel_idle(page)
    # Fold the file browser away: the panel gets the width, and the screenshot shows the panel, not the files.
    page.locator(".jp-SideBar.jp-mod-left .lm-TabBar-tab.lm-mod-current").click()
    expect(page.locator("#jp-left-stack")).to_be_hidden(timeout=SLOW)
    page.get_by_role("menuitem", name="Run", exact=True).click()
    page.get_by_role("menuitem", name="Run All Cells", exact=True).click()
    expect(page.locator(".jp-NotebookPanel .jp-InputPrompt").first).to_have_text("[1]:", timeout=SLOW)


def button(panel: Locator, title: str) -> Locator:
    # By title: the icon's glyph makes the accessible name differ from the visible text.
    return panel.locator(f"button.widget-button[title='{title}']")


def test_lock_and_unlock_three_servers_in_jupyterlab(page: Page, lab: str, live_emulator: EmulatorServer) -> None:
    run_all_cells(page, lab)
    panel = page.locator(".jp-OutputArea-output .widget-vbox").first
    select = panel.locator(".widget-select-multiple select")
    expect(select.locator("option")).to_have_count(50, timeout=SLOW)  # the list loaded from the emulator

    # ipywidgets draws option labels with non-breaking spaces; pick three servers not locked yet.
    texts = select.locator("option").all_text_contents()
    labels = [t for t in texts if "· locked ·" not in t.replace("\xa0", " ")][:3]
    select.select_option(label=labels)
    expect(panel.get_by_text("Target: 3 servers")).to_be_visible(timeout=SLOW)
    button(panel, "Lock").click()

    outcomes = panel.locator("table.scp-results tbody .scp-badge")
    expect(outcomes).to_have_text(["locked"] * 3, timeout=SLOW)
    expect(button(panel, "Lock")).to_be_enabled(timeout=SLOW)
    names = [label.replace("\xa0", " ").split(" · ")[0] for label in labels]
    expect(panel.locator("table.scp-results tbody tr td:nth-child(3)")).to_have_text(names)
    locked = [s for s in live_emulator.emulator.own_ids if live_emulator.emulator.server(s)["name"] in names]
    assert len(locked) == 3 and all(live_emulator.emulator.server(s)["locked"] for s in locked)

    SCREENSHOT.parent.mkdir(exist_ok=True)
    page.mouse.move(0, 0)  # no hover highlight in the picture
    page.screenshot(path=str(SCREENSHOT))

    button(panel, "Unlock").click()
    expect(outcomes).to_have_text(["unlocked"] * 3, timeout=SLOW)
    assert not any(live_emulator.emulator.server(s)["locked"] for s in locked)
