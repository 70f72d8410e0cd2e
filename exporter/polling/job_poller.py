"""The schedule: which vaults to read, which window of their jobs, and when.

Cold start reads `lookback`; every later poll of a vault asks only for the jobs that started since
its previous poll (minus an overlap) — and reaches back far enough to re-list the jobs it saw in
progress, so a job that finishes later is seen finished even if it started long ago. A quiet vault
costs one request a poll; a newly finished job costs one details GET, once.

Which vaults comes from discovery (`exporter.polling.discovery`), run here on its own schedule and
published as a VaultSet for the other readers. Each vault's window is fixed when its poll is
started and shown to the sources first (`JobSource.prepare`). Each vault is polled in a worker
thread and only reads its own cursor; the result (a `VaultPoll`) is handed whole to the store by
the scheduling thread alone, so the store has one writer. A failed vault keeps its last good
series (the store is untouched) and shows `target_up 0`.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait

from exporter.azure.arm import ArmError
from exporter.azure.backup import RecoveryServicesApi
from exporter.azure.telemetry import ApiTelemetry
from exporter.config.schema import Config
from exporter.model import Job, VaultInfo, VaultRef
from exporter.polling.background import lower_thread_priority
from exporter.polling.crr_jobs import CRR_SOURCE, CrossRegionJobs
from exporter.polling.discovery import Discoverer, LatestVaults
from exporter.polling.progress import Progress
from exporter.polling.sources import JobSource, Window
from exporter.store.job_store import MAX_DETAIL_ATTEMPTS, Snapshot, Store, VaultPoll, VaultState

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


# What a worker hands back: the poll for the store, and the values it could not read.
Polled = tuple[VaultPoll, Counter[str]]
# What a GET by id answered: the job, None if it could not be parsed, or the error.
ById = Job | ArmError | None


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
        vaults: LatestVaults,
        clock: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
        crr: CrossRegionJobs | None = None,
    ) -> None:
        self.config = config
        self._sources = {source.kind: source for source in sources}
        # Cross-region restore jobs of the vaults that have it on, read into their polls; for a
        # vault whose last CRR read failed, the start of the window it missed.
        self._crr = crr
        self._crr_behind: dict[VaultRef, float] = {}
        self._store = store
        self._telemetry = telemetry
        self._publish = publish
        # Each discovery's VaultSet is published here for the other readers (inventory, Resource Graph).
        self._vaults = vaults
        self._clock = clock
        self._monotonic = monotonic
        self._pool = ThreadPoolExecutor(config.collection.concurrency, thread_name_prefix="poll")
        self._discoverer = Discoverer(config, api, self._sources, self._pool)
        self._next_discovery = -1.0
        self._next_poll: dict[VaultRef, float] = {}
        self._in_flight: dict[Future[Polled], VaultRef] = {}
        self._busy: set[VaultRef] = set()
        self._progress: Progress | None = None

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)

    # -- the two ways to run --------------------------------------------------------------------
    def poll_once(self) -> bool:
        """Discover (when due), poll every vault once, publish; True if every vault succeeded."""
        if self._monotonic() >= self._next_discovery:
            self._discover()
        self._submit(self._store.vault_refs())
        while self._in_flight:
            done, _ = wait(list(self._in_flight), timeout=STOP_CHECK_SECONDS, return_when=FIRST_COMPLETED)
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
            # A vault whose poll overruns its interval is not started twice.
            self._submit(
                [r for r in self._store.vault_refs() if r not in self._busy and self._next_poll.get(r, -1.0) <= now]
            )
            timeout = self._seconds_to_next_event()
            done, _ = wait(list(self._in_flight), timeout=timeout, return_when=FIRST_COMPLETED)
            if not self._in_flight:
                stop.wait(timeout)
            self._collect(done)
            dirty = dirty or bool(done)
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
        found = self._discoverer.discover()
        self._vaults.publish(found)
        self._store.set_vaults(found.vaults, dict(found.tracked), complete=found.ok is not False)
        if found.ok:
            self._next_discovery = self._monotonic() + collection.discovery_interval
        self._next_poll = {info.ref: self._next_poll.get(info.ref, -1.0) for info in found.vaults}

    # -- one vault ------------------------------------------------------------------------------
    def _submit(self, refs: Iterable[VaultRef]) -> None:
        """Start polling `refs`: their windows are fixed here and shown to the sources first."""
        now = self._clock()
        planned = {ref: self._window(self._store.vault(ref), now) for ref in refs}
        if not planned:
            return
        for kind, source in self._sources.items():
            windows = {ref: window for ref, (window, _) in planned.items() if ref.kind == kind}
            if windows:  # a round without vaults of this kind leaves the plan of the last one
                source.prepare(windows)
        first = [ref for ref, (window, _) in planned.items() if window.first]
        if first and (self._progress is None or self._progress.finished):
            self._progress = Progress(first, self._telemetry, self._monotonic)
        for ref, (window, stragglers) in planned.items():
            self._next_poll[ref] = self._monotonic() + self.config.collection.interval
            state = self._store.vault(ref)
            self._in_flight[self._pool.submit(self._poll_vault, ref, state, window, stragglers)] = ref
            self._busy.add(ref)

    def _collect(self, done: Iterable[Future[Polled]]) -> None:
        for future in done:
            ref = self._in_flight.pop(future)
            self._busy.discard(ref)
            poll, errors = future.result()  # _poll_vault catches what Azure can throw
            self._telemetry.add_parse_errors(errors)
            if self._progress is not None:
                self._progress.vault_done(ref, len(poll.jobs))
            self._store.record(poll)
        if self._progress is not None:
            self._progress.tick()

    def _window(self, state: VaultState, now: float) -> tuple[Window, list[str]]:
        """The list window, and the jobs in progress to read by id (stragglers)."""
        floor = now - self.config.collection.lookback
        start = floor if state.watermark is None else max(floor, state.watermark - WINDOW_OVERLAP_SECONDS)
        stragglers = [j for j, began in state.in_progress.items() if began < start - STRAGGLER_AFTER_SECONDS]
        if len(stragglers) > MAX_STRAGGLERS:
            stragglers = []
        running = [began for j, began in state.in_progress.items() if j not in stragglers]
        if running:
            start = min(start, min(running) - 1.0)
        return Window(max(floor, start), now, first=state.watermark is None), stragglers

    def _poll_vault(self, ref: VaultRef, state: VaultState, window: Window, stragglers: list[str]) -> Polled:
        started = self._monotonic()
        errors: Counter[str] = Counter()
        try:
            listed = self._sources[ref.kind].list_jobs(ref, window.start, window.end, errors)
        except ArmError as exc:
            log.warning("polling vault %s failed: %s", ref, exc)
            return VaultPoll(ref, ok=False, duration=self._monotonic() - started, error=str(exc)), errors
        sources: tuple[tuple[str, bool], ...] = ()
        if self._crr is not None and self._crr.wanted(state.info):
            sources = self._cross_region(state.info, window, listed, errors)
        if state.watermark is None:
            jobs = listed
            pending: dict[str, tuple[Job, int]] = {}
            backfill = _latest_finished_ids(listed) if self.config.collection.job_details else []
        else:
            jobs, pending, backfill = self._warm(ref, state, listed, window.end, errors)
        gone: list[str] = []
        if stragglers:
            seen = {job.job_id for job in listed}
            jobs.extend(self._stragglers(ref, [j for j in stragglers if j not in seen], gone, errors))
        tracked = self._tracked(ref, state, errors)
        poll = VaultPoll(ref, ok=True, duration=self._monotonic() - started, window_end=window.end, jobs=tuple(jobs),
                         tracked=tuple(tracked), pending=pending, backfill=tuple(backfill), gone=tuple(gone),
                         sources=sources)
        return poll, errors

    def _cross_region(
        self, info: VaultInfo, window: Window, listed: list[Job], errors: Counter[str]
    ) -> tuple[tuple[str, bool], ...]:
        """Add the vault's cross-region restore jobs to `listed`; the read's health row (none when
        skipped). A failed read does not fail the poll: the next one reaches back to what it missed."""
        assert self._crr is not None  # noqa: S101 - the caller checked
        region = self._crr.region(info, errors)
        if region is None:
            return ()
        ref = info.ref
        floor = window.end - self.config.collection.lookback
        start = max(floor, min(window.start, self._crr_behind.get(ref, window.start)))
        try:
            listed.extend(self._crr.list_jobs(info, region, start, window.end, errors))
        except ArmError as exc:
            log.warning("cross-region restore jobs of vault %s (region %s) failed: %s", ref, region, exc)
            self._crr_behind.setdefault(ref, window.start)
            return ((CRR_SOURCE, False),)
        self._crr_behind.pop(ref, None)
        return ((CRR_SOURCE, True),)

    def _warm(
        self, ref: VaultRef, state: VaultState, listed: list[Job], now: float, errors: Counter[str]
    ) -> tuple[list[Job], dict[str, tuple[Job, int]], list[str]]:
        """A vault polled before: newly finished jobs get their details (or, past a long gap,
        are counted from the list and backfilled). Returns (jobs, details still pending, backfill)."""
        assert state.watermark is not None  # noqa: S101 - the caller checked: a warm vault has a cursor
        details = self.config.collection.job_details
        pending = dict(state.pending_details)
        fresh = [job for job in listed if details and job.finished and job.job_id not in state.counted]
        backfill = list(state.backfill)
        if len(fresh) > CATCH_UP_DETAILS_LIMIT and now - state.watermark > 2 * self.config.collection.interval:
            log.info("vault %s: %d jobs finished since its last poll %.0f s ago, counted from the list; "
                     "the latest of each item gets its details over the next polls",
                     ref, len(fresh), now - state.watermark)
            jobs = list(listed)
            known = set(backfill)
            backfill += [i for i in _latest_finished_ids(fresh) if i not in known]
        else:
            for job in fresh:
                pending.setdefault(job.job_id, (job, 0))
            fresh_ids = {job.job_id for job in fresh}
            jobs = [job for job in listed if job.job_id not in fresh_ids]
        jobs.extend(self._details(ref, pending, errors))
        jobs.extend(self._backfill(ref, backfill[:BACKFILL_PER_POLL], errors))
        return jobs, pending, backfill[BACKFILL_PER_POLL:]

    def _by_id(self, ref: VaultRef, job_ids: Iterable[str], errors: Counter[str]) -> list[tuple[str, ById]]:
        """GET each job by id, in order: what each answered (the job, None if unreadable, or the error)."""
        source = self._sources[ref.kind]
        crr = self._crr
        answers: list[tuple[str, ById]] = []
        for job_id in job_ids:
            try:
                if crr is not None and crr.owns(ref, job_id):  # a CRR job: its details come from the secondary region
                    answers.append((job_id, crr.get_job(ref, job_id, errors)))
                else:
                    answers.append((job_id, source.get_job(ref, job_id, errors)))
            except ArmError as exc:
                answers.append((job_id, exc))
        return answers

    def _details(self, ref: VaultRef, pending: dict[str, tuple[Job, int]], errors: Counter[str]) -> list[Job]:
        """GET each newly finished job once; on failure retry next poll, then fall back to the list."""
        ready: list[Job] = []
        for job_id, answer in self._by_id(ref, list(pending), errors):
            listed, tries = pending[job_id]
            if isinstance(answer, ArmError):
                if answer.status != 404 and tries + 1 < MAX_DETAIL_ATTEMPTS:
                    pending[job_id] = (listed, tries + 1)
                    continue
                log.info("details of job %s in %s unavailable (%s); using the list entry", job_id, ref, answer)
            del pending[job_id]
            detailed = answer if isinstance(answer, Job) and answer.finished else None
            ready.append(detailed or listed)
        return ready

    def _stragglers(self, ref: VaultRef, job_ids: list[str], gone: list[str], errors: Counter[str]) -> list[Job]:
        """Long-running jobs read by id: still running, or finished with their details. Those
        Azure no longer knows (404) go to `gone`."""
        found: list[Job] = []
        for job_id, answer in self._by_id(ref, job_ids, errors):
            if isinstance(answer, ArmError):
                if answer.status == 404:
                    gone.append(job_id)
                log.debug("long-running job %s in %s unavailable: %s", job_id, ref, answer)
            elif answer is not None:
                found.append(answer)
        return found

    def _backfill(self, ref: VaultRef, job_ids: list[str], errors: Counter[str]) -> list[Job]:
        found: list[Job] = []
        for job_id, answer in self._by_id(ref, job_ids, errors):
            if isinstance(answer, ArmError):
                log.debug("details of job %s in %s unavailable: %s", job_id, ref, answer)
            elif answer is not None and answer.finished:
                found.append(answer)
        return found

    def _tracked(self, ref: VaultRef, state: VaultState, errors: Counter[str]) -> list[Job]:
        # A finished job never changes: one read with its details is enough.
        wanted = [
            job_id for job_id in state.tracked_ids
            if not ((known := state.tracked.get(job_id)) is not None and known.finished and known.has_details)
        ]
        found: list[Job] = []
        for job_id, answer in self._by_id(ref, wanted, errors):
            if isinstance(answer, ArmError):
                log.warning("tracked job %s in %s: %s", job_id, ref, answer)
            elif answer is not None:
                found.append(answer)
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
