"""`python -m scp_widgets.emulator`: prints where it listens, serves signed calls, exits 0 on a signal."""

from __future__ import annotations

import argparse
import os
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from emulator_helpers import signed_headers

from scp_widgets.emulator import DEMO_ACCESS_KEY, DEMO_SECRET_KEY, Emulator, Faults
from scp_widgets.emulator.command import config_from_args, configure_parser

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def process() -> Iterator[subprocess.Popen[str]]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.Popen(
        [sys.executable, "-m", "scp_widgets.emulator", "--port", "0", "--servers", "12", "--lock-delay", "0"],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.communicate(timeout=10)


def test_prints_exports_serves_and_exits_cleanly(process: subprocess.Popen[str]) -> None:
    assert process.stdout is not None
    lines = [process.stdout.readline().rstrip("\n") for _ in range(4)]
    match = re.fullmatch(
        r"SCP emulator listening on (http://127\.0\.0\.1:(\d+)) \(12 servers, demo credentials\)", lines[0]
    )
    assert match, lines
    url, port = match.group(1), int(match.group(2))
    assert port not in (0, 8765)
    assert lines[1:] == [
        f"export SCP_ENDPOINT={url}",
        f"export SCP_ACCESS_KEY={DEMO_ACCESS_KEY}",
        f"export SCP_SECRET_KEY={DEMO_SECRET_KEY}",
    ]

    listing = httpx.get(f"{url}/v1/servers?limit=100", headers=signed_headers("GET", f"{url}/v1/servers?limit=100"))
    assert listing.status_code == 200
    assert len(listing.json()["servers"]) == 12

    process.send_signal(signal.SIGINT)
    assert process.wait(timeout=15) == 0
    assert process.stderr is not None
    assert "Traceback" not in process.stderr.read()


def test_sigterm_also_exits_zero(process: subprocess.Popen[str]) -> None:
    assert process.stdout is not None
    assert process.stdout.readline().startswith("SCP emulator listening on ")
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=15) == 0


def _parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    configure_parser(parser)
    return parser.parse_args(argv)


def test_options_become_the_config() -> None:
    args = _parse(
        "--servers", "7", "--foreign-servers", "1", "--locked-fraction", "0.5", "--lock-delay", "0.3",
        "--seed", "3", "--latency", "0.1", "--error-rate", "503=0.2", "--error-rate", "500=0.01",
        "--throttle-rate", "0.1", "--retry-after", "2", "--html-417-rate", "0.05", "--drop-rate", "0.02",
        "--rate-limit", "50",
    )  # fmt: skip
    assert (args.host, args.port) == ("127.0.0.1", 8765)
    config = config_from_args(args)
    assert (config.servers, config.foreign_servers, config.locked_fraction) == (7, 1, 0.5)
    assert (config.lock_delay, config.seed) == (0.3, 3)
    assert config.faults == Faults(
        latency=0.1,
        error_rates={503: 0.2, 500: 0.01},
        throttle_rate=0.1,
        retry_after=2.0,
        html_417_rate=0.05,
        drop_rate=0.02,
        rate_limit=50.0,
    )


def test_fault_modes_of_issue_10_become_the_config() -> None:
    args = _parse(
        "--rate-limit", "100", "--rate-limit-retry-after", "1", "--rate-limit-bare-rate", "0.5", "--black-hole",
        "--trickle-rate", "0.3", "--trickle-bytes-per-second", "2", "--huge-body-rate", "0.1",
        "--huge-body-bytes", "1000", "--html-503-rate", "0.2", "--html-503-bytes", "56000",
    )  # fmt: skip
    assert config_from_args(args).faults == Faults(
        rate_limit=100.0, rate_limit_retry_after=1.0, rate_limit_bare_rate=0.5, black_hole=True, trickle_rate=0.3,
        trickle_bytes_per_second=2.0, huge_body_rate=0.1, huge_body_bytes=1000, html_503_rate=0.2,
        html_503_bytes=56000,
    )  # fmt: skip
    assert config_from_args(_parse()).faults == Faults()


def test_bad_error_rate_is_a_usage_error() -> None:
    with pytest.raises(SystemExit):
        _parse("--error-rate", "503:0.2")


def test_help_is_written_for_a_user(capsys: pytest.CaptureFixture[str]) -> None:
    from scp_widgets.cli import main as cli

    with pytest.raises(SystemExit):
        cli.main(["emulator", "--help"])
    text = capsys.readouterr().out
    assert "export SCP_ENDPOINT" in text  # says what it prints and how to use it
    assert "demo fleet" in text
    assert "command.py" not in text and "wired into" not in text and "Used by" not in text


def test_default_fleet_is_the_demo_fleet() -> None:
    """`scp-widgets emulator` with no options serves the fleet of `scp-widgets demo` (and Binder, and the notebooks)."""
    from scp_widgets.cli.demo import demo_config

    config, demo_fleet = config_from_args(_parse()), demo_config()
    shape = ("servers", "foreign_servers", "seed", "locked_fraction", "shutoff_fraction", "lock_delay")
    assert [getattr(config, name) for name in shape] == [getattr(demo_fleet, name) for name in shape]
    served, demo_served = Emulator(config), Emulator(demo_fleet)
    assert (served.own_ids, served.foreign_ids) == (demo_served.own_ids, demo_served.foreign_ids)
    assert config.faults == Faults()  # faults are the demo's extra, and opt-in here
