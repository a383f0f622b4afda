"""The `scp-widgets` command.

scp-widgets demo          # the emulator with a demo fleet + JupyterLab on the tutorial notebooks
scp-widgets demo --no-lab # only the emulator, in the foreground; prints `export SCP_...` lines
scp-widgets emulator ...  # the emulator with every option (same as `python -m scp_widgets.emulator`)
scp-widgets app           # the lock console as a web page (Voila): no code cells; --read-only, --region a,b
"""

from __future__ import annotations

import argparse
import os
import queue
import secrets
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path
from types import FrameType
from typing import IO

import httpx

from scp_widgets.cli import app
from scp_widgets.cli.demo import emulator_arguments
from scp_widgets.client.version import __version__
from scp_widgets.emulator import DEMO_SERVERS
from scp_widgets.emulator import command as emulator_command

HOME_NOTEBOOKS = "scp-widgets-notebooks"
APP_PAGE = "console.ipynb"  # the app's page, copied beside the tutorials: JupyterLab's Voila serves it too
EMULATOR_START_TIMEOUT = 30.0
LAB_START_TIMEOUT = 120.0
STOP_TIMEOUT = 20.0
_POLL = 0.2
_EXPORTS = ("SCP_ENDPOINT", "SCP_ENDPOINTS", "SCP_ACCESS_KEY", "SCP_SECRET_KEY")


class DemoError(Exception):
    """Something the user can fix; printed as one line."""


class _Stopped(Exception):
    """A stop signal arrived while a child was still starting."""


# -- command line ---------------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="scp-widgets", description=__doc__, formatter_class=_Raw)
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    emulator = commands.add_parser(
        "emulator", help="run the local SCP emulator", description=emulator_command.USER_HELP, formatter_class=_Raw
    )
    emulator_command.configure_parser(emulator)
    emulator.set_defaults(handler=emulator_command.run)
    demo = commands.add_parser(
        "demo",
        help="the emulator + JupyterLab on the tutorial notebooks",
        description="Start the SCP emulator with the demo fleet (mild faults on, so retries show), then "
        "JupyterLab on the tutorial notebooks with SCP_ENDPOINT and the demo credentials set, so every notebook "
        "talks to the emulator. It prints the `export SCP_...` lines to use the same emulator from a shell. "
        "Ctrl-C stops both.",
    )
    _configure_demo(demo)
    demo.set_defaults(handler=run_demo)
    prune = commands.add_parser(
        "prune",
        help="delete old finished journals from the journal folder",
        description="Retention as a command: delete the journals in the default journal folder whose every run "
        "finished more than DAYS days ago (default: SCP_WIDGETS_JOURNAL_DAYS, else 90). A journal with an "
        "unfinished run is never deleted: it is the record of a crash.",
    )
    prune.add_argument("--days", type=float, default=None, help="keep journals younger than this (default 90)")
    prune.add_argument("--dry-run", action="store_true", help="list what would be deleted; delete nothing")
    prune.set_defaults(handler=run_prune)
    console = commands.add_parser(
        "app",
        help="the lock console as a web page, for operators who never open a notebook",
        description="Serve the lock console (server list, Lock/Unlock, history, the run's timeline and the fleet's "
        "coverage) with Voila: no code cells, no kernel UI. Credentials come from SCP_* or ~/.scpconf and never "
        "enter the page. Ctrl-C stops it.",
    )
    app.configure_parser(console)
    console.set_defaults(handler=run_app)
    return parser


def run_prune(args: argparse.Namespace) -> int:
    from scp_widgets import api
    from scp_widgets.client.errors import ScpUsageError

    try:
        files = api.prune_journals(args.days, dry_run=args.dry_run)
    except ScpUsageError as exc:
        print(f"scp-widgets prune: {exc}", file=sys.stderr)
        return 2
    verb = "would delete" if args.dry_run else "deleted"
    print(f"{verb} {len(files)} journal{'s' if len(files) != 1 else ''}", *(f"  {f}" for f in files), sep="\n")
    return 0


class _Raw(argparse.RawDescriptionHelpFormatter):
    pass


def _configure_demo(parser: argparse.ArgumentParser) -> None:
    add = parser.add_argument
    add("--port", type=int, default=8888, help="JupyterLab port (default: %(default)s)")
    add("--emulator-port", type=int, default=0, help="emulator port; 0 picks a free one (default)")
    add("--servers", type=int, default=DEMO_SERVERS, help="servers in the demo fleet (default: %(default)s)")
    add("--notebooks", metavar="DIR", help="folder to open; the tutorials are copied in when it holds none")
    add("--no-lab", action="store_true", help="run only the emulator, in the foreground")
    add("--no-browser", action="store_true", help="do not open a browser")
    add("--exit-with-parent", action="store_true", help="with --no-lab: stop when the parent process exits")
    add(
        "--version-ends",
        action="append",
        metavar="X.Y=DAYS",
        help="the emulator ends API version X.Y DAYS days from today: 1.3=60 shows the deprecation warning",
    )


#: a command whose reader went away (`scp-widgets prune | head -1`) ends as `ls | head -1` does: quietly, 128 + SIGPIPE
CLOSED_PIPE = 141


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    handler: Callable[[argparse.Namespace], int] = args.handler
    try:
        return handler(args)
    except BrokenPipeError:  # not a traceback: the output was cut, as the reader asked (Python's own recipe)
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())  # the flush at exit would raise again
        return CLOSED_PIPE


def run_demo(args: argparse.Namespace) -> int:
    try:
        if args.no_lab:
            return _emulator_only(args)
        return _emulator_and_lab(args, notebooks_dir(args.notebooks))
    except DemoError as exc:
        print(f"scp-widgets demo: {exc}", file=sys.stderr)
        return 1


# -- where the notebooks are ----------------------------------------------------------------------------


def checkout_notebooks() -> Path | None:
    """The repository's `notebooks/` when running from a checkout (an editable install)."""
    root = Path(__file__).resolve().parents[2]
    folder = root / "notebooks"
    return folder if (root / "pyproject.toml").is_file() and any(folder.glob("*.ipynb")) else None


def bundled_notebooks() -> Traversable | None:
    """The copy shipped inside the wheel (`scp_widgets/_notebooks`), if this install has one."""
    folder = resources.files("scp_widgets") / "_notebooks"
    return folder if folder.is_dir() else None


def notebooks_dir(requested: str | None) -> Path:
    """The folder JupyterLab opens: `requested`, else ~/scp-widgets-notebooks, holding copies of the tutorials.

    Never the checkout's own `notebooks/`: JupyterLab saves outputs into what it opens, and the committed
    tutorials must stay clean.
    """
    checkout = checkout_notebooks()
    target = Path(requested).expanduser() if requested else Path.home() / HOME_NOTEBOOKS
    if not any(target.glob("*.ipynb")):  # never overwrite the user's own (or edited) notebooks
        source = checkout or bundled_notebooks()
        if source is None:
            raise DemoError("the tutorial notebooks are not installed with this copy; pass --notebooks DIR.")
        copy_notebooks(source, target)
    return target.resolve()


def copy_notebooks(source: Traversable, target: Path) -> None:
    target.mkdir(parents=True, exist_ok=True)
    for item in source.iterdir():
        if item.name.endswith(".ipynb"):
            (target / item.name).write_bytes(item.read_bytes())


# -- child processes ------------------------------------------------------------------------------------


class _Signals:
    """SIGINT, SIGTERM and SIGHUP set a flag: the main loop then stops the children in order."""

    def __init__(self) -> None:
        self.raised = False
        signals = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
        self._previous = {sig: signal.signal(sig, self._handle) for sig in signals}

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        self.raised = True

    def restore(self) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)


class Child:
    """A child in its own session, so a terminal's Ctrl-C reaches only us and we choose the stop order."""

    def __init__(self, name: str, argv: list[str], env: dict[str, str], *, cwd: Path | None = None, read: bool) -> None:
        self.name = name
        stdout = subprocess.PIPE if read else None
        self.process = subprocess.Popen(argv, env=env, cwd=cwd, stdout=stdout, text=True, start_new_session=True)
        self.lines: queue.Queue[str | None] = queue.Queue()
        if read:
            threading.Thread(target=self._pump, args=(self.process.stdout,), daemon=True).start()

    def _pump(self, stream: IO[str] | None) -> None:
        for line in stream or ():
            self.lines.put(line)
        self.lines.put(None)

    @property
    def alive(self) -> bool:
        return self.process.poll() is None

    def stop(self, timeout: float = STOP_TIMEOUT) -> int:
        """SIGTERM, wait, then SIGKILL the whole process group; returns the exit code."""
        if self.alive:
            self.process.terminate()
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            print(f"scp-widgets demo: {self.name} did not stop in {timeout:g} s; killing it", file=sys.stderr)
            with suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            return self.process.wait()


def read_exports(child: Child, signals: _Signals, timeout: float = EMULATOR_START_TIMEOUT) -> dict[str, str]:
    """The `export SCP_...=` lines the emulator prints once it listens; later output is echoed."""
    found: dict[str, str] = {}
    deadline = time.monotonic() + timeout
    while set(_EXPORTS) - set(found):
        if signals.raised:
            raise _Stopped
        if time.monotonic() > deadline:
            raise DemoError(f"the emulator did not start within {timeout:g} s")
        try:
            line = child.lines.get(timeout=_POLL)
        except queue.Empty:
            continue
        if line is None:
            raise DemoError(f"the emulator exited with code {child.process.wait()} before it listened")
        name, _, value = line.strip().removeprefix("export ").partition("=")
        if name in _EXPORTS:
            found[name] = value
    _echo_rest(child)
    return found


def _echo_rest(child: Child) -> None:
    def echo() -> None:
        while (line := child.lines.get()) is not None:
            print(line, end="", flush=True)

    threading.Thread(target=echo, daemon=True).start()


def lab_command(port: int, root: Path, token: str, *, browser: bool) -> list[str]:
    argv = [
        sys.executable, "-m", "jupyterlab", f"--ServerApp.port={port}", "--ServerApp.port_retries=0",
        "--ServerApp.ip=127.0.0.1", f"--ServerApp.root_dir={root}", f"--IdentityProvider.token={token}",
        "--LabApp.news_url=None", "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
    ]  # fmt: skip
    if not browser:
        argv.append("--ServerApp.open_browser=False")
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        argv.append("--allow-root")  # JupyterLab refuses to run as root without it (containers, CI)
    return argv


def wait_for_lab(lab: Child, url: str, token: str, signals: _Signals) -> None:
    deadline = time.monotonic() + LAB_START_TIMEOUT
    while not signals.raised:
        if not lab.alive:
            raise DemoError(f"JupyterLab exited with code {lab.process.returncode} (is the port in use? try --port)")
        with suppress(httpx.HTTPError):
            if httpx.get(f"{url}/api/status", headers={"Authorization": f"token {token}"}, timeout=2).is_success:
                return
        if time.monotonic() > deadline:
            raise DemoError(f"JupyterLab did not answer at {url} within {LAB_START_TIMEOUT:g} s")
        time.sleep(_POLL)
    raise _Stopped


@contextmanager
def _children() -> Iterator[list[Child]]:
    """Stops every child on the way out, newest first: JupyterLab (and its kernels), then the emulator."""
    started: list[Child] = []
    try:
        yield started
    finally:
        for child in reversed(started):
            child.stop()


def _emulator_and_lab(args: argparse.Namespace, notebooks: Path) -> int:
    signals = _Signals()  # before anything starts, so a Ctrl-C during start-up still stops cleanly
    try:
        with _children() as children:
            _serve(args, notebooks, signals, children)
    except _Stopped:
        pass
    finally:
        signals.restore()
    print("scp-widgets demo: stopped JupyterLab and the emulator.", flush=True)
    return 0


def _serve(args: argparse.Namespace, notebooks: Path, signals: _Signals, children: list[Child]) -> None:
    """Start the emulator, then JupyterLab with its endpoint; return when a stop signal arrives."""
    emulator = Child("the emulator", _emulator_argv(args), dict(os.environ), read=True)
    children.append(emulator)
    exports = read_exports(emulator, signals)
    token = secrets.token_hex(24)
    url = f"http://127.0.0.1:{args.port}"
    argv = lab_command(args.port, notebooks, token, browser=not args.no_browser)
    lab = Child("JupyterLab", argv, {**os.environ, **exports}, cwd=notebooks, read=False)
    children.append(lab)
    wait_for_lab(lab, url, token, signals)
    (notebooks / APP_PAGE).write_bytes(app.PAGE.read_bytes())  # the operator's app, served by Voila inside lab
    _banner(f"{url}/lab?token={token}", exports, args.servers, notebooks)
    print(f"  Operator app:  {url}/voila/render/{APP_PAGE}?token={token}  (or: scp-widgets app)", flush=True)
    print(f"  SCP regions:   {exports['SCP_ENDPOINTS']}  (05-fleet.ipynb)\n", flush=True)
    while not signals.raised:
        if not (lab.alive and emulator.alive):
            raise DemoError(f"{'JupyterLab' if not lab.alive else 'the emulator'} stopped on its own")
        time.sleep(_POLL)


def _emulator_argv(args: argparse.Namespace) -> list[str]:
    return [sys.executable, "-m", "scp_widgets.emulator", *_emulator_options(args)]


def _emulator_options(args: argparse.Namespace) -> list[str]:
    ends = [f"--version-ends={version}" for version in args.version_ends or ()]
    return [*emulator_arguments(args.servers, args.emulator_port), *ends]


def _banner(lab_url: str, exports: dict[str, str], servers: int, notebooks: Path) -> None:
    lines = "".join(f"  export {name}={exports[name]}\n" for name in _EXPORTS)
    print(
        "\nscp-widgets demo is running\n"
        f"  JupyterLab:    {lab_url}\n"
        f"  SCP emulator:  {exports['SCP_ENDPOINT']}  ({servers} servers, demo credentials)\n"
        f"  Notebooks:     {notebooks}\n"
        "Open the JupyterLab link and start with 01-quickstart.ipynb. Press Ctrl-C to stop both.\n"
        f"To use this emulator from a shell or a script, paste:\n{lines}",
        flush=True,
    )


# -- the operator's app ---------------------------------------------------------------------------------


def run_app(args: argparse.Namespace) -> int:
    """Voila on the console page until Ctrl-C; prints the page's URL once it listens."""
    if args.region:  # a mistake is one sentence here, not a page that fails to list after Voila started
        from scp_widgets.client.errors import ScpError
        from scp_widgets.client.regions import resolve_region_endpoints

        try:
            resolve_region_endpoints(args.region)
        except ScpError as exc:
            print(f"scp-widgets app: {exc}", file=sys.stderr)
            return 2
    if app.port_in_use(args.port):  # Voila would move to another port, and the URL printed be the other app's
        print(
            f"scp-widgets app: port {args.port} is in use (another app?); pick a free one with --port.",
            file=sys.stderr,
        )
        return 2
    signals = _Signals()
    env = app.app_environment(args.region, args.read_only)
    try:
        with _children() as children:
            voila = Child("Voila", app.voila_command(args.port, browser=not args.no_browser), env, read=False)
            children.append(voila)
            if not app.wait_for_port(args.port, lambda: voila.alive and not signals.raised):
                if signals.raised:
                    raise _Stopped
                raise DemoError(f"Voila did not listen on port {args.port} (is it in use? try --port)")
            mode = " (read-only)" if args.read_only else ""
            print(f"scp-widgets app{mode}: http://127.0.0.1:{args.port}/  (Ctrl-C stops it)", flush=True)
            while not signals.raised:
                if not voila.alive:
                    raise DemoError("Voila stopped on its own")
                time.sleep(_POLL)
    except _Stopped:
        pass
    except DemoError as exc:
        print(f"scp-widgets app: {exc}", file=sys.stderr)
        return 1
    finally:
        signals.restore()
    print("scp-widgets app: stopped.", flush=True)
    return 0


# -- emulator only --------------------------------------------------------------------------------------


def _emulator_only(args: argparse.Namespace) -> int:
    parser = argparse.ArgumentParser(prog="scp-widgets demo --no-lab")
    emulator_command.configure_parser(parser)
    options = parser.parse_args(_emulator_options(args))
    if args.exit_with_parent:
        _watch_parent()
    return emulator_command.run(options)


def _watch_parent() -> None:
    """Binder's `start` execs the notebook server: when that exits, we are re-parented and stop too."""
    parent = os.getppid()

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(0.5)
        os.kill(os.getpid(), signal.SIGTERM)  # the emulator's own handler then stops it cleanly

    threading.Thread(target=watch, name="scp-widgets-parent-watch", daemon=True).start()


if __name__ == "__main__":
    sys.exit(main())
