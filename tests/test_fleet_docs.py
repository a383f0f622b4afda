"""The README's Fleet-wide section runs verbatim, block by block, against `scp-widgets emulator --regions`."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from IPython.core.interactiveshell import InteractiveShell
from traitlets.config import Config

REPO = Path(__file__).resolve().parent.parent
SCRIPT = Path(sys.executable).parent / "scp-widgets"
_BLOCK = re.compile(r"^```(\w+)([^\n]*)\n(.*?)^```$", re.MULTILINE | re.DOTALL)


def fleet_section() -> list[tuple[str, str]]:
    text = (REPO / "README.md").read_text()
    start = text.index("## Fleet-wide")
    section = text[start : text.index("\n## ", start + 1)]
    return [(lang, code) for lang, _, code in _BLOCK.findall(section)]


@pytest.fixture
def regional_emulator(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, str]]:
    argv = [str(SCRIPT), "emulator", "--port", "0", "--regions", "kr-west1,kr-east1"]
    process = subprocess.Popen(argv, stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        exports: dict[str, str] = {}
        while len(exports) < 4:
            line = process.stdout.readline()
            assert line, "the emulator exited before printing its export lines"
            if line.startswith("export "):
                name, _, value = line.removeprefix("export ").strip().partition("=")
                exports[name] = value
        for name, value in exports.items():
            monkeypatch.setenv(name, value)
        yield exports
    finally:
        process.send_signal(signal.SIGINT)
        process.wait(15)


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
