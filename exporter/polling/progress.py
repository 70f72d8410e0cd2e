"""Progress of a cold start: vaults read, job-list pages, jobs and time left, logged every few seconds.

A cold start of a large estate reads the whole lookback — minutes of requests — and without this
nothing is said between "listening" and the first metrics (`--once` prints it on stderr too).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable

from exporter.azure.resourcegraph import API as RESOURCE_GRAPH_API
from exporter.azure.telemetry import ApiTelemetry
from exporter.model import VaultRef

log = logging.getLogger(__name__)

# At most one progress line this often: enough to see it move, few enough not to flood the log.
PROGRESS_EVERY_SECONDS = 5.0
# The requests that fetch pages of jobs (the `api` label of azure_backup_exporter_api_requests_total).
PAGE_APIS = frozenset({"list_jobs", "list_backup_jobs", RESOURCE_GRAPH_API})


class Progress:
    """Counts the first polls of `vaults` as they finish and logs how far they have come."""

    def __init__(
        self,
        vaults: Iterable[VaultRef],
        telemetry: ApiTelemetry,
        monotonic: Callable[[], float],
        *,
        every: float = PROGRESS_EVERY_SECONDS,
    ) -> None:
        self._waiting = set(vaults)
        self.total = len(self._waiting)
        self.done = 0
        self.jobs = 0
        self._telemetry = telemetry
        self._monotonic = monotonic
        self._every = every
        self._pages_before = self._pages()
        self._started = self._last_log = monotonic()

    @property
    def finished(self) -> bool:
        return self.done >= self.total

    def vault_done(self, ref: VaultRef, jobs: int) -> None:
        """A poll of `ref` is over (failed or not), having brought `jobs` jobs; only the first counts."""
        if ref not in self._waiting:
            return
        self._waiting.discard(ref)
        self.done += 1
        self.jobs += jobs
        if self.finished:
            log.info("cold start done: %d vaults, %d pages, %d jobs in %.0f s",
                     self.total, self._pages() - self._pages_before, self.jobs, self._monotonic() - self._started)
        else:
            self.tick()

    def tick(self) -> None:
        """Log how far the start has come, if the last line is old enough."""
        now = self._monotonic()
        if self.finished or now - self._last_log < self._every:
            return
        self._last_log = now
        elapsed = now - self._started
        eta = f"about {elapsed / self.done * (self.total - self.done):.0f} s left" if self.done else "time left unknown"
        log.info("cold start: %d of %d vaults read, %d pages, %d jobs, %s",
                 self.done, self.total, self._pages() - self._pages_before, self.jobs, eta)

    def _pages(self) -> int:
        requests = self._telemetry.snapshot().requests
        return sum(n for (api, _code), n in requests.items() if api in PAGE_APIS)
