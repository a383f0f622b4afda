"""The magics in a real IPython shell against the emulator on a loopback socket (`live_emulator`)."""

from __future__ import annotations

import datetime as dt
import io
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from emulator_helpers import posts, unlocked
from IPython.core.error import UsageError
from IPython.core.interactiveshell import InteractiveShell

from scp_widgets import api
from scp_widgets.emulator import (
    DEMO_ACCESS_KEY,
    DEMO_SECRET_KEY,
    ApiVersion,
    Emulator,
    EmulatorConfig,
    EmulatorServer,
    Faults,
)
from scp_widgets.engine.bulk import Progress
from scp_widgets.notebook.arguments import split_from
from scp_widgets.notebook.lock_magics import ScpLockMagics
from scp_widgets.views.progress import HtmlProgress, NoProgress, TextProgress, in_kernel, label, progress_display

MISSING = "00000000-0000-4000-8000-000000000000"


def outcomes(frame: pd.DataFrame) -> list[str]:
    return [str(o) for o in frame["outcome"]]


# -- line and cell forms ---------------------------------------------------------------------------------


def test_line_form_locks_each_id_and_prints_the_summary(
    ip: InteractiveShell, emulator: Emulator, capsys: pytest.CaptureFixture[str]
) -> None:
    ids = unlocked(emulator, 3)
    frame = ip.run_line_magic("scp_lock", " ".join(ids))
    assert list(frame["server_id"]) == ids
    assert outcomes(frame) == ["locked"] * 3
    assert all(emulator.server(i)["locked"] for i in ids)
    assert frame.attrs["summary"] in capsys.readouterr().out
    assert frame.attrs["summary"].startswith("3 locked")


def test_cell_form_ignores_blank_lines_and_comments(ip: InteractiveShell, emulator: Emulator) -> None:
    ids = unlocked(emulator, 2)
    body = f"# the web tier\n\n{ids[0]}   # primary\n\n  {ids[1]}\n# done\n"
    frame = ip.run_cell_magic("scp_lock", "--quiet", body)
    assert list(frame["server_id"]) == ids
    assert outcomes(frame) == ["locked", "locked"]
    assert len(posts(emulator)) == 2


def test_failures_are_rows_not_exceptions(ip: InteractiveShell, emulator: Emulator) -> None:
    own, foreign = unlocked(emulator, 1)[0], emulator.foreign_ids[0]
    frame = ip.run_line_magic("scp_lock", f"{own} {foreign} {MISSING} not-an-id")
    assert outcomes(frame) == ["locked", "forbidden", "not_found", "invalid_id"]


def test_output_option_stores_and_returns_the_frame(ip: InteractiveShell, emulator: Emulator) -> None:
    frame = ip.run_line_magic("scp_lock", f"-o result --quiet {unlocked(emulator, 1)[0]}")
    assert ip.user_ns["result"] is frame


def test_unlock(ip: InteractiveShell, emulator: Emulator) -> None:
    ids = unlocked(emulator, 2)
    ip.run_line_magic("scp_lock", "--quiet " + " ".join(ids))
    frame = ip.run_cell_magic("scp_unlock", "", "\n".join(ids))
    assert outcomes(frame) == ["unlocked", "unlocked"]
    assert not any(emulator.server(i)["locked"] for i in ids)
    assert set(frame["action"]) == {"unlock"}


# -- --from ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "make",
    [
        pytest.param(lambda ids: ids, id="list"),
        pytest.param(lambda ids: tuple(ids), id="tuple"),
        pytest.param(lambda ids: pd.Series(ids, dtype="string"), id="series"),
        pytest.param(lambda ids: pd.Index(ids), id="index"),
        pytest.param(lambda ids: pd.DataFrame({"id": ids, "name": "x"}), id="dataframe"),
    ],
)
def test_from_takes_ids_from_a_variable(ip: InteractiveShell, emulator: Emulator, make: Any) -> None:
    ids = unlocked(emulator, 3)
    ip.user_ns["chosen"] = make(ids)
    frame = ip.run_line_magic("scp_lock", "--from chosen --quiet")
    assert list(frame["server_id"]) == ids
    assert outcomes(frame) == ["locked"] * 3


def test_from_a_query_on_the_server_listing(ip: InteractiveShell, emulator: Emulator) -> None:
    servers = ip.run_line_magic("scp_servers", "-o servers")
    assert ip.user_ns["servers"] is servers
    frame = ip.run_line_magic("scp_lock", '--from servers.query("not locked").id[:5] -o result')
    expected = list(servers.query("not locked").id[:5])
    assert list(frame["server_id"]) == expected
    assert outcomes(frame) == ["locked"] * 5
    assert ip.user_ns["result"] is frame


def test_from_combines_with_ids_on_the_line(ip: InteractiveShell, emulator: Emulator) -> None:
    ids = unlocked(emulator, 3)
    ip.user_ns["first_two"] = ids[:2]
    frame = ip.run_line_magic("scp_lock", f"--from first_two {ids[2]} --quiet")
    assert list(frame["server_id"]) == ids


def test_dollar_list_expanded_by_ipython_still_reads_as_ids(ip: InteractiveShell, emulator: Emulator) -> None:
    ids = unlocked(emulator, 2)
    ip.user_ns["picked_ids"] = ids  # IPython turns $picked_ids into "['…', '…']" before the magic sees it
    frame = ip.run_line_magic("scp_lock", "--quiet $picked_ids")
    assert list(frame["server_id"]) == ids


@pytest.mark.parametrize(
    ("line", "rest", "expr"),
    [
        ('--from servers.query("not locked").id[:5] -o x', " -o x", 'servers.query("not locked").id[:5]'),
        ("-o x --from ids", "-o x", "ids"),
        ("--from=ids --quiet", " --quiet", "ids"),
        ("--from a + b --dry-run", " --dry-run", "a + b"),
        ("--from ids 2a9be312-5d4b-4bc8-b2ae-35100fa9241f", " 2a9be312-5d4b-4bc8-b2ae-35100fa9241f", "ids"),
        ("2a9be312-5d4b-4bc8-b2ae-35100fa9241f", "2a9be312-5d4b-4bc8-b2ae-35100fa9241f", None),
    ],
)
def test_split_from_keeps_the_expression_whole(line: str, rest: str, expr: str | None) -> None:
    assert split_from(line) == (rest, expr)


# -- settings: option > %config > environment --------------------------------------------------------------


@pytest.fixture
def spy(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """Records the options each magic hands to `api.lock`, and still runs it."""
    seen: list[dict[str, Any]] = []
    real = api.lock

    def lock(ids: Any, **options: Any) -> pd.DataFrame:
        seen.append(options)
        return real(ids, **options)

    monkeypatch.setattr(api, "lock", lock)
    return seen


def test_config_defaults_and_explicit_options_win(
    ip: InteractiveShell, emulator: Emulator, spy: list[dict[str, Any]]
) -> None:
    one, two = unlocked(emulator, 2)
    ip.run_line_magic("config", "ScpLockMagics.concurrency = 2")
    ip.run_line_magic("config", "ScpLockMagics.retries = 1")
    ip.run_line_magic("scp_lock", f"--quiet {one}")
    ip.run_line_magic("scp_lock", f"--quiet --concurrency 5 {two}")
    assert [s["concurrency"] for s in spy] == [2, 5]
    assert [s["retries"] for s in spy] == [1, 1]
    assert spy[0]["verify"] is True


def test_config_endpoint_beats_the_environment_and_an_option_beats_both(
    ip: InteractiveShell, emulator: Emulator, live_emulator: EmulatorServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    one, two = unlocked(emulator, 2)
    dead = "http://127.0.0.1:9"
    monkeypatch.setenv("SCP_ENDPOINT", dead)
    ip.run_line_magic("config", f'ScpLockMagics.endpoint = "{live_emulator.url}"')
    assert outcomes(ip.run_line_magic("scp_lock", f"--quiet {one}")) == ["locked"]
    ip.run_line_magic("config", f'ScpLockMagics.endpoint = "{dead}"')
    frame = ip.run_line_magic("scp_lock", f"--quiet --endpoint {live_emulator.url} {two}")
    assert outcomes(frame) == ["locked"]


@pytest.fixture
def versioned(monkeypatch: pytest.MonkeyPatch) -> Iterator[Emulator]:
    """An emulator whose catalog has a newer CURRENT (1.4) and 1.3 ending in 30 days."""
    soon = dt.date.today() + dt.timedelta(days=30)
    versions = (ApiVersion("1.4", "CURRENT"), ApiVersion("1.3", "DEPRECATED", soon))
    emulator = Emulator(EmulatorConfig(servers=5, locked_fraction=0, versions=versions))
    with EmulatorServer(emulator) as server:
        monkeypatch.setenv("SCP_ENDPOINT", server.url)
        yield emulator


def test_config_api_version_is_sent_and_its_deprecation_is_shown(
    ip: InteractiveShell, versioned: Emulator, capsys: pytest.CaptureFixture[str]
) -> None:
    ids = versioned.own_ids[:2]
    ip.run_line_magic("config", 'ScpLockMagics.api_version = "1.3"')
    frame = ip.run_line_magic("scp_lock", " ".join(ids))
    assert outcomes(frame) == ["locked", "locked"]
    assert {r.api_version for r in posts(versioned)} == {"1.3"}
    err = capsys.readouterr().err
    assert "Warning: API version 1.3 is deprecated" in err
    frame = ip.run_line_magic("scp_unlock", f"--quiet --api-version 1.4 {ids[0]}")
    assert list(frame["api_version"]) == ["1.4"]


# -- user mistakes: one-line UsageError, nothing sent ------------------------------------------------------

BAD_LINES = {
    "unknown option": "--bogus {id}",
    "no ids": "--quiet",
    "--from without expression": "--from",
    "--from naming nothing": "--from no_such_variable",
    "--from raising": "--from 1/0",
    "--from syntax error": "--from servers.query(",
    "--from a number": "--from 42",
    "--from an empty list": "--from []",
    "--from a two-column frame": "--from pd.DataFrame({'a': [1], 'b': [2]})",
    "unexpanded $name": "$no_such_variable",
    "unexpanded {name}": "{no_such_variable}",
    "variable instead of --from": "pd",
    "unknown version": "--api-version 0.9 {id}",
    "malformed version": "--api-version latest {id}",
    "unknown region": "--region mars-1 --environment s {id}",
    "unknown environment": "--region kr-west1 --environment moon {id}",
    "plain http to a remote host": "--endpoint http://example.com {id}",
    "bad concurrency": "--concurrency 0 {id}",
    "non-number concurrency": "--concurrency many {id}",
    "bad -o name": "-o 1st {id}",
    "unclosed quote": "'{id}",
}


@pytest.mark.parametrize("line", list(BAD_LINES.values()), ids=list(BAD_LINES))
def test_usage_errors_are_one_line_and_send_nothing(ip: InteractiveShell, emulator: Emulator, line: str) -> None:
    ip.user_ns["pd"] = pd
    with pytest.raises(UsageError) as caught:
        ip.run_line_magic("scp_lock", line.replace("{id}", unlocked(emulator, 1)[0]))
    message = str(caught.value)
    assert message.strip()
    assert "\n" not in message
    assert posts(emulator) == []


def test_cell_body_is_not_expanded(ip: InteractiveShell, emulator: Emulator) -> None:
    with pytest.raises(UsageError, match=r"\$ids"):
        ip.run_cell_magic("scp_lock", "", f"{unlocked(emulator, 1)[0]}\n$ids\n")
    assert posts(emulator) == []


@pytest.mark.parametrize("option", ["--dry-run", "-n", "--api-version=1.2"])
def test_an_option_in_the_cell_body_is_refused_not_sent(ip: InteractiveShell, emulator: Emulator, option: str) -> None:
    # options one a line is a natural slip: `--dry-run` was an invalid_id row and the other ids were really sent
    ids = unlocked(emulator, 2)
    with pytest.raises(UsageError, match=rf"^{option} in the cell body is an option, not an id: put it on the magic"):
        ip.run_cell_magic("scp_lock", "--quiet", "\n".join([ids[0], option, ids[1]]))
    assert posts(emulator) == []


def test_missing_credentials(ip: InteractiveShell, emulator: Emulator, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SCP_SECRET_KEY")
    with pytest.raises(UsageError, match=r"(?i)secret"):
        ip.run_line_magic("scp_lock", unlocked(emulator, 1)[0])
    assert emulator.record == []


def test_a_usage_error_in_a_cell_shows_one_line_and_no_traceback(
    ip: InteractiveShell, emulator: Emulator, capsys: pytest.CaptureFixture[str]
) -> None:
    result = ip.run_cell("%scp_lock --bogus")
    assert isinstance(result.error_in_exec, UsageError)
    captured = capsys.readouterr()
    shown = captured.out + captured.err
    assert "UsageError: unrecognized arguments: --bogus" in shown
    assert "Traceback" not in shown


# -- dry run, listing, help, unload ----------------------------------------------------------------------


def test_dry_run_plans_and_sends_no_post(
    ip: InteractiveShell, emulator: Emulator, live_emulator: EmulatorServer, capsys: pytest.CaptureFixture[str]
) -> None:
    ids = unlocked(emulator, 3)
    frame = ip.run_line_magic("scp_lock", "--dry-run " + " ".join(ids))
    assert outcomes(frame) == ["planned"] * 3
    assert posts(emulator) == []
    assert not any(emulator.server(i)["locked"] for i in ids)
    out = capsys.readouterr().out
    assert "Dry run: would lock 3 servers with API 1.3" in out
    assert live_emulator.url in out


def test_servers_filters_by_state(ip: InteractiveShell, emulator: Emulator) -> None:
    everything = ip.run_line_magic("scp_servers", "--quiet")
    active = ip.run_line_magic("scp_servers", "--state ACTIVE -o active")
    assert set(active["state"]) == {"ACTIVE"}
    assert 0 < len(active) < len(everything)
    assert ip.user_ns["active"] is active


def test_quoted_option_values_are_what_is_inside_the_quotes(ip: InteractiveShell, emulator: Emulator) -> None:
    # IPython's splitting keeps the quotes: `--state "ACTIVE"` listed 0 servers, `-o 'res'` was refused
    active = ip.run_line_magic("scp_servers", "--state ACTIVE --quiet")
    quoted = ip.run_line_magic("scp_servers", "--state \"ACTIVE\" -o 'res' --quiet")
    assert len(quoted) == len(active) > 0 and ip.user_ns["res"] is quoted
    frame = ip.run_line_magic("scp_lock", f"--quiet --dry-run --api-version '1.3' '{unlocked(emulator, 1)[0]}'")
    assert list(frame["api_version"]) == ["1.3"] and list(frame["outcome"]) == ["planned"]


def test_from_given_twice_is_one_sentence_not_a_dropped_half(ip: InteractiveShell, emulator: Emulator) -> None:
    ip.user_ns["ids"] = unlocked(emulator, 4)
    with pytest.raises(UsageError, match=r"^--from is given twice: give one expression, e\.g\. --from \[\*first"):
        ip.run_line_magic("scp_lock", "--quiet --from ids[:2] --from ids[2:]")
    assert posts(emulator) == []


def test_each_sentence_names_the_option_typed(ip: InteractiveShell, emulator: Emulator) -> None:
    # `--retry-failed nothing` said "--from nothing names nothing"; %%scp_unlocked's body is code, not ids
    with pytest.raises(UsageError, match=r"^--retry-failed nothing names nothing: name 'nothing' is not defined\.$"):
        ip.run_line_magic("scp_lock", "--retry-failed nothing")
    with pytest.raises(UsageError, match=r"^--resume-cancelled gone names nothing"):
        ip.run_line_magic("scp_lock", "--resume-cancelled gone")
    with pytest.raises(UsageError) as caught:
        ip.run_cell_magic("scp_unlocked", "", "print('maintenance')")
    assert str(caught.value) == "No server ids given: pass ids after the options, --from EXPR or --where RULE."
    assert posts(emulator) == []


def test_servers_on_a_dead_endpoint_is_one_line(ip: InteractiveShell) -> None:
    with pytest.raises(UsageError, match="Could not list servers"):
        ip.run_line_magic("scp_servers", "--endpoint http://127.0.0.1:9")


def test_help_lists_the_options_and_an_example(ip: InteractiveShell, capsys: pytest.CaptureFixture[str]) -> None:
    ip.run_cell("%scp_lock?")
    text = capsys.readouterr().out
    for option in ("--from EXPR", "-o NAME", "--api-version", "--dry-run", "--concurrency", "--no-verify"):
        assert option in text
    assert "%%scp_lock" in text
    assert "Examples::" not in text and "--retry-failed NAME" in text
    assert '--from servers.query("not locked").id' in text


def test_unload_removes_the_magics_and_load_brings_them_back(ip: InteractiveShell) -> None:
    ip.run_line_magic("unload_ext", "scp_widgets")
    assert ip.find_line_magic("scp_lock") is None
    assert ip.find_cell_magic("scp_lock") is None
    assert not any(isinstance(c, ScpLockMagics) for c in ip.configurables)
    ip.run_line_magic("load_ext", "scp_widgets")
    assert ip.find_line_magic("scp_servers") is not None
    assert sum(isinstance(c, ScpLockMagics) for c in ip.configurables) == 1


def test_panel_magic_passes_the_connection(
    ip: InteractiveShell, monkeypatch: pytest.MonkeyPatch, live_emulator: EmulatorServer
) -> None:
    import sys
    import types

    fake = types.ModuleType("scp_widgets.panel.lock_panel")
    fake.LockPanel = lambda **kwargs: kwargs  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "scp_widgets.panel.lock_panel", fake)
    ip.run_line_magic("config", "ScpLockMagics.concurrency = 4")
    made = ip.run_line_magic("scp_panel", "--region kr-west1 --environment s --api-version 1.3")
    assert made == {
        "endpoint": None, "region": "kr-west1", "environment": "s", "api_version": "1.3", "concurrency": 4,
    }  # fmt: skip


def test_panel_magic_builds_the_real_panel(ip: InteractiveShell) -> None:
    panel = pytest.importorskip("scp_widgets.panel.lock_panel")
    assert isinstance(ip.run_line_magic("scp_panel", "--concurrency 3"), panel.LockPanel)


# -- interrupt -------------------------------------------------------------------------------------------


@pytest.fixture
def slow(monkeypatch: pytest.MonkeyPatch) -> Iterator[Emulator]:
    emulator = Emulator(EmulatorConfig(servers=40, locked_fraction=0, faults=Faults(latency=0.2)))
    with EmulatorServer(emulator) as server:
        monkeypatch.setenv("SCP_ENDPOINT", server.url)
        yield emulator


def _interrupt_after_first_lock(emulator: Emulator) -> threading.Thread:
    """Ctrl-C (SIGINT to the main thread) as soon as one server is locked, so some rows are done."""
    import _thread

    def watch() -> None:
        deadline = time.monotonic() + 30
        while not emulator.lock_history and time.monotonic() < deadline:
            time.sleep(0.01)
        _thread.interrupt_main()

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    return watcher


def test_interrupt_returns_the_partial_frame(
    ip: InteractiveShell, slow: Emulator, capsys: pytest.CaptureFixture[str]
) -> None:
    ip.user_ns["ids"] = slow.own_ids
    watcher = _interrupt_after_first_lock(slow)
    frame = ip.run_line_magic("scp_lock", "--concurrency 1 --from ids -o partial")
    watcher.join()
    assert list(frame["server_id"]) == slow.own_ids
    counts = frame["outcome"].astype(str).value_counts()
    assert set(counts.index) == {"locked", "cancelled"}
    assert counts["locked"] >= 1
    assert counts["cancelled"] >= 30
    assert len(posts(slow)) == counts["locked"]
    assert ip.user_ns["partial"] is frame
    not_sent = int(((frame["outcome"] == "cancelled") & (frame["attempts"] == 0)).sum())
    assert f"Interrupted: stopped sending; {not_sent} of 40 servers not sent (cancelled)" in capsys.readouterr().out


# -- the progress display --------------------------------------------------------------------------------


def _progress(done: int, total: int, **counts: int) -> Progress:
    return Progress(done, total, counts, 0.1)


def test_label_shows_done_total_and_counts() -> None:
    assert label(_progress(412, 1000, locked=410, not_found=2)) == "412/1000 · 410 locked, 2 not_found"
    assert label(_progress(0, 3)) == "0/3"


def test_text_progress_throttles_but_always_draws_the_end() -> None:
    stream = io.StringIO()
    bar = TextProgress("lock", stream)
    for done in range(1, 101):
        bar.update(_progress(done, 100, locked=done))
    bar.close()
    text = stream.getvalue()
    assert text.count("\r") < 100
    assert text.endswith("100/100 · 100 locked\n")


def test_text_progress_draws_the_last_throttled_state_on_close() -> None:
    stream = io.StringIO()
    bar = TextProgress("unlock", stream)
    bar.update(_progress(1, 10, unlocked=1))
    bar.update(_progress(2, 10, unlocked=1, cancelled=1))
    bar.close()
    assert stream.getvalue().endswith("2/10 · 1 unlocked, 1 cancelled\n")


def test_text_progress_prints_nothing_when_never_updated() -> None:
    stream = io.StringIO()
    TextProgress("lock", stream).close()
    assert stream.getvalue() == ""


def test_html_progress_is_one_output_that_becomes_the_summary(monkeypatch: pytest.MonkeyPatch) -> None:
    """No widget (nothing closed left in a saved notebook) and no empty output once the run ends."""
    handles: list[Any] = []

    class Handle:
        def __init__(self, obj: Any) -> None:
            self.shown = [obj]
            handles.append(self)

        def update(self, obj: Any, raw: bool = False) -> None:
            self.shown.append(obj)

    monkeypatch.setattr("IPython.display.display", lambda obj, **k: Handle(obj))
    bar = HtmlProgress("lock")
    assert handles == []  # nothing shown before the first update: an early error leaves no output
    bar.update(Progress(2, 4, {"locked": 1, "forbidden": 1}, 0.1, sent=4, accepted=2))
    html = handles[0].shown[0].data
    assert "2/4 · 1 locked, 1 forbidden · 4 sent · 2 accepted · 1 verified" in html
    assert "width:75.0%" in html  # two finished, one more accepted and being read back
    bar.close("3 locked, 1 forbidden in 0.2 s")
    assert len(handles) == 1
    final = handles[0].shown[-1]
    assert final["text/plain"] == "3 locked, 1 forbidden in 0.2 s" and "3 locked" in final["text/html"]


def test_label_shows_the_stages_and_a_retry_wait() -> None:
    progress = Progress(11, 300, {"locked": 11}, 1.0, sent=64, accepted=64, retry_in=2.6)
    assert label(progress) == "11/300 · 11 locked · 64 sent · 64 accepted · 11 verified · retrying in 3 s"


def test_display_choice() -> None:
    class ZMQInteractiveShell:
        pass

    assert in_kernel(ZMQInteractiveShell())
    assert not in_kernel(object())
    assert isinstance(progress_display(ZMQInteractiveShell(), "lock", quiet=True), NoProgress)
    assert isinstance(progress_display(object(), "lock"), TextProgress)


def test_quiet_run_prints_nothing(ip: InteractiveShell, emulator: Emulator, capsys: pytest.CaptureFixture[str]) -> None:
    ip.run_line_magic("scp_lock", "--quiet " + unlocked(emulator, 1)[0])
    captured = capsys.readouterr()
    assert (captured.out, captured.err) == ("", "")


def test_progress_bar_on_stderr_in_a_terminal_shell(
    ip: InteractiveShell, emulator: Emulator, capsys: pytest.CaptureFixture[str]
) -> None:
    ip.run_line_magic("scp_lock", " ".join(unlocked(emulator, 2)))
    assert "2/2 · 2 locked" in capsys.readouterr().err


def test_secrets_stay_out_of_the_frame(ip: InteractiveShell, emulator: Emulator) -> None:
    frame = ip.run_line_magic("scp_lock", "--quiet " + unlocked(emulator, 1)[0])
    text = frame.to_csv() + repr(frame.attrs)
    assert DEMO_SECRET_KEY not in text
    assert DEMO_ACCESS_KEY not in text


def test_load_ext_imports_no_pandas_httpx_aiohttp_or_widgets(tmp_path: Path) -> None:
    """`%load_ext scp_widgets` stays fast: the heavy imports wait for the first magic that needs them (a
    pending-window check, an unload of the %config setting or the formatters' removal once pulled in pandas)."""
    code = (
        "import sys\nfrom IPython.core.interactiveshell import InteractiveShell\n"
        "sh = InteractiveShell.instance()\nsh.run_line_magic('load_ext', 'scp_widgets')\n"
        "sh.run_line_magic('unload_ext', 'scp_widgets')\nsh.run_line_magic('load_ext', 'scp_widgets')\n"
        "print(sorted(m for m in ('pandas', 'httpx', 'aiohttp', 'altair', 'ipywidgets') if m in sys.modules))"
    )
    # The load itself, without the warm-up that then imports them in the background (tested below).
    env = {**os.environ, "SCP_WIDGETS_JOURNAL_DIR": str(tmp_path), "SCP_WIDGETS_WARM_UP": "0"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120, check=True)
    assert out.stdout.strip().splitlines()[-1] == "[]"


WARM_UP_PROBE = (
    "import sys, threading\n{setup}import scp_widgets\nfrom scp_widgets.notebook import warm_up\n"
    "thread = warm_up.started()\nthread is None or thread.join(60)\n"
    "print(thread is not None, 'pandas' in sys.modules, 'scp_widgets.api' in sys.modules)\n"
    "print(warm_up.start() is thread)"
)


@pytest.mark.parametrize(
    ("setup", "warm"),
    [
        ("from IPython.core.interactiveshell import InteractiveShell\nInteractiveShell.instance()\n", True),
        ("import IPython\n", False),  # IPython imported, but no shell running: a script
        ("", False),
    ],
    ids=["ipython-shell", "ipython-imported-no-shell", "script"],
)
def test_import_in_a_shell_warms_up_and_a_script_does_not(tmp_path: Path, setup: str, warm: bool) -> None:
    """`import scp_widgets` in a kernel starts the warm-up (a notebook that calls `lock()` or `LockPanel()`
    without the magics); a script or the command line imports nothing more than it uses; a second start
    (`%load_ext` after the import) reuses the thread."""
    env = {**os.environ, "SCP_WIDGETS_JOURNAL_DIR": str(tmp_path)}
    env.pop("SCP_WIDGETS_WARM_UP", None)
    code = WARM_UP_PROBE.format(setup=setup)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120, check=True)
    lines = out.stdout.strip().splitlines()
    assert lines[-2] == f"{warm} {warm} {warm}"
    assert lines[-1] == str(warm)


def test_warm_up_off_in_a_shell(tmp_path: Path) -> None:
    env = {**os.environ, "SCP_WIDGETS_JOURNAL_DIR": str(tmp_path), "SCP_WIDGETS_WARM_UP": "0"}
    setup = "from IPython.core.interactiveshell import InteractiveShell\nInteractiveShell.instance()\n"
    code = WARM_UP_PROBE.format(setup=setup)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120, check=True)
    assert out.stdout.strip().splitlines()[-2:] == ["False False False", "True"]


def test_load_ext_warms_up_the_first_run_in_the_background(tmp_path: Path) -> None:
    """The imports a first run pays (about a second) happen on a background thread after `%load_ext`
    returns, so a notebook's first %scp_lock is as fast as its tenth."""
    code = (
        "import sys, threading\nfrom IPython.core.interactiveshell import InteractiveShell\n"
        "sh = InteractiveShell.instance()\nsh.run_line_magic('load_ext', 'scp_widgets')\n"
        "from scp_widgets.notebook import warm_up\nthread = warm_up.started()\n"
        "print(thread is not None and thread is not threading.current_thread() and thread.daemon)\n"
        "thread.join(60)\n"
        "print(sorted(m for m in WARMED if m in sys.modules))"
    )
    env = {**os.environ, "SCP_WIDGETS_JOURNAL_DIR": str(tmp_path)}
    env.pop("SCP_WIDGETS_WARM_UP", None)
    warmed = ["aiohttp", "httpx", "pandas", "scp_widgets.api", "scp_widgets.engine.history", "scp_widgets.fleet.plan"]
    warmed += ["scp_widgets.views.accessor"]  # the API imports pandas and these where used: the warm-up does it early
    code = f"WARMED = {warmed!r}\n{code}"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120, check=True)
    assert out.stdout.strip().splitlines()[-2:] == ["True", repr(sorted(warmed))]
