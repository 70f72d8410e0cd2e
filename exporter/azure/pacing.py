"""Pacing: spread requests so that a large estate never bursts past ARM's throttling buckets.

ARM throttles reads with a token bucket per subscription and principal (and per region): 250
requests, refilled at 25 per second; tenant-level reads have a bucket of their own of the same
size (Microsoft Learn, "Understand how Azure Resource Manager throttles requests", 2024 limits).
The pacer keeps a smaller bucket per subscription ("" for tenant-level calls) on our side, so that
a cold start of a thousand vaults spreads out instead of spending the whole bucket at once and
meeting 429s, and leaves headroom for the other clients of the same identity.

Azure says how much is left in `x-ms-ratelimit-remaining-subscription-reads` (and
`-subscription-resource-requests` for the resource provider's own limit). When the least of those
falls under `low_water`, the pacer stops bursting and slows down in proportion, to `min_rate` at
zero; a reply with headroom again restores the full rate. A 429 is still handled by the client's
Retry-After gate: the pacer only tries to make one rare.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

# Below ARM's 25/s and 250 per subscription, so that the exporter never uses the whole bucket.
DEFAULT_RATE = 20.0  # requests per second, sustained, per subscription
DEFAULT_BURST = 100.0  # requests at once after a quiet spell, per subscription
DEFAULT_LOW_WATER = 50.0  # remaining requests under which the pacer slows down
DEFAULT_MIN_RATE = 1.0  # requests per second when Azure reports nothing left


@dataclass(slots=True)
class _Bucket:
    level: float  # tokens available now; negative while requests already wait for later ones
    stamp: float
    rate: float


class Pacer:
    """A token bucket per scope. `delay()` reserves a slot and says how long to wait for it."""

    def __init__(
        self,
        rate: float = DEFAULT_RATE,
        burst: float = DEFAULT_BURST,
        *,
        low_water: float = DEFAULT_LOW_WATER,
        min_rate: float = DEFAULT_MIN_RATE,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not (rate > 0 and burst >= 1 and low_water >= 0 and 0 < min_rate <= rate):
            raise ValueError("pacer: need rate > 0, burst >= 1, low_water >= 0 and 0 < min_rate <= rate")
        self.rate = rate
        self.burst = burst
        self.low_water = low_water
        self.min_rate = min_rate
        self._clock = clock
        self._lock = threading.Lock()
        self._buckets: dict[str, _Bucket] = {}

    def _refilled(self, scope: str) -> _Bucket:
        now = self._clock()
        bucket = self._buckets.get(scope)
        if bucket is None:
            bucket = self._buckets[scope] = _Bucket(self.burst, now, self.rate)
        else:
            bucket.level = min(self.burst, bucket.level + (now - bucket.stamp) * bucket.rate)
            bucket.stamp = now
        return bucket

    def delay(self, scope: str) -> float:
        """Take one request's token for `scope`; the seconds to wait before sending it (0 if none).

        A token is taken even when none is left yet: concurrent callers queue up one refill
        interval apart instead of all waking at the same instant.
        """
        with self._lock:
            bucket = self._refilled(scope)
            bucket.level -= 1.0
            return 0.0 if bucket.level >= 0 else -bucket.level / bucket.rate

    def observe(self, scope: str, remaining: float) -> None:
        """Feed back the least `x-ms-ratelimit-remaining-*` value of a reply for `scope`."""
        with self._lock:
            bucket = self._refilled(scope)
            if remaining >= self.low_water:
                bucket.rate = self.rate
                return
            bucket.rate = max(self.min_rate, self.rate * max(remaining, 0.0) / self.low_water)
            bucket.level = min(bucket.level, 0.0)  # no bursts while Azure's headroom is low
