"""`scp-widgets app` in Debian's Chromium: the console renders with no code cell, locks 20 servers and draws
the run's timeline; `--read-only` hides Lock and Unlock and its kernel's Python API refuses a change; and no
secret is in the page, the rendered DOM, or the outputs Voila executed into it.

The app runs as `python -m scp_widgets.cli.main app` (this checkout's code), against a real emulator on
loopback. Screenshots go to artifacts/ (the README's pictures are taken by docs/screenshots.py).
"""

from __future__ import annotations

import os
import queue
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from browser_helpers import SLOW, button, chromium, stop_process
from playwright.sync_api import Browser, Page, expect

from scp_widgets.emulator import DEMO_ACCESS_KEY, DEMO_SECRET_KEY, Emulator, EmulatorConfig, EmulatorServer

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[2]
SHOTS = ROOT / "artifacts"
SECRETS = (DEMO_SECRET_KEY, DEMO_ACCESS_KEY, "Signature")


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def fleet() -> Iterator[EmulatorServer]:
    """60 unlocked servers of our account."""
    with EmulatorServer(Emulator(EmulatorConfig(servers=60, foreign_servers=0, locked_fraction=0.0))) as server:
        yield server


@contextmanager
def app(fleet: EmulatorServer, journal: Path, *options: str) -> Iterator[str]:
    """`scp-widgets app --no-browser` on a free port; yields the page's URL once it says it listens."""
    port = _free_port()
    env = {
        **os.environ, "SCP_ENDPOINT": fleet.url, "SCP_ACCESS_KEY": DEMO_ACCESS_KEY, "SCP_SECRET_KEY": DEMO_SECRET_KEY,
        "SCP_WIDGETS_JOURNAL_DIR": str(journal), "PYTHONPATH": str(ROOT),
    }  # fmt: skip
    argv = [sys.executable, "-m", "scp_widgets.cli.main", "app", "--no-browser", "--port", str(port), *options]
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=journal)
    lines: queue.Queue[str | None] = queue.Queue()

    def pump() -> None:
        for line in proc.stdout or ():
            lines.put(line)
        lines.put(None)

    threading.Thread(target=pump, daemon=True).start()
    seen: list[str] = []
    try:
        while True:
            line = lines.get(timeout=SLOW / 1000)
            assert line is not None, f"the app exited: {''.join(seen)}"
            seen.append(line)
            if line.startswith("scp-widgets app"):
                break
        url = line.split(": ", 1)[1].split()[0]
        assert url == f"http://127.0.0.1:{port}/"
        yield url
    finally:
        stop_process(proc)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with chromium() as launched:
        yield launched


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1280, "height": 1100})
    yield context.new_page()
    context.close()


def _open(page: Page, url: str, servers: int) -> None:
    page.goto(url)
    expect(page.locator(".widget-select-multiple select option")).to_have_count(servers, timeout=SLOW)
    # No code cell and no kernel UI: Voila strips the sources; the only output is the console.
    assert page.locator(".jp-CodeCell .jp-InputArea, .jp-InputPrompt, .CodeMirror, .cm-content").count() == 0
    assert page.locator(".jp-CodeCell").count() == page.locator(".jp-CodeCell.jp-mod-noInput").count() == 1
    assert "page()" not in page.locator("body").inner_text()


def _no_secret(page: Page, url: str) -> None:
    served = httpx.get(url, timeout=60).text  # what Voila executed into the page (a fresh kernel renders it again)
    for text in (served, page.content()):
        for secret in SECRETS:
            assert secret not in text


def test_app_locks_20_servers_and_draws_the_run_timeline(fleet: EmulatorServer, page: Page, tmp_path: Path) -> None:
    emulator = fleet.emulator
    ids = emulator.own_ids[:20]
    with app(fleet, tmp_path) as url:
        _open(page, url, 60)
        expect(page.locator(".scp-coverage .vega-embed").first).to_be_visible(timeout=SLOW)
        page.locator(".widget-textarea textarea").first.fill("\n".join(ids))
        button(page.locator("body"), "Lock").click()
        expect(page.locator(".scp-panel")).to_contain_text("20 locked", timeout=SLOW)
        timeline = page.locator(".scp-timeline .vega-embed").first
        expect(timeline).to_be_visible(timeout=SLOW)
        expect(timeline.locator("svg, canvas").first).to_be_visible(timeout=SLOW)
        expect(page.locator("body")).not_to_contain_text("Javascript Error")  # each chart drew without one
        assert [emulator.server(i)["locked"] for i in ids] == [True] * 20
        SHOTS.mkdir(exist_ok=True)
        page.screenshot(path=str(SHOTS / "app-console.png"), full_page=True)
        _no_secret(page, url)


def test_read_only_app_hides_lock_and_unlock_and_the_api_refuses(
    fleet: EmulatorServer, page: Page, tmp_path: Path
) -> None:
    emulator = fleet.emulator
    target = emulator.own_ids[-1]
    with app(fleet, tmp_path, "--read-only") as url:
        _open(page, url, 60)
        expect(page.locator(".scp-read-only")).to_contain_text("Read-only console", timeout=SLOW)
        body = page.locator("body")
        for title in ("Lock", "Unlock"):
            expect(button(body, title)).to_be_hidden()
        expect(page.locator(".scp-coverage .vega-embed").first).to_be_visible(timeout=SLOW)
        page.screenshot(path=str(SHOTS / "app-read-only.png"), full_page=True)
        # Voila lets a page run no code of its own (it drops execute requests), so a change could only come
        # through the widgets: unhide Lock by hand (as devtools could) and click it; the kernel must refuse.
        page.locator(".widget-textarea textarea").first.fill(target)
        lock = button(body, "Lock")
        lock.evaluate("el => { el.style.display = 'inline-flex'; }")
        lock.click()
        expect(page.locator(".scp-panel")).to_contain_text("lock() is refused: this session is read-only", timeout=SLOW)
        _no_secret(page, url)
    assert emulator.server(target)["locked"] is False
    assert [r for r in emulator.record if r.method == "POST" and r.server_id == target] == []
