"""Per-vault interval scheduling, shared by the inventory and posture pollers: which vaults are due
on the monotonic clock, their reads on a pool of threads, and a stop request that abandons a batch.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, wait
from typing import Generic, TypeVar

from exporter.model import VaultRef

# How often a poller's thread looks for due vaults, and notices a stop request while a batch runs.
WAKE_SECONDS = 1.0
R = TypeVar("R")


class Batch(Generic[R]):
    """The reads one look for due vaults started; `finish` folds them in."""

    def __init__(self, futures: dict[Future[R], VaultRef], due: list[VaultRef], left: set[VaultRef]) -> None:
        self._futures = futures
        self.due = due
        self.left = left  # vaults no longer listed: their series go at the next publish

    def finish(
        self, stop: threading.Event | None, record: Callable[[VaultRef, R], object], publish: Callable[[], object]
    ) -> int:
        """Wait for every read, `record` each (in the order they started), `publish` if a vault was
        read or left; how many vaults were read.

        A stop request abandons the batch unrecorded and unpublished: the requests in flight end
        with the ARM client, and nothing half-done reaches the scrape.
        """
        pending = set(self._futures)
        while pending:
            _, pending = wait(pending, timeout=WAKE_SECONDS)
            if stop is not None and stop.is_set():
                return 0
        for future, ref in self._futures.items():
            record(ref, future.result())  # the read catches what Azure can throw
        if self.due or self.left:  # a vault that left takes its series along at once
            publish()
        return len(self.due)


class IntervalSchedule(Generic[R]):
    """Each vault's next read on the monotonic clock, `interval` seconds after its last (a vault
    new to the schedule at once), and the threads that run `read` for the due ones."""

    def __init__(
        self,
        read: Callable[[VaultRef], R],
        *,
        interval: float,
        concurrency: int,
        monotonic: Callable[[], float],
        name: str,
    ) -> None:
        self._read = read
        self._interval = interval
        self._monotonic = monotonic
        # The ARM client bounds the requests on the wire across all pollers; these threads only wait.
        self._pool = ThreadPoolExecutor(concurrency, thread_name_prefix=name)
        self._next: dict[VaultRef, float] = {}

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)

    def all_due(self) -> None:
        """Make every vault due at the next `start`, whatever its schedule (a poll of all now)."""
        self._next = dict.fromkeys(self._next, -1.0)

    def start(self, refs: Sequence[VaultRef]) -> Batch[R]:
        """Start reading those of `refs` that are due; the vaults not among `refs` leave the schedule."""
        left = set(self._next) - set(refs)
        self._next = {ref: self._next.get(ref, -1.0) for ref in refs}
        now = self._monotonic()
        due = [ref for ref, at in self._next.items() if at <= now]
        for ref in due:
            self._next[ref] = now + self._interval
        return Batch({self._pool.submit(self._read, ref): ref for ref in due}, due, left)


def run_until(stop: threading.Event, poll_due: Callable[[threading.Event], object]) -> None:
    """A poller's thread: `poll_due` every WAKE_SECONDS until `stop` is set."""
    while not stop.is_set():
        poll_due(stop)
        stop.wait(WAKE_SECONDS)
