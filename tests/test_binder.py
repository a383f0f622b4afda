"""Binder: `binder/postBuild` installs the package into a fresh environment, and `binder/start` serves the
emulator to whatever it runs (here: a tutorial notebook, and the operator app through Voila's server
extension, as the README's `?urlpath=voila/render/...` link opens it), then leaves no emulator behind.

The environment is honestly fresh: a new venv, then what repo2docker does (`pip install -r
binder/requirements.txt`, then `binder/postBuild`), downloading from the package index. That takes about a
minute on a 2-core machine, most of it JupyterLab's and pandas' wheels.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import tomllib
from collections.abc import Iterator
from contextlib import suppress
from pathlib import Path

import httpx
import nbformat
import pytest

from scp_widgets.cli import app
from scp_widgets.emulator import DEMO_ACCESS_KEY, DEMO_SECRET_KEY

REPO = Path(__file__).resolve().parent.parent
BINDER = REPO / "binder"
BINDER_LINK = re.compile(r"https://mybinder\.org/v2/gh/[\w.-]+/[\w.-]+/main\?urlpath=([^)\s]+)")
pytestmark = pytest.mark.slow


def _clean_env(path_first: Path | None = None) -> dict[str, str]:
    """The current environment minus anything that would make Python see the CI venv."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME")}
    if path_first is not None:
        env["PATH"] = f"{path_first}{os.pathsep}{env.get('PATH', '')}"
        env["VIRTUAL_ENV"] = str(path_first.parent)
    return env


@pytest.fixture(scope="module")
def fresh_bin(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A new virtual environment after repo2docker's two steps; returns its bin folder."""
    venv = tmp_path_factory.mktemp("binder") / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    bin_dir = venv / "bin"
    env = _clean_env(bin_dir)
    for step in (
        [str(bin_dir / "pip"), "install", "-q", "-r", str(BINDER / "requirements.txt")],
        [str(BINDER / "postBuild")],
    ):
        subprocess.run(step, cwd=REPO, env=env, check=True, timeout=600)
    return bin_dir


def _minimum_python() -> tuple[int, int]:
    requires = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["requires-python"]
    match = re.fullmatch(r">=\s*3\.(\d+)", requires.strip())
    assert match, f"requires-python {requires!r} is not the simple '>=3.N' this test understands"
    return 3, int(match.group(1))


def test_runtime_txt_names_a_python_the_package_accepts() -> None:
    """repo2docker reads `binder/runtime.txt` as `python-X.Y` (without it: Python 3.10, which pip refuses here)."""
    runtime = (BINDER / "runtime.txt").read_text()
    match = re.fullmatch(r"python-(\d+)\.(\d+)\n?", runtime)
    assert match, f"binder/runtime.txt must be one line like 'python-3.12', not {runtime!r}"
    assert (int(match.group(1)), int(match.group(2))) >= _minimum_python()


def test_binder_holds_only_files_repo2docker_reads_as_we_mean() -> None:
    # An environment.yml or a Pipfile would take precedence and silently ignore requirements.txt and runtime.txt;
    # a Dockerfile would bypass everything else.
    known = {"postBuild", "requirements.txt", "runtime.txt", "start"}
    assert {p.name for p in BINDER.iterdir()} == known
    assert not any((REPO / name).exists() for name in ("environment.yml", "Pipfile", "Dockerfile", "setup.py"))


def test_binder_files_are_executable_bash_scripts() -> None:
    for name in ("postBuild", "start"):
        script = BINDER / name
        assert os.access(script, os.X_OK), f"binder/{name} must be executable"
        text = script.read_text()
        assert text.startswith("#!/bin/bash\n") and "set -euo pipefail" in text
    assert (BINDER / "start").read_text().rstrip().endswith('exec "$@"')


def test_postbuild_installs_the_package_and_its_command(fresh_bin: Path, tmp_path: Path) -> None:
    code = "import scp_widgets, matplotlib, voila; print(scp_widgets.__file__)"
    where = subprocess.run(
        [fresh_bin / "python", "-c", code], env=_clean_env(fresh_bin), capture_output=True, text=True, cwd=tmp_path
    )
    assert where.returncode == 0, where.stderr
    assert str(fresh_bin.parent) in where.stdout  # a real install in the fresh venv, not the checkout
    assert (fresh_bin / "scp-widgets").exists()


def test_postbuild_ships_the_notebooks_in_the_wheel(fresh_bin: Path, tmp_path: Path) -> None:
    """`scp-widgets demo` after a plain `pip install .` needs them (pyproject: hatch force-include)."""
    code = (
        "import json, scp_widgets.cli.main as c; print(json.dumps([p.name for p in c.bundled_notebooks().iterdir()]))"
    )
    found = subprocess.run(
        [fresh_bin / "python", "-c", code], env=_clean_env(fresh_bin), capture_output=True, text=True, cwd=tmp_path
    )
    assert found.returncode == 0, found.stderr
    assert sorted(json.loads(found.stdout)) == sorted(p.name for p in (REPO / "notebooks").glob("*.ipynb"))


def _group_members(pgid: int) -> list[int]:
    """Live (not zombie) processes of a process group, read from /proc."""
    members = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with suppress(OSError):
            fields = stat.read_text().rsplit(")", 1)[1].split()
            if int(fields[2]) == pgid and fields[0] != "Z":
                members.append(int(stat.parent.name))
    return members


@pytest.fixture
def new_group() -> Iterator[list[int]]:
    """Collects the process-group ids a test starts, and kills whatever is left of them at the end."""
    groups: list[int] = []
    yield groups
    for pgid in groups:
        with suppress(ProcessLookupError):
            os.killpg(pgid, signal.SIGKILL)


def test_start_serves_the_emulator_to_a_notebook_and_cleans_up(
    fresh_bin: Path, tmp_path: Path, new_group: list[int]
) -> None:
    notebook = REPO / "notebooks" / "03-analysis.ipynb"
    command = [
        str(BINDER / "start"), "jupyter", "nbconvert", "--to", "notebook", "--execute",
        "--ExecutePreprocessor.timeout=120", "--ExecutePreprocessor.kernel_name=python3",
        f"--output-dir={tmp_path}", str(notebook),
    ]  # fmt: skip
    process = subprocess.Popen(
        command,
        cwd=tmp_path,
        env=_clean_env(fresh_bin),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # start (then nbconvert) and its emulator share this group: easy to find, to clean
    )
    new_group.append(process.pid)
    _, err = process.communicate(timeout=300)
    assert process.returncode == 0, err[-3000:]
    assert "binder/start: SCP emulator at http://127.0.0.1:" in err

    executed = nbformat.read(tmp_path / notebook.name, as_version=4)
    first_output = next(c for c in executed.cells if c.cell_type == "code").outputs[0]["text"]
    assert first_output.startswith("Using the SCP endpoint at http://127.0.0.1:")  # start's emulator, not its own
    assert DEMO_SECRET_KEY not in nbformat.writes(executed)

    deadline = time.monotonic() + 10  # the emulator notices its parent is gone within a second
    while _group_members(process.pid) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert _group_members(process.pid) == []


def test_the_readme_links_the_app_on_binder_through_voila() -> None:
    """The README's Binder links: the quickstart in JupyterLab, and the operator app rendered by Voila."""
    targets = BINDER_LINK.findall((REPO / "README.md").read_text())
    assert "lab/tree/notebooks/01-quickstart.ipynb" in targets
    voila = [t for t in targets if t.startswith("voila/render/")]
    assert voila, "no ?urlpath=voila/render/... link in the README"
    for target in voila:
        page = REPO / target.removeprefix("voila/render/")
        assert page == app.PAGE, f"{target} does not render the app's page ({app.PAGE.relative_to(REPO)})"


def test_binder_requirements_bring_voila_to_the_server() -> None:
    """Voila must be in the environment the notebook server runs in (its server extension serves /voila)."""
    lines = [line.split("#")[0].strip() for line in (BINDER / "requirements.txt").read_text().splitlines()]
    assert any(re.match(r"voila\b", line) for line in lines)


def test_start_serves_the_app_page_through_voila(fresh_bin: Path, tmp_path: Path, new_group: list[int]) -> None:
    """What the README's Voila link opens: the Jupyter server (here without Lab) with binder/start's
    emulator renders the app's page through Voila's server extension, sources stripped, no key in it."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    token = "binder-test-token"
    command = [
        str(BINDER / "start"), str(fresh_bin / "jupyter"), "server", "--no-browser", "--allow-root",
        "--ip=127.0.0.1", f"--port={port}", "--port-retries=0", f"--IdentityProvider.token={token}",
        f"--ServerApp.root_dir={REPO}",
    ]  # fmt: skip
    env = {**_clean_env(fresh_bin), "JUPYTER_RUNTIME_DIR": str(tmp_path / "runtime")}
    log = tmp_path / "server.log"
    with log.open("w") as out:
        process = subprocess.Popen(
            command, cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    new_group.append(process.pid)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and process.poll() is None:
        with suppress(httpx.HTTPError):
            if httpx.get(f"{base}/api/status", params={"token": token}, timeout=2).status_code == 200:
                break
        time.sleep(0.25)
    else:
        pytest.fail(f"the Jupyter server did not start:\n{log.read_text()[-3000:]}")
    target = next(t for t in BINDER_LINK.findall((REPO / "README.md").read_text()) if t.startswith("voila/"))
    page = httpx.get(f"{base}/{target}", params={"token": token}, timeout=180)
    assert page.status_code == 200, log.read_text()[-3000:]
    assert "application/vnd.jupyter.widget-view+json" in page.text  # the console was built by the kernel
    assert "There was an error when executing cell" not in page.text
    assert "from scp_widgets" not in page.text  # no code cell in the page
    assert DEMO_SECRET_KEY not in page.text and DEMO_ACCESS_KEY not in page.text
    process.send_signal(signal.SIGTERM)
    assert process.wait(60) is not None
    assert "binder/start: SCP emulator at http://127.0.0.1:" in log.read_text()
