"""The `emulator` command (`scp-widgets emulator`, `python -m scp_widgets.emulator`); its help is `USER_HELP`."""

from __future__ import annotations

import argparse
import functools
import signal
import sys
import time
from types import FrameType

from .config import (
    DEFAULT_VERSIONS,
    DEMO_ACCESS_KEY,
    DEMO_FOREIGN_SERVERS,
    DEMO_LOCK_DELAY,
    DEMO_SECRET_KEY,
    DEMO_SEED,
    DEMO_SERVERS,
    EmulatorConfig,
    Faults,
    with_ends,
)
from .regions import add_regions_argument, serving

DEFAULT_PORT = 8765
USER_HELP = f"""\
Serve a local SCP Virtual Server API emulator: no cloud account needed. It checks signatures, headers and
API versions as strictly as the documentation describes, and keeps each server's lock state.

By default it serves the demo fleet ({DEMO_SERVERS} servers of the demo account, {DEMO_FOREIGN_SERVERS} of another
account, seed {DEMO_SEED}): the fleet of `scp-widgets demo`, Binder and the tutorials, which every id in the
README and in `%scp_lock?` belongs to. Faults are off unless asked for (--latency, --error-rate, ...).

Once it listens it prints the lines to paste into a shell (the demo credentials are fixed, public and fake):

  export SCP_ENDPOINT=http://127.0.0.1:{DEFAULT_PORT}
  export SCP_ACCESS_KEY={DEMO_ACCESS_KEY}
  export SCP_SECRET_KEY={DEMO_SECRET_KEY}

Start Jupyter (or a script) from that shell, then `%load_ext scp_widgets` and `%scp_servers`. Ctrl-C stops it.

With --regions kr-west1,kr-east1 it serves each region its own fleet on its own port (the first region is the
default fleet, at SCP_ENDPOINT) and also prints `export SCP_ENDPOINTS=kr-west1=URL,kr-east1=URL`.
"""
_POLL_SECONDS = 0.1


def _error_rate(text: str) -> tuple[int, float]:
    status, sep, rate = text.partition("=")
    try:
        if not sep:
            raise ValueError
        return int(status), float(rate)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected STATUS=P such as 503=0.2, got {text!r}") from None


def configure_parser(parser: argparse.ArgumentParser) -> None:
    defaults = EmulatorConfig()
    add = parser.add_argument
    add("--host", default="127.0.0.1", help="address to listen on (default: %(default)s)")
    add("--port", type=int, default=DEFAULT_PORT, help="port; 0 picks a free one (default: %(default)s)")
    add("--servers", type=int, default=DEMO_SERVERS, help="own-account servers (default: %(default)s)")
    add(
        "--foreign-servers",
        type=int,
        default=DEMO_FOREIGN_SERVERS,
        help="servers of another account (default: %(default)s)",
    )
    add("--locked-fraction", type=float, default=defaults.locked_fraction, help="share seeded already locked")
    add(
        "--lock-delay",
        type=float,
        default=DEMO_LOCK_DELAY,
        help="seconds before an accepted lock becomes visible (default: %(default)s)",
    )
    add("--seed", type=int, default=DEMO_SEED, help="seed for the fleet and the faults (default: %(default)s)")
    add("--latency", type=float, default=0.0, help="seconds added to every /v1 request")
    add(
        "--error-rate",
        type=_error_rate,
        action="append",
        default=[],
        metavar="STATUS=P",
        help="probability of an injected 5xx, e.g. 503=0.2 (repeatable)",
    )
    add("--error-retry-after", type=float, default=None, metavar="S", help="Retry-After on the injected 5xx")
    add("--throttle-rate", type=float, default=0.0, help="probability of a 429 with Retry-After")
    add("--retry-after", type=float, default=1.0, help="seconds sent in Retry-After on injected 429s")
    add("--html-417-rate", type=float, default=0.0, help="probability of the edge's 417 HTML page")
    add("--drop-rate", type=float, default=0.0, help="probability of dropping the connection unanswered")
    add("--rate-limit", type=float, default=None, help="max /v1 requests per second (429 above it)")
    fault = functools.partial(add, type=float, default=0.0, metavar="P")
    fault("--rate-limit-retry-after", default=None, metavar="S", help="Retry-After on rate-limit 429s (default: exact)")
    fault("--rate-limit-bare-rate", help="share of rate-limit 429s sent without any Retry-After")
    add("--black-hole", action="store_true", help="accept connections to / and /v1 and never answer")
    fault("--trickle-rate", help="share of answers whose body trickles")
    fault("--trickle-bytes-per-second", default=1.0, metavar="B", help="speed of a trickling body")
    fault("--huge-body-rate", help="share of answers padded with --huge-body-bytes of spaces")
    add("--huge-body-bytes", type=int, default=50_000_000, metavar="N", help="padding of a huge body")
    fault("--html-503-rate", help="share of requests answered by a hostile 503 HTML page of --html-503-bytes")
    add("--html-503-bytes", type=int, default=280_000, metavar="N", help="size of the 503 HTML page")
    add(
        "--version-ends", action="append", type=_version_end, default=[], metavar="X.Y=DAYS",
        help="end API version X.Y DAYS days from today (repeatable); within 90 days it is served as DEPRECATED "
        "and clients warn: --version-ends 1.3=60 shows the deprecation warning on every run",
    )  # fmt: skip
    add_regions_argument(parser)


def _version_end(text: str) -> tuple[str, int]:
    version, _, days = text.partition("=")
    if not version or not days.lstrip("-").isdigit():
        raise argparse.ArgumentTypeError(f"expected X.Y=DAYS such as 1.2=60, got {text!r}")
    return version.strip(), int(days)


#: Faults fields set from the option of the same name.
_FAULT_OPTIONS = (
    "latency", "error_retry_after", "throttle_rate", "retry_after", "html_417_rate", "drop_rate", "rate_limit",
    "rate_limit_retry_after", "rate_limit_bare_rate", "black_hole", "trickle_rate", "trickle_bytes_per_second",
    "huge_body_rate", "huge_body_bytes", "html_503_rate", "html_503_bytes",
)  # fmt: skip


def config_from_args(args: argparse.Namespace) -> EmulatorConfig:
    faults = Faults(error_rates=dict(args.error_rate), **{name: getattr(args, name) for name in _FAULT_OPTIONS})
    return EmulatorConfig(
        versions=with_ends(DEFAULT_VERSIONS, dict(args.version_ends)),
        servers=args.servers,
        foreign_servers=args.foreign_servers,
        locked_fraction=args.locked_fraction,
        lock_delay=args.lock_delay,
        seed=args.seed,
        faults=faults,
    )


class _StopFlag:
    """Set from a signal handler: a plain attribute, because taking a lock there can deadlock."""

    def __init__(self) -> None:
        self.raised = False

    def __call__(self, signum: int, frame: FrameType | None) -> None:
        self.raised = True


def run(args: argparse.Namespace) -> int:
    try:
        config = config_from_args(args)
    except ValueError as exc:
        print(f"scp emulator: {exc}", file=sys.stderr)
        return 2
    stop = _StopFlag()
    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        with serving(args.regions, config, host=args.host, port=args.port) as (url, region_exports):
            print(
                f"SCP emulator listening on {url} ({config.servers} servers{' per region' if args.regions else ''}, "
                f"demo credentials)\n{region_exports}"
                f"export SCP_ENDPOINT={url}\n"
                f"export SCP_ACCESS_KEY={DEMO_ACCESS_KEY}\n"
                f"export SCP_SECRET_KEY={DEMO_SECRET_KEY}",
                flush=True,
            )
            while not stop.raised:
                time.sleep(_POLL_SECONDS)
    except RuntimeError as exc:
        print(f"scp emulator: {exc}", file=sys.stderr)
        return 1
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m scp_widgets.emulator",
        description=USER_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    configure_parser(parser)
    return run(parser.parse_args(argv))
