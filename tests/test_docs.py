"""Docs are code: every ```python block of the README runs verbatim, in order, in one IPython shell, against
a real `scp-widgets emulator` process started as the README says; so does every example in the magics' help.

A ```text block right after a ```python block is what that block promises to print: each of its lines must
be printed, in order (times and the emulator's port may differ; `in 0.2 s` matches any duration).
"""

from __future__ import annotations

import itertools
import re
import sys
from collections.abc import Iterator
from pathlib import Path

import nbformat
import pytest
from fleet_helpers import emulator_process
from IPython.core.interactiveshell import InteractiveShell
from nbclient import NotebookClient

from scp_widgets.cli.demo import demo_config
from scp_widgets.emulator import Emulator
from scp_widgets.notebook.lock_magics import ScpLockMagics
from scp_widgets.notebook.servers_magic import ScpServersMagics

REPO = Path(__file__).resolve().parent.parent
README = REPO / "README.md"
SCRIPT = Path(sys.executable).parent / "scp-widgets"
_BLOCK = re.compile(r"^```(\w+)([^\n]*)\n(.*?)^```$", re.MULTILINE | re.DOTALL)
_UUID = re.compile(r"\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b")
_NOT_IN_FLEET = "not in the demo fleet"
_MAGICS = {
    "scp_lock": ScpLockMagics,
    "scp_unlock": ScpLockMagics,
    "scp_servers": ScpServersMagics,
    "scp_panel": ScpServersMagics,
}


def readme_blocks() -> list[tuple[str, str]]:
    """(language, code) of every fenced block, in order; a block marked `no-run` (with a reason) is skipped."""
    return [(lang, code) for lang, rest, code in _BLOCK.findall(README.read_text()) if "no-run" not in rest]


def python_blocks_with_promises() -> list[tuple[str, list[str]]]:
    """Each ```python block and the lines of the ```text block right after it (its promised output)."""
    blocks = readme_blocks()
    runs: list[tuple[str, list[str]]] = []
    for index, (lang, code) in enumerate(blocks):
        if lang != "python":
            continue
        after = blocks[index + 1] if index + 1 < len(blocks) else ("", "")
        runs.append((code, after[1].splitlines() if after[0] == "text" else []))
    return runs


def help_text() -> str:
    """What `%scp_lock?`, `%scp_servers?`, ... show: the magics' docstrings, with their argparse help."""
    return "\n".join(getattr(family, name).__doc__ or "" for name, family in _MAGICS.items())


def help_examples() -> list[str]:
    """The examples of the magics' help (the indented lines under `Examples::`), a `%%magic` with its body."""
    examples: list[str] = []
    for doc in help_text().split("Examples")[1:]:
        lines = doc.splitlines()[1:]
        for index, line in enumerate(lines):
            if line.strip() and not line.startswith(" "):
                break  # the end of the indented block
            text = line.strip()
            if text.startswith("%%"):
                body = [b.strip() for b in itertools.takewhile(str.strip, lines[index + 1 :])]
                examples.append("\n".join([text, *body]))
            elif text.startswith("%scp_"):
                examples.append(text)
    return list(dict.fromkeys(examples))  # %scp_lock and %scp_unlock share theirs


def _pattern(promised: str) -> re.Pattern[str]:
    """A promised line as a pattern: the durations and the emulator's port are whatever this run took."""
    text = re.escape(promised.strip())
    text = re.sub(r"in\\ [0-9]+\\\.[0-9]+\\ s", r"in [0-9]+\\.[0-9] s", text)
    text = re.sub(r"http://127\\\.0\\\.0\\\.1:[0-9]+", r"http://127\\.0\\.0\\.1:[0-9]+", text)
    return re.compile(rf"^{text}$", re.MULTILINE)


def assert_printed_in_order(promised: list[str], printed: str) -> None:
    position = 0
    for line in filter(str.strip, promised):
        match = _pattern(line).search(printed, position)
        assert match, f"the README promises {line!r}, but the block printed:\n{printed}"
        position = match.end()


@pytest.fixture
def emulator_exports() -> Iterator[dict[str, str]]:
    """A fresh `scp-widgets emulator --regions kr-west1,kr-east1` (on a free port, as other test runs may share the
    machine) and the values of the export lines it prints: its first region is the default fleet at SCP_ENDPOINT,
    which the tour uses; the Fleet-wide section uses both regions (SCP_ENDPOINTS)."""
    with emulator_process("--regions", "kr-west1,kr-east1") as exports:
        yield exports


@pytest.fixture
def fresh_shell(
    shell: InteractiveShell, emulator_exports: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> Iterator[InteractiveShell]:
    """The test shell, emptied, in a terminal whose environment holds the emulator's export lines."""
    for name, value in emulator_exports.items():
        monkeypatch.setenv(name, value)
    shell.reset(new_session=False)
    yield shell
    shell.run_line_magic("unload_ext", "scp_widgets")
    shell.reset(new_session=False)
    shell.config.pop("ScpLockMagics", None)


def run(shell: InteractiveShell, code: str, capsys: pytest.CaptureFixture[str]) -> str:
    result = shell.run_cell(code, store_history=True)
    out, err = capsys.readouterr()
    assert result.error_before_exec is None and result.error_in_exec is None, f"{code}\nfailed:\n{out}\n{err}"
    return out


@pytest.mark.slow
def test_every_readme_python_block_runs_verbatim_and_prints_what_it_promises(
    fresh_shell: InteractiveShell, capsys: pytest.CaptureFixture[str]
) -> None:
    runs = python_blocks_with_promises()
    assert len(runs) >= 4 and sum(bool(promised) for _, promised in runs) >= 4  # the tour has not gone missing
    for code, promised in runs:
        assert_printed_in_order(promised, run(fresh_shell, code, capsys))


@pytest.mark.slow
def test_the_readme_tour_runs_in_a_fresh_kernel(
    emulator_exports: dict[str, str], python3_kernel: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """The same blocks as notebook cells in a real ipykernel (widgets, top-level await), as a reader pastes them."""
    for name, value in emulator_exports.items():
        monkeypatch.setenv(name, value)  # the kernel inherits the terminal's environment
    runs = python_blocks_with_promises()
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(code) for code, _ in runs])
    NotebookClient(
        notebook, timeout=120, kernel_name=python3_kernel, resources={"metadata": {"path": tmp_path}}
    ).execute()
    for cell, (_, promised) in zip(notebook.cells, runs, strict=True):
        assert not [o for o in cell.outputs if o.output_type == "error"], cell.outputs
        # A magic's summary line takes the place of its progress bar (a display output), else it is printed.
        printed = "".join(
            o.get("text", "") if o.output_type == "stream" else o.get("data", {}).get("text/plain", "") + "\n"
            for o in cell.outputs
            if (o.output_type == "stream" and o.name == "stdout") or o.output_type == "display_data"
        )
        assert_printed_in_order(promised, printed)


@pytest.mark.slow
def test_every_example_in_the_magics_help_runs(
    fresh_shell: InteractiveShell, capsys: pytest.CaptureFixture[str]
) -> None:
    examples = help_examples()
    assert len(examples) >= 10
    run(fresh_shell, "%load_ext scp_widgets", capsys)
    for example in examples:
        out = run(fresh_shell, example, capsys)
        assert "invalid_id" not in out and "not_found" not in out, f"{example}\nprinted:\n{out}"


def test_every_id_in_the_readme_and_the_help_is_in_the_default_fleet() -> None:
    fleet = Emulator(demo_config())
    known = set(fleet.own_ids) | set(fleet.foreign_ids)
    for source, text in (("README.md", README.read_text()), ("the magics' help", help_text())):
        for line in text.splitlines():
            for server_id in _UUID.findall(line):
                assert server_id in known or _NOT_IN_FLEET in line, f"{source}: {server_id} is not in the fleet"


def test_the_promise_matcher_accepts_other_durations_and_rejects_other_counts() -> None:
    assert_printed_in_order(["5 locked in 0.2 s"], "noise\n5 locked in 1.3 s\n")
    with pytest.raises(AssertionError):
        assert_printed_in_order(["5 locked in 0.2 s"], "4 locked, 1 not_found in 0.2 s\n")
    with pytest.raises(AssertionError):
        assert_printed_in_order(["a", "b"], "b\na\n")


def silent_promises(code: str) -> list[str]:
    """Lines of a README block that show nothing when the block is pasted as one cell: an expression that is
    not the cell's last statement is evaluated and dropped. A value (`runs[[...]]`, `df.attrs["summary"]`) is
    always such a line; a call only when its comment promises what it shows. They need print() or display()."""
    import ast
    import io
    import tokenize

    from IPython.core.inputtransformer2 import TransformerManager

    python = TransformerManager().transform_cell(code)
    commented = {
        token.start[0]
        for token in tokenize.generate_tokens(io.StringIO(python).readline)
        if token.type == tokenize.COMMENT
    }
    body = ast.parse(python).body
    silent = []
    for statement in body[:-1]:
        if not isinstance(statement, ast.Expr):
            continue
        call = statement.value.value if isinstance(statement.value, ast.Await) else statement.value
        if isinstance(call, ast.Call):  # a call may be run for what it does; one with a comment promises output
            name = ast.unparse(call.func)
            if (statement.end_lineno or 0) not in commented or name in ("print", "display"):
                continue
            if name.startswith("get_ipython()"):  # a magic prints its own summary
                continue
        silent.append(python.splitlines()[statement.lineno - 1].strip())  # a value computed and dropped
    return silent


def test_no_readme_block_promises_output_it_does_not_show() -> None:
    silent = [line for lang, code in readme_blocks() if lang == "python" for line in silent_promises(code)]
    assert silent == []


def test_the_promise_check_catches_a_dropped_expression() -> None:
    lines = ["df = make()", 'df.attrs["summary"]   # what the run did', "print(df.shape)  # its size", "run(df)"]
    block = "\n".join([*lines, "show(df)  # a table", "df"])
    assert silent_promises(block) == ['df.attrs["summary"]   # what the run did', "show(df)  # a table"]


def _readme_section(title: str) -> str:
    text = README.read_text()
    start = text.index(f"\n## {title}\n")
    end = text.find("\n## ", start + 1)
    return text[start : end if end > 0 else None]


def test_the_magic_options_table_lists_exactly_the_options_of_scp_lock() -> None:
    rows = [line for line in _readme_section("Magic options").splitlines() if line.startswith("| `")]
    documented = {o for row in rows for o in re.findall(r"`(-{1,2}[a-z][\w-]*)", row.split(" | ")[0])}
    parser = ScpLockMagics.scp_lock.parser
    options = {o for action in parser._actions for o in action.option_strings if o != "--output"}
    assert documented == options


def test_the_readme_names_the_chart_option_of_each_listing_magic() -> None:
    section = _readme_section("Magic options")
    for usage in ("%scp_servers [", "%scp_history ["):
        start = section.index(usage)
        assert "[--chart]" in section[start : section.index("`", start)], usage


def test_the_pictures_section_shows_the_app_and_each_chart_from_small_files() -> None:
    """The README shows each picture `docs/screenshots.py` takes, and each file stays small (< 150 KB)."""
    images = sorted((REPO / "docs" / "images").glob("*.png"))
    shown = set(
        re.findall(r"\]\((docs/images/[\w.-]+\.png)\)", _readme_section("Pictures: the operator's app and the charts"))
    )
    assert {str(p.relative_to(REPO)) for p in images} == shown
    assert {p.name for p in images} == {"app.png", "coverage.png", "timeline.png", "history.png"}
    for image in images:
        assert image.stat().st_size < 150_000, image
        assert image.read_bytes().startswith(b"\x89PNG")
