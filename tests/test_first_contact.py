"""Issue 12, first contact: the rough edges a new user hit in the magics (comments, filters, grammar, config)."""

from __future__ import annotations

from typing import Any

import pytest
from emulator_helpers import posts, unlocked
from IPython.core.error import UsageError
from IPython.core.interactiveshell import InteractiveShell
from traitlets import TraitError

from scp_widgets.emulator import Emulator
from scp_widgets.engine.results import count_outcomes, summary_line
from scp_widgets.notebook.arguments import strip_comment

# -- a trailing comment on a line magic is a comment ------------------------------------------------------


@pytest.mark.parametrize(
    ("line", "code"),
    [
        ("a b  # note", "a b"),
        ("# all comment", ""),
        ('--from d["x # y"] -o r  # pick', '--from d["x # y"] -o r'),
        ("--from d['#'] # c", "--from d['#']"),
        (r'--from d["a\"#"]', r'--from d["a\"#"]'),
        ("no comment here", "no comment here"),
    ],
)
def test_strip_comment_ignores_hashes_inside_quotes(line: str, code: str) -> None:
    assert strip_comment(line) == code


def test_line_magic_ignores_a_trailing_comment(ip: InteractiveShell, emulator: Emulator) -> None:
    server = unlocked(emulator, 1)[0]
    frame = ip.run_line_magic("scp_lock", f"{server} # ids on the line (spaces or commas)")
    assert list(frame["server_id"]) == [server]
    assert len(posts(emulator)) == 1


def test_servers_and_from_with_trailing_comments(ip: InteractiveShell, emulator: Emulator) -> None:
    ip.run_line_magic("scp_servers", "-o servers                                  # the fleet as a DataFrame")
    frame = ip.run_line_magic("scp_lock", '--from servers.query("not locked").id.head(5)  # lock five; a progress')
    assert len(frame) == 5
    assert set(frame["outcome"]) == {"locked"}


def test_hash_inside_a_quoted_from_expression_is_not_a_comment(ip: InteractiveShell, emulator: Emulator) -> None:
    ids = unlocked(emulator, 2)
    ip.user_ns["by_tag"] = {"web # eu": ids}
    frame = ip.run_line_magic("scp_lock", '--quiet --from by_tag["web # eu"]   # both')
    assert list(frame["server_id"]) == ids


def test_cell_magic_line_ignores_a_trailing_comment(ip: InteractiveShell, emulator: Emulator) -> None:
    server = unlocked(emulator, 1)[0]
    frame = ip.run_cell_magic("scp_lock", "--quiet   # lock these", server)
    assert list(frame["server_id"]) == [server]


# -- %scp_servers filters ---------------------------------------------------------------------------------


def test_servers_name_filter_does_not_crash(ip: InteractiveShell, emulator: Emulator) -> None:
    frame = ip.run_line_magic("scp_servers", "--name web --quiet")
    assert len(frame) > 0
    assert all("web" in name for name in frame["name"])


def test_servers_state_is_case_insensitive(ip: InteractiveShell, emulator: Emulator) -> None:
    upper = ip.run_line_magic("scp_servers", "--state ACTIVE --quiet")
    lower = ip.run_line_magic("scp_servers", "--state active --quiet")
    assert len(upper) > 0
    assert list(lower["id"]) == list(upper["id"])


@pytest.mark.signature_rejections
def test_servers_unauthorized_says_check_the_key_and_clock(
    ip: InteractiveShell, emulator: Emulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SCP_SECRET_KEY", "wrong")
    with pytest.raises(UsageError, match="check the secret key and the machine clock"):
        ip.run_line_magic("scp_servers", "")


# -- what the magics print --------------------------------------------------------------------------------


def test_one_server_is_singular(ip: InteractiveShell, emulator: Emulator, capsys: pytest.CaptureFixture[str]) -> None:
    ip.run_line_magic("scp_servers", "--name web-001")
    out = capsys.readouterr().out
    assert out.startswith("1 server (")
    ip.run_line_magic("scp_lock", f"--dry-run {unlocked(emulator, 1)[0]}")
    assert "would lock 1 server with" in capsys.readouterr().out


def test_duplicates_are_in_the_summary(ip: InteractiveShell, emulator: Emulator) -> None:
    server = unlocked(emulator, 1)[0]
    frame = ip.run_line_magic("scp_lock", f"--quiet {server} {server}")
    assert frame.attrs["summary"].endswith("(1 duplicate id ignored)")
    frame = ip.run_line_magic("scp_lock", f"--quiet {server} {server} {server.upper()}")
    assert frame.attrs["summary"].endswith("(2 duplicate ids ignored)")


def test_summary_order_is_stable() -> None:
    first = count_outcomes(["forbidden", "locked", "not_found", "locked"])
    second = count_outcomes(["not_found", "locked", "forbidden", "locked"])
    assert list(first) == list(second) == ["locked", "forbidden", "not_found"]
    assert summary_line(first, 1.0) == "2 locked, 1 forbidden, 1 not_found in 1.0 s"


def test_quiet_silences_the_dry_run_line(
    ip: InteractiveShell, emulator: Emulator, capsys: pytest.CaptureFixture[str]
) -> None:
    frame = ip.run_line_magic("scp_lock", f"--dry-run --quiet {unlocked(emulator, 1)[0]}")
    assert list(frame["outcome"]) == ["planned"]
    assert capsys.readouterr().out == ""


@pytest.mark.signature_rejections
def test_dry_run_checks_the_credentials(
    ip: InteractiveShell, emulator: Emulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SCP_SECRET_KEY", "wrong")
    frame = ip.run_line_magic("scp_lock", f"--dry-run --quiet {unlocked(emulator, 1)[0]}")
    assert list(frame["outcome"]) == ["unauthorized"]
    assert posts(emulator) == []


def test_dry_run_says_which_servers_do_not_exist(ip: InteractiveShell, emulator: Emulator) -> None:
    missing = "00000000-0000-4000-8000-000000000000"
    frame = ip.run_line_magic("scp_lock", f"--dry-run --quiet {unlocked(emulator, 1)[0]} {missing}")
    assert list(frame["outcome"]) == ["planned", "not_found"]
    assert posts(emulator) == []


# -- %config is validated ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "setting",
    [
        "concurrency = 0",
        "concurrency = 1001",
        "timeout = 0",
        "retries = -1",
        "retries = 21",
    ],
)
def test_config_refuses_a_setting_out_of_range(
    ip: InteractiveShell, setting: str, caplog: pytest.LogCaptureFixture
) -> None:
    magics = ip.magics_manager.registry["ScpLockMagics"]
    before = magics.concurrency, magics.timeout, magics.retries
    ip.run_line_magic("config", f"ScpLockMagics.{setting}")  # %config shows a refused value as one error line
    name = setting.split()[0]
    assert f"ScpLockMagics.{name} must be between" in caplog.text
    assert (magics.concurrency, magics.timeout, magics.retries) == before
    with pytest.raises(TraitError, match="must be between"):
        setattr(magics, name, int(setting.split()[-1]))


def test_a_filter_that_matches_nothing_says_so(ip: InteractiveShell, capsys: pytest.CaptureFixture[str]) -> None:
    frame = ip.run_line_magic("scp_servers", "--state running")
    assert len(frame) == 0
    out = capsys.readouterr().out
    assert "No server matches --state RUNNING" in out
    assert "ACTIVE" in out  # what the states look like


def test_panel_refuses_a_bad_concurrency_when_made(ip: InteractiveShell) -> None:
    from scp_widgets import ScpUsageError
    from scp_widgets.panel.lock_panel import LockPanel

    with pytest.raises(ScpUsageError, match="concurrency must be a whole number"):
        LockPanel(concurrency="16", autoload=False)  # type: ignore[arg-type]
    with pytest.raises(UsageError, match="concurrency must be between 1 and 1000"):
        ip.run_line_magic("scp_panel", "--concurrency 0")


def test_progress_counts_have_the_summary_order(emulator: Emulator, emu_options: dict[str, Any]) -> None:
    import scp_widgets

    seen: list[list[str]] = []
    own, foreign = emulator.own_ids[0], emulator.foreign_ids[0]
    scp_widgets.lock([foreign, own], journal=False, progress=lambda p: seen.append(list(p.counts)), **emu_options)
    assert seen[-1] == ["locked", "forbidden"]  # a tie: outcome order, whichever finished first
