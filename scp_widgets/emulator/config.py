"""Configuration of the emulator: demo credentials, version catalog, fleet shape and faults."""

from __future__ import annotations

import dataclasses
import datetime
import re
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Literal

# Fixed, public and obviously fake: the emulator is meant to be started without any setup.
DEMO_ACCESS_KEY = "scp-demo-access-key"
DEMO_SECRET_KEY = "scp-demo-secret-key-NOT-A-REAL-SECRET"  # noqa: S105 (public demo value)
DEMO_ACCOUNT_ID = "demo-account"

# The one default fleet: `scp-widgets emulator`, `scp-widgets demo`, Binder and the tutorial notebooks all
# serve it, so an id quoted in the README, the magics' help or a notebook exists wherever a reader tries it.
DEMO_SERVERS = 300
DEMO_FOREIGN_SERVERS = 5
DEMO_SEED = 7
DEMO_LOCK_DELAY = 0.1

VersionState = Literal["CURRENT", "SUPPORTED", "DEPRECATED", "PLANNED", "RETIRED"]
_VERSION_RE = re.compile(r"[0-9]+\.[0-9]+")
_ALL_METHODS = frozenset({"GET", "POST", "DELETE"})


@dataclass(frozen=True)
class ApiVersion:
    """One catalog entry: `version` is "X.Y", `state` as declared, `not_before` the end of support."""

    version: str
    state: VersionState
    not_before: datetime.date | None = None

    def __post_init__(self) -> None:
        if not _VERSION_RE.fullmatch(self.version):
            raise ValueError(f"version must look like '1.3', got {self.version!r}")
        if self.state not in ("CURRENT", "SUPPORTED", "DEPRECATED", "PLANNED", "RETIRED"):
            raise ValueError(f"unknown version state {self.state!r}")


# The seed page's table (lock-virtual-server.txt), newest first as the service lists it.
DEFAULT_VERSIONS: tuple[ApiVersion, ...] = (
    ApiVersion("1.3", "CURRENT"),
    ApiVersion("1.2", "SUPPORTED", datetime.date(2026, 8, 31)),
    ApiVersion("1.1", "DEPRECATED", datetime.date(2026, 5, 31)),
    ApiVersion("1.0", "DEPRECATED", datetime.date(2025, 12, 31)),
)


def with_ends(
    versions: tuple[ApiVersion, ...], days_from_today: Mapping[str, int], today: datetime.date | None = None
) -> tuple[ApiVersion, ...]:
    """The catalog with some versions ending `days` after today (the demo ends 1.2 in 60 days, so choosing it
    shows the deprecation warning on any day anyone runs it)."""
    today = today or datetime.datetime.now(datetime.UTC).date()
    unknown = set(days_from_today) - {v.version for v in versions}
    if unknown:
        raise ValueError(f"no version {sorted(unknown)[0]} in the catalog")
    return tuple(
        dataclasses.replace(v, not_before=today + datetime.timedelta(days=days_from_today[v.version]))
        if v.version in days_from_today
        else v
        for v in versions
    )


def _probability(name: str, value: float) -> None:
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"{name} must be between 0 and 1, got {value!r}")


@dataclass(frozen=True)
class Faults:
    """Faults injected on `/v1/...` requests; every default means "no fault"."""

    latency: float = 0.0
    latency_jitter: float = 0.0
    error_rates: Mapping[int, float] = field(default_factory=dict)
    #: Retry-After (seconds) on the injected 5xx answers; None sends none (as most 5xx carry none).
    error_retry_after: float | None = None
    throttle_rate: float = 0.0
    retry_after: float = 1.0
    html_417_rate: float = 0.0
    drop_rate: float = 0.0
    rate_limit: float | None = None
    #: Retry-After on rate-limit 429s: None sends the exact wait for a token, a number sends that value.
    rate_limit_retry_after: float | None = None
    #: Share of rate-limit 429s sent with no Retry-After at all.
    rate_limit_bare_rate: float = 0.0
    #: Accept every connection to `/` and `/v1` and never answer (until the client hangs up).
    black_hole: bool = False
    #: Share of answers whose body is sent at `trickle_bytes_per_second` (bodies shorter than 40 bytes are
    #: padded with spaces to 40, so even a 202 trickles).
    trickle_rate: float = 0.0
    trickle_bytes_per_second: float = 1.0
    #: Share of answers followed by `huge_body_bytes` of spaces (a JSON body stays valid JSON), streamed.
    huge_body_rate: float = 0.0
    huge_body_bytes: int = 50_000_000
    #: Servers whose listing entry says `"locked": "false"` (text, not a JSON boolean): a malformed entry.
    garbled_listing_ids: frozenset[str] = frozenset()
    #: Share of requests answered by a load balancer's 503 HTML page of `html_503_bytes` bytes: repeated
    #: `<title>` tags and no closing tag, the worst case for a careless page reader.
    html_503_rate: float = 0.0
    html_503_bytes: int = 280_000
    methods: frozenset[str] = _ALL_METHODS

    def __post_init__(self) -> None:
        # Copies, so a caller mutating its own dict or set cannot change a running emulator.
        object.__setattr__(self, "error_rates", {int(k): float(v) for k, v in self.error_rates.items()})
        object.__setattr__(self, "methods", frozenset(m.upper() for m in _as_iterable(self.methods)))
        object.__setattr__(self, "garbled_listing_ids", frozenset(self.garbled_listing_ids))
        for name in ("latency", "latency_jitter", "retry_after"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must not be negative")
        for name in ("throttle_rate", "html_417_rate", "drop_rate", "rate_limit_bare_rate", "trickle_rate",
                     "huge_body_rate", "html_503_rate"):  # fmt: skip
            _probability(name, getattr(self, name))
        for status, rate in self.error_rates.items():
            if not 500 <= status <= 599:
                raise ValueError(f"error_rates only takes 5xx statuses, got {status}")
            _probability(f"error_rates[{status}]", rate)
        if sum(self.error_rates.values()) > 1.0 + 1e-9:
            raise ValueError("error_rates must sum to at most 1")
        if self.rate_limit is not None and self.rate_limit <= 0:
            raise ValueError("rate_limit must be positive (or None for no limit)")
        if self.error_retry_after is not None and self.error_retry_after < 0:
            raise ValueError("error_retry_after must not be negative")
        if self.rate_limit_retry_after is not None and self.rate_limit_retry_after < 0:
            raise ValueError("rate_limit_retry_after must not be negative")
        if self.trickle_bytes_per_second <= 0:
            raise ValueError("trickle_bytes_per_second must be positive")
        if self.huge_body_bytes < 0 or self.html_503_bytes < 0:
            raise ValueError("huge_body_bytes and html_503_bytes must not be negative")


def _as_iterable(methods: Iterable[str] | str) -> Iterable[str]:
    # A bare string would otherwise be split into letters.
    return [methods] if isinstance(methods, str) else methods


@dataclass
class EmulatorConfig:
    """Shape of the emulated service. Everything random derives from `seed`."""

    servers: int = 50
    foreign_servers: int = 2
    locked_fraction: float = 0.1
    shutoff_fraction: float = 0.2
    seed: int = 7
    lock_delay: float = 0.0
    skew_seconds: float = 300.0
    access_key: str = DEMO_ACCESS_KEY
    secret_key: str = DEMO_SECRET_KEY
    account_id: str = DEMO_ACCOUNT_ID
    today: datetime.date | None = None
    versions: tuple[ApiVersion, ...] = DEFAULT_VERSIONS
    faults: Faults = field(default_factory=Faults)
    clock: Callable[[], float] = time.time
    #: Extra own servers with exactly these ids (`twin-001`...): two regions configured alike list one id.
    twin_ids: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.servers < 0 or self.foreign_servers < 0:
            raise ValueError("server counts must not be negative")
        _probability("locked_fraction", self.locked_fraction)
        _probability("shutoff_fraction", self.shutoff_fraction)
        if self.lock_delay < 0 or self.skew_seconds < 0:
            raise ValueError("lock_delay and skew_seconds must not be negative")
        self.versions = tuple(self.versions)
        if len({v.version for v in self.versions}) != len(self.versions):
            raise ValueError("versions must not repeat")

    def current_date(self) -> datetime.date:
        """The date version rules are judged on: the injected one, else today's real UTC date."""
        return self.today or datetime.datetime.now(datetime.UTC).date()
