"""The schedule: which vaults to read, which window of their jobs, and when.

Cold start reads `lookback`; every later poll of a vault asks only for the jobs that started since
its previous poll (minus an overlap) — and reaches back far enough to re-list the jobs it saw in
progress, so a job that finishes later is seen finished even if it started long ago. A quiet vault
costs one request a poll; a newly finished job costs one details GET, once.

Each vault is polled in a worker thread and only reads its own cursor; results are folded into the
store by the scheduling thread alone, so the store has one writer. A failed vault keeps its last
good series (the store is untouched) and shows `target_up 0`.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field

from exporter.azure.arm import ArmError
from exporter.azure.backup import RecoveryServicesApi
from exporter.azure.telemetry import ApiTelemetry
from exporter.config.schema import Config, Target
from exporter.model import VAULT_KINDS, Job, VaultInfo, VaultRef
from exporter.polling.background import lower_thread_priority
from exporter.polling.sharding import owns
from exporter.polling.sources import JobSource
from exporter.store.job_store import MAX_DETAIL_ATTEMPTS, Snapshot, Store, VaultState

log = logging.getLogger(__name__)

# Jobs become visible in the list a little after their startTime; re-read this much of the
# previous window so none falls between two polls.
WINDOW_OVERLAP_SECONDS = 600.0
# While some vaults are still being read, publish what the finished ones brought at most this often,
# and at most every RENDER_GAP_FACTOR times the last render's duration: rendering 10,000 items takes
# seconds of CPU, and a long poll (Azure slow) must not keep a core busy re-rendering while scrapes
# are served from the same process (bench/RESULTS.md).
PUBLISH_EVERY_SECONDS = 5.0
RENDER_GAP_FACTOR = 10.0
STOP_CHECK_SECONDS = 0.5
# A cold start counts the lookback's jobs from the list alone (a details GET for each would make
# it cost one request per job); the latest finished job of each item then gets its details —
# its size — over the next polls, this many per vault and poll.
BACKFILL_PER_POLL = 20
# Back after an outage (the exporter down for a weekend, a vault unreachable for hours), a vault may
# have finished thousands of jobs since its last poll: a details GET for each would be a burst of
# requests that throttles the subscription and delays the counters until it is through. Past this
# many newly finished jobs, and only when the window is longer than two intervals, the poll counts
# them from the list as a cold start does; the latest of each item gets its details by backfill.
CATCH_UP_DETAILS_LIMIT = 100
# A job seen in progress pulls the next window back to its start, so that its end is listed. One
# that runs far longer than the window (an initial backup of days, a log backup hung for a week)
# would make every poll re-read all the jobs since: past this age it is read by id instead, up
# to MAX_STRAGGLERS per vault and poll (more, and the window reaches back as before).
STRAGGLER_AFTER_SECONDS = 6 * 3600.0
MAX_STRAGGLERS = 20


@dataclass(slots=True)
class VaultPoll:
    """What one poll of one vault brought back, to be folded into the store."""

    ref: VaultRef
    ok: bool = False
    jobs: list[Job] = field(default_factory=list)
    tracked: list[Job] = field(default_factory=list)
    pending: dict[str, tuple[Job, int]] = field(default_factory=dict)
    backfill: list[str] = field(default_factory=list)
    window_end: float | None = None
    gone: list[str] = field(default_factory=list)  # stragglers Azure no longer knows (404)
    duration: float = 0.0
    parse_errors: Counter[str] = field(default_factory=Counter)
    error: str | None = None  # why the poll failed (ArmError's message: no secret), for the status page


class Poller:
    def __init__(
        self,
        config: Config,
        api: RecoveryServicesApi,
        sources: Sequence[JobSource],
        *,
        store: Store,
        telemetry: ApiTelemetry,
        publish: Callable[[Snapshot], object],
        clock: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.config = config
        self._api = api  # subscriptions are listed here; vaults and jobs come from the sources
        self._sources = {source.kind: source for source in sources}
        self._store = store
        self._telemetry = telemetry
        self._publish = publish
        self._clock = clock
        self._monotonic = monotonic
        self._pool = ThreadPoolExecutor(config.collection.concurrency, thread_name_prefix="poll")
        self._discovered: dict[str, list[VaultInfo]] = {}
        self._next_discovery = -1.0
        self._next_poll: dict[VaultRef, float] = {}
        self._in_flight: dict[Future[VaultPoll], VaultRef] = {}
        self._busy: set[VaultRef] = set()
        self.polls_completed = 0
        # The vaults this replica polls, replaced whole after each discovery: worker threads
        # (a source batching one query across vaults) may read it at any time.
        self.polled_vaults: frozenset[VaultRef] = frozenset()

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)

    # -- the two ways to run --------------------------------------------------------------------
    def poll_once(self) -> bool:
        """Discover (when due), poll every vault once, publish; True if every vault succeeded."""
        if self._monotonic() >= self._next_discovery:
            self._discover()
        for ref in self._store.vault_refs():
            self._submit(ref)
        while self._in_flight:
            done, _ = wait(list(self._in_flight), return_when=FIRST_COMPLETED)
            self._collect(done)
        self._publish(self._store.snapshot())
        listed = self._store.discovery_ok is not False
        return listed and all(self._store.vault(ref).up for ref in self._store.vault_refs())

    def run(self, stop: threading.Event) -> None:
        """Poll each vault every `interval` on a monotonic clock until `stop` is set."""
        lower_thread_priority()  # rendering and parsing must not slow the scrapes served meanwhile
        last_publish = self._monotonic()
        publish_gap = PUBLISH_EVERY_SECONDS
        dirty = False
        while not stop.is_set():
            now = self._monotonic()
            if now >= self._next_discovery:
                self._discover()
                dirty = True
            for ref in self._store.vault_refs():
                # A vault whose poll overruns its interval is not started twice.
                if ref not in self._busy and self._next_poll.get(ref, -1.0) <= now:
                    self._submit(ref)
            timeout = self._seconds_to_next_event()
            done, _ = wait(list(self._in_flight), timeout=timeout, return_when=FIRST_COMPLETED)
            if not self._in_flight:
                stop.wait(timeout)
            if done:
                self._collect(done)
                dirty = True
            idle = not self._in_flight
            if dirty and (idle or self._monotonic() - last_publish >= publish_gap):
                began = self._monotonic()
                self._publish(self._store.snapshot())
                last_publish = self._monotonic()
                publish_gap = publish_gap_after(last_publish - began)
                dirty = False

    def _seconds_to_next_event(self) -> float:
        now = self._monotonic()
        due = [self._next_discovery, *self._next_poll.values()]
        soonest = min(due) if due else now + 1.0
        # Short enough that a stop request is noticed promptly while polls are in flight.
        return min(max(soonest - now, 0.05), STOP_CHECK_SECONDS)

    # -- discovery ------------------------------------------------------------------------------
    def _discover(self) -> None:
        collection = self.config.collection
        # A failed listing is tried again at the poll interval, not an hour later: until it
        # answers, the vaults it would find have no series, so no other alert can speak for them.
        self._next_discovery = self._monotonic() + min(collection.interval, collection.discovery_interval)
        targets = self.config.targets
        subscriptions = {t.subscription_id for t in targets if t.subscription_id != "*"}
        # Every listing a discovery target depends on answered: an empty result then means there
        # is nothing to poll. (A named vault is polled whether or not its subscription lists.)
        complete = True
        discovering = {t.subscription_id for t in targets if t.is_discovery}
        if "*" in discovering:
            try:
                subscriptions.update(self._api.list_subscriptions())
            except ArmError as exc:
                log.warning("listing subscriptions failed: %s", exc)
                subscriptions.update(self._discovered)
                complete = False
        # Only the kinds some target wants: an estate without backup vaults asks nothing of them.
        kinds: dict[str, set[str]] = {}
        for target in targets:
            for sub in subscriptions if target.subscription_id == "*" else (target.subscription_id,):
                kinds.setdefault(sub, set()).update(target.kinds)
        futures = {
            (sub, kind): self._pool.submit(source.list_vaults, sub)
            for sub in sorted(subscriptions)
            for kind, source in self._sources.items()
            if kind in kinds.get(sub, ())
        }
        found: dict[str, list[VaultInfo]] = {}
        for (sub, kind), future in futures.items():
            try:
                found.setdefault(sub, []).extend(future.result())
            except ArmError as exc:
                # Keep what the last good discovery found; an explicitly named vault is polled anyway.
                log.warning("listing %s vaults of subscription %s failed: %s", kind, sub, exc)
                if "*" in discovering or sub in discovering:
                    complete = False
                found.setdefault(sub, []).extend(i for i in self._discovered.get(sub, []) if i.ref.kind == kind)
        self._discovered.update(found)
        infos: dict[VaultRef, VaultInfo] = {}
        tracked: dict[VaultRef, tuple[str, ...]] = {}
        for target in targets:
            for info in self._resolve(target):
                infos.setdefault(info.ref, info)
                if target.jobs:
                    tracked[info.ref] = tracked.get(info.ref, ()) + target.jobs
        infos = _one_per_label_set(infos)
        index, count = collection.shard_index, collection.shard_count
        if count > 1:
            mine = {ref: info for ref, info in infos.items() if owns(ref, index, count)}
            log.info("shard %d of %d: polling %d of %d vaults", index, count, len(mine), len(infos))
            infos = mine
        if not infos and complete:
            log.warning("no vault to poll: no target matched a vault this replica owns")
        self.polled_vaults = frozenset(infos)
        self._store.set_vaults(infos.values(), tracked, complete=complete)
        if complete:
            self._next_discovery = self._monotonic() + collection.discovery_interval
        self._next_poll = {ref: self._next_poll.get(ref, -1.0) for ref in infos}

    def _resolve(self, target: Target) -> list[VaultInfo]:
        if not target.is_discovery:
            ref = VaultRef(
                target.subscription_id, target.resource_group or "", target.vault_name or "", target.kinds[0]
            )
            known = {
                (i.ref.kind, i.ref.resource_group.lower(), i.ref.vault.lower()): i
                for i in self._discovered.get(target.subscription_id, [])
            }
            found = known.get((ref.kind, ref.resource_group.lower(), ref.vault.lower()))
            return [VaultInfo(ref, found.location, found.tags) if found else VaultInfo(ref)]
        subs = list(self._discovered) if target.subscription_id == "*" else [target.subscription_id]
        return [
            info
            for sub in subs
            for info in self._discovered.get(sub, [])
            if info.ref.kind in target.kinds and target.matches(info.ref.vault)
        ]

    # -- one vault ------------------------------------------------------------------------------
    def _submit(self, ref: VaultRef) -> None:
        self._next_poll[ref] = self._monotonic() + self.config.collection.interval
        state = self._store.vault(ref)
        self._in_flight[self._pool.submit(self._poll_vault, ref, state)] = ref
        self._busy.add(ref)

    def _collect(self, done: set[Future[VaultPoll]]) -> None:
        for future in done:
            ref = self._in_flight.pop(future)
            self._busy.discard(ref)
            result = future.result()  # _poll_vault catches what Azure can throw
            self._telemetry.add_parse_errors(result.parse_errors)
            if not self._store.has_vault(ref):
                continue
            if result.ok:
                self._store.apply(ref, result.jobs)
                for job in result.tracked:
                    self._store.set_tracked(ref, job)
                vault = self._store.vault(ref)
                vault.pending_details = result.pending
                vault.backfill = result.backfill
                for job_id in result.gone:
                    vault.in_progress.pop(job_id, None)
            self._store.record_poll(ref, ok=result.ok, duration=result.duration, window_end=result.window_end,
                                     error=result.error)
            self.polls_completed += 1

    def _window(self, state: VaultState, now: float) -> tuple[float, list[str]]:
        """The start of the list window, and the jobs in progress to read by id (stragglers)."""
        floor = now - self.config.collection.lookback
        start = floor if state.watermark is None else max(floor, state.watermark - WINDOW_OVERLAP_SECONDS)
        stragglers = [j for j, began in state.in_progress.items() if began < start - STRAGGLER_AFTER_SECONDS]
        if len(stragglers) > MAX_STRAGGLERS:
            stragglers = []
        running = [began for j, began in state.in_progress.items() if j not in stragglers]
        if running:
            start = min(start, min(running) - 1.0)
        return max(floor, start), stragglers

    def _poll_vault(self, ref: VaultRef, state: VaultState) -> VaultPoll:
        started = self._monotonic()
        result = VaultPoll(ref)
        now = self._clock()
        start, stragglers = self._window(state, now)
        try:
            listed = self._sources[ref.kind].list_jobs(ref, start, now, result.parse_errors)
        except ArmError as exc:
            log.warning("polling vault %s failed: %s", ref, exc)
            result.error = str(exc)
            result.duration = self._monotonic() - started
            return result
        result.ok = True
        result.window_end = now
        details = self.config.collection.job_details
        if state.watermark is None:
            result.jobs = listed
            result.backfill = _latest_finished_ids(listed) if details else []
        else:
            pending = dict(state.pending_details)
            fresh = [job for job in listed if details and job.finished and job.job_id not in state.counted]
            backfill = state.backfill
            if len(fresh) > CATCH_UP_DETAILS_LIMIT and now - state.watermark > 2 * self.config.collection.interval:
                log.info("vault %s: %d jobs finished since its last poll %.0f s ago, counted from the list; "
                         "the latest of each item gets its details over the next polls",
                         ref, len(fresh), now - state.watermark)
                result.jobs = listed
                known = set(backfill)
                backfill = backfill + [i for i in _latest_finished_ids(fresh) if i not in known]
            else:
                for job in fresh:
                    pending.setdefault(job.job_id, (job, 0))
                fresh_ids = {job.job_id for job in fresh}
                result.jobs = [job for job in listed if job.job_id not in fresh_ids]
            result.jobs.extend(self._details(ref, pending, result.parse_errors))
            result.pending = pending
            result.jobs.extend(self._backfill(ref, backfill[:BACKFILL_PER_POLL], result.parse_errors))
            result.backfill = backfill[BACKFILL_PER_POLL:]
        if stragglers:
            seen = {job.job_id for job in listed}
            result.jobs.extend(self._stragglers(ref, [j for j in stragglers if j not in seen], result))
        result.tracked = self._tracked(ref, state, result.parse_errors)
        result.duration = self._monotonic() - started
        return result

    def _details(self, ref: VaultRef, pending: dict[str, tuple[Job, int]], errors: Counter[str]) -> list[Job]:
        """GET each newly finished job once; on failure retry next poll, then fall back to the list."""
        ready: list[Job] = []
        for job_id, (listed, tries) in list(pending.items()):
            try:
                detailed = self._sources[ref.kind].get_job(ref, job_id, errors)
            except ArmError as exc:
                if exc.status != 404 and tries + 1 < MAX_DETAIL_ATTEMPTS:
                    pending[job_id] = (listed, tries + 1)
                    continue
                log.info("details of job %s in %s unavailable (%s); using the list entry", job_id, ref, exc)
                detailed = None
            del pending[job_id]
            ready.append(detailed if detailed is not None and detailed.finished else listed)
        return ready

    def _stragglers(self, ref: VaultRef, job_ids: list[str], result: VaultPoll) -> list[Job]:
        """Long-running jobs read by id: still running, or finished with their details."""
        found: list[Job] = []
        for job_id in job_ids:
            try:
                job = self._sources[ref.kind].get_job(ref, job_id, result.parse_errors)
            except ArmError as exc:
                if exc.status == 404:
                    result.gone.append(job_id)
                log.debug("long-running job %s in %s unavailable: %s", job_id, ref, exc)
                continue
            if job is not None:
                found.append(job)
        return found

    def _backfill(self, ref: VaultRef, job_ids: list[str], errors: Counter[str]) -> list[Job]:
        found: list[Job] = []
        for job_id in job_ids:
            try:
                job = self._sources[ref.kind].get_job(ref, job_id, errors)
            except ArmError as exc:
                log.debug("details of job %s in %s unavailable: %s", job_id, ref, exc)
                continue
            if job is not None and job.finished:
                found.append(job)
        return found

    def _tracked(self, ref: VaultRef, state: VaultState, errors: Counter[str]) -> list[Job]:
        found: list[Job] = []
        for job_id in state.tracked_ids:
            known = state.tracked.get(job_id)
            if known is not None and known.finished and known.has_details:
                continue  # a finished job never changes
            try:
                job = self._sources[ref.kind].get_job(ref, job_id, errors)
            except ArmError as exc:
                log.warning("tracked job %s in %s: %s", job_id, ref, exc)
                continue
            if job is not None:
                found.append(job)
        return found


def publish_gap_after(render_seconds: float) -> float:
    """Seconds to wait before publishing again while polls are in flight, after a render this long."""
    return max(PUBLISH_EVERY_SECONDS, RENDER_GAP_FACTOR * render_seconds)


def _latest_finished_ids(jobs: list[Job]) -> list[str]:
    """The latest finished job of each item and operation: the one whose size the metrics show."""
    latest: dict[tuple[str, str, str], Job] = {}
    for job in jobs:
        if not job.finished:
            continue
        key = (job.backup_management_type, job.item, job.operation)
        known = latest.get(key)
        if known is None or (job.start_time or 0.0) > (known.start_time or 0.0):
            latest[key] = job
    return [job.job_id for job in latest.values()]


def _one_per_label_set(infos: dict[VaultRef, VaultInfo]) -> dict[VaultRef, VaultInfo]:
    """Series are labelled by subscription, resource group and vault name, not by kind, so of a
    Recovery Services vault and a backup vault of the same name in one resource group (ARM allows
    it: two resource types) only the first kind of VAULT_KINDS is monitored; two would emit
    duplicate series."""
    kept: dict[tuple[str, str, str], VaultRef] = {}
    for ref in sorted(infos, key=lambda r: VAULT_KINDS.index(r.kind)):
        first = kept.setdefault(ref.labels, ref)
        if first is not ref:
            log.warning("%s vault %s skipped: a %s vault has the same labels", ref.kind, ref, first.kind)
    return {ref: infos[ref] for ref in kept.values()}
