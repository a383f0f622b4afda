"""`AdaptiveRate`: a client-side send rate that follows the service's throttling (429, or the edge's 417).

The idea is botocore's adaptive retry mode (a token bucket whose fill rate follows throttling with CUBIC),
written afresh. No limit at all until the service throttles. Answers are judged at half-second bucket ends,
once at least `sample` have come in: when more than `threshold` of them were throttles, the rate is cut to
`beta` times what the service accepted (or what was sent, if lower). Only requests sent after the last cut
are judged, so the 429s of one wave cut once; and random 429s (a storm's 5%) do not shrink the rate for
nothing, which a cut on every 429 would (botocore's way) - the rate then never recovers. Each
success lets the rate grow back along a CUBIC curve, flat near the rate that was throttled last, then
probing above it. Sends are spaced evenly (each caller reserves the next slot), so no burst follows a wait.

A cut that does not lower the share of throttles (judged on the requests sent after it) shows they do not
follow our rate: a service that throttles a fifth of everything, at any rate. Cutting again would drive the
rate to its floor (a 400-server run took six minutes at 0.5 requests a second), so the cut is undone and
that share becomes the baseline later windows are judged above. A service throttling more than half of
what it gets is still followed down: there, sending less is the polite answer.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable

#: Length of one measuring bucket of the send rate, and the weight of the newest bucket (botocore's values).
_BUCKET_S = 0.5
_SMOOTHING = 0.8
#: A cut is judged ineffective when the share of throttles after it is at least this part of the share before.
_INEFFECTIVE = 0.75
#: Above this share of throttles, cuts go on whatever they achieve (a service refusing most of what it gets).
_FOLLOWED_ABOVE = 0.5
#: Each quiet window lowers the baseline share, so a storm that has passed stops raising the bar.
_BASELINE_DECAY = 0.9


class AdaptiveRate:
    def __init__(
        self,
        *,
        clock: Callable[[], float] = time.monotonic,
        beta: float = 0.7,
        scale: float = 0.4,
        min_rate: float = 0.5,
        threshold: float = 0.2,
        sample: int = 10,
    ) -> None:
        self._clock = clock
        self._beta = beta
        self._scale = scale
        self._min_rate = min_rate
        self._threshold = threshold
        self._sample = sample
        #: Requests per second allowed now; None while the service has not throttled.
        self.rate: float | None = None
        self.throttles = 0
        self._next_slot = 0.0
        self._last_cut = -math.inf
        self._peak = 0.0
        self._measured = 0.0
        self._bucket = math.floor(clock() / _BUCKET_S)
        self._bucket_sends = 0
        self._first_send: float | None = None
        self._answers = 0  # of requests sent since the last cut, answered since the last judgement
        self._throttled = 0
        self._judged_for = 0.0
        self._baseline = 0.0  # the share of throttles that does not follow our rate (see the module doc)
        self._cut_share = 0.0  # the share that made the last cut
        self._before_cut: tuple[float | None, float, float] | None = None  # (rate, peak, last cut), to undo it

    def reserve(self) -> tuple[float, float]:
        """Take the next send slot: (seconds to wait before sending, the time the request goes out)."""
        now = self._clock()
        if self.rate is None:
            self._count(now)
            return 0.0, now
        slot = max(now, self._next_slot)
        self._next_slot = slot + 1.0 / self.rate
        self._count(slot)
        return slot - now, slot

    def on_throttle(self, sent_at: float) -> None:
        """The request sent at `sent_at` was throttled."""
        self.throttles += 1
        self._judge(sent_at, throttled=True)

    def on_success(self, sent_at: float) -> None:
        """The request sent at `sent_at` was accepted: let the rate grow back (CUBIC since the last cut)."""
        self._judge(sent_at, throttled=False)
        if self.rate is None:
            return
        now = self._clock()
        since = now - self._last_cut
        knee = (self._peak * (1.0 - self._beta) / self._scale) ** (1.0 / 3.0)
        cubic = self._scale * (since - knee) ** 3 + self._peak
        self.rate = max(self._min_rate, min(cubic, 2.0 * max(self.measured(now), self._min_rate)))

    def _judge(self, sent_at: float, *, throttled: bool) -> None:
        self._roll(self._clock())
        if sent_at < self._last_cut:
            return  # sent at the old rate: says nothing about the new one
        self._answers += 1
        self._throttled += throttled

    def _cut(self, now: float, seconds: float) -> None:
        measured = self.measured(now)
        sent = measured if self.rate is None else min(self.rate, measured)
        accepted = (self._answers - self._throttled) / seconds
        self._peak = max(self._min_rate, min(sent, accepted) if accepted > 0 else sent * self._beta)
        self._last_cut = now
        self.rate = max(self._min_rate, self._peak * self._beta)
        self._next_slot = max(self._next_slot, now)

    def measured(self, now: float) -> float:
        """Requests per second going out lately (smoothed over half-second buckets)."""
        self._roll(now)
        if self._measured > 0 or self._first_send is None:
            return self._measured
        # Nothing measured yet (less than one bucket since the first send): the average so far.
        return self._bucket_sends / max(now - self._first_send, 0.05)

    def _count(self, when: float) -> None:
        if self._first_send is None:
            self._first_send = when
        self._roll(when)
        self._bucket_sends += 1

    def _roll(self, now: float) -> None:
        bucket = math.floor(now / _BUCKET_S)
        if bucket <= self._bucket:
            return
        seconds = (bucket - self._bucket) * _BUCKET_S  # idle buckets count as quiet
        rate = self._bucket_sends / seconds
        self._measured = rate if self._measured == 0 else _SMOOTHING * rate + (1 - _SMOOTHING) * self._measured
        self._bucket = bucket
        self._bucket_sends = 0
        self._judged_for += seconds
        if self._answers < self._sample:
            return  # too few answers to tell a limit from bad luck: keep counting
        share = self._throttled / self._answers
        if share > min(self._threshold + self._baseline, _FOLLOWED_ABOVE):
            if self._before_cut is not None and _INEFFECTIVE * self._cut_share <= share <= _FOLLOWED_ABOVE:
                # the cut left the share as it was: undo it whole (the CUBIC climb too), and judge above it
                self._baseline = share
                self.rate, self._peak, self._last_cut = self._before_cut
                self._before_cut = None
            else:
                self._before_cut, self._cut_share = (self.rate, self._peak, self._last_cut), share
                self._cut(now, self._judged_for)
        else:  # only an undone cut raises the baseline; a window under the bar lowers it
            self._before_cut = None
            self._baseline *= _BASELINE_DECAY
        self._answers = self._throttled = 0
        self._judged_for = 0.0
