"""The panel in a real kernel: a notebook run headless by nbclient with widget state stored, then saved.

Proves the panel works from notebook cells (click in a later cell, wait, results) and that the saved
`.ipynb` (outputs plus the widget state a browser would restore) holds no secret key and no signature.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import nbformat
from nbclient import NotebookClient

from scp_widgets.emulator import DEMO_SECRET_KEY, EmulatorServer

WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
WIDGET_STATE = "application/vnd.jupyter.widget-state+json"
AUTH_HEADERS = ("Scp-Signature", "Scp-Accesskey", "Scp-Timestamp", "Scp-ClientType")
BASE64_HMAC_SHA256 = re.compile(r"[A-Za-z0-9+/]{43}=")  # 32 bytes in base64: the shape of a signature

CELLS = (
    "from scp_widgets import LockPanel\np = LockPanel()\np",
    "p.wait(30)\n"
    "ids = [value for label, value in p.selector.options if '· locked ·' not in label][:3]\n"
    "p.selector.value = tuple(ids)\n"
    "p.lock_button.click()\n"
    "p.wait(30)\n"
    "print(ids)\n"
    "print(list(p.results['outcome']))",
)


def run_notebook(path: Path, kernel: str) -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(code) for code in CELLS])
    nb.metadata["kernelspec"] = {"name": kernel, "display_name": "Python 3 (ipykernel)", "language": "python"}
    # The kernel inherits this process's environment: SCP_ENDPOINT and the demo keys from `live_emulator`.
    NotebookClient(nb, timeout=120, kernel_name=kernel, store_widget_state=True).execute()
    nbformat.write(nb, path)
    return nb


def stream_lines(cell: Any) -> list[str]:
    return "".join(o.get("text", "") for o in cell.outputs if o.output_type == "stream").splitlines()


def test_notebook_locks_three_servers_and_saves_no_secret(
    live_emulator: EmulatorServer, python3_kernel: str, tmp_path: Path
) -> None:
    path = tmp_path / "panel.ipynb"
    nb = run_notebook(path, python3_kernel)

    views = [o for o in nb.cells[0].outputs if WIDGET_VIEW in o.get("data", {})]
    assert len(views) == 1, nb.cells[0].outputs
    ids_line, outcomes_line = stream_lines(nb.cells[1])
    assert outcomes_line == "['locked', 'locked', 'locked']"
    ids = re.findall(r"[0-9a-f-]{36}", ids_line)
    assert len(ids) == 3 and all(live_emulator.emulator.server(i)["locked"] for i in ids)

    state = nb.metadata["widgets"][WIDGET_STATE]["state"]
    assert views[0]["data"][WIDGET_VIEW]["model_id"] in state  # the browser can restore the panel
    html_values = [m["state"].get("value", "") for m in state.values() if m["model_name"] == "HTMLModel"]
    assert sum(v.count('data-outcome="locked"') for v in html_values) == 3  # the results table was stored

    saved = path.read_text(encoding="utf-8")
    assert DEMO_SECRET_KEY not in saved
    for header in AUTH_HEADERS:
        assert header.lower() not in saved.lower()
    assert not BASE64_HMAC_SHA256.findall(saved)
