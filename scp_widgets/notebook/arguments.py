"""What the magics share: their argparse parsers (`%magic?` help), the reading of a magic's line (a
trailing `# comment`, `--from EXPR` with spaces, unexpanded `$names`), and the fleet options (`--region a,b`,
`--where`). Modelled on IPython's `magic_arguments`, typed for mypy."""

from __future__ import annotations

import argparse
import keyword
import os
import re
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar, cast

from IPython.core.error import UsageError
from IPython.core.magic_arguments import argument, kwds, magic_arguments, parse_argstring

if TYPE_CHECKING:
    from IPython.core.interactiveshell import InteractiveShell
    from IPython.core.magic import Magics

F = TypeVar("F", bound=Callable[..., Any])
_FROM = re.compile(r"(?:^|\s)--from(?:=|\s+)")
_OPTION_NEXT = re.compile(r"\s+--?[A-Za-z]")
_WORD_END = re.compile(r"\s+")
# a dash then a letter: an option (no server id starts with a dash)
_OPTION = re.compile(r"-{1,2}[A-Za-z]")
_UNEXPANDED = re.compile(r"^\$|\{.*\}")
_LIST_PUNCTUATION = "[](),'\""  # what `$ids` leaves around each id when IPython expands a list

LOCK_EXAMPLES = """
Examples (the ids belong to the default fleet of `scp-widgets emulator` and `scp-widgets demo`):

  %scp_lock 31f1160f-bd1e-40e8-b2ef-84f4ed22c330 1a48ef9f-2afa-4645-aeb1-5ca29e7bf788  # ids on the line
  %scp_servers -o servers --state ACTIVE                          # the fleet as a DataFrame
  %scp_lock -o result --from servers.query("not locked").id[:10]  # ids from a list, Series or column
  %scp_lock --dry-run --api-version 1.3 --from result.server_id   # show the plan, send nothing
  %scp_lock --retry-failed result                                 # the failed rows of `result` again
  %scp_unlock --quiet --from result                               # a result frame works too
  %scp_lock --chart --from servers.query("not locked").id[:20]    # the run's timeline below the table
  %scp_lock --dry-run --where "name.str.startswith('db-') and not locked"  # by rule (the rule language)
  %scp_servers --region kr-west1,kr-east1                         # several regions (SCP_ENDPOINTS)

  %%scp_lock --concurrency 8
  # one id a line; blank lines and comments are ignored
  31f1160f-bd1e-40e8-b2ef-84f4ed22c330   # web-052

Defaults: %config ScpLockMagics.region = "kr-west1" (also endpoint, environment, api_version,
concurrency, timeout, retries, verify, quiet, journal); then SCP_ENDPOINT / SCP_REGION / SCP_ENVIRONMENT
and SCP_ACCESS_KEY / SCP_SECRET_KEY (or ~/.scpconf). The result DataFrame is the cell's value.
"""


Decorator = Callable[[Any], Any]


def arg(*names: str, **options: Any) -> Decorator:
    """One `add_argument` for a magic's parser (IPython's `argument`, which mypy sees as untyped)."""
    decorator: Decorator = argument(*names, **options)  # type: ignore[no-untyped-call]
    return decorator


def parser(*arguments: Decorator, epilog: str | None = None, name: str | None = None) -> Callable[[F], F]:
    """Give a magic an argparse parser (its `%magic?` help), keeping the method's type for mypy. `name`: the
    usage's name when it is not the method's (a cell magic shows `%%name`: pass "%name")."""
    head: list[Decorator] = [magic_arguments(name)]  # type: ignore[no-untyped-call]
    if epilog:
        head.append(kwds(epilog=epilog))  # type: ignore[no-untyped-call]

    def wrap(func: F) -> F:
        for decorator in reversed([*head, *arguments]):  # innermost first, as if written above the def
            func = decorator(func)
        return func

    return wrap


def kind(marker: Any) -> Callable[[F], F]:
    """IPython's @line_magic / @line_cell_magic, typed (theirs returns a union mypy cannot call)."""
    return cast(Callable[[F], F], marker)


def connection_arguments() -> list[Decorator]:
    return [
        arg("--endpoint", metavar="URL", help="service base URL (default: SCP_ENDPOINT)"),
        arg("--region", help="SCP region, e.g. kr-west1; several: kr-west1,kr-east1 (default: SCP_REGION)"),
        arg("--environment", help="SCP environment: s, g or e (default: SCP_ENVIRONMENT)"),
        arg("--api-version", metavar="VERSION", help="API version to send (default: the CURRENT one)"),
    ]


def where_argument() -> Decorator:
    return arg("--where", metavar="RULE", help="servers by rule over %%scp_servers' columns (never run as code)")


def chart_argument(what: str) -> Decorator:
    return arg("--chart", action="store_true", help=f"also draw {what} below the table (a Vega-Lite chart)")


def output_argument() -> Decorator:
    return arg("-o", "--output", metavar="NAME", help="also store the DataFrame in this variable")


def _sending_arguments() -> list[Decorator]:
    """Which servers, where, and how to send: shared by %scp_lock, %scp_unlock and %%scp_unlocked."""
    return [
        arg("--from", dest="from_expr", metavar="EXPR",
            help="ids from a Python expression: a list, tuple, set, Series, Index or DataFrame column"),
        where_argument(),
        *connection_arguments(),
        arg("--concurrency", type=int, metavar="N", help="requests in flight at once (default 16)"),
        arg("--timeout", type=float, metavar="SECONDS", help="per-request timeout (default 15)"),
        arg("--retries", type=int, metavar="N", help="retries of a failed request (default 3)"),
        arg("--no-verify", action="store_true", help="do not read the lock state back"),
    ]  # fmt: skip


def run_arguments() -> Callable[[F], F]:
    """The options of %scp_lock and %scp_unlock."""
    return parser(
        output_argument(),
        *_sending_arguments(),
        arg("--preflight", action="store_true", help="skip servers already in the wanted state"),
        arg("--dry-run", action="store_true", help="read the servers' state, show the plan; change nothing"),
        arg("--yes", action="store_true", help="confirm an unlock of more than 25 servers (else refused)"),
        arg("--retry-failed", metavar="NAME",
            help="send again the failed rows of the result frame NAME, with its settings"),
        arg("--resume-cancelled", metavar="NAME",
            help="send the cancelled rows of the result frame NAME, with its settings"),
        arg("--quiet", action="store_true", help="no progress bar, no summary or dry-run line"),
        chart_argument("the run's timeline (sent, answered, final; retries, throttling, rate, latency)"),
        arg("ids", nargs="*", metavar="ID", help="server ids (UUIDs); in the cell form, one a line"),
        epilog=LOCK_EXAMPLES,
    )  # fmt: skip


WINDOW_EXAMPLES = """
Examples (the names belong to the default fleet of `scp-widgets emulator` and `scp-widgets demo`):

  %%scp_unlocked --where "name == 'db-007'"
  print("db-007 is unlocked while this cell runs")   # locked again afterwards, also if the cell raises

  %%scp_unlocked --where "name.str.startswith('db-00')" --region kr-west1,kr-east1
  print("every db-00x server of both regions is unlocked here")

Servers already unlocked are left alone. If the kernel dies inside the window, scp_widgets.relock_pending()
locks the servers again. Defaults come from %config ScpLockMagics, as for %scp_lock.
"""


def window_arguments() -> Callable[[F], F]:
    """The options of %%scp_unlocked: which servers and how to send; no dry run, preflight or rerun (a window
    really unlocks, and locks again)."""
    return parser(
        *_sending_arguments(),
        arg("--quiet", action="store_true", help="no progress bar"),
        arg("ids", nargs="*", metavar="ID", help="server ids (UUIDs) on the magic's line"),
        epilog=WINDOW_EXAMPLES,
        name="%scp_unlocked",
    )


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
        if compiles(expr) and (not tail.strip() or _OPTION_NEXT.match(tail)):
            return f"{head}{tail}", expr
    for expr, tail in candidates:  # ids after EXPR: `--from ids 2a9be312-...`
        if compiles(expr):
            return f"{head}{tail}", expr
    first = candidates[0]
    if not first[0].strip():
        raise UsageError("--from needs a Python expression, e.g. --from servers.id.")
    return f"{head}{first[1]}", first[0]  # let eval report the syntax error


def compiles(expr: str) -> bool:
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
    for name, value in vars(args).items():  # IPython's splitting keeps the quotes: `--state "ACTIVE"` is ACTIVE
        if isinstance(value, str):
            setattr(args, name, _unquoted(value))
        elif isinstance(value, list):
            setattr(args, name, [_unquoted(v) if isinstance(v, str) else v for v in value])
    if from_expr is not None:
        if getattr(args, "from_expr", None) is not None:  # the second one would be dropped, and its servers
            raise UsageError("--from is given twice: give one expression, e.g. --from [*first, *second].")
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
            raise UsageError(unexpanded_message(token, user_ns, in_cell))
        if token.isidentifier() and token in user_ns:
            raise UsageError(f"{token!r} is a variable, not a server id: use --from {token}.")
        if in_cell and _OPTION.match(token):  # `--dry-run` on a line of its own was an id, and the rest were sent
            raise UsageError(f"{token} in the cell body is an option, not an id: put it on the magic's line.")
        token = token.strip(_LIST_PUNCTUATION)
        if token:
            ids.append(token)
    return ids


def unexpanded_message(token: str, user_ns: dict[str, Any], in_cell: bool) -> str:
    # IPython expands $name and {expr} on the magic's line only, and leaves the whole line as typed when one fails.
    name = token.lstrip("$").strip("{}")
    if in_cell:
        return f"{token} in the cell body is not expanded (it holds ids only); put --from {name} on the magic's line."
    if token.startswith("$") and name.isidentifier() and name not in user_ns:
        return f"{token} was not expanded because {name!r} is not defined; define it, or pass ids with --from EXPR."
    return f"{token} was not expanded (a $name or {{expression}} on this line failed); pass ids with --from EXPR."


def eval_from(expr: str, user_ns: dict[str, Any], option: str = "--from") -> Any:
    """The value of `--from EXPR` (or of `option`'s NAME) in the user's namespace (the user typed it, as they
    would in a cell). Each sentence names the option the user typed."""
    try:
        value = eval(expr, user_ns)  # noqa: S307
    except NameError as exc:
        raise UsageError(f"{option} {expr.strip()} names nothing: {exc}.") from None
    except Exception as exc:
        raise UsageError(f"{option} {expr.strip()} failed: {type(exc).__name__}: {exc}.") from None
    if value is None:
        what = "a run's result frame" if option != "--from" else "a list, Series or DataFrame column of ids"
        raise UsageError(f"{option} {expr.strip()} is None; it should be {what}.")
    return value


def output_name_ok(name: str) -> bool:
    return name.isidentifier() and not keyword.iskeyword(name)


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
        out["where"] = args.where  # unquoted by `parse`
    return out


def _unquoted(text: str) -> str:
    """IPython's option splitting keeps the quotes around `--where "..."` (or any value); the value is inside."""
    text = text.strip()
    return text[1:-1] if len(text) > 1 and text[0] == text[-1] and text[0] in "'\"" else text


def _quiet(parse: Any, text: str) -> dict[str, str]:
    from scp_widgets.client.errors import ScpUsageError

    try:
        return dict(parse(text))
    except ScpUsageError:
        return {}  # the run itself reports a broken SCP_ENDPOINTS, in one sentence


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
