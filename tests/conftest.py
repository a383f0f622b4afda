"""Shared fixtures: every test is isolated from the real home, environment and journal folder, and can
have an emulator in process (fast) or on a real loopback socket."""

from __future__ import annotations

import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from IPython.core.interactiveshell import InteractiveShell
from traitlets.config import Config

from scp_widgets.emulator import DEMO_ACCESS_KEY, DEMO_SECRET_KEY, Emulator, EmulatorConfig, EmulatorServer
from scp_widgets.emulator.regions import RegionalEmulators

SCP_VARIABLES = ("SCP_ACCESS_KEY", "SCP_SECRET_KEY", "SCP_ENDPOINT", "SCP_REGION", "SCP_ENVIRONMENT", "SCP_ENDPOINTS")


@pytest.fixture(autouse=True)
def isolated_environment(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    """No SCP_* variables, an empty ~/.scpconf and a private journal folder for every test."""
    for name in SCP_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    home = tmp_path_factory.mktemp("scpconf")
    monkeypatch.setenv("SCP_CONFIG_DIR", str(home))
    journal_dir = tmp_path_factory.mktemp("journal")
    monkeypatch.setenv("SCP_WIDGETS_JOURNAL_DIR", str(journal_dir))
    return journal_dir


@pytest.fixture
def emulator(request: pytest.FixtureRequest) -> Iterator[Emulator]:
    """A fresh in-process emulator: 50 own servers, 2 foreign, seeded.

    Afterwards it checks that the emulator refused no signature, unless the test is marked
    `signature_rejections` (it sends a wrong secret or a stale clock on purpose): so every request the
    client sends anywhere in the suite is proven to pass the emulator's signature check.
    """
    emulator = Emulator(EmulatorConfig(servers=50, seed=7))
    yield emulator
    if request.node.get_closest_marker("signature_rejections") is None:
        refused = [f"{r.method} {r.path}" for r in emulator.record if r.status == 401]
        assert not refused, f"the emulator refused the client's signature on: {refused[:5]}"


@pytest.fixture
def emu_options(emulator: Emulator) -> dict[str, Any]:
    """Keyword arguments that point the public API (lock, unlock, list_servers) at the in-process emulator."""
    return {
        "endpoint": "http://127.0.0.1:9",
        "access_key": DEMO_ACCESS_KEY,
        "secret_key": DEMO_SECRET_KEY,
        "transport": emulator.transport(),
    }


@pytest.fixture
def live_emulator(emulator: Emulator, monkeypatch: pytest.MonkeyPatch) -> Iterator[EmulatorServer]:
    """The same emulator on a real loopback socket, with SCP_ENDPOINT and the demo keys in the environment."""
    with EmulatorServer(emulator) as server:
        monkeypatch.setenv("SCP_ENDPOINT", server.url)
        monkeypatch.setenv("SCP_ACCESS_KEY", DEMO_ACCESS_KEY)
        monkeypatch.setenv("SCP_SECRET_KEY", DEMO_SECRET_KEY)
        yield server


@pytest.fixture(scope="module")
def shell() -> InteractiveShell:
    config = Config()
    config.HistoryManager.hist_file = ":memory:"
    return InteractiveShell.instance(config=config)


@pytest.fixture
def ip(shell: InteractiveShell, live_emulator: EmulatorServer) -> Iterator[InteractiveShell]:
    """The shell with the extension loaded, pointed at the live emulator through SCP_* variables."""
    shell.run_line_magic("load_ext", "scp_widgets")
    before = set(shell.user_ns)
    yield shell
    for name in set(shell.user_ns) - before:
        del shell.user_ns[name]
    shell.run_line_magic("unload_ext", "scp_widgets")
    shell.config.pop("ScpLockMagics", None)  # %config writes into the shell's config, which outlives the magics


@pytest.fixture(scope="session")
def python3_kernel() -> str:
    """The `python3` kernelspec; CI starts from a fresh venv that may lack it, so install it there when missing."""
    from jupyter_client.kernelspec import find_kernel_specs

    if "python3" not in find_kernel_specs():
        subprocess.run([sys.executable, "-m", "ipykernel", "install", "--sys-prefix"], check=True)
    return "python3"


@pytest.fixture
def two_regions(monkeypatch: pytest.MonkeyPatch) -> Iterator[RegionalEmulators]:
    """kr-west1 and kr-east1, each its own emulator (30 servers, other ids) on loopback, named in SCP_ENDPOINTS."""
    with RegionalEmulators(["kr-west1", "kr-east1"], EmulatorConfig(servers=30, seed=7)) as regions:
        monkeypatch.setenv("SCP_ENDPOINTS", ",".join(f"{r}={url}" for r, url in regions.endpoints.items()))
        monkeypatch.setenv("SCP_ACCESS_KEY", DEMO_ACCESS_KEY)
        monkeypatch.setenv("SCP_SECRET_KEY", DEMO_SECRET_KEY)
        yield regions
    for emulator in regions.emulators.values():
        assert not [r for r in emulator.record if r.status == 401], "an emulator refused the client's signature"


def pytest_configure(config: pytest.Config) -> None:
    """The Ctrl-C tests simulate it with `_thread.interrupt_main`, which does nothing while SIGINT is ignored:
    and a shell ignores it in a command it starts in the background (`bash .ci/test &`), Python then keeping
    it ignored. Python's own handler makes those tests hold however the suite is started."""
    if signal.getsignal(signal.SIGINT) in (signal.SIG_IGN, signal.SIG_DFL):
        signal.signal(signal.SIGINT, signal.default_int_handler)
