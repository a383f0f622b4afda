"""Fault decisions. Pure: no I/O, no sleeping; the app acts on what is decided here.

Randomness comes from the emulator's seeded `random.Random`, and a draw is only made for a fault that is
configured, so enabling one fault does not reshuffle the others and a seed reproduces a run.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from .config import Faults

EdgeKind = Literal["drop", "417", "html503", "rate_limit", "429"]
BodyKind = Literal["trickle", "huge"]


@dataclass(frozen=True)
class EdgeFault:
    kind: EdgeKind
    retry_after: str | None = None  # the Retry-After header value, for 429s (None: no header)


def format_retry_after(seconds: float) -> str:
    """Integer string when whole, else a decimal rounded up to the millisecond (never promise too early)."""
    if seconds == int(seconds):
        return str(int(seconds))
    rounded = math.ceil(seconds * 1000) / 1000
    if rounded == int(rounded):
        return str(int(rounded))
    return f"{rounded:.3f}".rstrip("0")


class TokenBucket:
    """`rate` tokens per second, holding at most `burst`; starts full."""

    def __init__(self, rate: float, now: float) -> None:
        self.rate = rate
        self.burst = max(1.0, rate)
        self._tokens = self.burst
        self._stamp = now

    def take(self, now: float) -> float | None:
        """Spend a token; None when allowed, else the seconds until one is available."""
        # max(0, ...) because the default clock is wall time and may step backwards.
        self._tokens = min(self.burst, self._tokens + max(0.0, now - self._stamp) * self.rate)
        self._stamp = now
        if self._tokens >= 1.0:
            self._tokens -= 1.0
            return None
        return (1.0 - self._tokens) / self.rate


class FaultInjector:
    def __init__(self, faults: Faults, rng: random.Random, clock: Callable[[], float]) -> None:
        self._rng = rng
        self._clock = clock
        self.faults = faults
        self._bucket = self._new_bucket()

    def replace(self, faults: Faults) -> None:
        self.faults = faults
        self._bucket = self._new_bucket()

    def _new_bucket(self) -> TokenBucket | None:
        rate = self.faults.rate_limit
        return None if rate is None else TokenBucket(rate, self._clock())

    def applies_to(self, method: str) -> bool:
        return method.upper() in self.faults.methods

    def _hit(self, rate: float) -> bool:
        return rate > 0 and self._rng.random() < rate

    def latency(self) -> float:
        jitter = self._rng.uniform(0, self.faults.latency_jitter) if self.faults.latency_jitter > 0 else 0.0
        return self.faults.latency + jitter

    def edge(self) -> EdgeFault | None:
        """Drop, then the 417 page, then the 503 HTML page, then the rate limit, then random throttling."""
        f = self.faults
        if self._hit(f.drop_rate):
            return EdgeFault("drop")
        if self._hit(f.html_417_rate):
            return EdgeFault("417")
        if self._hit(f.html_503_rate):
            return EdgeFault("html503")
        if self._bucket is not None:
            wait = self._bucket.take(self._clock())
            if wait is not None:
                if self._hit(f.rate_limit_bare_rate):
                    return EdgeFault("rate_limit", None)
                fixed = f.rate_limit_retry_after
                return EdgeFault("rate_limit", format_retry_after(wait if fixed is None else fixed))
        if self._hit(f.throttle_rate):
            return EdgeFault("429", format_retry_after(f.retry_after))
        return None

    def body(self) -> BodyKind | None:
        """How the answer's body is sent: trickled, followed by a huge padding, or normally (None)."""
        if self._hit(self.faults.trickle_rate):
            return "trickle"
        if self._hit(self.faults.huge_body_rate):
            return "huge"
        return None

    def server_error(self) -> int | None:
        """One draw against the cumulative error rates, so they never overlap."""
        rates = self.faults.error_rates
        if not any(rate > 0 for rate in rates.values()):
            return None
        draw = self._rng.random()
        total = 0.0
        for status in sorted(rates):
            total += rates[status]
            if draw < total:
                return status
        return None

    def support_id(self) -> int:
        return self._rng.randrange(10**18, 10**19)
