"""Azure's `x-ms-ratelimit-remaining-*` headers: token buckets that count down per request and
refill over (real) time. They only inform; throttling itself is injected with a Fault(429)."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

# ARM's documented read limit is 12,000 per hour per subscription (and per tenant). The
# resource-provider bucket is smaller: recorded backupJobs answers show 217 and 289 left.
_READS = (12_000.0, 12_000.0 / 3600.0)
_RESOURCE_REQUESTS = (300.0, 5.0)
_MAX_BUCKETS = 10_000


@dataclass
class _Bucket:
    capacity: float
    refill_per_second: float
    level: float
    stamp: float

    def spend(self, now: float) -> int:
        self.level = min(self.capacity, self.level + (now - self.stamp) * self.refill_per_second) - 1.0
        self.level = max(self.level, 0.0)
        self.stamp = now
        return int(self.level)


class RateLimits:
    def __init__(self) -> None:
        self._buckets: dict[tuple[str, str], _Bucket] = {}
        self._lock = threading.Lock()

    def _spend(self, scope: str, owner: str, limits: tuple[float, float], now: float) -> int:
        bucket = self._buckets.get((scope, owner))
        if bucket is None:
            if len(self._buckets) >= _MAX_BUCKETS:
                self._buckets.clear()
            bucket = self._buckets[(scope, owner)] = _Bucket(limits[0], limits[1], limits[0], now)
        return bucket.spend(now)

    def spend(self, subscription_id: str | None, *, resource_provider: bool) -> dict[str, str]:
        """Count one request; the headers to send with its answer."""
        now = time.monotonic()
        with self._lock:
            if subscription_id is None:
                return {"x-ms-ratelimit-remaining-tenant-reads": str(self._spend("tenant-reads", "", _READS, now))}
            owner = subscription_id.lower()
            headers = {
                "x-ms-ratelimit-remaining-subscription-reads": str(
                    self._spend("subscription-reads", owner, _READS, now)
                )
            }
            if resource_provider:
                headers["x-ms-ratelimit-remaining-subscription-resource-requests"] = str(
                    self._spend("subscription-resource-requests", owner, _RESOURCE_REQUESTS, now)
                )
            return headers
