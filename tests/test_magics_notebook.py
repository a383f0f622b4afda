"""A notebook that uses the magics, executed in a real kernel (nbclient) against the emulator on a socket."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import nbformat
import pytest
from nbclient import NotebookClient

from scp_widgets.emulator import DEMO_SECRET_KEY, Emulator, EmulatorServer

pytestmark = pytest.mark.slow


class _Client(NotebookClient):  # type: ignore[misc]  # nbclient is untyped
    """Also keeps the widget updates the kernel sent (the progress bar), which a saved notebook drops."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.updates: list[dict[str, Any]] = []

    def handle_comm_msg(self, outs: Any, msg: dict[str, Any], cell_index: int) -> Any:
        data = msg["content"].get("data", {})
        if data.get("method") == "update":
            self.updates.append(data.get("state", {}))
        return super().handle_comm_msg(outs, msg, cell_index)


def _notebook(extra_ids: list[str]) -> Any:
    cells = [
        "%load_ext scp_widgets",
        "%scp_servers -o servers",
        '%scp_lock --from servers.query("not locked").id[:5]',
        "%%scp_lock -o more\n# two more, one a line\n\n" + "\n".join(extra_ids),
        "%scp_unlock --quiet --from more.server_id",
        "more.outcome.astype(str).tolist()",
    ]
    return nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(source) for source in cells])


def test_notebook_runs_the_magics_in_a_kernel(
    python3_kernel: str, live_emulator: EmulatorServer, emulator: Emulator, tmp_path: Path
) -> None:
    # the kernel inherits os.environ, so it sees the live emulator's SCP_ENDPOINT and demo keys
    locked_before = {i for i in emulator.own_ids if emulator.server(i)["locked"]}
    extra = [i for i in reversed(emulator.own_ids) if i not in locked_before][:2]
    notebook = _notebook(extra)
    client = _Client(notebook, kernel_name=python3_kernel, timeout=120, resources={"metadata": {"path": str(tmp_path)}})
    client.execute()
    saved = tmp_path / "magics.ipynb"
    nbformat.write(notebook, saved)

    outputs = [output for cell in notebook.cells for output in cell.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    html = [o for o in outputs if o.output_type == "execute_result" and "text/html" in o.data]
    assert len(html) >= 3  # the listing and both lock results display as DataFrames
    assert "dataframe" in html[0].data["text/html"]
    streams = "".join(o.text for o in outputs if o.output_type == "stream")
    assert "5 locked" in streams
    assert "2 locked" in streams
    assert notebook.cells[-1].outputs[0].data["text/plain"] == "['locked', 'locked']"
    assert not any(emulator.server(i)["locked"] for i in extra)  # the %scp_unlock cell ran too
    assert {"value": 5} in client.updates  # the progress bar reached the end of the 5-server run
    assert {"value": "5/5 · 5 locked"} in client.updates

    text = saved.read_text(encoding="utf-8")
    assert "Traceback" not in text
    assert DEMO_SECRET_KEY not in text
    assert "Signature" not in text
    assert "Scp-Signature" not in text
