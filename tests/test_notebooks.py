"""Every tutorial notebook runs top to bottom in a real kernel against the emulator, and leaks no secret."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient
from widget_helpers import rows_in

from scp_widgets.cli.demo import DEMO_REGIONS, demo_config
from scp_widgets.emulator import DEMO_ACCESS_KEY, DEMO_SECRET_KEY, Emulator, EmulatorServer
from scp_widgets.emulator.regions import RegionalEmulators
from scp_widgets.views.charts import VEGALITE_MIME

REPO = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((REPO / "notebooks").glob("*.ipynb"))
FLEET = REPO / "notebooks" / "05-fleet.ipynb"  # needs two regions: run by its own test below
PICTURES = REPO / "notebooks" / "06-pictures.ipynb"  # its charts are checked by their own test below
ONE_ENDPOINT = [p for p in NOTEBOOKS if p not in (FLEET, PICTURES)]
TIMEOUT = 120
pytestmark = pytest.mark.usefixtures("python3_kernel")


@pytest.fixture
def emulator() -> Emulator:
    """The demo fleet (faults included), as `scp-widgets demo` and Binder serve it: the notebooks' ids exist."""
    return Emulator(demo_config())


def execute(path: Path, workdir: Path) -> nbformat.NotebookNode:
    """Run the notebook in a fresh kernel (raises CellExecutionError on the first failing cell)."""
    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(nb, timeout=TIMEOUT, kernel_name="python3", resources={"metadata": {"path": workdir}})
    client.execute()
    return nb


def outputs_text(nb: nbformat.NotebookNode) -> str:
    return "\n".join(json.dumps(cell.get("outputs", [])) for cell in nb.cells)


def assert_no_secret(text: str) -> None:
    assert DEMO_SECRET_KEY not in text
    assert "Scp-Signature" not in text and "X-Cmp-Signature" not in text


@pytest.mark.parametrize("path", ONE_ENDPOINT, ids=[p.stem for p in ONE_ENDPOINT])
def test_notebook_runs_against_the_emulator(path: Path, live_emulator: EmulatorServer, tmp_path: Path) -> None:
    nb = execute(path, tmp_path)
    text = outputs_text(nb)
    assert '"output_type": "error"' not in text
    assert_no_secret(nbformat.writes(nb))
    if path.stem != "04-real-scp":
        assert f"Using the SCP endpoint at {live_emulator.url}" in text  # it used SCP_ENDPOINT, started nothing
    else:
        assert "that is the emulator, not a real account" in text


def test_fleet_notebook_runs_against_the_two_demo_regions(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with RegionalEmulators(list(DEMO_REGIONS), demo_config()) as regions:
        named = ",".join(f"{r}={url}" for r, url in regions.endpoints.items())
        monkeypatch.setenv("SCP_ENDPOINTS", named)
        monkeypatch.setenv("SCP_ACCESS_KEY", DEMO_ACCESS_KEY)
        monkeypatch.setenv("SCP_SECRET_KEY", DEMO_SECRET_KEY)
        nb = execute(FLEET, tmp_path)
        west, east = (regions.emulators[r] for r in DEMO_REGIONS)
        rule_matches = [
            (e, i) for e in (west, east) for i in e.own_ids
            if str(e.server(i)["name"]).startswith("web-") and e.server(i)["state"] == "ACTIVE"
        ]  # fmt: skip
        assert rule_matches and all(e.server(i)["locked"] for e, i in rule_matches)  # the guard left them locked
    text = outputs_text(nb)
    assert '"output_type": "error"' not in text
    assert f"Using the SCP regions at {named}" in text
    assert "maintenance failed: disk resize failed half-way" in text
    assert "no maintenance window left servers unlocked" in text
    assert_no_secret(nbformat.writes(nb))


@pytest.fixture
def trap() -> Iterator[socket.socket]:
    """A listening socket standing in for every HTTP(S) proxy: any outgoing request would connect to it."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(16)
        listener.setblocking(False)
        yield listener


def test_real_scp_notebook_makes_no_call_when_unconfigured(
    trap: socket.socket, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    proxy = f"http://127.0.0.1:{trap.getsockname()[1]}"
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.setenv(name, proxy)
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    nb = execute(REPO / "notebooks" / "04-real-scp.ipynb", tmp_path)  # conftest: no SCP_* set, empty ~/.scpconf
    text = outputs_text(nb)
    assert "Not configured: the cells below skip every call" in text
    assert "Skipped: not configured" in text
    with pytest.raises(BlockingIOError):
        trap.accept()  # nobody tried to reach anything


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_committed_notebook_is_clean(path: Path) -> None:
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    assert nb.metadata["kernelspec"]["name"] == "python3"  # JupyterLab opens it without asking for a kernel
    assert nb.cells[0].cell_type == "markdown" and nb.cells[0].source.startswith("# ")
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None, cell.source
    assert_no_secret(path.read_text(encoding="utf-8"))


def test_there_are_six_tutorials() -> None:
    assert [p.name for p in NOTEBOOKS] == [
        "01-quickstart.ipynb",
        "02-panel.ipynb",
        "03-analysis.ipynb",
        "04-real-scp.ipynb",
        "05-fleet.ipynb",
        "06-pictures.ipynb",
    ]


@pytest.mark.signature_rejections
def test_the_real_account_notebook_with_a_wrong_secret_says_why_and_skips_the_rest(
    live_emulator: EmulatorServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SCP_SECRET_KEY", "a-wrong-secret-for-this-test")
    nb = execute(REPO / "notebooks" / "04-real-scp.ipynb", tmp_path)  # no cell fails (no NameError after it)
    text = outputs_text(nb)
    assert '"output_type": "error"' not in text
    assert "The first call failed: Could not list the servers at" in text
    assert "signature rejected (401): check the secret key and the machine clock" in text
    assert "Skipped: not configured, the listing failed, or no servers." in text
    assert "a-wrong-secret-for-this-test" not in nbformat.writes(nb)


def test_pictures_notebook_draws_each_chart_from_its_frame(live_emulator: EmulatorServer, tmp_path: Path) -> None:
    nb = execute(PICTURES, tmp_path)
    text = outputs_text(nb)
    assert '"output_type": "error"' not in text
    assert f"Using the SCP endpoint at {live_emulator.url}" in text
    charts = {
        cell.source: output.data[VEGALITE_MIME]
        for cell in nb.cells
        for output in cell.get("outputs", [])
        if VEGALITE_MIME in output.get("data", {})
    }
    # coverage, timeline, history, the magic's coverage, and neither of RunCharts' (widget state, not saved)
    assert list(charts) == [
        "servers = scp_widgets.list_servers()\nservers.scp.coverage()",
        "run.scp.timeline(rate_limit=20)",
        "scp_widgets.history().scp.chart()",
        "%scp_servers --chart --quiet -o after",
    ]
    fleet = len(live_emulator.emulator.own_ids) + len(live_emulator.emulator.foreign_ids)
    coverage = rows_in(charts["servers = scp_widgets.list_servers()\nservers.scp.coverage()"])
    assert 0 < sum(r["servers"] for r in coverage) <= fleet
    timeline = rows_in(charts["run.scp.timeline(rate_limit=20)"])
    assert len(timeline) == 40  # one point per row of the run
    assert "widget-view" in text  # the RunCharts widget was displayed
    assert_no_secret(nbformat.writes(nb))
    assert live_emulator.url not in json.dumps(list(charts.values()))  # a chart carries no endpoint
