"""The notebook magics: `%scp_lock`, `%%scp_lock`, `%scp_unlock`, `%scp_servers`, `%scp_panel`
(and `%scp_history`, registered from history_magic.py).

Each magic is a short pipeline over the public API: parse the line, gather the ids, resolve options
(explicit option > `%config ScpLockMagics.<trait>` > environment, which the API reads), run with a
progress display, report one line, return the DataFrame. User mistakes become `UsageError` (one line, no
traceback) before anything is sent. pandas, httpx and the API are imported inside the magics, so
`%load_ext scp_widgets` stays fast.
"""

from __future__ import annotations

import argparse
import keyword
import re
import sys
import warnings
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar, cast

from IPython.core.error import UsageError
from IPython.core.magic import Magics, line_cell_magic, line_magic, magics_class
from IPython.core.magic_arguments import argument, kwds, magic_arguments, parse_argstring
from traitlets import Bool, Float, Int, TraitError, Unicode, Union, validate

from scp_widgets.client.wording import counted
from scp_widgets.engine.settings import RANGES

if TYPE_CHECKING:
    import pandas as pd
    from IPython.core.interactiveshell import InteractiveShell

F = TypeVar("F", bound=Callable[..., Any])
_FROM = re.compile(r"(?:^|\s)--from(?:=|\s+)")
_OPTION_NEXT = re.compile(r"\s+--?[A-Za-z]")
_WORD_END = re.compile(r"\s+")
_UNEXPANDED = re.compile(r"^\$|\{.*\}")
_LIST_PUNCTUATION = "[](),'\""  # what `$ids` leaves around each id when IPython expands a list

_EXAMPLES = """
Examples (the ids belong to the default fleet of `scp-widgets emulator` and `scp-widgets demo`):

  %scp_lock 31f1160f-bd1e-40e8-b2ef-84f4ed22c330 1a48ef9f-2afa-4645-aeb1-5ca29e7bf788  # ids on the line
  %scp_servers -o servers --state ACTIVE                          # the fleet as a DataFrame
  %scp_lock -o result --from servers.query("not locked").id[:10]  # ids from a list, Series or column
  %scp_lock --dry-run --api-version 1.3 --from result.server_id   # show the plan, send nothing
  %scp_lock --retry-failed result                                 # the failed rows of `result` again
  %scp_unlock --quiet --from result                               # a result frame works too
  %scp_lock --dry-run --where "name.str.startswith('db-') and not locked"  # by rule: a DataFrame.query
  %scp_servers --region kr-west1,kr-east1                         # several regions (SCP_ENDPOINTS)

  %%scp_lock --concurrency 8
  # one id a line; blank lines and comments are ignored
  31f1160f-bd1e-40e8-b2ef-84f4ed22c330   # web-052

Defaults: %config ScpLockMagics.region = "kr-west1" (also endpoint, environment, api_version,
concurrency, timeout, retries, verify, quiet, journal); then SCP_ENDPOINT / SCP_REGION / SCP_ENVIRONMENT
and SCP_ACCESS_KEY / SCP_SECRET_KEY (or ~/.scpconf). The result DataFrame is the cell's value.
"""


_Decorator = Callable[[Any], Any]


def _arg(*names: str, **options: Any) -> _Decorator:
    """One `add_argument` for a magic's parser (IPython's `argument`, which mypy sees as untyped)."""
    decorator: _Decorator = argument(*names, **options)  # type: ignore[no-untyped-call]
    return decorator


def _parser(*arguments: _Decorator, epilog: str | None = None) -> Callable[[F], F]:
    """Give a magic an argparse parser (its `%magic?` help), keeping the method's type for mypy."""
    head: list[_Decorator] = [magic_arguments()]  # type: ignore[no-untyped-call]
    if epilog:
        head.append(kwds(epilog=epilog))  # type: ignore[no-untyped-call]

    def wrap(func: F) -> F:
        for decorator in reversed([*head, *arguments]):  # innermost first, as if written above the def
            func = decorator(func)
        return func

    return wrap


def _kind(marker: Any) -> Callable[[F], F]:
    """IPython's @line_magic / @line_cell_magic, typed (theirs returns a union mypy cannot call)."""
    return cast(Callable[[F], F], marker)


def _connection_arguments() -> list[_Decorator]:
    return [
        _arg("--endpoint", metavar="URL", help="service base URL (default: SCP_ENDPOINT)"),
        _arg("--region", help="SCP region, e.g. kr-west1; several: kr-west1,kr-east1 (default: SCP_REGION)"),
        _arg("--environment", help="SCP environment: s, g or e (default: SCP_ENVIRONMENT)"),
        _arg("--api-version", metavar="VERSION", help="API version to send (default: the CURRENT one)"),
    ]


def _where_argument() -> _Decorator:
    return _arg("--where", metavar="RULE", help="servers by rule, a DataFrame.query over %%scp_servers' frame")


def _output_argument() -> _Decorator:
    return _arg("-o", "--output", metavar="NAME", help="also store the DataFrame in this variable")


def _run_arguments() -> Callable[[F], F]:
    """The options shared by %scp_lock and %scp_unlock."""
    return _parser(
        _output_argument(),
        _arg("--from", dest="from_expr", metavar="EXPR",
             help="ids from a Python expression: a list, tuple, set, Series, Index or DataFrame column"),
        _where_argument(),
        *_connection_arguments(),
        _arg("--concurrency", type=int, metavar="N", help="requests in flight at once (default 16)"),
        _arg("--timeout", type=float, metavar="SECONDS", help="per-request timeout (default 15)"),
        _arg("--retries", type=int, metavar="N", help="retries of a failed request (default 3)"),
        _arg("--no-verify", action="store_true", help="do not read the lock state back"),
        _arg("--preflight", action="store_true", help="skip servers already in the wanted state"),
        _arg("--dry-run", action="store_true", help="read the servers' state, show the plan; change nothing"),
        _arg("--retry-failed", metavar="NAME",
             help="send again the failed rows of the result frame NAME, with its settings"),
        _arg("--resume-cancelled", metavar="NAME",
             help="send the cancelled rows of the result frame NAME, with its settings"),
        _arg("--quiet", action="store_true", help="no progress bar, no summary or dry-run line"),
        _arg("ids", nargs="*", metavar="ID", help="server ids (UUIDs); in the cell form, one a line"),
        epilog=_EXAMPLES,
    )  # fmt: skip


def strip_comment(line: str) -> str:
    """The line without its trailing `# comment`, as in a cell; a `#` inside quotes (in EXPR) is kept."""
    quote: str | None = None
    escaped = False
    for index, char in enumerate(line):
        if quote is not None:  # inside a string of EXPR: only its closing quote (unescaped) ends it
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == quote:
                quote = None
        elif char in "'\"":
            quote = char
        elif char == "#":
            return line[:index].rstrip()
    return line


def split_from(line: str) -> tuple[str, str | None]:
    """Take `--from EXPR` out of the line before shell-style splitting, which would eat EXPR's quotes.

    EXPR may hold spaces (`servers.query("not locked").id`): it is the shortest run of words that
    compiles as an expression and is followed by another option or the end of the line.
    """
    match = _FROM.search(line)
    if match is None:
        return line, None
    head, rest = line[: match.start()], line[match.end() :]
    ends = [m.start() for m in _WORD_END.finditer(rest)] + [len(rest)]
    candidates = [(rest[:end], rest[end:]) for end in ends]
    for expr, tail in candidates:
        if _compiles(expr) and (not tail.strip() or _OPTION_NEXT.match(tail)):
            return f"{head}{tail}", expr
    for expr, tail in candidates:  # ids after EXPR: `--from ids 2a9be312-...`
        if _compiles(expr):
            return f"{head}{tail}", expr
    first = candidates[0]
    if not first[0].strip():
        raise UsageError("--from needs a Python expression, e.g. --from servers.id.")
    return f"{head}{first[1]}", first[0]  # let eval report the syntax error


def _compiles(expr: str) -> bool:
    if not expr.strip():
        return False
    try:
        compile(expr, "<--from>", "eval")
    except (SyntaxError, ValueError):
        return False
    return True


def parse(func: Callable[..., Any], line: str) -> argparse.Namespace:
    """The magic's arguments; every parsing problem is a one-line UsageError."""
    rest, from_expr = split_from(strip_comment(line))
    try:
        args: argparse.Namespace = parse_argstring(func, rest)  # type: ignore[no-untyped-call]
    except UsageError as exc:  # argparse's own sentence, without the magic's name
        raise UsageError(f"{exc} (see %{func.__name__}? for the options).") from None
    except ValueError as exc:  # shlex: "No closing quotation"
        raise UsageError(f"Cannot read the options: {exc}.") from None
    if from_expr is not None:
        args.from_expr = from_expr
    output = getattr(args, "output", None)
    if output is not None and not output_name_ok(output):
        raise UsageError(f"-o needs a Python variable name, not {output!r}.")
    return args


def check_tokens(tokens: list[str], user_ns: dict[str, Any], *, in_cell: bool = False) -> list[str]:
    """Refuse what is surely not an id (an unexpanded `$name`, a variable's name) before anything is sent."""
    ids: list[str] = []
    for token in tokens:
        if _UNEXPANDED.search(token):
            raise UsageError(_unexpanded(token, user_ns, in_cell))
        if token.isidentifier() and token in user_ns:
            raise UsageError(f"{token!r} is a variable, not a server id: use --from {token}.")
        token = token.strip(_LIST_PUNCTUATION)
        if token:
            ids.append(token)
    return ids


def _unexpanded(token: str, user_ns: dict[str, Any], in_cell: bool) -> str:
    # IPython expands $name and {expr} on the magic's line only, and leaves the whole line as typed when one fails.
    name = token.lstrip("$").strip("{}")
    if in_cell:
        return f"{token} in the cell body is not expanded (it holds ids only); put --from {name} on the magic's line."
    if token.startswith("$") and name.isidentifier() and name not in user_ns:
        return f"{token} was not expanded because {name!r} is not defined; define it, or pass ids with --from EXPR."
    return f"{token} was not expanded (a $name or {{expression}} on this line failed); pass ids with --from EXPR."


def eval_from(expr: str, user_ns: dict[str, Any]) -> Any:
    """The value of `--from EXPR` in the user's namespace (the user typed it, as they would in a cell)."""
    try:
        value = eval(expr, user_ns)  # noqa: S307
    except NameError as exc:
        raise UsageError(f"--from {expr.strip()} names nothing: {exc}.") from None
    except Exception as exc:
        raise UsageError(f"--from {expr.strip()} failed: {type(exc).__name__}: {exc}.") from None
    if value is None:
        raise UsageError(f"--from {expr.strip()} is None; it should be a list, Series or DataFrame column of ids.")
    return value


def output_name_ok(name: str) -> bool:
    return name.isidentifier() and not keyword.iskeyword(name)


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

    @_kind(line_cell_magic)
    @_run_arguments()
    def scp_lock(self, line: str, cell: str | None = None) -> pd.DataFrame:
        """Lock SCP virtual servers; returns one DataFrame row per server (failures are rows)."""
        return self._run("lock", self.scp_lock, line, cell)

    @_kind(line_cell_magic)
    @_run_arguments()
    def scp_unlock(self, line: str, cell: str | None = None) -> pd.DataFrame:
        """Unlock SCP virtual servers; same options and result as %scp_lock."""
        return self._run("unlock", self.scp_unlock, line, cell)

    @_kind(line_magic)
    @_parser(
        _output_argument(),
        _arg("--state", metavar="S", help="only servers in this state, e.g. ACTIVE or SHUTOFF"),
        _arg("--name", metavar="N", help="only servers whose name matches"),
        _arg("--vpc-id", metavar="V", help="only servers in this VPC"),
        _where_argument(),
        *_connection_arguments(),
        _arg("--quiet", action="store_true", help="no summary line"),
    )
    def scp_servers(self, line: str) -> pd.DataFrame:
        """The fleet as a DataFrame (id, name, state, locked, ...), to pick servers from.

        Examples::

          %scp_servers -o servers --state active   # SHUTOFF, ACTIVE, ... in any case
          %scp_servers --name web-00               # names containing web-00
          %scp_lock --from servers.query("not locked").id[:3]
        """
        args = parse(self.scp_servers, line)
        filters = {k: v for k, v in (("state", args.state), ("name", args.name), ("vpc_id", args.vpc_id)) if v}
        frame = self._call("list_servers", **filters, **fleet_options(args, self._connection(args)))
        if not (args.quiet or self.quiet):
            locked = int(frame["locked"].fillna(False).sum())
            print(f"{counted(len(frame), 'server')} ({locked} locked) at {frame.attrs.get('endpoint')}")
        if filters and frame.empty:  # an empty answer to a filter is a hint worth a line, even with --quiet
            typed = " ".join(
                f"--{k.replace('_', '-')} {str(v).upper() if k == 'state' else v}" for k, v in filters.items()
            )
            print(f"No server matches {typed}; states are words like ACTIVE, SHUTOFF or ERROR, names match in part.")
        self._report_warning(frame)
        return self._store(frame, args.output)

    @_kind(line_magic)
    @_parser(*_connection_arguments(), _arg("--concurrency", type=int, metavar="N", help="requests in flight"))
    def scp_panel(self, line: str) -> Any:
        """The lock panel (server chooser, version, Lock / Unlock, progress, results) for this connection.

        Examples::

          %scp_panel
          %scp_panel --concurrency 8
        """
        import importlib

        from scp_widgets.client.errors import ScpUsageError

        args = parse(self.scp_panel, line)
        panel = importlib.import_module(
            "scp_widgets.panel.lock_panel"
        )  # imported only when asked for: it pulls in widgets
        concurrency = self.concurrency if args.concurrency is None else args.concurrency
        try:
            return panel.LockPanel(**fleet_options(args, self._connection(args)), concurrency=concurrency)
        except ScpUsageError as exc:
            raise UsageError(str(exc)) from None

    # -- the pipeline ---------------------------------------------------------------------------------------

    def _run(self, action: str, func: Callable[..., Any], line: str, cell: str | None) -> pd.DataFrame:
        from scp_widgets.engine.bulk import CancelToken
        from scp_widgets.notebook.magic_view import remember
        from scp_widgets.views.progress import progress_display

        args = parse(func, line)
        rerun = self._rerun_of(action, args)
        if rerun is not None and not rerun[0]:
            return self._store(remember(self._nothing_to_rerun(action, args)), args.output)
        if rerun is None:  # --where: the rule picks the servers; --region a,b: several regions
            ids = None if args.where else self._ids(args, cell)
            options = fleet_options(args, self._run_options(args))
        else:
            ids, options = rerun[0], {**self._run_options(args), **rerun[1]}
        quiet = bool(args.quiet or self.quiet)
        cancel = CancelToken()
        display = progress_display(self.shell, action, quiet=quiet)
        try:
            frame = self._call(action, ids, progress=display.update, cancel=cancel, **options)
        except BaseException:
            display.close()
            raise
        if rerun is not None:
            frame.attrs["rerun_of"] = rerun[2]
        display.close(self._report(frame, quiet=quiet, interrupted=cancel.cancelled))
        return self._store(remember(frame), args.output)

    @staticmethod
    def _nothing_to_rerun(action: str, args: argparse.Namespace) -> pd.DataFrame:
        from scp_widgets.engine.results import to_frame

        name, what = (args.retry_failed, "failed") if args.retry_failed else (args.resume_cancelled, "cancelled")
        never = " (invalid ids are never sent again)" if what == "failed" else ""
        summary = f"{name} has no {what} rows{never}: nothing sent."
        print(summary)
        return to_frame([], {"action": action, "counts": {}, "summary": summary})

    def _rerun_of(self, action: str, args: argparse.Namespace) -> tuple[list[str], dict[str, Any], Any] | None:
        """`--retry-failed NAME` / `--resume-cancelled NAME`: that frame's rows and settings (typed options win)."""
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
            frame = rerun.check_frame(eval_from(name, self._user_ns))
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
        return ids, settings, frame.attrs.get("run_id")

    def _ids(self, args: argparse.Namespace, cell: str | None) -> list[Any]:
        from scp_widgets.client.ids import split_ids

        user_ns = self._user_ns
        ids: list[Any] = []
        if args.from_expr is not None:
            ids.extend(ids_from_value(eval_from(args.from_expr, user_ns)))
        ids.extend(check_tokens(list(args.ids), user_ns))
        if cell is not None:
            ids.extend(check_tokens(split_ids(cell), user_ns, in_cell=True))
        if not ids:
            raise UsageError("No server ids given: pass ids after the options, one a line in %%scp_lock, or --from.")
        return ids

    def _connection(self, args: argparse.Namespace) -> dict[str, Any]:
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

    def _run_options(self, args: argparse.Namespace) -> dict[str, Any]:
        def pick(name: str) -> Any:
            typed = getattr(args, name)
            return getattr(self, name) if typed is None else typed

        journal = self.journal if self.journal != "" else True
        return {
            **self._connection(args),
            "concurrency": pick("concurrency"),
            "timeout": pick("timeout"),
            "retries": pick("retries"),
            "verify": bool(self.verify) and not args.no_verify,
            "preflight": bool(args.preflight),
            "dry_run": bool(args.dry_run),
            "journal": journal,
        }

    def _call(self, name: str, /, *args: Any, **options: Any) -> pd.DataFrame:
        """Call the public API; its usage errors become UsageError, and its deprecation warning is ours to show."""
        from scp_widgets import api
        from scp_widgets.client.errors import ScpError, ScpRequestError, ScpUsageError
        from scp_widgets.client.versions import ScpDeprecationWarning
        from scp_widgets.engine.results import message_for_error

        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ScpDeprecationWarning)  # printed by _report_warning instead
                frame: pd.DataFrame = getattr(api, name)(*args, **options)
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
                f"Dry run: would {attrs.get('action')} {counted(len(frame), 'server')} with API "
                f"{attrs.get('api_version')} at {attrs.get('endpoint')}; nothing was sent."
            )
            lines.append(plan if attrs.get("dry_run") else str(attrs.get("summary", "")))
        self._report_warning(frame)
        return "\n".join(lines)

    @staticmethod
    def _report_warning(frame: pd.DataFrame) -> None:
        if frame.attrs.get("warning"):
            print(f"Warning: {frame.attrs['warning']}", file=sys.stderr)

    @property
    def _user_ns(self) -> dict[str, Any]:
        assert self.shell is not None, "registered with a shell by load()"
        user_ns: dict[str, Any] = self.shell.user_ns
        return user_ns

    def _store(self, frame: pd.DataFrame, name: str | None) -> pd.DataFrame:
        if name:
            self._user_ns[name] = frame
        return frame


def fleet_options(args: argparse.Namespace, options: dict[str, Any]) -> dict[str, Any]:
    from scp_widgets.notebook import unlocked_magic as fleet_magics

    return fleet_magics.fleet_options(args, options)


def ids_from_value(value: Any) -> list[str]:
    """Ids from whatever `--from` gave; a value that holds no ids is a UsageError."""
    from scp_widgets.client.errors import ScpUsageError
    from scp_widgets.client.ids import ids_from

    try:
        return ids_from(value)
    except ScpUsageError as exc:
        raise UsageError(str(exc)) from None
    except TypeError as exc:
        raise UsageError(f"--from gave a {type(value).__name__}, which holds no ids: {exc}.") from None


_MAGIC_NAMES = {"line": ("scp_lock", "scp_unlock", "scp_servers", "scp_panel"), "cell": ("scp_lock", "scp_unlock")}


def load(ipython: InteractiveShell) -> None:
    """Register the magics (and their %config settings) in `ipython`."""
    from scp_widgets.notebook import history_magic, magic_view
    from scp_widgets.notebook import unlocked_magic as fleet_magics

    unload(ipython)  # loading twice must not leave two configurables behind
    ipython.register_magics(ScpLockMagics(shell=ipython))
    history_magic.load(ipython)
    magic_view.install(ipython)
    fleet_magics.load(ipython)


def unload(ipython: InteractiveShell) -> None:
    """Remove the magics and their %config entry; the rest of the shell is left alone."""
    from scp_widgets.notebook import history_magic, magic_view
    from scp_widgets.notebook import unlocked_magic as fleet_magics

    magic_view.uninstall(ipython)
    unregister(ipython, ScpLockMagics, _MAGIC_NAMES)
    history_magic.unload(ipython)
    fleet_magics.unload(ipython)


def unregister(ipython: InteractiveShell, cls: type[Magics], names: dict[str, tuple[str, ...]]) -> None:
    """Remove one Magics class's magics (by kind: line / cell) and its %config entry from `ipython`."""
    manager = ipython.magics_manager
    instance = manager.registry.pop(cls.__name__, None)
    if instance is None:
        return
    for kind, kind_names in names.items():
        for name in kind_names:
            bound = manager.magics[kind].get(name)
            if getattr(bound, "__self__", None) is instance:
                del manager.magics[kind][name]
    ipython.configurables[:] = [c for c in ipython.configurables if c is not instance]


__all__ = ["ScpLockMagics", "load", "unload"]
