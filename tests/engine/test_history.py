"""`history()`, `%scp_history`, the retention that prunes old journals, and the panel's History view."""

from __future__ import annotations

import datetime as dt
import json
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from IPython.core.error import UsageError
from IPython.core.interactiveshell import InteractiveShell
from traitlets.config import Config

import scp_widgets
from scp_widgets.client.errors import ScpUsageError
from scp_widgets.emulator import Emulator, EmulatorServer
from scp_widgets.engine.history import configure, keep_days, prune_journals
from scp_widgets.engine.journal import Journal, JournalWarning
from scp_widgets.panel.history import HistoryView
from scp_widgets.panel.lock_panel import LockPanel

WAIT = 60
DAY = 86400.0


def unlocked(emulator: Emulator, count: int) -> list[str]:
    return [i for i in emulator.own_ids if not emulator.server(i)["locked"]][:count]


@pytest.fixture
def three_runs(emulator: Emulator, emu_options: dict[str, Any]) -> list[pd.DataFrame]:
    ids = unlocked(emulator, 5)
    return [
        scp_widgets.lock(ids[:3], **emu_options),
        scp_widgets.unlock(ids[:2], **emu_options),
        scp_widgets.lock([*ids[3:5], "not-a-uuid"], **emu_options),
    ]


def test_history_after_three_runs_has_three_rows_newest_first_with_their_counts(
    three_runs: list[pd.DataFrame], isolated_environment: Path
) -> None:
    runs = scp_widgets.history()
    assert list(runs.run_id) == [f.attrs["run_id"] for f in reversed(three_runs)]
    assert list(runs.action) == ["lock", "unlock", "lock"]
    assert list(runs.servers) == [3, 2, 3]
    assert list(runs.locked) == [2, 0, 3] and list(runs.unlocked) == [0, 2, 0] and list(runs.invalid_id) == [1, 0, 0]
    assert list(runs.complete) == [True] * 3 and list(runs.never_sent) == [0] * 3
    assert list(runs.summary) == [f.attrs["summary"] for f in reversed(three_runs)]
    assert set(runs.api_version) == {"1.3"} and set(runs.endpoint) == {"http://127.0.0.1:9"}
    assert runs.started_at.is_monotonic_decreasing and (runs.finished_at >= runs.started_at).all()
    assert str(runs.started_at.dtype) == "datetime64[ns, UTC]"
    assert all(Path(p).parent == isolated_environment for p in runs.journal)
    for row, frame in zip(runs.itertuples(), reversed(three_runs), strict=True):
        pd.testing.assert_frame_equal(scp_widgets.read_journal(row.journal), frame)


@pytest.mark.parametrize(
    ("old", "new", "names"),
    [
        ('"started_at":"2026-', '"started_at":"2026x', "started_at"),  # one flipped byte: bit rot
        ('"ids":[', '"ids":5,"was":[', "ids"),
        ('"counts":{"locked":3', '"counts":{"locked":"3"', "locked"),  # only the quick path reads the counts
        ('"action":"lock"', '"action":7', "action"),
    ],
)
def test_one_odd_journal_is_left_out_with_a_warning_not_the_whole_history(
    three_runs: list[pd.DataFrame], isolated_environment: Path, old: str, new: str, names: str
) -> None:
    """Found by review: one journal whose header or footer held a value of the wrong type made history() of the
    whole folder raise (a pandas ValueError, or a TypeError) where its docstring promises a warning."""
    odd = Path(scp_widgets.history().journal[2])  # the first run's journal, written by lock()
    text = odd.read_text()
    assert old in text
    odd.write_text(text.replace(old, new, 1))
    with pytest.warns(JournalWarning, match=rf"Left out of the history: .*{odd.name} has a run record whose {names} "):
        runs = scp_widgets.history()
    assert list(runs.run_id) == [f.attrs["run_id"] for f in reversed(three_runs[1:])]


def test_an_unfinished_run_is_a_row_that_says_so(isolated_environment: Path) -> None:
    ids = ["00000000-0000-4000-8000-000000000001", "00000000-0000-4000-8000-000000000002"]
    header = {"run_id": "crashed", "action": "lock", "started_at": "2026-11-01T10:00:00+00:00", "ids": ids}
    journal = Journal.open(isolated_environment / "crashed.jsonl", header)
    journal.sent(ids[0])  # and then the kernel died: no result, no end, and its lock went with it
    journal.close()
    (isolated_environment / "notes.jsonl").write_text("my own notes\n")
    with pytest.warns(JournalWarning, match=r"Left out of the history: .*notes\.jsonl line 1 is not JSON"):
        runs = scp_widgets.history()
    assert list(runs.run_id) == ["crashed"]
    row = runs.iloc[0]
    assert not row.complete and row.sent == 1 and row.never_sent == 1 and pd.isna(row.finished_at)
    assert row.summary == "did not finish: 1 sent or done, 1 never sent"


def test_history_of_an_empty_folder_is_an_empty_frame_and_a_file_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert list(scp_widgets.history(tmp_path).columns)[:3] == ["run_id", "action", "started_at"]
    assert scp_widgets.history(tmp_path).empty
    monkeypatch.setenv("SCP_WIDGETS_JOURNAL_DIR", str(tmp_path / "not-yet"))  # no run has made it yet
    assert scp_widgets.history().empty
    (tmp_path / "a-file").write_text("")
    with pytest.raises(ScpUsageError, match=r"a-file is not a folder \(history\(\) reads a folder of journals\)\.$"):
        scp_widgets.history(tmp_path / "a-file")


# -- retention ----------------------------------------------------------------------------------------------


def make_old(path: Path, days: float, *, finished_days: float | None = None) -> Path:
    """Age a journal: its end record's finished_at and the file's mtime, `days` ago."""
    finished = dt.datetime.now(dt.UTC) - dt.timedelta(days=days if finished_days is None else finished_days)
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    for line in lines:
        if line["type"] == "end":
            line["finished_at"] = finished.isoformat()
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    then = time.time() - days * DAY
    os.utime(path, (then, then))
    return path


def journal_of(frame: pd.DataFrame) -> Path:
    return Path(frame.attrs["journal"])


def test_retention_prunes_old_finished_journals_and_never_an_unfinished_one(
    three_runs: list[pd.DataFrame], isolated_environment: Path
) -> None:
    old = make_old(journal_of(three_runs[0]), 100)
    touched_lately = make_old(journal_of(three_runs[1]), 100, finished_days=10)  # old mtime, recent run
    recent = journal_of(three_runs[2])
    crashed = isolated_environment / "crashed.jsonl"
    Journal.open(crashed, {"run_id": "c", "action": "lock", "ids": ["x"]}).sent("x")
    then = time.time() - 400 * DAY
    os.utime(crashed, (then, then))
    assert keep_days() == 90
    assert prune_journals(isolated_environment) == [old]
    assert not old.exists() and touched_lately.exists() and recent.exists() and crashed.exists()
    assert prune_journals(isolated_environment, days=5) == [touched_lately]
    assert crashed.exists()


def test_retention_from_the_environment_and_a_new_run_prunes(
    emulator: Emulator, emu_options: dict[str, Any], isolated_environment: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = make_old(journal_of(scp_widgets.lock(emulator.own_ids[:1], **emu_options)), 20)
    monkeypatch.setenv("SCP_WIDGETS_JOURNAL_DAYS", "0")  # 0 keeps everything
    scp_widgets.lock(emulator.own_ids[1:2], **emu_options)
    assert first.exists() and len(scp_widgets.history()) == 2
    monkeypatch.setenv("SCP_WIDGETS_JOURNAL_DAYS", "5")
    scp_widgets.history()
    assert first.exists()  # reading never deletes
    monkeypatch.setenv("SCP_WIDGETS_JOURNAL_DAYS", "14")
    scp_widgets.lock(emulator.own_ids[2:3], **emu_options)  # a new run prunes the default folder
    assert not first.exists() and len(scp_widgets.history()) == 2
    monkeypatch.setenv("SCP_WIDGETS_JOURNAL_DAYS", "a fortnight")
    with pytest.raises(ScpUsageError, match=r"^SCP_WIDGETS_JOURNAL_DAYS must be 0 .* not 'a fortnight'"):
        scp_widgets.prune_journals()
    assert len(scp_widgets.lock(emulator.own_ids[3:4], **emu_options)) == 1  # retention never stops a run
    with pytest.raises(ScpUsageError, match="keep_days must be 0"):
        configure(-1)


# -- %scp_history ---------------------------------------------------------------------------------------------


@pytest.fixture
def ip(live_emulator: EmulatorServer) -> Iterator[InteractiveShell]:
    config = Config()
    config.HistoryManager.hist_file = ":memory:"
    shell = InteractiveShell.instance(config=config)
    shell.run_line_magic("load_ext", "scp_widgets")
    yield shell
    shell.run_line_magic("unload_ext", "scp_widgets")
    shell.config.pop("ScpHistoryMagics", None)
    shell.user_ns.pop("runs", None)


def test_history_magic_lists_the_runs_and_stores_them(
    ip: InteractiveShell, emulator: Emulator, capsys: pytest.CaptureFixture[str]
) -> None:
    for server_id in emulator.own_ids[:3]:
        ip.run_line_magic("scp_lock", f"--quiet {server_id}")
    frame = ip.run_line_magic("scp_history", "-o runs --limit 2")
    assert capsys.readouterr().out == "2 runs\n"
    assert ip.user_ns["runs"] is frame and len(frame) == 2
    assert list(frame.locked) == [1, 1] and frame.started_at.is_monotonic_decreasing
    assert len(ip.run_line_magic("scp_history", "--quiet")) == 3
    with pytest.raises(UsageError, match="--limit must be 1 or more"):
        ip.run_line_magic("scp_history", "--limit 0")
    with pytest.raises(UsageError, match="nowhere is not a folder"):
        ip.run_line_magic("scp_history", "--folder nowhere")


def test_config_keep_days_prunes_and_goes_away_with_the_magics(
    ip: InteractiveShell, emulator: Emulator, isolated_environment: Path
) -> None:
    ip.run_line_magic("scp_lock", f"--quiet {emulator.own_ids[0]}")
    ip.run_line_magic("scp_lock", f"--quiet {emulator.own_ids[1]}")
    old = make_old(sorted(isolated_environment.glob("*.jsonl"))[0], 3)
    ip.run_line_magic("config", "ScpHistoryMagics.keep_days = 5")
    assert keep_days() == 5 and len(ip.run_line_magic("scp_history", "--quiet")) == 2
    ip.run_line_magic("config", "ScpHistoryMagics.keep_days = 2")
    assert len(ip.run_line_magic("scp_history", "--quiet")) == 2 and old.exists()  # reading never deletes
    ip.run_line_magic("scp_lock", f"--quiet {emulator.own_ids[2]}")  # a run's retention does
    assert len(ip.run_line_magic("scp_history", "--quiet")) == 2 and not old.exists()
    ip.run_line_magic("unload_ext", "scp_widgets")
    assert keep_days() == 90 and ip.find_line_magic("scp_history") is None
    ip.run_line_magic("load_ext", "scp_widgets")
    assert ip.find_line_magic("scp_history") is not None


# -- the panel's History view -------------------------------------------------------------------------------


def test_panel_history_lists_runs_and_a_click_shows_that_runs_table(
    emulator: Emulator, emu_options: dict[str, Any]
) -> None:
    panel = LockPanel(**emu_options)
    panel.wait(WAIT)
    for count in (2, 3):
        panel.selector.value = tuple(unlocked(emulator, count))
        panel.lock_button.click()
        panel.wait(WAIT)
    last = panel.results
    assert last is not None
    history = panel.history
    assert history in panel.children and history.selected_index is None and history.run_buttons == []
    history.selected_index = 0  # opening the section reads the journal folder
    assert len(history.run_buttons) == 2 and "2 runs" in history.note_html.value
    newest = history.run_buttons[0]
    assert " · lock · 3 locked in " in newest.description and last.attrs["run_id"] in newest.tooltip
    newest.click()
    assert history.results is not None
    pd.testing.assert_frame_equal(history.results, last)
    assert history.detail_html.value.count('data-outcome="locked"') == 3
    assert all(server_id in history.detail_html.value for server_id in last.server_id)
    history.run_buttons[1].click()
    assert history.results is not None and len(history.results) == 2
    panel.selector.value = tuple(unlocked(emulator, 1))
    panel.lock_button.click()  # with History open, the new run appears without a Refresh
    panel.wait(WAIT)
    assert len(history.run_buttons) == 3 and " · lock · 1 locked in " in history.run_buttons[0].description
    panel.close()


def test_history_view_shows_an_unfinished_run_and_refresh_picks_up_new_ones(tmp_path: Path) -> None:
    ids = ["00000000-0000-4000-8000-000000000001", "00000000-0000-4000-8000-000000000002"]
    view = HistoryView(tmp_path)
    view.refresh()
    assert view.run_buttons == [] and "No runs journaled yet." in view.note_html.value
    header = {"run_id": "crashed", "action": "lock", "started_at": "2026-11-01T10:00:00+00:00", "ids": ids}
    crashed = Journal.open(tmp_path / "crashed.jsonl", header)
    crashed.sent(ids[0])
    crashed.close()  # its process died: no end line, and nobody holds the file
    view.refresh_button.click()
    label = view.run_buttons[0].description
    assert len(view.run_buttons) == 1 and label.endswith("· lock · did not finish: 1 sent or done, 1 never sent")
    assert label.count("did not finish") == 1 and view.run_buttons[0].button_style == "danger"
    view.run_buttons[0].click()
    assert 'data-outcome="sent"' in view.detail_html.value and "1 sent; 1 never sent" in view.detail_html.value
    assert "did not finish" in view.detail_html.value and "Did not finish (1)" in view.detail_html.value


def test_the_readme_history_example_runs_verbatim(three_runs: list[pd.DataFrame]) -> None:
    readme = (Path(__file__).parents[2] / "README.md").read_text()
    blocks = [b.split("```", 1)[0] for b in readme.split("```python\n")[1:]]
    (block,) = [b for b in blocks if b.startswith("runs = scp_widgets.history()")]
    namespace: dict[str, Any] = {"scp_widgets": scp_widgets}
    exec(compile(block, "README.md", "exec"), namespace)  # noqa: S102 - our own README
    assert list(namespace["runs"].run_id) == [f.attrs["run_id"] for f in reversed(three_runs)]


def test_the_help_example_runs(ip: InteractiveShell, emulator: Emulator) -> None:
    ip.run_line_magic("scp_lock", f"--quiet {emulator.own_ids[0]}")
    doc = ip.find_line_magic("scp_history").__doc__
    example = doc[doc.index("Example: ") :].split("\n")[0].removeprefix("Example: ")
    magic, python = example.rstrip(".").split(", then ")
    ip.run_line_magic(*magic.removeprefix("%").split(" ", 1))
    python = python.split(" for ")[0]
    frame = eval(python, {**ip.user_ns, "scp_widgets": scp_widgets})  # noqa: S307 - our own help text
    assert list(frame.server_id) == [emulator.own_ids[0]]


def test_a_file_reused_by_two_runs_gives_two_rows_read_in_full(
    tmp_path: Path, emulator: Emulator, emu_options: dict[str, Any]
) -> None:
    shared = tmp_path / "shared.jsonl"
    first = scp_widgets.lock(unlocked(emulator, 2), journal=shared, **emu_options)
    second = scp_widgets.lock([*unlocked(emulator, 3), "nope"], journal=shared, **emu_options)
    scp_widgets.lock(unlocked(emulator, 1), journal=tmp_path / "alone.jsonl", **emu_options)  # summed up quickly
    runs = scp_widgets.history(tmp_path)
    assert list(runs.journal) == [str(tmp_path / "alone.jsonl"), str(shared), str(shared)]
    assert list(runs.run_id[1:]) == [second.attrs["run_id"], first.attrs["run_id"]]
    assert list(runs.locked) == [1, 3, 2] and list(runs.invalid_id) == [0, 1, 0] and list(runs.servers) == [1, 4, 2]
    assert list(runs.summary[1:]) == [second.attrs["summary"], first.attrs["summary"]]
    pd.testing.assert_frame_equal(scp_widgets.read_journal(runs.journal[2], runs.run_id[2]), first)


def test_scp_history_shows_one_line_per_run_in_local_time_with_paths_on_hover(
    ip: InteractiveShell, emulator: Emulator
) -> None:
    ip.run_line_magic("scp_lock", f"--quiet {emulator.own_ids[0]}")
    runs = ip.run_line_magic("scp_history", "--quiet")
    formatter = ip.display_formatter.formatters["text/html"]  # type: ignore[union-attr]
    page = formatter(runs)
    path = str(runs.journal[0])
    assert f'title="{path}"' in page and f">{Path(path).name}</span>" in page  # the name, the whole path on hover
    local = runs.started_at[0].to_pydatetime().astimezone().strftime("%H:%M:%S")
    assert f"<td>{local}</td>" in page and "+00:00" not in page  # local time, not a UTC stamp
    assert "scp-badge ok" in page  # the outcome counts as the results view's badges
    text = ip.display_formatter.formatters["text/plain"](runs)  # type: ignore[union-attr]
    assert Path(path).name in text and path not in text
