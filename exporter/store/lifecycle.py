"""The exporter's own life, recorded: config reloads (SIGHUP) and state file writes.

Written by the main and poller threads; exporter.exposition.lifecycle_families turns a view of it into metrics.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

RESULTS = ("success", "failure")


@dataclass(frozen=True, slots=True)
class LifecycleView:
    reloads: dict[str, int]
    last_reload_ok: bool
    last_reload_success: float
    state_writes: dict[str, int]
    last_state_write_seconds: float | None


class Lifecycle:
    """Counts reloads and state writes; written by the main and poller threads, read on render."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self.reloads = dict.fromkeys(RESULTS, 0)
        self.last_reload_ok = True  # the configuration the process started with was valid
        self.last_reload_success = clock()
        self.state_writes = dict.fromkeys(RESULTS, 0)
        self.last_state_write_seconds: float | None = None

    def config_reloaded(self, *, ok: bool) -> None:
        with self._lock:
            self.reloads["success" if ok else "failure"] += 1
            self.last_reload_ok = ok
            if ok:
                self.last_reload_success = self._clock()

    def state_written(self, *, ok: bool, seconds: float) -> None:
        with self._lock:
            self.state_writes["success" if ok else "failure"] += 1
            if ok:
                self.last_state_write_seconds = seconds

    def view(self) -> LifecycleView:
        with self._lock:
            return LifecycleView(
                dict(self.reloads),
                self.last_reload_ok,
                self.last_reload_success,
                dict(self.state_writes),
                self.last_state_write_seconds,
            )
