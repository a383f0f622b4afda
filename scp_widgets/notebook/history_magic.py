"""`%scp_history`: every journaled run as a DataFrame, newest first; and the retention setting.

    %scp_history                        # one row per run in the journal folder
    %scp_history -o runs --limit 5      # the five newest, also stored in `runs`
    %scp_history --chart                # and the runs over time by outcome below the table
    %config ScpHistoryMagics.keep_days = 30    # prune finished journals after 30 days (0: keep all)

Registered by `%load_ext scp_widgets` next to the lock magics (`magics.load` calls `load` here).
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

from IPython.core.error import UsageError
from IPython.core.magic import Magics, line_magic, magics_class
from traitlets import Float, observe

from scp_widgets.notebook.arguments import arg, chart_argument, kind, output_argument, parse, parser, unregister

if TYPE_CHECKING:
    import pandas as pd
    from IPython.core.interactiveshell import InteractiveShell


@magics_class
class ScpHistoryMagics(Magics):
    """The run history; settings: `%config ScpHistoryMagics.keep_days = 30`."""

    keep_days = Float(
        None,
        allow_none=True,
        help="Days a finished journal is kept (0: forever); unset: SCP_WIDGETS_JOURNAL_DAYS, else 90.",
    ).tag(config=True)

    @observe("keep_days")
    def _keep_days_changed(self, change: dict[str, Any]) -> None:
        from scp_widgets.client.errors import ScpUsageError
        from scp_widgets.engine.history import configure

        try:
            configure(change["new"])
        except ScpUsageError as exc:
            raise UsageError(str(exc)) from None

    @kind(line_magic)
    @parser(
        output_argument(),
        arg("--folder", metavar="DIR", help="journal folder (default: SCP_WIDGETS_JOURNAL_DIR or the state dir)"),
        arg("--limit", type=int, metavar="N", help="only the N newest runs"),
        arg("--quiet", action="store_true", help="no summary line"),
        chart_argument("the runs over time by outcome"),
    )
    def scp_history(self, line: str) -> pd.DataFrame:
        """Every run in the journal folder, newest first: run_id, action, started_at, finished_at,
        api_version, endpoint, servers, complete, never_sent, summary, journal and a count per outcome.

        Example: %scp_history -o runs, then scp_widgets.read_journal(runs.journal[0]) for the newest run's rows.
        """
        from scp_widgets.client.errors import ScpUsageError
        from scp_widgets.engine.history import history
        from scp_widgets.notebook.magic_view import chart_after_cell, remember_history
        from scp_widgets.views import charts

        args = parse(self.scp_history, line)
        if args.limit is not None and args.limit < 1:
            raise UsageError(f"--limit must be 1 or more, not {args.limit}.")
        try:
            frame = history(args.folder)
        except ScpUsageError as exc:
            raise UsageError(str(exc)) from None
        if args.limit is not None:
            frame = frame.head(args.limit)
        if not args.quiet:
            running = int(frame["running"].sum())
            dead = int((~frame["complete"]).sum()) - running
            said = [f"{dead} did not finish"] * bool(dead) + [f"{running} running"] * bool(running)
            extra = f" ({', '.join(said)})" if said else ""
            print(f"{len(frame)} run{'s' if len(frame) != 1 else ''}{extra}")
        if args.output:
            assert self.shell is not None
            self.shell.user_ns[args.output] = frame
        if args.chart:
            nothing = "no run is journaled here, so there is no history to draw."
            chart_after_cell(self.shell, frame, lambda: charts.history_chart(frame), nothing=nothing)
        return remember_history(frame)  # shown one line per run, as the results view shows rows


def load(ipython: InteractiveShell) -> None:
    unload(ipython)
    ipython.register_magics(ScpHistoryMagics(shell=ipython))


def unload(ipython: InteractiveShell) -> None:
    unregister(ipython, ScpHistoryMagics, {"line": ("scp_history",)})
    history = sys.modules.get("scp_widgets.engine.history")  # not imported: nothing was configured
    if history is not None:
        history.configure(None)  # the %config setting leaves with the magics
