"""The fleet side of the magics: `--region a,b` and `--where RULE` on %scp_lock / %scp_unlock / %scp_servers,
and `%%scp_unlocked`, which runs the cell's code inside a maintenance window.

    %%scp_unlocked --where "name == 'db-007'" --region kr-west1,kr-east1
    resize(...)        # the servers are locked again afterwards, even when this raises

Any of these magics also says when a maintenance window of a dead process left servers unlocked.
"""

from __future__ import annotations

import sys
from contextlib import ExitStack
from typing import TYPE_CHECKING

from IPython.core.error import UsageError
from IPython.core.magic import Magics, cell_magic, magics_class

from scp_widgets.notebook.arguments import fleet_options, kind, parse, unregister, window_arguments
from scp_widgets.notebook.lock_magics import lock_magics_of

if TYPE_CHECKING:
    from IPython.core.interactiveshell import InteractiveShell

    from scp_widgets.fleet.windows import Window


@magics_class
class ScpFleetMagics(Magics):
    """`%%scp_unlocked`: run the cell inside a maintenance window."""

    @kind(cell_magic)
    @window_arguments()
    def scp_unlocked(self, line: str, cell: str) -> None:
        """Unlock the locked servers among ID ... (or --where / --from), run the cell, lock them again.

        Servers already unlocked are left alone. They are locked again when the cell ends, also when it
        raises or is interrupted; if the kernel dies, scp_widgets.relock_pending() locks them again.
        Example: %%scp_unlocked --where "name == 'db-007'" --region kr-west1,kr-east1
        """
        from scp_widgets.client.errors import ScpUsageError
        from scp_widgets.fleet.windows import unlocked

        assert self.shell is not None
        base = lock_magics_of(self.shell)
        args = parse(self.scp_unlocked, line)
        ids = None if args.where else base.ids_for(args, None, body_holds_ids=False)
        options = fleet_options(args, base.run_options(args))
        for name in ("dry_run", "preflight", "confirm"):
            options.pop(name, None)
        code = self.shell.transform_cell(cell)  # type: ignore[no-untyped-call]
        opened: list[Window] = []
        try:
            with ExitStack() as stack:
                try:
                    opened.append(stack.enter_context(unlocked(ids, **options)))
                except ScpUsageError as exc:
                    raise UsageError(str(exc)) from None
                window = opened[0]
                print(f"Maintenance window: unlocked {len(window.ids)}, left {len(window.left_alone)} alone.")
                exec(compile(code, "<%%scp_unlocked>", "exec"), self.shell.user_ns)  # noqa: S102 (the user's cell)
        finally:
            if opened and opened[0].relocked is not None:
                print(f"Locked again: {opened[0].relocked.attrs.get('summary', '')}")


def load(ipython: InteractiveShell) -> None:
    unload(ipython)
    ipython.register_magics(ScpFleetMagics(shell=ipython))
    from scp_widgets.engine.state_dirs import any_window_records

    if not any_window_records():  # the usual case, without importing the fleet layer (pandas, httpx)
        return
    from scp_widgets.fleet.windows import pending_notice

    notice = pending_notice()
    if notice:
        print(f"Warning: {notice}", file=sys.stderr)


def unload(ipython: InteractiveShell) -> None:
    unregister(ipython, ScpFleetMagics, {"cell": ("scp_unlocked",)})
