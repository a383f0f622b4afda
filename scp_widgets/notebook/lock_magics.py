"""The lock family of magics: `%scp_lock`, `%%scp_lock`, `%scp_unlock`, and their `%config ScpLockMagics`
settings, which the other families (servers_magic, unlocked_magic) read too.

Each magic is a short pipeline over the public API: parse the line, gather the ids, resolve options
(explicit option > `%config ScpLockMagics.<trait>` > environment, which the API reads), run with a
progress display, report one line, return the DataFrame. User mistakes become `UsageError` (one line, no
traceback) before anything is sent. pandas, httpx and the API are imported inside the magics, so
`%load_ext scp_widgets` stays fast.
"""

from __future__ import annotations

import argparse
import re
import sys
import warnings
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from IPython.core.error import UsageError
from IPython.core.magic import Magics, line_cell_magic, magics_class
from traitlets import Bool, Float, Int, TraitError, Unicode, Union, validate

from scp_widgets.client.wording import counted
from scp_widgets.engine.settings import RANGES
from scp_widgets.notebook.arguments import (
    check_tokens,
    eval_from,
    fleet_options,
    ids_from_value,
    kind,
    parse,
    run_arguments,
)

if TYPE_CHECKING:
    import pandas as pd


@magics_class
class ScpLockMagics(Magics):
    """Lock and unlock SCP virtual servers in bulk; settings: `%config ScpLockMagics.<name> = value`."""

    endpoint = Unicode(None, allow_none=True, help="Service base URL (else SCP_ENDPOINT).").tag(config=True)
    region = Unicode(None, allow_none=True, help="SCP region, e.g. kr-west1 (else SCP_REGION).").tag(config=True)
    environment = Unicode(None, allow_none=True, help="SCP environment (else SCP_ENVIRONMENT).").tag(config=True)
    api_version = Unicode(None, allow_none=True, help="API version, e.g. 1.3 (else CURRENT).").tag(config=True)
    concurrency = Int(16, help="Requests in flight at once.").tag(config=True)
    timeout = Float(15.0, help="Per-request timeout in seconds.").tag(config=True)
    retries = Int(3, help="Retries of a failed request.").tag(config=True)
    verify = Bool(True, help="Read the lock state back after a change.").tag(config=True)
    quiet = Bool(False, help="No progress bar and no summary line.").tag(config=True)
    journal = Union(
        [Bool(), Unicode()], default_value=True, help="True: a journal per run under the state dir; a path; or False."
    ).tag(config=True)

    @validate("concurrency", "timeout", "retries")
    def _in_range(self, proposal: Any) -> Any:
        """`%config ScpLockMagics.concurrency = 0` is refused at once, with the range (as the API would)."""
        name, value = proposal["trait"].name, proposal["value"]
        low, high = RANGES[name]  # the ranges the Python API checks: %config refuses what a run would
        if not low <= value <= high:
            raise TraitError(f"ScpLockMagics.{name} must be between {low:g} and {high:g}, not {value!r}.")
        return value

    # -- the magics -----------------------------------------------------------------------------------------

    @kind(line_cell_magic)
    @run_arguments()
    def scp_lock(self, line: str, cell: str | None = None) -> pd.DataFrame:
        """Lock SCP virtual servers; returns one DataFrame row per server (failures are rows)."""
        return self._run("lock", self.scp_lock, line, cell)

    @kind(line_cell_magic)
    @run_arguments()
    def scp_unlock(self, line: str, cell: str | None = None) -> pd.DataFrame:
        """Unlock SCP virtual servers; same options and result as %scp_lock."""
        return self._run("unlock", self.scp_unlock, line, cell)

    # -- the pipeline ---------------------------------------------------------------------------------------

    def _run(self, action: str, func: Callable[..., Any], line: str, cell: str | None) -> pd.DataFrame:
        from scp_widgets.engine.cancel import CancelToken
        from scp_widgets.notebook.magic_view import chart_after_cell, remember
        from scp_widgets.views import charts
        from scp_widgets.views.progress import progress_display

        args = parse(func, line)
        rerun = self._rerun_of(action, args)
        if rerun is not None and not rerun[0]:
            return self.store(remember(self._nothing_to_rerun(action, args, rerun[2])), args.output)
        if rerun is None:  # --where: the rule picks the servers; --region a,b: several regions
            ids = None if args.where else self.ids_for(args, cell)
            options = fleet_options(args, self.run_options(args))
        else:
            ids, options = rerun[0], {**self.run_options(args), **rerun[1]}
        quiet = bool(args.quiet or self.quiet)
        cancel = CancelToken()
        display = progress_display(self.shell, action, quiet=quiet)
        try:
            frame = self.call(action, ids, progress=display.update, cancel=cancel, **options)
        except BaseException:
            display.close()
            raise
        if rerun is not None:
            frame.attrs["rerun_of"] = rerun[2].attrs.get("run_id")
        display.close(self._report(frame, quiet=quiet, interrupted=cancel.cancelled))
        if args.chart and frame.attrs.get("dry_run"):  # --dry-run, or a rerun of a dry run's frame
            print("--chart: a dry run sends nothing, so it has no timeline to draw.", file=sys.stderr)
        elif args.chart:  # invalid ids only, or a run cancelled at once: nothing went out
            sent = bool((frame["attempts"] > 0).any())
            nothing = "nothing was sent, so there is no timeline to draw."
            chart_after_cell(self.shell, frame, lambda: charts.timeline(frame), nothing=nothing, drawable=sent)
        return self.store(remember(frame, summarised=not quiet), args.output)

    @staticmethod
    def _nothing_to_rerun(action: str, args: argparse.Namespace, frame: pd.DataFrame) -> pd.DataFrame:
        from scp_widgets.engine import rerun
        from scp_widgets.engine.results import to_frame

        name, what = (args.retry_failed, "failed") if args.retry_failed else (args.resume_cancelled, "cancelled")
        never = " (invalid ids are never sent again)" if what == "failed" else ""
        summary = f"{name} has no {what} rows{never}: nothing sent."
        count, other = rerun.other_kind(frame, what)
        if count:  # after an interrupt the rows left are cancelled: name the flag that sends them
            flag = "--resume-cancelled" if other == "cancelled" else "--retry-failed"
            summary += f" It has {count:,} {other} rows: {flag} {name} sends them."
        print(summary)
        return to_frame([], {"action": action, "counts": {}, "summary": summary})

    def _rerun_of(self, action: str, args: argparse.Namespace) -> tuple[list[str], dict[str, Any], pd.DataFrame] | None:
        """`--retry-failed NAME` / `--resume-cancelled NAME`: that frame's rows, its settings (typed options win)
        and the frame itself."""
        from scp_widgets.client.errors import ScpUsageError
        from scp_widgets.engine import rerun

        name = args.retry_failed or args.resume_cancelled
        if name is None:
            return None
        if args.retry_failed and args.resume_cancelled:
            raise UsageError("Use --retry-failed or --resume-cancelled, not both (run one, then the other).")
        if args.ids or args.from_expr is not None:
            raise UsageError(f"--retry-failed and --resume-cancelled take their ids from {name}; give no other ids.")
        try:
            option = "--retry-failed" if args.retry_failed else "--resume-cancelled"
            frame = rerun.check_frame(eval_from(name, self._user_ns, option))
            ran = rerun.action_of(frame)
        except ScpUsageError as exc:
            raise UsageError(f"{name}: {exc}") from None
        if ran != action:
            raise UsageError(f"{name} is a{'n' if ran == 'unlock' else ''} {ran} run: use %scp_{ran} for it.")
        ids = rerun.failed_ids(frame) if args.retry_failed else rerun.cancelled_ids(frame)
        typed = {k: getattr(args, k) for k in ("api_version", "endpoint", "concurrency", "retries", "timeout")}
        settings = {k: v for k, v in rerun.same_settings(frame).items() if typed.get(k) is None}
        if args.region or args.environment:
            settings.pop("endpoint", None)
        for flag, key in ((args.no_verify, "verify"), (args.preflight, "preflight"), (args.dry_run, "dry_run")):
            if flag:
                settings.pop(key, None)
        return ids, settings, frame

    def ids_for(self, args: argparse.Namespace, cell: str | None, *, body_holds_ids: bool = True) -> list[Any]:
        """The ids the line (and a %%scp_lock body) gives. `body_holds_ids=False`: the magic's cell body is code
        (%%scp_unlocked), so the hint must not send ids there."""
        from scp_widgets.client.ids import split_ids

        user_ns = self._user_ns
        ids: list[Any] = []
        if args.from_expr is not None:
            ids.extend(ids_from_value(eval_from(args.from_expr, user_ns)))
        ids.extend(check_tokens(list(args.ids), user_ns))
        if cell is not None:
            ids.extend(check_tokens(split_ids(cell), user_ns, in_cell=True))
        if not ids:
            if not body_holds_ids:
                raise UsageError("No server ids given: pass ids after the options, --from EXPR or --where RULE.")
            raise UsageError("No server ids given: pass ids after the options, one a line in %%scp_lock, or --from.")
        return ids

    def connection(self, args: argparse.Namespace) -> dict[str, Any]:
        """Where to connect: a location typed on the line replaces the configured one as a whole."""
        typed = {k: getattr(args, k) for k in ("endpoint", "region", "environment")}
        if typed["endpoint"]:
            location = {"endpoint": typed["endpoint"], "region": None, "environment": None}
        elif typed["region"] or typed["environment"]:
            location = {
                "endpoint": None,
                "region": typed["region"] or self.region,
                "environment": typed["environment"] or self.environment,
            }
        else:
            location = {"endpoint": self.endpoint, "region": self.region, "environment": self.environment}
        return {**location, "api_version": args.api_version or self.api_version}

    def run_options(self, args: argparse.Namespace) -> dict[str, Any]:
        def pick(name: str) -> Any:
            typed = getattr(args, name)
            return getattr(self, name) if typed is None else typed

        journal = self.journal if self.journal != "" else True
        return {
            **self.connection(args),
            "concurrency": pick("concurrency"),
            "timeout": pick("timeout"),
            "retries": pick("retries"),
            "verify": bool(self.verify) and not args.no_verify,
            "preflight": bool(getattr(args, "preflight", False)),
            "dry_run": bool(getattr(args, "dry_run", False)),
            "confirm": bool(getattr(args, "yes", False)),
            "journal": journal,
        }

    def call(self, name: str, /, *args: Any, **options: Any) -> pd.DataFrame:
        """Call the public API; its usage errors become UsageError, and its deprecation warning is ours to show."""
        from scp_widgets import api
        from scp_widgets.client.errors import CredentialsError, ScpError, ScpRequestError, ScpUsageError
        from scp_widgets.client.versions import ScpDeprecationWarning
        from scp_widgets.engine.results import message_for_error

        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ScpDeprecationWarning)  # printed by _report_warning instead
                frame: pd.DataFrame = getattr(api, name)(*args, **options)
        except CredentialsError as exc:  # a magic takes no access_key=: name the places it does read
            raise UsageError(exc.outside_python) from None
        except ScpUsageError as exc:
            raise UsageError(str(exc)) from None
        except ScpError as exc:  # only the listing raises these; a bulk run reports failures as rows
            why = message_for_error(exc) if isinstance(exc, ScpRequestError) else str(exc)
            raise UsageError(f"Could not {name.replace('_', ' ')}: {why.rstrip('.')}.") from None
        return frame

    def _report(self, frame: pd.DataFrame, *, quiet: bool, interrupted: bool) -> str:
        """The lines that end a run (the progress display shows them in its place); warnings go to stderr."""
        attrs = frame.attrs
        lines = []
        if interrupted:
            cancelled = frame["outcome"] == "cancelled"
            not_sent = int((cancelled & (frame["attempts"] == 0)).sum())
            cut_off = int(cancelled.sum()) - not_sent
            also = f"; {cut_off} cut off in flight may have been changed (see their rows)" if cut_off else ""
            total = counted(len(frame), "server")
            lines.append(f"Interrupted: stopped sending; {not_sent} of {total} not sent (cancelled){also}.")
        if not quiet or interrupted:
            plan = (
                f"Dry run: would {attrs.get('action')} {counted(len(frame), 'server')}{per_region(frame)} with API "
                f"{attrs.get('api_version')} at {attrs.get('endpoint')}; nothing was sent."
            )
            lines.append(plan if attrs.get("dry_run") else str(attrs.get("summary", "")))
        lines.extend(name_hints(frame))
        self.report_warning(frame)
        return "\n".join(lines)

    @staticmethod
    def report_warning(frame: pd.DataFrame) -> None:
        if frame.attrs.get("warning"):
            print(f"Warning: {frame.attrs['warning']}", file=sys.stderr)

    @property
    def _user_ns(self) -> dict[str, Any]:
        assert self.shell is not None, "registered with a shell by load()"
        user_ns: dict[str, Any] = self.shell.user_ns
        return user_ns

    def store(self, frame: pd.DataFrame, name: str | None) -> pd.DataFrame:
        if name:
            self._user_ns[name] = frame
        return frame


def lock_magics_of(shell: Any) -> ScpLockMagics:
    """The registered lock magics: their settings and pipeline serve every family of magics."""
    base = shell.magics_manager.registry.get(ScpLockMagics.__name__) if shell is not None else None
    if not isinstance(base, ScpLockMagics):
        raise UsageError("Load the extension first: %load_ext scp_widgets.")
    return base


def per_region(frame: pd.DataFrame) -> str:
    """' (kr-west1: 300, kr-east1: 12)' for a frame over several regions, else nothing."""
    if "region" not in frame.columns or frame["region"].isna().all():
        return ""
    counts = frame["region"].fillna("no region").value_counts(sort=False)
    return " (" + ", ".join(f"{region}: {n}" for region, n in counts.items()) + ")"


def name_hints(frame: pd.DataFrame) -> list[str]:
    """`%scp_lock web-052`: a name where an id goes; say how to pick servers by name (one line, the first)."""
    invalid = frame.loc[frame["outcome"] == "invalid_id", "server_id"].astype(str)
    names = [text for text in invalid if re.fullmatch(r"[A-Za-z][\w.-]*", text) and not _HEXISH.fullmatch(text)]
    if not names:
        return []
    more = f" (and {len(names) - 1} more)" if len(names) > 1 else ""
    return [f"{names[0]}{more} is not a server id: to pick servers by name, use --where \"name == '{names[0]}'\"."]


_HEXISH = re.compile(r"[0-9a-fA-F-]+")
