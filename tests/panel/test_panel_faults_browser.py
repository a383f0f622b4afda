"""The panel after faults, in a real JupyterLab in Chromium (issue 18): two regions answering with 503s and
429s; Retry failed sends exactly the failures, a Cancel mid-run leaves an amber summary and Resume sends
exactly the cancelled rows, and every button works afterwards. Screenshots at 1,280 and 700 px, light and
dark, go to artifacts/ (to docs/, the README's pictures, when UPDATE_SCREENSHOTS=1).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from browser_helpers import (
    DARK,
    LIGHT,
    SLOW,
    button,
    chromium,
    delete_sessions,
    jupyter_lab,
    run_all_cells,
    set_theme,
    write_notebook,
)  # fmt: skip
from playwright.sync_api import Locator, Page, expect

from scp_widgets.emulator import DEMO_ACCESS_KEY, DEMO_SECRET_KEY, Emulator, EmulatorConfig, Faults
from scp_widgets.emulator.regions import RegionalEmulators

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[2]
SHOTS = ROOT / ("docs" if os.environ.get("UPDATE_SCREENSHOTS") == "1" else "artifacts")
REGIONS = ["kr-west1", "kr-east1"]
FAULTY = Faults(error_rates={503: 0.55}, throttle_rate=0.1, retry_after=0.2)  # 503s and 429s on every call
SLOW_SERVICE = Faults(latency=1.0)  # a 300-server run lasts about 10 s: long enough to cancel in the middle
PANEL = f"from scp_widgets import LockPanel\np = LockPanel(regions={REGIONS!r})\np"


@pytest.fixture(scope="module")
def regions() -> Iterator[RegionalEmulators]:
    with RegionalEmulators(REGIONS, EmulatorConfig(servers=200, locked_fraction=0.0, seed=11)) as started:
        yield started


@pytest.fixture(scope="module")
def lab(regions: RegionalEmulators, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    root, cfg = tmp_path_factory.mktemp("root"), tmp_path_factory.mktemp("jupyter")
    endpoints = ",".join(f"{r}={url}" for r, url in regions.endpoints.items())
    env = {"SCP_ENDPOINTS": endpoints, "SCP_ACCESS_KEY": DEMO_ACCESS_KEY, "SCP_SECRET_KEY": DEMO_SECRET_KEY}
    write_notebook(root / "faults.ipynb", PANEL)
    with jupyter_lab(root, cfg, env) as base:
        yield base


@pytest.fixture
def page(lab: str) -> Iterator[Page]:
    with chromium() as browser:
        context = browser.new_context(viewport={"width": 1280, "height": 900})
        yield context.new_page()
        context.close()
    delete_sessions(lab)


def emulators(regions: RegionalEmulators) -> list[Emulator]:
    return [regions.emulators[r] for r in REGIONS]


def set_faults(regions: RegionalEmulators, faults: Faults) -> None:
    for emulator in emulators(regions):
        emulator.set_faults(faults)
        emulator.reset_record()


def posted(regions: RegionalEmulators) -> list[str]:
    """Every change request the two regions received (a retried server appears once per attempt)."""
    return [r.path.split("/")[3] for e in emulators(regions) for r in e.record if r.method == "POST"]


def unlocked(regions: RegionalEmulators, per_region: int) -> list[str]:
    return [i for e in emulators(regions) for i in [i for i in e.own_ids if not e.server(i)["locked"]][:per_region]]


def ids_in(panel: Locator, section: str, count: int | None = None) -> set[str]:
    """The ids of a section's rows, once the table holds `count` of them (it is drawn just after the summary)."""
    rows = panel.locator(f".scp-section.scp-{section} tr[data-outcome]")
    if count is not None:
        expect(rows).to_have_count(count, timeout=SLOW)
    return {str(row.get_attribute("data-id")) for row in rows.all()}


def counted(panel: Locator, pattern: str) -> int:
    """A number read from the summary, e.g. r'(\\d+) of 56 failed'."""
    summary = panel.locator(".scp-summary")
    expect(summary).to_contain_text(re.compile(pattern), timeout=SLOW)
    match = re.search(pattern, summary.inner_text())
    assert match is not None
    return int(match.group(1))


def start(panel: Locator, ids: list[str], action: str = "Lock") -> None:
    panel.locator("textarea").fill("\n".join(ids))
    expect(panel.get_by_text(f"Target: {len(ids)} servers")).to_be_visible(timeout=SLOW)
    button(panel, action).click()
    confirm = panel.get_by_role("button", name=f"Confirm {action.lower()} of {len(ids)}")
    expect(confirm).to_be_focused(timeout=SLOW)  # more than 25: a focused, labelled step
    expect(panel.get_by_role("alert")).to_contain_text("kr-west1")  # the count per region is named
    confirm.click()


def every_button_usable(panel: Locator) -> None:
    for title in ("Lock", "Unlock", "Reload the server list", "Select shown"):
        expect(button(panel, title)).to_be_enabled(timeout=SLOW)
    expect(button(panel, "Cancel")).to_be_disabled()


def shoot(page: Page, panel: Locator, name: str) -> None:
    SHOTS.mkdir(exist_ok=True)
    page.mouse.move(0, 0)
    panel.screenshot(path=str(SHOTS / name))


def nothing_clipped(panel: Locator) -> None:
    """No header cut (the 'HTTP' column's was at 700 px) and no sideways scroll of the panel."""
    clipped = panel.evaluate(
        "e => [...e.querySelectorAll('th, button')].filter(x => x.offsetParent && x.scrollWidth > x.clientWidth + 1)"
        ".map(x => x.textContent.trim())"
    )
    assert clipped == []
    assert panel.evaluate("e => e.scrollWidth <= e.clientWidth")


def test_retry_failed_and_resume_cancelled_after_faults_over_two_regions(
    page: Page, lab: str, regions: RegionalEmulators
) -> None:
    run_all_cells(page, lab, "faults.ipynb")
    panel = page.locator(".jp-OutputArea-output .widget-vbox").first
    expect(panel.locator(".widget-select-multiple select option")).to_have_count(250, timeout=SLOW)  # one page
    expect(panel.get_by_text("rows 1 to 250 of 400")).to_be_visible()
    expect(panel.get_by_role("listbox", name="Servers")).to_be_visible()  # the list has an accessible name
    for region in REGIONS:  # each region's switch announces its state
        expect(panel.get_by_role("checkbox", name=region)).to_be_checked()

    # 1. Lock 56 while both regions answer 503 and 429: some fail after their retries; Retry sends just those.
    set_faults(regions, FAULTY)
    first = unlocked(regions, 28)
    start(panel, first)
    # What Retry sends: the failed rows and those that did not finish (a read-back cut short by the 503s).
    retry = button(panel, "Retry failed")
    expect(retry).to_have_text(re.compile(r"Retry failed \(\d+\)"), timeout=SLOW)
    owed = int(re.findall(r"\d+", retry.inner_text())[-1])
    counted(panel, r"(\d+) of 56 failed")
    rows = panel.locator(".scp-section.scp-failed tr[data-outcome], .scp-section.scp-unfinished tr[data-outcome]")
    expect(rows).to_have_count(owed, timeout=SLOW)
    failed = {str(row.get_attribute("data-id")) for row in rows.all()}
    assert failed and failed <= set(first)
    expect(panel.locator(".progress-bar")).to_have_class(re.compile(r"\bbar-warning\b"))
    assert set(posted(regions)) == set(first)  # every server was sent, to its own region
    expect(panel.locator("td .region").first).to_be_visible()  # the rows say their region
    for theme, suffix in ((LIGHT, "light"), (DARK, "dark")):
        set_theme(page, theme)
        for width in (1280, 700):
            page.set_viewport_size({"width": width, "height": 1800})  # the whole panel in the picture
            page.wait_for_timeout(300)
            nothing_clipped(panel)
            shoot(page, panel, f"console-faults-{width}-{suffix}.png")
    set_theme(page, LIGHT)
    page.set_viewport_size({"width": 1280, "height": 900})
    set_faults(regions, Faults())
    button(panel, "Retry failed").click()
    if len(failed) > 25:
        panel.get_by_role("button", name=f"Confirm lock of {len(failed)}").click()
    expect(panel.locator(".scp-summary")).to_contain_text(f"all succeeded · {len(failed)} locked", timeout=SLOW)
    assert sorted(posted(regions)) == sorted(failed)  # exactly the failures, once each
    every_button_usable(panel)

    # 2. Lock 300 on a slow service, Cancel in the middle: amber, and Resume sends exactly the cancelled rows.
    set_faults(regions, SLOW_SERVICE)
    second = [i for i in unlocked(regions, 160) if i not in set(first)][:300]
    assert len(second) == 300
    start(panel, second)
    counts = panel.locator(".widget-html").get_by_text(re.compile(r"^\d+/300 · \d\d+ sent · \d+ accepted"))
    expect(counts).to_be_visible(timeout=SLOW)  # the stages, over both regions
    expect(panel.get_by_text(re.compile(r"^kr-west1: \d+/\d+ · \d+ sent"))).to_be_visible()  # and each region's
    button(panel, "Cancel").click()
    cancelled = ids_in(panel, "cancelled", counted(panel, r"(\d+) cancelled"))
    expect(panel.locator(".progress-bar")).to_have_class(re.compile(r"\bbar-warning\b"))  # amber, not blue
    sent_before = set(posted(regions))
    assert cancelled and cancelled - sent_before  # most were never sent (those in flight may have been)
    assert cancelled | sent_before == set(second)  # nothing lost: every server sent or cancelled
    assert not ids_in(panel, "failed")  # rows cut off in their read-back are not red failures
    every_button_usable(panel)
    expect(panel.get_by_text("Task exception was never retrieved")).to_have_count(0)
    set_faults(regions, Faults())
    button(panel, "Resume cancelled").click()
    if len(cancelled) > 25:
        panel.get_by_role("button", name=f"Confirm lock of {len(cancelled)}").click()
    expect(panel.locator(".scp-summary")).to_contain_text(f"all succeeded · {len(cancelled)} locked", timeout=SLOW)
    assert sorted(posted(regions)) == sorted(cancelled)  # exactly the cancelled rows
    every_button_usable(panel)
    shoot(page, panel, "console-resumed-1280-light.png")

    # 3. A kernel restart: the page keeps the panel, which now says it no longer acts instead of looking alive.
    page.get_by_role("button", name="Restart the kernel", exact=True).click()
    page.locator(".jp-Dialog .jp-Dialog-button.jp-mod-accept").click(timeout=SLOW)
    page.wait_for_function(
        "e => getComputedStyle(e, '::before').content.includes('The kernel restarted')",
        arg=panel.element_handle(),
        timeout=SLOW,
    )
    assert panel.evaluate("e => getComputedStyle(e.firstElementChild).pointerEvents") == "none"
