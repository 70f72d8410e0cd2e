"""What the exporter's own Azure traffic looks like: requests, latencies, rate-limit headroom, parse errors.

Written by many poll threads at once, read once per poll when the exposition is rendered, so every
write takes one lock and `snapshot()` hands out plain copies.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass, field

# Seconds; ARM calls are usually 0.1 to 2 s, throttled retries and big pages take longer.
API_DURATION_BUCKETS: tuple[float, ...] = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)

RATELIMIT_HEADER_PREFIX = "x-ms-ratelimit-remaining-"
# Resource Graph's per-user query quota ("Guidance for throttled requests in Azure Resource
# Graph"): recorded as scope "user-quota"; it belongs to the identity, not to a subscription.
USER_QUOTA_HEADER = "x-ms-user-quota-remaining"
USER_QUOTA_SCOPE = "user-quota"


@dataclass(frozen=True, slots=True)
class HistogramData:
    """Cumulative-ready histogram state: per-bucket (non-cumulative) counts, sum and count."""

    bucket_counts: tuple[int, ...]
    total: float
    count: int


@dataclass(frozen=True, slots=True)
class TelemetrySnapshot:
    requests: Mapping[tuple[str, str], int] = field(default_factory=dict)
    durations: Mapping[str, HistogramData] = field(default_factory=dict)
    ratelimit_remaining: Mapping[tuple[str, str], float] = field(default_factory=dict)
    parse_errors: Mapping[str, int] = field(default_factory=dict)


class ApiTelemetry:
    """Counts every request the Azure client makes, by API and HTTP status (or error kind)."""

    def __init__(self, buckets: tuple[float, ...] = API_DURATION_BUCKETS) -> None:
        self.buckets = buckets
        self._lock = threading.Lock()
        self._requests: dict[tuple[str, str], int] = {}
        self._bucket_counts: dict[str, list[int]] = {}
        self._sums: dict[str, float] = {}
        self._ratelimit: dict[tuple[str, str], float] = {}
        self._parse_errors: dict[str, int] = {}

    def record(self, api: str, code: str, seconds: float) -> None:
        index = len(self.buckets)
        for i, bound in enumerate(self.buckets):
            if seconds <= bound:
                index = i
                break
        with self._lock:
            key = (api, code)
            self._requests[key] = self._requests.get(key, 0) + 1
            counts = self._bucket_counts.get(api)
            if counts is None:
                counts = self._bucket_counts[api] = [0] * (len(self.buckets) + 1)
            counts[index] += 1
            self._sums[api] = self._sums.get(api, 0.0) + seconds

    def record_ratelimit(self, subscription_id: str, headers: Mapping[str, str]) -> dict[str, float]:
        """Keep the last `x-ms-ratelimit-remaining-<scope>` value seen per subscription and scope
        (only for requests made on behalf of a subscription), and the last Resource Graph
        `x-ms-user-quota-remaining` as scope "user-quota" (subscription_id "" for a query that
        spans subscriptions); returns the values found in `headers`, by scope (the pacer feeds on them)."""
        found: list[tuple[str, float]] = []
        for name, value in headers.items():
            lowered = name.lower()
            if lowered == USER_QUOTA_HEADER:
                scope = USER_QUOTA_SCOPE
            elif subscription_id and lowered.startswith(RATELIMIT_HEADER_PREFIX):
                scope = lowered[len(RATELIMIT_HEADER_PREFIX) :]
            else:
                continue
            try:
                found.append((scope, float(value)))
            except ValueError:
                continue
        if not found:
            return {}
        with self._lock:
            for scope, remaining in found:
                self._ratelimit[(subscription_id, scope)] = remaining
        return dict(found)

    def add_parse_errors(self, errors: Mapping[str, int]) -> None:
        """Values Azure sent that could not be read, by field (the job itself is still used)."""
        if not errors:
            return
        with self._lock:
            for name, count in errors.items():
                self._parse_errors[name] = self._parse_errors.get(name, 0) + count

    def snapshot(self) -> TelemetrySnapshot:
        with self._lock:
            durations = {
                api: HistogramData(tuple(counts), self._sums[api], sum(counts))
                for api, counts in self._bucket_counts.items()
            }
            return TelemetrySnapshot(
                dict(self._requests), durations, dict(self._ratelimit), dict(self._parse_errors)
            )
