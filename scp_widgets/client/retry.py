"""When to try again, and how long to wait: capped exponential backoff with full jitter, `Retry-After`,
and a retry budget shared by a whole bulk run so a dead service is not hammered."""

from __future__ import annotations

import datetime as dt
import email.utils
import random
import time
from dataclasses import dataclass, field

#: Statuses worth another attempt (scp-openapi.md section 5). 400/401/403/404/406/409 never are.
RETRYABLE_STATUS = frozenset({417, 429, 502, 503, 504})
#: "Slow down", not "failed": retried without counting against `retries` or the budget (see `max_throttled`).
THROTTLE_STATUS = frozenset({417, 429})


@dataclass(frozen=True)
class RetryPolicy:
    """`retries` extra attempts after the first; waits are uniform in [0, min(cap, base * 2**n)]."""

    retries: int = 3
    base: float = 0.25
    cap: float = 8.0
    #: A `Retry-After` longer than this is not waited for: the call fails as throttled instead.
    max_retry_after: float = 60.0
    #: Throttled attempts are free, but a call throttled for longer than this (seconds since its first
    #: throttled answer) gives up as throttled, so a service that throttles for ever still ends the run.
    max_throttled: float = 120.0
    rng: random.Random = field(default_factory=random.Random, compare=False, repr=False)

    def __post_init__(self) -> None:
        if self.retries < 0:
            raise ValueError("retries must be 0 or more")

    def delay(self, attempt: int, retry_after: float | None) -> float | None:
        """Seconds to wait before attempt `attempt + 1`, or None to give up."""
        if attempt > self.retries:
            return None
        if retry_after is not None and retry_after > self.max_retry_after:
            return None
        backoff = self.backoff(attempt)
        # Never earlier than the service asked: Retry-After is a floor, jitter only adds to it.
        return backoff if retry_after is None else retry_after + backoff * 0.1

    def backoff(self, n: int) -> float:
        """Full-jitter wait after the `n`th failure in a row."""
        return self.rng.uniform(0.0, min(self.cap, self.base * 2 ** (n - 1)))


class RetryBudget:
    """Retries shared by every call of a run: a small reserve, earned back by successes.

    Each success earns `ratio` tokens and each retry spends one, so a partly failing service gets its
    retries (at 30% failures a call needs about 0.4 retries per success) while a dead one earns nothing:
    N calls then make about N + reserve attempts instead of N * (retries + 1).
    """

    def __init__(self, ratio: float = 1.0, reserve: float = 20.0, cap: float = 200.0) -> None:
        self.ratio = ratio
        self._tokens = reserve
        self._cap = max(cap, reserve)
        self.spent = 0
        self.denied = 0

    def on_success(self) -> None:
        self._tokens = min(self._cap, self._tokens + self.ratio)

    def try_spend(self) -> bool:
        if self._tokens >= 1.0:
            self._tokens -= 1.0
            self.spent += 1
            return True
        self.denied += 1
        return False


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds from a `Retry-After` header: delta-seconds or an HTTP date. None when absent or unreadable."""
    if not value:
        return None
    text = value.strip()
    try:
        return max(0.0, float(text))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return max(0.0, when.timestamp() - (time.time() if now is None else now))
