"""Jobs from Azure Resource Graph: one paged query per poll instead of one list per vault.

The poller asks its source vault by vault (`JobSource.list_jobs`). This source answers the first
vault of a poll with one Resource Graph query that covers every vault the poller polls, keeps
the jobs grouped by vault, and answers the other vaults from that batch while it is fresh — so a
poll of N vaults costs ceil(jobs / 1000) queries instead of N lists. Vault and job details still
come from the Recovery Services API (`get_job`: the size is only in a job's details).

The batch starts early enough for every vault: at the earliest of the windows the poller is about
to ask for (`prepare`, called before the polls start). A vault on its first window (just
discovered) wants its whole lookback; while others poll on from their cursors, it is left out of
the batch's start and gets a query of its own, so one new vault does not drag every vault back.
A vault whose window starts before the batch for any reason gets its own query too, so the result
never depends on the plan, only the cost does.

A batch is fresh for min(interval / 2, 5 minutes) of the poller's clock, counted from the moment
its query started: a vault served from it records its own (later) window end, and its next
window, which re-reads the 10 minutes before that end, still reaches back over the gap — with
5 minutes to spare for jobs Resource Graph shows late. Half the interval, so that every poll
queries afresh.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

from exporter.azure.arm import ArmError
from exporter.azure.backup import RecoveryServicesApi
from exporter.azure.resourcegraph import MAX_VAULTS_PER_QUERY, ResourceGraphApi, jobs_query, vault_id_of
from exporter.model import RECOVERY_SERVICES, Job, VaultInfo, VaultRef
from exporter.parsing.jobs import parse_job
from exporter.polling.sources import Window, of_operations

MAX_BATCH_AGE = 300.0
# The batch reaches this much further back than any window it was made for: vaults whose clock
# was read a moment before the asking vault's still fall inside it.
BATCH_SLACK = 60.0


@dataclass(frozen=True, slots=True)
class _Batch:
    start: float  # covers jobs that started at or after this
    end: float  # the poller's clock when the query was made
    vaults: frozenset[str]  # lowercase vault resource ids
    jobs: dict[str, list[Job]]
    failure: ArmError | None = None


class ResourceGraphSource:
    kind = RECOVERY_SERVICES

    def __init__(
        self,
        graph: ResourceGraphApi,
        api: RecoveryServicesApi,
        polled_vaults: Callable[[], Iterable[VaultRef]],  # the vaults of the latest discovery
        *,
        interval: float,
        operations: Sequence[str] = (),
    ) -> None:
        self._graph = graph
        self._api = api
        self._polled_vaults = polled_vaults
        self._max_age = min(interval / 2, MAX_BATCH_AGE)
        self._operations = frozenset(operations)
        self._lock = threading.Lock()  # held while a batch is queried: the others wait for it
        self._batch: _Batch | None = None
        # The windows of the polls the poller last started, by lowercase vault id; replaced whole.
        self._windows: dict[str, Window] = {}

    def list_vaults(self, subscription_id: str) -> list[VaultInfo]:
        return self._api.list_vaults(subscription_id)

    def prepare(self, windows: Mapping[VaultRef, Window]) -> None:
        self._windows = {ref.resource_id.lower(): window for ref, window in windows.items() if ref.kind == self.kind}

    def get_job(self, vault: VaultRef, job_id: str, errors: Counter[str]) -> Job | None:
        return parse_job(self._api.get_job(vault, job_id), errors)

    def list_jobs(self, vault: VaultRef, start: float, end: float, errors: Counter[str]) -> list[Job]:
        key = vault.resource_id.lower()
        batch = self._batch_for(vault, key, start, end, errors)
        found = batch.jobs.get(key, []) if batch is not None else self._query([vault], start, errors).get(key, [])
        return [
            job
            for job in found
            if (job.start_time is None or start <= job.start_time <= end) and of_operations(job, self._operations)
        ]

    def _batch_for(self, vault: VaultRef, key: str, start: float, end: float, errors: Counter[str]) -> _Batch | None:
        """The batch that answers this vault (querying one if none is fresh); None: query it alone."""
        with self._lock:
            batch = self._batch
            if batch is None or abs(end - batch.end) > self._max_age:  # abs: a clock stepped back, too
                batch = self._batch = self._new_batch(vault, key, start, end, errors)
        if key not in batch.vaults:
            return None
        if batch.failure is not None:
            failure = batch.failure
            raise ArmError(failure.api, failure.status, failure.code, failure.message)
        return batch if start >= batch.start else None

    def _new_batch(self, vault: VaultRef, key: str, start: float, end: float, errors: Counter[str]) -> _Batch:
        refs = {ref.resource_id.lower(): ref for ref in self._polled_vaults() if ref.kind == self.kind}
        refs[key] = vault
        windows = {k: w for k, w in self._windows.items() if k in refs}
        windows.setdefault(key, Window(start, end))  # asked without a plan: its own window counts
        # A vault on its first window while others poll on (one just discovered) wants its whole
        # lookback: that is its own query, not every vault's.
        later = [w.start for w in windows.values() if not w.first]
        since = min(later or [w.start for w in windows.values()]) - BATCH_SLACK
        try:
            jobs = self._query(list(refs.values()), since, errors)
        except ArmError as exc:
            # Remembered for the batch's lifetime: the other vaults of this poll fail with it
            # instead of each asking again.
            return _Batch(since, end, frozenset(refs), {}, exc)
        return _Batch(since, end, frozenset(refs), jobs)

    def _query(self, vaults: Sequence[VaultRef], since: float, errors: Counter[str]) -> dict[str, list[Job]]:
        """Jobs that started since `since`, by lowercase vault id, newest first (as the list API)."""
        ordered = sorted(vaults, key=lambda ref: ref.resource_id.lower())
        by_vault: dict[str, list[Job]] = {}
        for first in range(0, len(ordered), MAX_VAULTS_PER_QUERY):
            chunk = ordered[first : first + MAX_VAULTS_PER_QUERY]
            wanted = {ref.resource_id.lower() for ref in chunk}
            subscriptions = sorted({ref.subscription_id for ref in chunk})
            query = jobs_query([ref.resource_id for ref in chunk], since)
            for page in self._graph.query(subscriptions, query):
                for row in page:
                    row_id = row.get("id") if isinstance(row, dict) else None
                    vault_id = vault_id_of(row_id) if isinstance(row_id, str) else None
                    if vault_id is None:
                        errors["id"] += 1
                        continue
                    job = parse_job(row, errors)
                    if job is not None and vault_id in wanted:
                        by_vault.setdefault(vault_id, []).append(job)
        for jobs in by_vault.values():
            jobs.sort(key=_newest_first)
        return by_vault


def _newest_first(job: Job) -> float:
    return -(job.start_time if job.start_time is not None else float("inf"))
