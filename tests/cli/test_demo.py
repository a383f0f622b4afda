"""`scp-widgets demo`: the emulator and JupyterLab come up, answer, and both go away on Ctrl-C; plus the
helpers the demo and the notebooks share (`ensure_endpoint`, where the notebooks come from)."""

from __future__ import annotations

import argparse
import json
import os
import queue
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import suppress
from pathlib import Path

import httpx
import pytest

from scp_widgets.cli import demo
from scp_widgets.cli import main as cli
from scp_widgets.emulator import DEMO_ACCESS_KEY, DEMO_SECRET_KEY
from scp_widgets.emulator import command as emulator_command

SCRIPT = Path(sys.executable).parent / "scp-widgets"
REPO = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _descendants(pid: int) -> set[int]:
    """Every live process under `pid`, from /proc (children, their children, ...)."""
    parents: dict[int, int] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with suppress(OSError, ValueError, IndexError):
            fields = stat.read_text().rsplit(")", 1)[1].split()
            if fields[0] != "Z":
                parents[int(stat.parent.name)] = int(fields[1])
    found: set[int] = set()
    frontier = {pid}
    while frontier:
        frontier = {child for child, parent in parents.items() if parent in frontier} - found
        found |= frontier
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


class Running:
    """A `scp-widgets demo` process whose stdout is read line by line in the background."""

    def __init__(self, argv: list[str], env: dict[str, str]) -> None:
        self.process = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.lines: queue.Queue[str] = queue.Queue()
        self.seen: list[str] = []
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.put(line.rstrip("\n"))

    def wait_for(self, pattern: str, timeout: float = 90) -> re.Match[str]:
        deadline = time.monotonic() + timeout
        for line in self.seen:
            if match := re.search(pattern, line):
                return match
        while time.monotonic() < deadline:
            try:
                self.seen.append(line := self.lines.get(timeout=0.2))
            except queue.Empty:
                if self.process.poll() is not None:
                    break
                continue
            if match := re.search(pattern, line):
                return match
        stderr = self.process.stderr.read() if self.process.poll() is not None and self.process.stderr else ""
        raise AssertionError(f"no line matching {pattern!r} in {self.seen}; stderr: {stderr[-3000:]}")


@pytest.fixture
def demo_env(tmp_path: Path) -> dict[str, str]:
    """Private Jupyter config, runtime, settings and workspaces, a private HOME, and lab's news toast off."""
    jupyter = tmp_path / "jupyter"
    (jupyter / "config" / "labconfig").mkdir(parents=True)
    (jupyter / "config" / "labconfig" / "page_config.json").write_text(
        json.dumps({"disabledExtensions": {"@jupyterlab/apputils-extension:announcements": True}})
    )
    return {
        **os.environ,
        "HOME": str(tmp_path / "home"),
        "JUPYTER_CONFIG_DIR": str(jupyter / "config"),
        "JUPYTER_RUNTIME_DIR": str(jupyter / "runtime"),
        "JUPYTERLAB_SETTINGS_DIR": str(jupyter / "settings"),
        "JUPYTERLAB_WORKSPACES_DIR": str(jupyter / "workspaces"),
    }


@pytest.fixture
def running() -> Iterator[list[Running]]:
    started: list[Running] = []
    yield started
    for run in started:  # a failed test must not leave a lab or an emulator behind
        for pid in _descendants(run.process.pid):
            with suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        if run.process.poll() is None:
            run.process.kill()
        run.process.wait(10)


@pytest.mark.slow
def test_demo_serves_lab_and_emulator_and_ctrl_c_stops_both(
    demo_env: dict[str, str], tmp_path: Path, running: list[Running]
) -> None:
    port = _free_port()
    notebooks = tmp_path / "notebooks"
    run = Running([str(SCRIPT), "demo", "--no-browser", "--port", str(port), "--notebooks", str(notebooks)], demo_env)
    running.append(run)

    lab_url, token = run.wait_for(r"JupyterLab:\s+(http://127\.0\.0\.1:\d+)/lab\?token=(\w+)").groups()
    endpoint = run.wait_for(r"SCP emulator:\s+(http://127\.0\.0\.1:\d+)\s").group(1)
    # the lines to paste into a terminal, to use the same emulator from a shell or a script
    assert run.wait_for(r"^\s*export SCP_ENDPOINT=(\S+)$").group(1) == endpoint
    run.wait_for(rf"^\s*export SCP_ACCESS_KEY={DEMO_ACCESS_KEY}$")
    run.wait_for(rf"^\s*export SCP_SECRET_KEY={DEMO_SECRET_KEY}$")
    assert lab_url == f"http://127.0.0.1:{port}"
    auth = {"Authorization": f"token {token}"}
    assert httpx.get(f"{lab_url}/api/status", headers=auth).status_code == 200
    assert httpx.get(f"{lab_url}/api/status").status_code == 403  # the token is required
    versions = httpx.get(f"{endpoint}/").json()["versions"]
    assert "v1.3" in [v["id"] for v in versions]

    listing = httpx.get(f"{lab_url}/api/contents", headers=auth).json()
    assert sorted(item["name"] for item in listing["content"]) == sorted(p.name for p in notebooks.glob("*.ipynb"))
    tutorials = sorted(p.name for p in (REPO / "notebooks").glob("*.ipynb"))
    # the tutorials and the operator app's page, copied into the empty --notebooks folder
    assert sorted(item["name"] for item in listing["content"]) == sorted([*tutorials, cli.APP_PAGE])
    app_url = run.wait_for(r"Operator app:\s+(http://127\.0\.0\.1:\d+/voila/render/\S+)\s").group(1)
    assert app_url == f"{lab_url}/voila/render/{cli.APP_PAGE}?token={token}"
    regions = run.wait_for(r"SCP regions:\s+kr-west1=(http://127\.0\.0\.1:\d+),kr-east1=(http://127\.0\.0\.1:\d+)")
    assert regions.group(1) == endpoint and regions.group(2) != endpoint  # two regions, the first the default fleet
    kernel = httpx.post(f"{lab_url}/api/kernels", headers=auth, json={"name": "python3"})
    assert kernel.status_code == 201  # a kernel too, so the test shows kernels are stopped as well

    children = _descendants(run.process.pid)
    assert len(children) >= 3  # the emulator, JupyterLab and the kernel

    run.process.send_signal(signal.SIGINT)
    assert run.process.wait(60) == 0
    run.wait_for("stopped JupyterLab and the emulator")
    deadline = time.monotonic() + 10
    while any(_alive(pid) for pid in children) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert [pid for pid in children if _alive(pid)] == []
    # (a kernel stopped while still starting may print a KeyboardInterrupt of its own: not the demo's)
    assert run.process.stderr is not None and "scp_widgets" not in run.process.stderr.read()


def test_ctrl_c_while_lab_is_still_starting_stops_everything(
    demo_env: dict[str, str], tmp_path: Path, running: list[Running]
) -> None:
    argv = [str(SCRIPT), "demo", "--no-browser", "--port", str(_free_port()), "--notebooks", str(tmp_path / "nb")]
    run = Running(argv, demo_env)
    running.append(run)
    deadline = time.monotonic() + 30
    while len(children := _descendants(run.process.pid)) < 2:  # the emulator, and JupyterLab on its way up
        assert time.monotonic() < deadline and run.process.poll() is None, "the demo did not start its children"
        time.sleep(0.05)
    run.process.send_signal(signal.SIGINT)
    assert run.process.wait(60) == 0
    assert [pid for pid in children if _alive(pid)] == []
    assert "JupyterLab:" not in "\n".join(run.seen)


def test_demo_no_lab_runs_only_the_emulator(demo_env: dict[str, str], running: list[Running]) -> None:
    run = Running([str(SCRIPT), "demo", "--no-lab", "--servers", "40"], demo_env)
    running.append(run)
    endpoint = run.wait_for(r"^export SCP_ENDPOINT=(http://127\.0\.0\.1:\d+)$", timeout=30).group(1)
    run.wait_for(rf"^export SCP_ACCESS_KEY={DEMO_ACCESS_KEY}$")
    run.wait_for(rf"^export SCP_SECRET_KEY={DEMO_SECRET_KEY}$")
    assert "(40 servers per region, demo credentials)" in run.seen[0]
    run.wait_for(rf"^export SCP_ENDPOINTS=kr-west1={endpoint},kr-east1=http://127\.0\.0\.1:\d+$")  # two regions
    assert httpx.get(f"{endpoint}/").status_code == 200
    assert _descendants(run.process.pid) == set()  # in the foreground: no child process

    run.process.send_signal(signal.SIGINT)
    assert run.process.wait(15) == 0


def test_emulator_subcommand_delegates(demo_env: dict[str, str], running: list[Running]) -> None:
    run = Running([str(SCRIPT), "emulator", "--port", "0", "--servers", "3"], demo_env)
    running.append(run)
    assert run.wait_for(r"SCP emulator listening on .* \((\d+) servers").group(1) == "3"
    run.process.send_signal(signal.SIGTERM)
    assert run.process.wait(15) == 0


def test_no_subcommand_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        cli.main([])
    assert exit_info.value.code == 2
    assert "required: COMMAND" in capsys.readouterr().err


# -- helpers, in process ---------------------------------------------------------------------------------


def test_emulator_arguments_describe_the_demo_fleet() -> None:
    parser = argparse.ArgumentParser()
    emulator_command.configure_parser(parser)
    config = emulator_command.config_from_args(parser.parse_args(demo.emulator_arguments(servers=120)))
    expected = demo.demo_config(servers=120)
    assert (config.servers, config.foreign_servers, config.seed, config.lock_delay, config.faults) == (
        expected.servers,
        expected.foreign_servers,
        expected.seed,
        expected.lock_delay,
        expected.faults,
    )


@pytest.fixture
def local_emulator() -> Iterator[None]:
    yield
    demo.stop_local_emulator()


def test_ensure_endpoint_starts_a_local_emulator_when_none_is_set(
    local_emulator: None, capsys: pytest.CaptureFixture[str]
) -> None:
    url = demo.ensure_endpoint(servers=12)
    assert capsys.readouterr().out.startswith(f"No SCP_ENDPOINT set: started a local SCP emulator at {url}")
    assert os.environ["SCP_ENDPOINT"] == url and os.environ["SCP_ACCESS_KEY"] == DEMO_ACCESS_KEY
    import scp_widgets

    assert len(scp_widgets.list_servers()) == 12
    assert demo.ensure_endpoint() == url  # the same kernel: reused, not a second emulator
    assert "started earlier in this kernel" in capsys.readouterr().out

    demo.stop_local_emulator()
    assert "SCP_ENDPOINT" not in os.environ


def test_ensure_endpoint_uses_scp_endpoint_when_set(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("SCP_ENDPOINT", "https://virtualserver.kr-west1.s.samsungsdscloud.com")
    assert demo.ensure_endpoint() == "https://virtualserver.kr-west1.s.samsungsdscloud.com"
    assert capsys.readouterr().out == "Using the SCP endpoint at https://virtualserver.kr-west1.s.samsungsdscloud.com\n"
    assert demo._server is None


def test_in_a_checkout_the_tutorials_are_copied_to_the_home_folder_not_opened_in_place(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    folder = cli.notebooks_dir(None)
    assert folder == tmp_path / cli.HOME_NOTEBOOKS
    assert sorted(p.name for p in folder.glob("*.ipynb")) == sorted(
        p.name for p in (REPO / "notebooks").glob("*.ipynb")
    )


def test_notebooks_are_copied_into_an_empty_folder_once(tmp_path: Path) -> None:
    target = tmp_path / "mine"
    assert cli.notebooks_dir(str(target)) == target
    names = sorted(p.name for p in target.glob("*.ipynb"))
    assert names == sorted(p.name for p in (REPO / "notebooks").glob("*.ipynb"))
    (target / "01-quickstart.ipynb").write_text("{}")  # the user's edit
    cli.notebooks_dir(str(target))
    assert (target / "01-quickstart.ipynb").read_text() == "{}"


def test_outside_a_checkout_the_bundled_copy_goes_to_the_home_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(cli, "checkout_notebooks", lambda: None)
    monkeypatch.setattr(cli, "bundled_notebooks", lambda: REPO / "notebooks")  # stands in for scp_widgets/_notebooks
    monkeypatch.setenv("HOME", str(tmp_path))
    folder = cli.notebooks_dir(None)
    assert folder == tmp_path / cli.HOME_NOTEBOOKS
    tutorials = sorted(p.name for p in (REPO / "notebooks").glob("*.ipynb"))
    assert sorted(p.name for p in folder.glob("*.ipynb")) == tutorials


def test_outside_a_checkout_without_bundled_notebooks_says_what_to_do(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(cli, "checkout_notebooks", lambda: None)
    monkeypatch.setattr(cli, "bundled_notebooks", lambda: None)
    assert cli.main(["demo", "--notebooks", str(tmp_path / "empty")]) == 1
    assert "pass --notebooks DIR" in capsys.readouterr().err


def test_lab_command_as_root_and_without_browser(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(os, "geteuid", lambda: 0)
    argv = cli.lab_command(8888, Path("/nb"), "tok", browser=False)
    assert "--allow-root" in argv and "--ServerApp.open_browser=False" in argv
    assert "--ServerApp.port_retries=0" in argv  # a busy port fails loudly instead of moving silently
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    assert "--allow-root" not in cli.lab_command(8888, Path("/nb"), "tok", browser=True)
