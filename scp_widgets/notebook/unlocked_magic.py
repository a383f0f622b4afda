"""The fleet side of the magics: `--region a,b` and `--where RULE` on %scp_lock / %scp_unlock / %scp_servers,
and `%%scp_unlocked`, which runs the cell's code inside a maintenance window.

    %%scp_unlocked --where "name == 'db-007'" --region kr-west1,kr-east1
    resize(...)        # the servers are locked again afterwards, even when this raises

Any of these magics also says when a maintenance window of a dead process left servers unlocked.
"""

from __future__ import annotations

import argparse
import os
import sys
from contextlib import ExitStack
from typing import TYPE_CHECKING, Any

from IPython.core.error import UsageError
from IPython.core.magic import Magics, cell_magic, magics_class

from scp_widgets.notebook.lock_magics import ScpLockMagics, _kind, _run_arguments, parse, unregister

if TYPE_CHECKING:
    from IPython.core.interactiveshell import InteractiveShell

    from scp_widgets.fleet.windows import Window


def fleet_options(args: argparse.Namespace, options: dict[str, Any]) -> dict[str, Any]:
    """A magic's options with `--where`, and `--region a,b` (or a region SCP_ENDPOINTS names) as `regions`.

    Also prints the pending-window notice, so every run and listing says when servers were left unlocked.
    """
    from scp_widgets.client.regions import ENDPOINTS_ENV, parse_endpoints, region_names
    from scp_widgets.fleet.windows import pending_notice

    notice = pending_notice()
    if notice:
        print(f"Warning: {notice}", file=sys.stderr)
    out = dict(options)
    region = out.get("region")
    named = os.environ.get(ENDPOINTS_ENV, "").strip()
    if region and ("," in region or (named and region.strip().lower() in _quiet(parse_endpoints, named))):
        out.update(regions=region_names(region), region=None)
    if getattr(args, "where", None):
        if getattr(args, "ids", None) or getattr(args, "from_expr", None):
            raise UsageError("Give server ids (or --from) or --where, not both.")
        out["where"] = args.where = _unquoted(args.where)
    return out


def _unquoted(text: str) -> str:
    """IPython's option splitting keeps the quotes around `--where "..."`; the rule is what is inside."""
    text = text.strip()
    return text[1:-1] if len(text) > 1 and text[0] == text[-1] and text[0] in "'\"" else text


def _quiet(parse: Any, text: str) -> dict[str, str]:
    from scp_widgets.client.errors import ScpUsageError

    try:
        return dict(parse(text))
    except ScpUsageError:
        return {}  # the run itself reports a broken SCP_ENDPOINTS, in one sentence


@magics_class
class ScpFleetMagics(Magics):
    """`%%scp_unlocked`: run the cell inside a maintenance window."""

    @_kind(cell_magic)
    @_run_arguments()
    def scp_unlocked(self, line: str, cell: str) -> None:
        """Unlock the locked servers among ID ... (or --where / --from), run the cell, lock them again.

        Servers already unlocked are left alone. They are locked again when the cell ends, also when it
        raises or is interrupted; if the kernel dies, scp_widgets.relock_pending() locks them again.
        Example: %%scp_unlocked --where "name == 'db-007'" --region kr-west1,kr-east1
        """
        from scp_widgets.client.errors import ScpUsageError
        from scp_widgets.fleet.windows import unlocked

        assert self.shell is not None
        base = self.shell.magics_manager.registry.get(ScpLockMagics.__name__)
        if not isinstance(base, ScpLockMagics):
            raise UsageError("Load the extension first: %load_ext scp_widgets.")
        args = parse(self.scp_unlocked, line)
        if args.dry_run or args.preflight:
            raise UsageError("%%scp_unlocked does not take --dry-run or --preflight: it really unlocks and re-locks.")
        ids = None if args.where else base._ids(args, None)
        options = fleet_options(args, base._run_options(args))
        for name in ("dry_run", "preflight"):
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
    from scp_widgets.fleet.windows import pending_notice

    notice = pending_notice()
    if notice:
        print(f"Warning: {notice}", file=sys.stderr)


def unload(ipython: InteractiveShell) -> None:
    unregister(ipython, ScpFleetMagics, {"cell": ("scp_unlocked",)})
