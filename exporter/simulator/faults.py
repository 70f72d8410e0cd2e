"""Faults the simulator injects on request: throttling, server errors, latency, bad bodies, resets."""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass, fields, replace
from typing import Any

# In a fault's body, replaced by how many requests the fault has hit so far (1, 2, …): a body
# whose nextLink carries it is an endless pager, each page pointing at a new one.
HIT_PLACEHOLDER = "{hit}"


@dataclass
class Fault:
    """One misbehaviour, for the requests whose path (with query) the regex `path` finds.

    `path=""` hits every ARM request but never the token endpoint; a regex that matches
    "/msi/token" hits the token endpoint too. A fault with only `latency` delays the request,
    which is then served normally.
    """

    path: str = ""
    status: int | None = None  # e.g. 429, 500, 503, 401, 403, 404
    retry_after: float | None = None  # sent as Retry-After (seconds) with the status
    latency: float = 0.0  # seconds slept before answering
    body: str | None = None  # raw body sent instead (e.g. truncated JSON '{"value": ['); see HIT_PLACEHOLDER
    reset: bool = False  # close the connection without any response
    times: int | None = 1  # how many matching requests it hits; None = until cleared

    def __post_init__(self) -> None:
        re.compile(self.path)  # fail at add time, not on the request that meets it
        if self.times is not None and self.times < 1:
            raise ValueError("Fault.times must be >= 1 or None")
        if self.latency < 0 or (self.retry_after is not None and self.retry_after < 0):
            raise ValueError("Fault.latency and Fault.retry_after must be >= 0")

    @classmethod
    def deny(cls, path: str) -> Fault:
        """Refuse every request `path` finds with 403 AuthorizationFailed, as ARM answers an
        identity that lacks the role for that read (--config.check's tests)."""
        return cls(path=path, status=403, times=None)

    @property
    def answers(self) -> bool:
        """True if the fault replaces the response (not just delays it)."""
        return self.reset or self.status is not None or self.body is not None

    @classmethod
    def from_json(cls, data: Any) -> Fault:
        """A Fault from the control plane's JSON; unknown keys are an error, not ignored."""
        if not isinstance(data, dict):
            raise TypeError("a fault must be a JSON object")
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown fault fields: {', '.join(unknown)}")
        fault = cls(**data)
        _check_types(fault)
        return fault


def _check_types(fault: Fault) -> None:
    numbers = (int, float)
    checks = (
        isinstance(fault.path, str),
        fault.status is None or (isinstance(fault.status, int) and not isinstance(fault.status, bool)),
        fault.retry_after is None or isinstance(fault.retry_after, numbers),
        isinstance(fault.latency, numbers),
        fault.body is None or isinstance(fault.body, str),
        isinstance(fault.reset, bool),
        fault.times is None or (isinstance(fault.times, int) and not isinstance(fault.times, bool)),
    )
    if not all(checks):
        raise TypeError(f"fault has a field of the wrong type: {fault}")


@dataclass
class _Armed:
    fault: Fault
    pattern: re.Pattern[str]
    remaining: int | None
    hits: int = 0


class FaultPlan:
    """The active faults, first added first matched; each hit counts against its `times`."""

    def __init__(self) -> None:
        self._armed: list[_Armed] = []
        self._lock = threading.Lock()

    def add(self, fault: Fault) -> None:
        with self._lock:
            self._armed.append(_Armed(fault, re.compile(fault.path), fault.times))

    def clear(self) -> None:
        with self._lock:
            self._armed.clear()

    def take(self, target: str, *, token_route: bool) -> Fault | None:
        """The first armed fault for this request target (path + query), consumed once."""
        with self._lock:
            for armed in self._armed:
                if not armed.fault.path:
                    if token_route:
                        continue
                elif armed.pattern.search(target) is None:
                    continue
                armed.hits += 1
                if armed.remaining is not None:
                    armed.remaining -= 1
                    if armed.remaining == 0:
                        self._armed.remove(armed)
                body = armed.fault.body
                if body is not None and HIT_PLACEHOLDER in body:
                    return replace(armed.fault, body=body.replace(HIT_PLACEHOLDER, str(armed.hits)))
                return armed.fault
        return None

    def active(self) -> list[Fault]:
        with self._lock:
            return [armed.fault for armed in self._armed]
