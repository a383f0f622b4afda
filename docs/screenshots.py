"""Retake the README's pictures (docs/images/*.png) from the real thing, against the bundled emulator.

    .venv/bin/python docs/screenshots.py            # needs Debian's chromium at /usr/bin/chromium

- `app.png`: `scp-widgets app --no-browser` in Chromium after Lock on 20 servers (panel, timeline, coverage);
- `coverage.png` (the pointer on an unlocked bar), `timeline.png`, `history.png`: each chart as Voila draws it
  in an Output widget (as the app does), from a short notebook that lists a two-region fleet, locks 120
  servers against a service limited to 40 requests/s that also throttles and fails a few calls (both regions
  alike), then unlocks some and tries a bad id (so the history has more than one outcome).

Every process runs with the public demo credentials, a temporary journal folder and no access to the real
~/.scpconf. Each PNG is reduced to 256 colours, to stay small in the repository (< 150 KB).
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import nbformat
from PIL import Image
from playwright.sync_api import Locator, Page, expect, sync_playwright

from scp_widgets.emulator import DEMO_ACCESS_KEY, DEMO_SECRET_KEY, Emulator, EmulatorConfig, EmulatorServer, Faults
from scp_widgets.emulator.regions import RegionalEmulators

ROOT = Path(__file__).resolve().parent.parent
IMAGES = ROOT / "docs" / "images"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking"]
SLOW = 120_000  # ms
REGIONS = ("kr-west1", "kr-east1")
MAX_BYTES = 150_000

# Each chart is shown inside an Output widget, as the app shows them: Voila's own cell outputs lack the
# setData() that JupyterLab's Vega renderer calls after drawing, and print "Javascript Error" under the chart.
CHART_CELLS = [
    "import ipywidgets as w\nimport scp_widgets\n\n"
    "def shown(chart):\n    out = w.Output()\n    out.append_display_data(chart)\n    return out",
    f"servers = scp_widgets.list_servers(regions={list(REGIONS)!r})\nshown(servers.scp.coverage())",
    "batch = servers.query(\"region == 'kr-west1' and state == 'ACTIVE' and not locked\").id[:120]\n"
    "run = scp_widgets.lock(batch, regions=['kr-west1'], concurrency=32)\n"
    "shown(run.scp.timeline(rate_limit=40))",
    "scp_widgets.unlock(run.server_id[:15], regions=['kr-west1'])\n"
    "scp_widgets.lock([*servers.query(\"region == 'kr-east1' and not locked\").id[:12], "
    "'00000000-0000-4000-8000-000000000000'], regions=['kr-east1'])\n"
    "shown(scp_widgets.history().scp.chart())",
]
CHART_NAMES = ["coverage.png", "timeline.png", "history.png"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def base_env(journal: Path, home: Path) -> dict[str, str]:
    """This process's environment with the demo keys, a scratch journal and home (no real ~/.scpconf)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SCP_")}
    return {
        **env, "SCP_ACCESS_KEY": DEMO_ACCESS_KEY, "SCP_SECRET_KEY": DEMO_SECRET_KEY,
        "SCP_WIDGETS_JOURNAL_DIR": str(journal), "HOME": str(home), "PYTHONPATH": str(ROOT),
    }  # fmt: skip


@contextmanager
def serving(argv: list[str], env: dict[str, str], port: int, cwd: Path) -> Iterator[str]:
    """Run `argv` until the block ends; yields its URL once the port accepts a connection."""
    log = cwd / f"server-{port}.log"
    with log.open("w") as out:
        process = subprocess.Popen(argv, env=env, cwd=cwd, stdout=out, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + SLOW / 1000
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise RuntimeError(f"{argv[:4]} exited:\n{log.read_text()[-3000:]}")
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1):
                    break
            except OSError:
                time.sleep(0.2)
        else:
            raise RuntimeError(f"{argv[:4]} did not listen on {port}")
        yield f"http://127.0.0.1:{port}/"
    finally:
        process.terminate()
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(30)


def save_small(png: bytes, name: str) -> Path:
    """The screenshot in 256 colours (UI and charts have few), optimised; refuses one over MAX_BYTES."""
    IMAGES.mkdir(parents=True, exist_ok=True)
    path = IMAGES / name
    raw = path.with_suffix(".raw.png")
    raw.write_bytes(png)
    with Image.open(raw) as image:
        image.convert("RGB").quantize(colors=256, method=Image.Quantize.MEDIANCUT).save(path, optimize=True)
    raw.unlink()
    size = path.stat().st_size
    if size > MAX_BYTES:
        raise SystemExit(f"{path} is {size} bytes, over {MAX_BYTES}: take a smaller view")
    print(f"wrote {path.relative_to(ROOT)} ({size // 1024} KB)")
    return path


def shoot_app(page: Page, fleet: EmulatorServer, scratch: Path) -> None:
    port = free_port()
    env = {**base_env(scratch / "app-journal", scratch), "SCP_ENDPOINT": fleet.url}
    argv = [sys.executable, "-m", "scp_widgets.cli.main", "app", "--no-browser", "--port", str(port)]
    with serving(argv, env, port, scratch) as url:
        page.goto(url)
        expect(page.locator(".scp-coverage .vega-embed").first).to_be_visible(timeout=SLOW)
        ids = [i for i in fleet.emulator.own_ids if not fleet.emulator.server(i)["locked"]][:20]
        page.locator(".widget-textarea textarea").first.fill("\n".join(ids))
        page.locator("button.widget-button[title='Lock']").click()
        expect(page.locator(".scp-panel")).to_contain_text("20 locked", timeout=SLOW)
        expect(page.locator(".scp-timeline .vega-embed canvas, .scp-timeline .vega-embed svg").first).to_be_visible(
            timeout=SLOW
        )
        page.wait_for_load_state("networkidle")
        save_small(page.screenshot(), "app.png")  # Voila scrolls inside its page: the viewport is the shot


def shoot_charts(page: Page, scratch: Path) -> None:
    faults = Faults(throttle_rate=0.03, retry_after=0.5, error_rates={503: 0.03}, latency=0.02, rate_limit=40)
    config = EmulatorConfig(servers=300, foreign_servers=0, seed=22, locked_fraction=0.3, lock_delay=0.2, faults=faults)
    with RegionalEmulators(list(REGIONS), config) as regions:
        named = ",".join(f"{r}={url}" for r, url in regions.endpoints.items())
        notebook = scratch / "charts.ipynb"
        nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in CHART_CELLS])
        nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
        nbformat.write(nb, notebook)
        port = free_port()
        env = {**base_env(scratch / "chart-journal", scratch), "SCP_ENDPOINTS": named}
        argv = [
            sys.executable, "-m", "voila", str(notebook), f"--port={port}", "--Voila.ip=127.0.0.1", "--no-browser",
            "--strip_sources=True", "--theme=light", "--show_tracebacks=True",
        ]  # fmt: skip
        with serving(argv, env, port, scratch) as url:
            page.goto(url, timeout=SLOW)
            charts = page.locator(".vega-embed")
            expect(charts).to_have_count(len(CHART_NAMES), timeout=SLOW)
            expect(page.locator("body")).not_to_contain_text("Error")
            for index, name in enumerate(CHART_NAMES):
                chart = charts.nth(index)
                expect(chart.locator("canvas, svg").first).to_be_visible(timeout=SLOW)
                chart.scroll_into_view_if_needed()
                if name == "coverage.png":
                    save_small(hovered(page, chart), name)
                else:
                    save_small(chart.screenshot(), name)


def hovered(page: Page, chart: Locator) -> bytes:
    """The coverage with the pointer on the first row's red (unlocked) bar: its tooltip names the servers."""
    box = chart.bounding_box()
    assert box is not None
    page.mouse.move(box["x"] + box["width"] * 0.62, box["y"] + box["height"] * 0.32)
    tooltip = page.locator("#vg-tooltip-element")
    expect(tooltip).to_contain_text("unlocked", timeout=SLOW)
    tip = tooltip.bounding_box()
    assert tip is not None
    right = max(box["x"] + box["width"], tip["x"] + tip["width"]) + 8
    bottom = max(box["y"] + box["height"], tip["y"] + tip["height"]) + 8
    clip = {"x": box["x"], "y": box["y"], "width": right - box["x"], "height": bottom - box["y"]}
    return page.screenshot(clip=clip)


def main() -> None:
    with sync_playwright() as playwright, ExitStack() as stack:
        scratch = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="scp-shots-")))
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        stack.callback(browser.close)
        page = browser.new_context(viewport={"width": 1180, "height": 1500}).new_page()
        fleet = stack.enter_context(
            EmulatorServer(Emulator(EmulatorConfig(servers=60, foreign_servers=0, seed=22, locked_fraction=0.4)))
        )
        shoot_app(page, fleet, scratch)
        shoot_charts(page, scratch)


if __name__ == "__main__":
    main()
