"""Helpers for the real-browser tests (recipe: shared/browser-testing.md): an isolated JupyterLab, Debian's
Chromium through Playwright, and the waits that proved reliable. No tests here."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import nbformat
import pytest
from playwright.sync_api import Browser, Locator, Page, expect, sync_playwright

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip
TOKEN = "panel-test-token"
SLOW = 120_000  # ms: generous for a loaded 2-core CI machine; waits end as soon as the condition holds
DARK = "JupyterLab Dark"
LIGHT = "JupyterLab Light"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _isolated_lab_env(cfg: Path, extra: Mapping[str, str]) -> dict[str, str]:
    # Fresh config, settings and workspaces: no stale tabs, and no "Jupyter news?" toast over the panel.
    (cfg / "config/labconfig").mkdir(parents=True)
    (cfg / "config/labconfig/page_config.json").write_text(
        json.dumps({"disabledExtensions": {"@jupyterlab/apputils-extension:announcements": True}})
    )
    return dict(
        os.environ,  # the kernel inherits it: SCP_ENDPOINT and the demo keys
        **extra,
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


def write_notebook(path: Path, *cells: str) -> None:
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(code) for code in cells])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"}
    nbformat.write(nb, path)


@contextmanager
def jupyter_lab(root: Path, cfg: Path, env: Mapping[str, str] | None = None) -> Iterator[str]:
    """An isolated JupyterLab serving `root`; yields its base URL and stops it (and its kernels) after."""
    lab_env = _isolated_lab_env(cfg, env or {})
    port = _free_port()
    log = cfg / "lab.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "jupyterlab", "--no-browser", "--allow-root", "--ip=127.0.0.1", f"--port={port}",
             "--port-retries=0", f"--IdentityProvider.token={TOKEN}", f"--ServerApp.root_dir={root}",
             "--LabApp.news_url=None", "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
             "--LabApp.expose_app_in_browser=True"],
            cwd=root, env=lab_env, stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_until_up(base, proc, log)
        yield base
    finally:
        delete_sessions(base)
        stop_process(proc)


def stop_process(proc: subprocess.Popen[Any]) -> None:
    """SIGTERM, then SIGKILL after 30 s: a server under test never outlives its fixture."""
    proc.terminate()
    try:
        proc.wait(30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(30)


def delete_sessions(base: str) -> None:
    """Kernels outlive the page; shut them down so nothing keeps talking to the emulator."""
    headers = {"Authorization": f"token {TOKEN}"}
    try:
        for session in httpx.get(f"{base}/api/sessions", headers=headers, timeout=10).json():
            httpx.delete(f"{base}/api/sessions/{session['id']}", headers=headers, timeout=30)
    except httpx.HTTPError:
        pass  # lab already gone: terminating it is all that is left


@contextmanager
def chromium() -> Iterator[Browser]:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: install Debian's chromium (apt-get install chromium); CI does.")
    with sync_playwright() as p:
        launched = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            launched.close()


def wait_kernel_idle(page: Page) -> None:
    # Not the execution indicator: it can read idle while the session still says "No Kernel" (recipe pitfall 2).
    page.wait_for_function(
        """() => [...document.querySelectorAll('#jp-main-statusbar .jp-StatusBar-TextItem')]
        .some(e => /\\| Idle$/.test(e.textContent.trim()) && !e.textContent.includes('No Kernel'))""",
        timeout=SLOW,
    )


def run_all_cells(page: Page, lab: str, notebook: str, cells: int = 1) -> None:
    # A workspace of its own: the lab would otherwise reopen the module's earlier notebooks beside this one.
    page.goto(f"{lab}/lab/workspaces/{Path(notebook).stem}/tree/{notebook}?token={TOKEN}")
    page.locator(".jp-NotebookPanel .jp-Cell").first.wait_for(timeout=SLOW)
    wait_kernel_idle(page)
    # Fold the file browser away: the panel gets the width, and the screenshot shows the panel, not the files.
    if page.locator("#jp-left-stack").is_visible():
        page.locator(".jp-SideBar.jp-mod-left .lm-TabBar-tab.lm-mod-current").click()
    expect(page.locator("#jp-left-stack")).to_be_hidden(timeout=SLOW)
    page.get_by_role("menuitem", name="Run", exact=True).click()
    page.get_by_role("menuitem", name="Run All Cells", exact=True).click()
    expect(page.locator(".jp-NotebookPanel .jp-InputPrompt").nth(cells - 1)).to_have_text(f"[{cells}]:", timeout=SLOW)


def set_theme(page: Page, theme: str) -> None:
    """Switch JupyterLab's theme (the setting persists in this lab's settings folder)."""
    page.evaluate("theme => window.jupyterapp.commands.execute('apputils:change-theme', {theme})", theme)
    light = "true" if theme == LIGHT else "false"
    page.wait_for_function(f"() => document.body.dataset.jpThemeLight === '{light}'", timeout=SLOW)
    page.wait_for_timeout(300)  # the theme's stylesheet applies just after the attribute changes


def button(panel: Locator, title: str) -> Locator:
    # By title: the icon's glyph makes the accessible name differ from the visible text.
    return panel.locator(f"button.widget-button[title='{title}']")
