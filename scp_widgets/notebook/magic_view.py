"""How a magic's result frame displays: the results view instead of the raw 14-column table.

The magics still return (and `-o` stores) the plain DataFrame, with its contract columns and dtypes. Only
its display changes, and only for the frames a magic returned: IPython formatters for DataFrame draw those
with `results_view` (HTML in a notebook, text in a terminal) and hand every other frame to pandas as usual.
A slice such as `result[result.message.notna()]` is a new frame, so it displays as a normal DataFrame.
"""

from __future__ import annotations

import os
import sys
import weakref
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd
    from IPython.core.interactiveshell import InteractiveShell

# pandas 3 names DataFrame's module "pandas", pandas 2 "pandas.core.frame": register under both.
_FRAME_TYPES = (("pandas", "DataFrame"), ("pandas.core.frame", "DataFrame"))
# id -> frame, weakly: a frame is shown as a run while it lives, and the entry goes with it.
_RUNS: weakref.WeakValueDictionary[int, pd.DataFrame] = weakref.WeakValueDictionary()
# id -> the execution count of the cell whose progress line already ended with the frame's summary
_SUMMARISED_IN: dict[int, int] = {}


def remember(frame: pd.DataFrame, *, summarised: bool = False) -> pd.DataFrame:
    """Mark `frame` as a run's result, to be displayed with the results view. `summarised`: the magic's
    progress line already ended with its summary, so the view shown as that cell's result leaves it out
    (the summary was printed twice); shown again later, the view has it."""
    import scp_widgets.views.accessor  # noqa: F401  (gives frames `.scp`; pandas is loaded by now)

    _RUNS[id(frame)] = frame
    if summarised:
        _SUMMARISED_IN[id(frame)] = _execution_count()
        weakref.finalize(frame, _SUMMARISED_IN.pop, id(frame), None)
    else:
        _SUMMARISED_IN.pop(id(frame), None)
    return frame


# charts asked for with --chart, shown when the running cell has finished (after its result, the table)
_CHARTS_AFTER_CELL: list[Any] = []


def chart_after_cell(
    shell: InteractiveShell | None,
    frame: pd.DataFrame,
    draw: Callable[[], Any],
    *,
    nothing: str,
    drawable: bool | None = None,
) -> None:
    """`--chart`: display `draw()` (the frame's chart) once the cell has run, below the frame it returned.
    With nothing to draw (an empty frame, or `drawable` False) the line `--chart: <nothing>` says why, rather
    than an empty chart or silence; a chart that cannot be drawn is one line on stderr, never the run."""
    if shell is None:
        return
    if not (drawable if drawable is not None else not frame.empty):
        print(f"--chart: {nothing}", file=sys.stderr)
        return
    try:
        chart = draw()
    except Exception as exc:
        print(f"Could not draw the chart: {exc}", file=sys.stderr)
        return
    if not _CHARTS_AFTER_CELL:
        shell.events.register("post_run_cell", _show_charts)
    _CHARTS_AFTER_CELL.append(chart)


def _show_charts(*_: Any) -> None:
    from IPython import get_ipython
    from IPython.display import display

    charts = list(_CHARTS_AFTER_CELL)
    _CHARTS_AFTER_CELL.clear()
    shell = get_ipython()
    if shell is not None:
        shell.events.unregister("post_run_cell", _show_charts)
    for chart in charts:
        display(_in_output_under_voila(chart))  # type: ignore[no-untyped-call]


def _in_output_under_voila(chart: Any) -> Any:
    """Under Voila a chart goes in an Output widget, as the app's charts do: JupyterLab's Vega renderer adds a
    PNG to a plain output with `model.setData`, which Voila's cell outputs lack ("e.setData is not a
    function" under the chart). Voila sets VOILA_KERNEL_ID in the kernel it runs a page in."""
    if not os.environ.get("VOILA_KERNEL_ID"):
        return chart
    from ipywidgets import Output

    output = Output()
    output.append_display_data(chart)
    return output


def is_run(obj: Any) -> bool:
    return _RUNS.get(id(obj)) is obj and id(obj) not in _HISTORIES


# ids of the frames %scp_history returned (also in _RUNS, which keeps them weakly)
_HISTORIES: set[int] = set()


def remember_history(frame: pd.DataFrame) -> pd.DataFrame:
    """Mark `frame` as a run list, displayed one line per run (local times, whole paths on hover)."""
    _RUNS[id(frame)] = frame
    _HISTORIES.add(id(frame))
    weakref.finalize(frame, _HISTORIES.discard, id(frame))
    return frame


def _is_history(obj: Any) -> bool:
    return id(obj) in _HISTORIES and _RUNS.get(id(obj)) is obj


def _with_summary(obj: Any) -> bool:
    return _SUMMARISED_IN.get(id(obj)) != _execution_count()


def _execution_count() -> int:
    from IPython import get_ipython

    shell = get_ipython()
    return int(getattr(shell, "execution_count", -1)) if shell is not None else -1


def _html(obj: Any) -> str | None:
    if _is_history(obj):
        from scp_widgets.views.history_view import history_html

        return history_html(obj)
    if is_run(obj):
        from scp_widgets.views.results_view import run_html

        return run_html(obj, summary=_with_summary(obj))
    repr_html = getattr(obj, "_repr_html_", None)
    return repr_html() if repr_html is not None else None


def _plain(obj: Any, printer: Any, cycle: bool) -> None:
    if _is_history(obj):
        from scp_widgets.views.history_view import history_text

        text = history_text(obj)
    elif is_run(obj):
        from scp_widgets.views.results_view import run_text

        text = run_text(obj, summary=_with_summary(obj))
    else:
        text = repr(obj)
    for number, line in enumerate(text.splitlines()):
        if number:
            printer.break_()
        printer.text(line)


def _formatters(shell: InteractiveShell) -> dict[str, Any]:
    assert shell.display_formatter is not None, "an IPython shell always has one"
    formatters: dict[str, Any] = shell.display_formatter.formatters
    return formatters


def install(shell: InteractiveShell) -> None:
    """Register the formatters (by name: pandas is imported only when a frame is displayed)."""
    formatters = _formatters(shell)
    for frame_type in _FRAME_TYPES:
        formatters["text/html"].for_type_by_name(*frame_type, _html)
        formatters["text/plain"].for_type_by_name(*frame_type, _plain)


def uninstall(shell: InteractiveShell) -> None:
    """Remove our formatters, leaving any other DataFrame formatter alone; drop charts not shown yet."""
    if _CHARTS_AFTER_CELL:
        _CHARTS_AFTER_CELL.clear()
        shell.events.unregister("post_run_cell", _show_charts)
    formatters = _formatters(shell)
    for mime, ours in (("text/html", _html), ("text/plain", _plain)):
        formatter = formatters[mime]
        for frame_type in _FRAME_TYPES:
            if formatter.deferred_printers.get(frame_type) is ours:
                del formatter.deferred_printers[frame_type]
        pd = sys.modules.get("pandas")  # not imported yet: no DataFrame printer can be registered by type
        if pd is not None and formatter.type_printers.get(pd.DataFrame) is ours:
            del formatter.type_printers[pd.DataFrame]
