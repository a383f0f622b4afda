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
    """Also keeps the display updates the kernel sent (the progress bar), which a saved notebook drops."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.updates: list[str] = []

    def _update_display_id(self, display_id: str, msg: dict[str, Any]) -> None:
        if msg["header"]["msg_type"] == "update_display_data":
            self.updates.append(msg["content"]["data"].get("text/html", ""))
        super()._update_display_id(display_id, msg)


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
    client = _Client(
        notebook, kernel_name=python3_kernel, timeout=120, resources={"metadata": {"path": str(tmp_path)}},
        store_widget_state=True,
    )  # fmt: skip
    client.execute()
    saved = tmp_path / "magics.ipynb"
    nbformat.write(notebook, saved)

    outputs = [output for cell in notebook.cells for output in cell.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    html = [o for o in outputs if o.output_type == "execute_result" and "text/html" in o.data]
    assert len(html) >= 3  # the listing as a DataFrame, both lock results as the results view
    assert "dataframe" in html[0].data["text/html"]
    # the summary once: the progress line became it, so the view shown as the cell's result leaves it out
    assert "Lock: all succeeded" not in html[1].data["text/html"] and "scp-section" in html[1].data["text/html"]
    unlock_view = notebook.cells[4].outputs[0].data["text/html"]
    assert "Unlock: all succeeded · 2 unlocked" in unlock_view  # --quiet printed no line: the view says it
    # The progress output of each run became its summary line: no empty output, no widget, nothing closed.
    lock_cell = notebook.cells[2].outputs
    assert [o.output_type for o in lock_cell] == ["display_data", "execute_result"]
    assert lock_cell[0].data["text/plain"].startswith("5 locked in")
    assert notebook.cells[3].outputs[0].data["text/plain"].startswith("2 locked in")
    assert all(o.get("data", {}).get("text/plain", "x") for o in outputs)
    assert not [o for o in outputs if "application/vnd.jupyter.widget-view+json" in o.get("data", {})]
    assert "widgets" not in notebook.metadata  # no widget models saved at all
    assert notebook.cells[-1].outputs[0].data["text/plain"] == "['locked', 'locked']"
    assert not any(emulator.server(i)["locked"] for i in extra)  # the %scp_unlock cell ran too
    assert [o.output_type for o in notebook.cells[4].outputs] == ["execute_result"]  # --quiet: the result only
    assert any("5/5 · 5 locked" in update for update in client.updates)  # the bar reached the end

    text = saved.read_text(encoding="utf-8")
    assert "Traceback" not in text
    assert DEMO_SECRET_KEY not in text
    assert "Signature" not in text
    assert "Scp-Signature" not in text


def test_chart_comes_below_the_table_in_a_kernel(
    python3_kernel: str, live_emulator: EmulatorServer, emulator: Emulator, tmp_path: Path
) -> None:
    """`--chart` in a real kernel: the cell's outputs are its summary, the table, then the Vega-Lite chart."""
    from scp_widgets.views.charts import VEGALITE_MIME

    ids = [i for i in emulator.own_ids if not emulator.server(i)["locked"]][:4]
    cells = ["%load_ext scp_widgets", f"%scp_lock --chart {' '.join(ids)}", "%scp_servers --chart --quiet"]
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(source) for source in cells])
    NotebookClient(notebook, kernel_name=python3_kernel, timeout=120).execute()
    lock_cell, servers_cell = notebook.cells[1].outputs, notebook.cells[2].outputs
    assert [o.output_type for o in lock_cell] == ["display_data", "execute_result", "display_data"]
    assert "text/html" in lock_cell[1].data and VEGALITE_MIME in lock_cell[2].data
    assert [o.output_type for o in servers_cell] == ["execute_result", "display_data"]
    assert VEGALITE_MIME in servers_cell[1].data
    assert DEMO_SECRET_KEY not in nbformat.writes(notebook)
