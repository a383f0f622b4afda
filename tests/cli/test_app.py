"""`scp-widgets app` without a browser: its options, Voila's command line, the environment its kernels get,
the shipped page (no outputs, no credentials), and the console it builds from that environment."""

from __future__ import annotations

import json
import socket
from typing import Any

import nbformat
import pytest

from scp_widgets.cli import app
from scp_widgets.cli import main as cli
from scp_widgets.engine.read_only import READ_ONLY_ENV


def test_options() -> None:
    args = cli.build_parser().parse_args(["app", "--port", "9001", "--no-browser", "--region", "a,b", "--read-only"])
    assert (args.port, args.no_browser, args.region, args.read_only) == (9001, True, "a,b", True)
    assert args.handler is cli.run_app
    defaults = cli.build_parser().parse_args(["app"])
    assert (defaults.port, defaults.no_browser, defaults.region, defaults.read_only) == (8866, False, None, False)


def test_voila_serves_the_page_with_sources_stripped_on_loopback() -> None:
    argv = app.voila_command(9001, browser=False)
    assert argv[1:4] == ["-m", "voila", str(app.PAGE)]
    assert {"--strip_sources=True", "--Voila.ip=127.0.0.1", "--port=9001", "--no-browser"} <= set(argv)
    assert "--Voila.port_retries=0" in argv  # never a silent move to a port the printed URL does not name
    assert "--no-browser" not in app.voila_command(9001, browser=True)


def test_environment_carries_regions_and_read_only_and_nothing_else_changes() -> None:
    base = {"SCP_ACCESS_KEY": "ak", READ_ONLY_ENV: "1", app.REGIONS_ENV: "old"}
    env = app.app_environment("kr-west1,kr-east1", False, base)
    assert env == {"SCP_ACCESS_KEY": "ak", app.REGIONS_ENV: "kr-west1,kr-east1"}
    assert app.app_environment(None, True, {})[READ_ONLY_ENV] == "1"


def test_the_shipped_page_has_no_outputs_and_no_credentials() -> None:
    page = nbformat.read(app.PAGE, as_version=4)
    code = [c for c in page.cells if c.cell_type == "code"]
    assert all(c.outputs == [] and c.execution_count is None for c in code)
    text = json.dumps(page)
    assert "SCP_SECRET_KEY" not in text and "secret" not in text.lower() and "access_key" not in text


def test_page_builds_the_console_from_the_environment(monkeypatch: pytest.MonkeyPatch, live_emulator: Any) -> None:
    monkeypatch.setenv(READ_ONLY_ENV, "1")
    console = app.page()
    console.wait(60)
    assert console.read_only and console.panel.region_picker is None
    assert len(console.panel.chooser.names()) == len(live_emulator.emulator.own_ids)


def test_an_unknown_region_is_one_sentence_before_voila_starts(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    started: list[Any] = []
    monkeypatch.setattr(cli, "Child", lambda *a, **k: started.append(a))  # Voila must not be started
    monkeypatch.delenv("SCP_ENDPOINTS", raising=False)
    assert cli.main(["app", "--region", "nowhere", "--no-browser"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("scp-widgets app: No endpoint for region nowhere") and err.count("\n") == 1
    assert cli.main(["app", "--region", "Bad Name", "--no-browser"]) == 2
    assert "'bad name' is not a region name" in capsys.readouterr().err
    assert started == []


def test_a_port_in_use_is_one_sentence_before_voila_starts(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # Voila moved to the next port while the app printed the one asked for: a second, --read-only app sent
    # its operator to the first, writable one's page
    started: list[Any] = []
    monkeypatch.setattr(cli, "Child", lambda *a, **k: started.append(a))
    with socket.socket() as other:
        other.bind(("127.0.0.1", 0))
        other.listen()
        port = other.getsockname()[1]
        assert cli.main(["app", "--read-only", "--no-browser", "--port", str(port)]) == 2
    err = capsys.readouterr().err
    assert err == f"scp-widgets app: port {port} is in use (another app?); pick a free one with --port.\n"
    assert started == []
    assert not app.port_in_use(port)  # closed: free again
