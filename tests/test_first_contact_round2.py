"""The mistakes a newcomer makes, each answered in one sentence (issue: first contact, round two)."""

from __future__ import annotations

import argparse
import traceback
from collections.abc import Iterator
from typing import Any

import pytest
from IPython.core.error import UsageError
from IPython.core.interactiveshell import InteractiveShell

import scp_widgets
from scp_widgets.client.endpoints import EndpointNote
from scp_widgets.client.errors import ScpApiError, ScpNetworkError, ScpUsageError
from scp_widgets.emulator import DEMO_ACCESS_KEY, DEMO_SECRET_KEY, Emulator, EmulatorConfig, EmulatorServer
from scp_widgets.notebook.unlocked_magic import ScpFleetMagics


@pytest.fixture
def magics(shell: InteractiveShell) -> Iterator[InteractiveShell]:
    shell.run_line_magic("load_ext", "scp_widgets")
    yield shell
    shell.run_line_magic("unload_ext", "scp_widgets")
    shell.config.pop("ScpLockMagics", None)


def test_an_endpoint_ending_in_v1_works_and_says_so_once(emulator: Emulator, emu_options: dict[str, Any]) -> None:
    server = emulator.own_ids[0]
    with pytest.warns(EndpointNote, match="ends in /v1, which the client adds to every path itself"):
        df = scp_widgets.lock([server], **{**emu_options, "endpoint": "http://127.0.0.1:9/v1/"})
    assert list(df.outcome) == ["locked"]  # not "server not found": no /v1/v1/servers/... was sent
    assert not [r for r in emulator.record if r.path.startswith("/v1/v1")]


@pytest.mark.signature_rejections
def test_list_servers_with_a_wrong_secret_is_one_sentence_with_a_short_traceback(emulator: Emulator) -> None:
    with EmulatorServer(emulator) as server:
        url = server.url
        with pytest.raises(ScpApiError) as caught:
            scp_widgets.list_servers(endpoint=url, access_key=DEMO_ACCESS_KEY, secret_key="not-the-secret")
    advice = "signature rejected (401): check the secret key and the machine clock."
    assert str(caught.value) == f"Could not list the servers at {url}: {advice}"
    assert len(traceback.extract_tb(caught.value.__traceback__)) <= 2  # the test's line and list_servers'
    assert "not-the-secret" not in str(caught.value)


def test_a_closed_port_names_the_endpoint() -> None:
    with EmulatorServer(Emulator(EmulatorConfig(servers=1))) as server:
        url = server.url  # listening a moment ago, refused now
    with pytest.raises(ScpNetworkError, match=rf"^Could not list the servers at {url}: network error"):
        scp_widgets.list_servers(endpoint=url, access_key=DEMO_ACCESS_KEY, secret_key=DEMO_SECRET_KEY)


def test_an_unknown_region_is_named(magics: InteractiveShell) -> None:
    with pytest.raises(UsageError, match=r"Unknown region 'kr-north9'; SCP regions: kr-west1, kr-east1"):
        magics.run_line_magic("scp_servers", "--region kr-north9")


def test_an_environment_without_a_region_lists_that_environments_regions(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SCP_ENVIRONMENT", "s")
    with pytest.raises(ScpUsageError, match=r"SCP_REGION\) is not set; regions of environment 's': kr-west1, kr-east1"):
        scp_widgets.list_servers(access_key="a", secret_key="b")


def test_the_magics_missing_credentials_sentence_names_only_what_a_magic_reads(
    magics: InteractiveShell, live_emulator: EmulatorServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SCP_ACCESS_KEY")
    monkeypatch.delenv("SCP_SECRET_KEY")
    with pytest.raises(UsageError) as caught:
        magics.run_line_magic("scp_servers", "")
    assert str(caught.value).startswith("No SCP credentials found: set SCP_ACCESS_KEY and SCP_SECRET_KEY")
    assert "access_key=" not in str(caught.value)


def test_the_window_magic_has_its_own_help() -> None:
    help_text = ScpFleetMagics.scp_unlocked.__doc__ or ""
    assert "%%scp_unlocked [" in help_text
    for foreign in ("--dry-run", "--preflight", "--retry-failed", "--resume-cancelled", "%%scp_lock", "-o NAME"):
        assert foreign not in help_text, foreign
    assert "relock_pending" in help_text


def test_a_name_where_an_id_goes_suggests_where(
    magics: InteractiveShell, live_emulator: EmulatorServer, capsys: pytest.CaptureFixture[str]
) -> None:
    frame = magics.run_line_magic("scp_lock", "web-052")
    assert list(frame.outcome) == ["invalid_id"]
    assert "web-052 is not a server id: to pick servers by name, use --where \"name == 'web-052'\"." in (
        capsys.readouterr().out
    )


def test_versions_status_is_computed_for_the_day() -> None:
    import datetime as dt

    early = scp_widgets.api_versions(today=dt.date(2026, 7, 1)).set_index("version")
    assert early.loc["1.2", "status"] == "DEPRECATED" and early.loc["1.2", "days_left"] == 61
    assert early.loc["1.1", "status"] == "RETIRED" and not early.loc["1.1", "usable"]
    assert scp_widgets.api_versions(today=dt.date(2026, 12, 4)).set_index("version").loc["1.2", "status"] == "RETIRED"


def test_a_version_the_emulator_ends_soon_shows_the_deprecation_warning(emu_options: dict[str, Any]) -> None:
    import datetime as dt

    from scp_widgets.client.versions import ScpDeprecationWarning
    from scp_widgets.emulator import DEFAULT_VERSIONS
    from scp_widgets.emulator.command import config_from_args, configure_parser
    from scp_widgets.emulator.config import with_ends

    parser = argparse.ArgumentParser()
    configure_parser(parser)
    options = parser.parse_args(["--version-ends", "1.3=60"])
    ends = {v.version: v.not_before for v in config_from_args(options).versions}
    assert ends["1.3"] == dt.datetime.now(dt.UTC).date() + dt.timedelta(days=60)

    emulator = Emulator(EmulatorConfig(servers=3, versions=with_ends(DEFAULT_VERSIONS, {"1.3": 60})))
    with pytest.warns(ScpDeprecationWarning, match="1.3"):
        df = scp_widgets.lock(emulator.own_ids[:1], **{**emu_options, "transport": emulator.transport()})
    assert "1.3" in str(df.attrs["warning"])


def test_the_readme_answers_a_newcomers_questions() -> None:
    from pathlib import Path

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    tour = readme[readme.index("## A 30-second tour") :]
    assert "source .venv/bin/activate" in tour[:800]  # before it says to run scp-widgets and ipython
    for needed in (
        "~/.local/state/scp-widgets/journal/", "pip uninstall scp-widgets", "--emulator-port", "--exit-with-parent",
        "[--where RULE] [--region R[,R2]] [--endpoint URL]", "What a real key needs", "scp_widgets.api_versions()",
    ):  # fmt: skip
        assert needed in readme, needed
    assert "today (20" not in readme  # no table dated on the day it was written
