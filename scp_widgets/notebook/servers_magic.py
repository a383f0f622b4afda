"""`%scp_servers` (the fleet as a DataFrame, to pick servers from) and `%scp_panel` (the lock panel), with
the connection settings of `%config ScpLockMagics`."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from IPython.core.error import UsageError
from IPython.core.magic import Magics, line_magic, magics_class

from scp_widgets.client.wording import counted
from scp_widgets.notebook.arguments import (
    arg,
    chart_argument,
    connection_arguments,
    fleet_options,
    kind,
    output_argument,
    parse,
    parser,
    unregister,
    where_argument,
)
from scp_widgets.notebook.lock_magics import lock_magics_of

if TYPE_CHECKING:
    import pandas as pd
    from IPython.core.interactiveshell import InteractiveShell


@magics_class
class ScpServersMagics(Magics):
    """The fleet listing and the panel, where `%config ScpLockMagics` says."""

    @kind(line_magic)
    @parser(
        output_argument(),
        arg("--state", metavar="S", help="only servers in this state, e.g. ACTIVE or SHUTOFF"),
        arg("--name", metavar="N", help="only servers whose name matches"),
        arg("--vpc-id", metavar="V", help="only servers in this VPC"),
        where_argument(),
        *connection_arguments(),
        arg("--quiet", action="store_true", help="no summary line"),
        chart_argument("the fleet's lock coverage (servers per region and state)"),
    )
    def scp_servers(self, line: str) -> pd.DataFrame:
        """The fleet as a DataFrame (id, name, state, locked, ...), to pick servers from.

        Examples::

          %scp_servers -o servers --state active   # SHUTOFF, ACTIVE, ... in any case
          %scp_servers --name web-00               # names containing web-00
          %scp_servers --chart                     # and the lock coverage below the table
          %scp_lock --from servers.query("not locked").id[:3]
        """
        base = lock_magics_of(self.shell)
        args = parse(self.scp_servers, line)
        filters = {k: v for k, v in (("state", args.state), ("name", args.name), ("vpc_id", args.vpc_id)) if v}
        frame = base.call("list_servers", **filters, **fleet_options(args, base.connection(args)))
        if not (args.quiet or base.quiet):
            locked = int(frame["locked"].fillna(False).sum())
            print(f"{counted(len(frame), 'server')} ({locked} locked) at {frame.attrs.get('endpoint')}")
        if filters and frame.empty:  # an empty answer to a filter is a hint worth a line, even with --quiet
            typed = " ".join(
                f"--{k.replace('_', '-')} {str(v).upper() if k == 'state' else v}" for k, v in filters.items()
            )
            print(f"No server matches {typed}; states are words like ACTIVE, SHUTOFF or ERROR, names match in part.")
        base.report_warning(frame)
        if args.chart:
            from scp_widgets.notebook.magic_view import chart_after_cell
            from scp_widgets.views import charts

            nothing = "no server was listed, so there is no coverage to draw."
            chart_after_cell(self.shell, frame, lambda: charts.coverage(frame), nothing=nothing)
        return base.store(frame, args.output)

    @kind(line_magic)
    @parser(*connection_arguments(), arg("--concurrency", type=int, metavar="N", help="requests in flight"))
    def scp_panel(self, line: str) -> Any:
        """The lock panel (server chooser, version, Lock / Unlock, progress, results) for this connection.

        Examples::

          %scp_panel
          %scp_panel --concurrency 8
        """
        import importlib

        from scp_widgets.client.errors import ScpUsageError

        base = lock_magics_of(self.shell)
        args = parse(self.scp_panel, line)
        panel = importlib.import_module(
            "scp_widgets.panel.lock_panel"
        )  # imported only when asked for: it pulls in widgets
        concurrency = base.concurrency if args.concurrency is None else args.concurrency
        try:
            return panel.LockPanel(**fleet_options(args, base.connection(args)), concurrency=concurrency)
        except ScpUsageError as exc:
            raise UsageError(str(exc)) from None


def load(ipython: InteractiveShell) -> None:
    unload(ipython)
    ipython.register_magics(ScpServersMagics(shell=ipython))


def unload(ipython: InteractiveShell) -> None:
    unregister(ipython, ScpServersMagics, {"line": ("scp_servers", "scp_panel")})
