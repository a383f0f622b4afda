"""The README's Fleet-wide section runs verbatim, block by block, against `scp-widgets emulator --regions`."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from fleet_helpers import emulator_process
from IPython.core.interactiveshell import InteractiveShell
from traitlets.config import Config

REPO = Path(__file__).resolve().parent.parent
_BLOCK = re.compile(r"^```(\w+)([^\n]*)\n(.*?)^```$", re.MULTILINE | re.DOTALL)


def fleet_section() -> list[tuple[str, str]]:
    text = (REPO / "README.md").read_text()
    start = text.index("## Fleet-wide")
    section = text[start : text.index("\n## ", start + 1)]
    return [(lang, code) for lang, _, code in _BLOCK.findall(section)]


@pytest.fixture
def regional_emulator(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, str]]:
    with emulator_process("--regions", "kr-west1,kr-east1") as exports:
        for name, value in exports.items():
            monkeypatch.setenv(name, value)
        yield exports


def test_the_fleet_section_runs_verbatim_and_prints_what_it_promises(
    regional_emulator: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    config = Config()
    config.HistoryManager.hist_file = ":memory:"
    shell = InteractiveShell.instance(config=config)
    blocks = fleet_section()
    assert sum(lang == "python" for lang, _ in blocks) >= 5
    try:
        for index, (lang, code) in enumerate(blocks):
            if lang != "python":
                continue
            result = shell.run_cell(code, store_history=True)
            out, err = capsys.readouterr()
            assert result.error_before_exec is None and result.error_in_exec is None, f"{code}\n{out}\n{err}"
            after = blocks[index + 1] if index + 1 < len(blocks) else ("", "")
            for promised in after[1].splitlines() if after[0] == "text" else []:
                pattern = re.escape(promised.strip()).replace(r"0\.0\ s", r"[0-9]+\.[0-9]\ s")
                assert re.search(pattern, out), f"promised {promised!r}, printed:\n{out}"
        assert shell.user_ns["g"].running is False
    finally:
        shell.run_line_magic("unload_ext", "scp_widgets")
        shell.reset(new_session=False)
