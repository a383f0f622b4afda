"""The panel and the magics' output in a real JupyterLab, driven in Debian's Chromium by Playwright.

One emulator (on a loopback socket), one JupyterLab and one Chromium for the whole module (CI time matters);
each test opens its own notebook. Screenshots go to artifacts/ (to docs/, the README's pictures, when
UPDATE_SCREENSHOTS=1).
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
from playwright.sync_api import Browser, Locator, Page, expect

from scp_widgets.emulator import DEMO_ACCESS_KEY, DEMO_SECRET_KEY, Emulator, EmulatorConfig, EmulatorServer

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[2]
SHOTS = ROOT / ("docs" if os.environ.get("UPDATE_SCREENSHOTS") == "1" else "artifacts")
MISSING = ["00000000-0000-4000-8000-000000000000", "00000000-0000-4000-8000-000000000001"]
PANEL = "from scp_widgets import LockPanel\np = LockPanel()\np"
FORBIDDEN = "access denied (403): the server belongs to another account or the key lacks permission"
NOT_FOUND = "server not found in this account"


@pytest.fixture(scope="module")
def fleet() -> Iterator[EmulatorServer]:
    """100 unlocked servers of our account and 2 of another, for every test of the module."""
    with EmulatorServer(Emulator(EmulatorConfig(servers=100, foreign_servers=2, locked_fraction=0.0))) as server:
        yield server


@pytest.fixture(scope="module")
def lab(fleet: EmulatorServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    root, cfg = tmp_path_factory.mktemp("root"), tmp_path_factory.mktemp("jupyter")
    env = {"SCP_ENDPOINT": fleet.url, "SCP_ACCESS_KEY": DEMO_ACCESS_KEY, "SCP_SECRET_KEY": DEMO_SECRET_KEY}
    for name in ("console", "unlock", "lock3"):
        write_notebook(root / f"{name}.ipynb", PANEL)
    emulator = fleet.emulator
    own = [i for i in emulator.own_ids if not emulator.server(i)["locked"]]
    ids = [*own[-38:-19], emulator.foreign_ids[0], *own[-19:], MISSING[0]]  # 40, two fail (403, 404)
    write_notebook(root / "magic.ipynb", "%load_ext scp_widgets", f"ids = {ids!r}", "%scp_lock --from ids")
    with jupyter_lab(root, cfg, env) as base:
        yield base


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with chromium() as launched:
        yield launched


@pytest.fixture
def page(browser: Browser, lab: str) -> Iterator[Page]:
    context = browser.new_context(
        viewport={"width": 1280, "height": 900}, permissions=["clipboard-read", "clipboard-write"]
    )
    yield context.new_page()
    context.close()
    delete_sessions(lab)  # each test's kernel ends with it


def _panel(page: Page) -> Locator:
    panel = page.locator(".jp-OutputArea-output .widget-vbox").first
    expect(panel.locator(".widget-select-multiple select option")).to_have_count(100, timeout=SLOW)
    return panel


def _posted(emulator: Emulator) -> list[str]:
    return [r.path.split("/")[3] for r in emulator.record if r.method == "POST"]


def _no_horizontal_scroll(panel: Locator) -> None:
    sizes = panel.evaluate("e => [e.scrollWidth, e.clientWidth, e.closest('.jp-OutputArea').scrollWidth, "
                           "e.closest('.jp-OutputArea').clientWidth]")  # fmt: skip
    assert sizes[0] <= sizes[1] and sizes[2] <= sizes[3], sizes


def _contrast(locator: Locator) -> float:
    """WCAG contrast of the element's text against the first opaque background behind it."""
    ratio: float = locator.evaluate(
        """e => {
        const rgb = s => s.match(/[\\d.]+/g).map(Number);
        const lum = c => { const [r, g, b] = c.slice(0, 3).map(v => { v /= 255;
            return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4); });
            return 0.2126 * r + 0.7152 * g + 0.0722 * b; };
        let fg = rgb(getComputedStyle(e).color), n = e, bg = null;
        while (n && !bg) { const c = rgb(getComputedStyle(n).backgroundColor);
            if (c.length < 4 || c[3] > 0.9) { if (!(c.length === 4 && c[3] === 0)) bg = c; } n = n.parentElement; }
        bg = bg || [255, 255, 255];
        if (fg.length === 4) fg = fg.slice(0, 3).map((v, i) => v * fg[3] + bg[i] * (1 - fg[3]));
        const [a, b] = [lum(fg), lum(bg)].sort((x, y) => y - x);
        return (a + 0.05) / (b + 0.05); }"""
    )
    return ratio


def _check_failures_first(panel: Locator, failed: dict[str, str]) -> None:
    rows = panel.locator(".scp-section.scp-failed tr[data-outcome]")
    expect(rows).to_have_count(len(failed), timeout=SLOW)
    for row in rows.all():
        expect(row).to_be_visible()
        server_id = row.get_attribute("data-id")
        assert server_id in failed
        expect(row.locator("td.message")).to_have_text(failed[server_id])  # the whole message
    # the successes are folded below the failures
    assert panel.locator("details.scp-succeeded").evaluate("e => !e.open")
    expect(panel.locator("details.scp-succeeded tr[data-outcome]").first).to_be_hidden()


def test_a_56_server_run_shows_its_4_failures_first_at_1280_and_900_px_light_and_dark(
    page: Page, lab: str, fleet: EmulatorServer
) -> None:
    emulator = fleet.emulator
    own = [i for i in emulator.own_ids if not emulator.server(i)["locked"]][:52]
    failing = [*emulator.foreign_ids, *MISSING]
    failed = {emulator.foreign_ids[0]: FORBIDDEN, emulator.foreign_ids[1]: FORBIDDEN}
    failed |= {m: NOT_FOUND for m in MISSING}
    run_all_cells(page, lab, "console.ipynb")
    panel = _panel(page)
    panel.locator("textarea").fill("\n".join([*own[:30], *failing, *own[30:]]))
    expect(panel.get_by_text("Target: 56 servers: 56 pasted")).to_be_visible(timeout=SLOW)
    emulator.reset_record()
    button(panel, "Lock").click()
    expect(panel.get_by_text("Lock 56 servers?")).to_be_visible(timeout=SLOW)  # more than 25: it asks first
    assert _posted(emulator) == []
    button(panel, "Confirm").click()
    expect(panel.locator(".scp-summary")).to_contain_text("Lock: 4 of 56 failed", timeout=SLOW)
    assert sorted(_posted(emulator)) == sorted([*own, *failing])
    expect(panel.locator(".widget-toggle-buttons button")).to_have_text(["All 56", "Failed 4", "Succeeded 52"])
    _check_failures_first(panel, failed)
    _no_horizontal_scroll(panel)
    expect(panel.locator(".progress-bar")).to_have_class(re.compile(r"\bbar-warning\b"))  # amber, not red
    SHOTS.mkdir(exist_ok=True)
    page.mouse.move(0, 0)
    panel.screenshot(path=str(SHOTS / "console-light.png"))

    page.set_viewport_size({"width": 900, "height": 900})
    page.wait_for_timeout(300)
    _check_failures_first(panel, failed)
    _no_horizontal_scroll(panel)
    columns = panel.locator(".widget-select-multiple").bounding_box(), panel.locator("textarea").bounding_box()
    assert columns[0] and columns[1] and columns[1]["y"] > columns[0]["y"] + columns[0]["height"]  # stacked
    table = panel.locator(".scp-section.scp-failed .scp-scroll")
    assert table.evaluate("e => e.scrollWidth <= e.clientWidth")  # the messages wrap inside the table
    page.mouse.move(0, 0)
    panel.screenshot(path=str(SHOTS / "console-900.png"))

    set_theme(page, DARK)
    try:
        _check_failures_first(panel, failed)
        _no_horizontal_scroll(panel)
        for cell in (".scp-section.scp-failed td.message", ".scp-section.scp-failed .scp-badge", ".scp-summary"):
            assert _contrast(panel.locator(cell).first) >= 4.5, cell
        page.set_viewport_size({"width": 1280, "height": 900})
        page.wait_for_timeout(300)
        page.mouse.move(0, 0)
        panel.screenshot(path=str(SHOTS / "console-dark.png"))
    finally:
        set_theme(page, LIGHT)

    panel.locator("button[title='Copy the failed ids']").click()
    assert sorted(page.evaluate("navigator.clipboard.readText()").split("\n")) == sorted(failing)
    with page.expect_download() as download:
        panel.get_by_text("Download CSV").click()
    csv = Path(download.value.path()).read_text(encoding="utf-8").splitlines()
    assert csv[0].startswith("server_id,action,outcome") and len(csv) == 57

    emulator.reset_record()
    button(panel, "Retry failed").click()  # 4 rows: no confirmation needed
    expect(panel.locator(".scp-summary")).to_contain_text("Lock: 4 of 4 failed", timeout=SLOW)
    assert sorted(_posted(emulator)) == sorted(failing)  # exactly the failed rows, once each
    expect(panel.locator(".progress-bar")).to_have_class(re.compile(r"\bbar-danger\b"))  # red: none succeeded


def test_unlock_of_100_picked_servers_waits_for_confirm_and_clear_empties_the_paste_box(
    page: Page, lab: str, fleet: EmulatorServer
) -> None:
    emulator = fleet.emulator
    run_all_cells(page, lab, "unlock.ipynb")
    panel = _panel(page)
    button(panel, "Select shown").click()
    expect(panel.get_by_text("Target: 100 servers: 100 picked in the list")).to_be_visible(timeout=SLOW)
    picked = panel.locator(".widget-select-multiple select option:checked").first
    for theme in (DARK, LIGHT):  # picked rows read in both themes (they were grey on grey in the dark one)
        set_theme(page, theme)
        assert _contrast(picked) >= 4.5, theme
        assert _contrast(button(panel, "Unlock")) >= 4.5, theme  # white on #f57c00 was 2.7:1
    emulator.reset_record()
    button(panel, "Unlock").click()
    expect(panel.get_by_text("Unlock 100 servers?")).to_be_visible(timeout=SLOW)
    expect(panel.get_by_text("Nothing is sent until you confirm")).to_be_visible()
    expect(panel.get_by_role("button", name="Confirm unlock of 100")).to_be_focused(timeout=SLOW)  # not <body>
    expect(panel.get_by_role("alert")).to_contain_text("Unlock 100 servers?")
    page.wait_for_timeout(1000)
    assert _posted(emulator) == []
    button(panel, "Back out: send nothing").click()
    expect(panel.get_by_text("Backed out: nothing was sent.")).to_be_visible(timeout=SLOW)
    expect(panel.get_by_text("Unlock 100 servers?")).to_be_hidden()
    assert _posted(emulator) == []

    panel.locator("textarea").fill(f"{emulator.own_ids[0]}, web-not-a-server")
    expect(panel.get_by_text("web-not-a-server")).to_be_visible(timeout=SLOW)  # flagged under the box
    button(panel, "Clear the picks and the paste box").click()
    expect(panel.locator("textarea")).to_have_value("", timeout=SLOW)
    expect(panel.get_by_text("Target: nothing yet")).to_be_visible(timeout=SLOW)
    assert _posted(emulator) == []


def test_the_list_keeps_its_scroll_position_after_a_run(page: Page, lab: str, fleet: EmulatorServer) -> None:
    emulator = fleet.emulator
    run_all_cells(page, lab, "lock3.ipynb")
    panel = _panel(page)
    select = panel.locator(".widget-select-multiple select")
    options = select.locator("option")
    last = options.nth(95)
    last.scroll_into_view_if_needed()
    texts = [t.replace("\xa0", " ") for t in options.all_text_contents()]
    label = next(t for t in reversed(texts[:96]) if "· locked ·" not in t)
    select.select_option(label=label.replace(" ", "\xa0"))
    before = select.evaluate("e => e.scrollTop")
    assert before > 0
    emulator.reset_record()
    button(panel, "Lock").click()
    expect(panel.locator(".scp-summary")).to_contain_text("Lock: all succeeded · 1 locked", timeout=SLOW)
    assert len(_posted(emulator)) == 1
    assert select.evaluate("e => e.scrollTop") == before


def test_the_magic_output_names_the_two_failures_above_the_fold(page: Page, lab: str) -> None:
    run_all_cells(page, lab, "magic.ipynb", cells=3)
    view = page.locator(".jp-OutputArea-output .scp-run").first
    # the summary once: the progress line became it, and the view shown below it does not repeat it
    summary = page.locator(".jp-OutputArea-output").filter(has_text="1 forbidden, 1 not_found in").first
    expect(summary).to_be_visible(timeout=SLOW)
    expect(view.locator(".scp-summary")).to_have_count(0)
    rows = view.locator(".scp-section.scp-failed tr[data-outcome]")
    expect(rows).to_have_count(2)
    expect(rows.locator("td.message")).to_have_text([FORBIDDEN, NOT_FOUND])
    height = page.viewport_size["height"] if page.viewport_size else 900
    for row in rows.all():
        box = row.bounding_box()
        assert box is not None and box["y"] + box["height"] <= height, box  # visible without scrolling
    page.mouse.move(0, 0)
    SHOTS.mkdir(exist_ok=True)
    page.screenshot(path=str(SHOTS / "magic-light.png"))
