"""Everything the exporter remembers between polls, and the immutable snapshots the scrape reads.

Per protected item (and operation) it keeps the latest job, the latest finished job, the latest
size, the latest success and the counters — beyond the lookback window, so a backup that stops
does not make its series vanish. Per vault it keeps the poll cursor (watermark, jobs still in
progress, ids already counted). One writer (the poller thread); readers get `Snapshot`s.
"""

from __future__ import annotations

import math
import threading
import time
from bisect import bisect_left
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from itertools import chain

from exporter.model import ACTIVE_STATUSES, FINISHED_STATUSES, SUCCESS_STATUSES, Job, VaultInfo, VaultRef

# SPEC §6: durations of backup jobs run from a minute to a day.
DURATION_BUCKETS: tuple[float, ...] = (60, 300, 900, 1800, 3600, 7200, 14400, 28800, 86400)
# Counted ids are kept a day past the lookback: no window reaches further back, so no job can
# come back to be counted twice, and the set stays bounded.
SEEN_ID_GRACE_SECONDS = 86400.0
MAX_DETAIL_ATTEMPTS = 3

ItemKey = tuple[str, str, str, str, str, str]  # subscription, rg, vault, management type, item, operation
SeriesKey = tuple[str, str, str, str, str]  # subscription, rg, vault, management type, operation


@dataclass(slots=True)
class ItemState:
    latest: Job | None = None
    latest_finished: Job | None = None
    latest_size: float | None = None
    latest_size_start: float = -math.inf
    last_success: float | None = None
    counts: dict[str, int] = field(default_factory=dict)
    size_total: float = 0.0


@dataclass(frozen=True, slots=True)
class ItemView:
    latest: Job | None
    latest_finished: Job | None
    latest_size: float | None
    last_success: float | None
    counts: tuple[tuple[str, int], ...]
    size_total: float


@dataclass(frozen=True, slots=True)
class Histogram:
    bucket_counts: tuple[int, ...]  # per bucket, not cumulative; last is +Inf
    total: float
    count: int


@dataclass(slots=True)
class VaultState:
    info: VaultInfo
    tracked_ids: tuple[str, ...] = ()
    watermark: float | None = None  # end of the last window read completely
    in_progress: dict[str, float] = field(default_factory=dict)  # job id -> start
    counted: dict[str, float] = field(default_factory=dict)  # job id -> start
    pending_details: dict[str, tuple[Job, int]] = field(default_factory=dict)  # id -> (listed job, tries)
    backfill: list[str] = field(default_factory=list)  # counted at cold start, details still wanted
    tracked: dict[str, Job] = field(default_factory=dict)
    polled: bool = False
    up: bool = False
    last_success: float | None = None
    poll_duration: float | None = None
    last_error: str | None = None  # the last failed poll's reason; None once a poll succeeds
    last_poll: float | None = None  # when the last poll, good or bad, ended
    sources: dict[str, bool] = field(default_factory=dict)  # the further reads of a poll (crr_jobs): ok?


@dataclass(frozen=True, slots=True)
class VaultPoll:
    """What one poll of one vault brought back, handed whole to `Store.record`."""

    ref: VaultRef
    ok: bool
    duration: float
    window_end: float | None = None  # the end of the window read; the next one starts from it
    jobs: tuple[Job, ...] = ()
    tracked: tuple[Job, ...] = ()  # the configured job ids, as read now
    pending: Mapping[str, tuple[Job, int]] = field(default_factory=dict)  # details still wanted: (listed, tries)
    backfill: tuple[str, ...] = ()  # counted from a list, the details of these still wanted
    gone: tuple[str, ...] = ()  # jobs in progress that Azure no longer knows (404)
    error: str | None = None  # why the poll failed (ArmError's message: no secret), for the status page
    # The further reads of a good poll and whether each answered: (("crr_jobs", False),) when the
    # vault's cross-region restore jobs could not be read while its own jobs could.
    sources: tuple[tuple[str, bool], ...] = ()


@dataclass(frozen=True, slots=True)
class VaultView:
    info: VaultInfo
    polled: bool
    up: bool
    last_success: float | None
    poll_duration: float | None
    tracked: tuple[Job, ...]
    last_error: str | None = None
    last_poll: float | None = None
    sources: tuple[tuple[str, bool], ...] = ()  # the further reads of the last good poll


@dataclass(frozen=True, slots=True)
class VaultItems:
    """The items and histograms of one vault's labels, sorted by key: a slice of a snapshot, the
    same object from snapshot to snapshot while that vault's items do not change."""

    labels: tuple[str, ...]
    items: tuple[tuple[ItemKey, ItemView], ...]
    histograms: tuple[tuple[SeriesKey, Histogram], ...]


@dataclass(frozen=True, slots=True)
class Snapshot:
    taken_at: float
    items: tuple[tuple[ItemKey, ItemView], ...]
    histograms: tuple[tuple[SeriesKey, Histogram], ...]
    vaults: tuple[VaultView, ...]
    ready: bool = False  # every vault has been polled at least once
    # Whether the last discovery listed every subscription and vault the targets ask for; None
    # before the first one.
    discovery_ok: bool | None = None
    # `items` and `histograms` cut by vault labels, in their order (None: cut them yourself). The
    # renderer compares the slices to its cache; an unchanged vault's is the same object: cheap.
    by_vault: tuple[VaultItems, ...] | None = field(default=None, compare=False, repr=False)


@dataclass(slots=True)
class DurableState:
    """What survives a restart (exporter/state.py writes it): the store's own objects, not copies,
    so it must be read and written on the store's one writer thread."""

    items: dict[ItemKey, ItemState]
    histograms: dict[SeriesKey, list[float]]  # per bucket..., +Inf, sum, count
    vaults: dict[VaultRef, VaultState]


def _start(job: Job | None) -> float:
    if job is None or job.start_time is None:
        return -math.inf
    return job.start_time


class Store:
    def __init__(self, lookback: float, clock: Callable[[], float] = time.time) -> None:
        self.lookback = lookback
        self._clock = clock
        self._items: dict[ItemKey, ItemState] = {}
        self._histograms: dict[SeriesKey, list[float]] = {}  # bucket counts..., sum, count
        self._vaults: dict[VaultRef, VaultState] = {}
        # Ready means the start is over (SPEC §8: the first poll finished): a vault that discovery
        # or a reload adds later must not take a serving replica out of its load balancer.
        self._started = False
        self.discovery_ok: bool | None = None
        # Bumped by every change, so that the state file is rewritten only when there is news.
        self.revision = 0
        # snapshot() rebuilds only what changed since the last one (a poll changes one vault): the
        # vault labels whose items changed, the refs whose view did; the rest is reused as is.
        self._snapshot_lock = threading.Lock()
        self._stale_items: set[tuple[str, ...]] = set()
        self._stale_views: set[VaultRef] = set()
        self._item_slices: dict[tuple[str, ...], VaultItems] = {}
        self._views: dict[VaultRef, VaultView] = {}
        # The keys of each vault's items and histograms, sorted. Keys are only ever added (apply) or
        # dropped with their vault (_forget, restore: these reset the index), so the index holds
        # while the counts it was built at hold.
        self._item_keys: dict[tuple[str, ...], list[ItemKey]] = {}
        self._hist_keys: dict[tuple[str, ...], list[SeriesKey]] = {}
        self._indexed_at: tuple[int, int] = (-1, -1)

    # -- vaults -------------------------------------------------------------------------------
    def set_vaults(
        self, infos: Iterable[VaultInfo], tracked: dict[VaultRef, tuple[str, ...]], *, complete: bool = True
    ) -> None:
        """Make the monitored vaults exactly `infos`; a vault that left takes its series along.

        `complete`: every listing behind `infos` answered (no vault may be missing from it)."""
        wanted = {info.ref: info for info in infos}
        self.revision += 1
        self.discovery_ok = complete
        for ref in list(self._vaults):
            if ref not in wanted:
                self._forget(ref)
        for ref, info in wanted.items():
            state = self._vaults.get(ref)
            if state is None:
                self._vaults[ref] = VaultState(info=info, tracked_ids=tracked.get(ref, ()))
            else:
                state.info = info
                state.tracked_ids = tracked.get(ref, ())
                state.tracked = {k: v for k, v in state.tracked.items() if k in state.tracked_ids}
        self._stale_views.update(wanted)  # last: see apply

    def vault(self, ref: VaultRef) -> VaultState:
        return self._vaults[ref]

    def vault_refs(self) -> list[VaultRef]:
        return sorted(self._vaults)

    def _forget(self, ref: VaultRef) -> None:
        del self._vaults[ref]
        self._stale_items.add(ref.labels)
        self._stale_views.add(ref)
        self._indexed_at = (-1, -1)
        for key in [k for k in self._items if k[:3] == ref.labels]:
            del self._items[key]
        for hkey in [k for k in self._histograms if k[:3] == ref.labels]:
            del self._histograms[hkey]

    # -- jobs ---------------------------------------------------------------------------------
    def apply(self, ref: VaultRef, jobs: Iterable[Job]) -> int:
        """Fold jobs into the item states; returns how many finished jobs were counted now."""
        # The hot path of a cold start (100,000 jobs): each field read by name once, Job.finished and
        # _start inlined, dicts bound to locals (bench/RESULTS.md, poll pipeline).
        vault = self._vaults[ref]
        self.revision += 1
        counted_now = 0
        sub, rg, name = ref.labels
        items, counted, in_progress = self._items, vault.counted, vault.in_progress
        inf = math.inf
        for listed in jobs:
            job = listed
            key = (sub, rg, name, listed.backup_management_type, listed.item, listed.operation)
            state = items.get(key)
            if state is None:
                state = items[key] = ItemState()
            # A finished job never changes; a later list (the window overlap re-reads it) only
            # lacks what the details GET added: its error and size. Keep the detailed copy.
            known = state.latest_finished
            if known is not None and known.job_id == listed.job_id and known.has_details and not listed.has_details:
                job = known
            job_id, status, start_time, end_time = job.job_id, job.status, job.start_time, job.end_time
            start = -inf if start_time is None else start_time
            latest = state.latest
            if latest is None or latest.job_id == job_id or start >= _start(latest):
                state.latest = job
            if not (status in FINISHED_STATUSES or (status not in ACTIVE_STATUSES and end_time is not None)):
                in_progress[job_id] = start if start > -inf else self._clock()
                continue
            in_progress.pop(job_id, None)
            finished = state.latest_finished
            if finished is None or finished.job_id == job_id or start >= _start(finished):
                state.latest_finished = job
            size = job.size_bytes
            if size is not None and start >= state.latest_size_start:
                state.latest_size = size
                state.latest_size_start = start
            if status in SUCCESS_STATUSES:
                ended = end_time if end_time is not None else start
                if ended > -inf and (state.last_success is None or ended > state.last_success):
                    state.last_success = ended
            if job_id in counted:
                continue
            counted[job_id] = start if start > -inf else self._clock()
            counted_now += 1
            state.counts[status] = state.counts.get(status, 0) + 1
            if size is not None:
                state.size_total += size
            duration = job.duration_seconds
            if duration is not None:
                self._observe((sub, rg, name, job.backup_management_type, job.operation), duration)
        self._stale_items.add(ref.labels)  # last: a snapshot taken meanwhile on another thread is redone
        return counted_now

    def _observe(self, key: SeriesKey, seconds: float) -> None:
        hist = self._histograms.get(key)
        if hist is None:
            hist = self._histograms[key] = [0.0] * (len(DURATION_BUCKETS) + 3)
        hist[bisect_left(DURATION_BUCKETS, seconds)] += 1
        hist[-2] += seconds
        hist[-1] += 1

    def record(self, poll: VaultPoll) -> None:
        """Fold one poll of one vault in: its jobs, tracked jobs and cursor, then its health.

        A failed poll changes only the health: the vault keeps its last good series and cursor."""
        vault = self._vaults.get(poll.ref)
        if vault is None:  # forgotten by discovery while its poll was in flight
            return
        if poll.ok:
            self.apply(poll.ref, poll.jobs)
            for job in poll.tracked:
                vault.tracked[job.job_id] = job
            vault.pending_details = dict(poll.pending)
            vault.backfill = list(poll.backfill)
            for job_id in poll.gone:
                vault.in_progress.pop(job_id, None)
        self._record_health(vault, poll)

    def _record_health(self, vault: VaultState, poll: VaultPoll) -> None:
        ok, window_end = poll.ok, poll.window_end
        self.revision += 1
        vault.polled = True
        vault.up = ok
        vault.poll_duration = poll.duration
        vault.last_error = None if ok else poll.error
        vault.last_poll = self._clock()
        if ok:
            vault.last_success = self._clock()
            vault.sources = dict(poll.sources)
            if window_end is not None:
                vault.watermark = window_end
        self._prune(vault)
        self._stale_views.add(poll.ref)  # last: see apply

    def _prune(self, vault: VaultState) -> None:
        horizon = self._clock() - self.lookback
        if len(vault.counted) > 0:
            cutoff = horizon - SEEN_ID_GRACE_SECONDS
            stale = [job_id for job_id, start in vault.counted.items() if start < cutoff]
            for job_id in stale:
                del vault.counted[job_id]
        for job_id in [j for j, start in vault.in_progress.items() if start < horizon]:
            del vault.in_progress[job_id]

    # -- persistence --------------------------------------------------------------------------
    def durable(self) -> DurableState:
        return DurableState(self._items, self._histograms, self._vaults)

    def restore(self, state: DurableState) -> None:
        """Start from a saved state. Vaults come back unpolled (ready waits for a fresh poll);
        items of no restored vault are dropped, and counted ids past the lookback are pruned."""
        labels = {ref.labels for ref in state.vaults}
        self._items = {k: v for k, v in state.items.items() if k[:3] in labels}
        self._histograms = {k: v for k, v in state.histograms.items() if k[:3] in labels}
        self._vaults = dict(state.vaults)
        self._started = False
        for vault in self._vaults.values():
            vault.polled = vault.up = False
            self._prune(vault)
        self.revision += 1
        self._stale_items.update(k[:3] for k in (*self._items, *self._histograms, *self._item_slices))
        self._stale_views.update((*self._vaults, *self._views))
        self._indexed_at = (-1, -1)

    # -- reading ------------------------------------------------------------------------------
    @property
    def ready(self) -> bool:
        if not self._started:
            if self._vaults:
                self._started = all(v.polled for v in self._vaults.values())
            else:
                # A discovery that listed everything and left no vault to poll (a shard with no
                # share, an estate with no vault yet) is a finished start too.
                self._started = self.discovery_ok is True
        return self._started

    def snapshot(self) -> Snapshot:
        """The state as immutable views, rebuilt only for the vaults that changed since the last
        call: equal to a full rebuild, unchanged vaults' parts the same objects as last time."""
        with self._snapshot_lock:  # the inventory thread reads snapshots too
            slices = self._slices()
            views = self._vault_views()
        items = tuple(chain.from_iterable(s.items for s in slices))
        histograms = tuple(chain.from_iterable(s.histograms for s in slices))
        return Snapshot(self._clock(), items, histograms, views, self.ready, self.discovery_ok, slices)

    def _slices(self) -> tuple[VaultItems, ...]:
        stale, self._stale_items = self._stale_items, set()
        if stale:
            self._index()
            for labels in stale:
                items = [(k, s) for k in self._item_keys.get(labels, ()) if (s := self._items.get(k)) is not None]
                hists = [(k, h) for k in self._hist_keys.get(labels, ()) if (h := self._histograms.get(k)) is not None]
                if items or hists:
                    self._item_slices[labels] = _slice(labels, items, hists)
                else:
                    self._item_slices.pop(labels, None)
        return tuple(self._item_slices[labels] for labels in sorted(self._item_slices))

    def _index(self) -> None:
        """The keys by vault, again only if keys were added or dropped since the last time."""
        if self._indexed_at == (len(self._items), len(self._histograms)):
            return
        item_keys, hist_keys = list(self._items), list(self._histograms)  # one C call each: no change midway
        by_items: dict[tuple[str, ...], list[ItemKey]] = {}
        for key in item_keys:
            by_items.setdefault(key[:3], []).append(key)
        by_hists: dict[tuple[str, ...], list[SeriesKey]] = {}
        for hkey in hist_keys:
            by_hists.setdefault(hkey[:3], []).append(hkey)
        for keys in by_items.values():
            keys.sort()
        for series in by_hists.values():
            series.sort()
        self._item_keys, self._hist_keys = by_items, by_hists
        self._indexed_at = (len(item_keys), len(hist_keys))

    def _vault_views(self) -> tuple[VaultView, ...]:
        stale, self._stale_views = self._stale_views, set()
        for ref in stale:
            vault = self._vaults.get(ref)
            if vault is None:
                self._views.pop(ref, None)
            else:
                self._views[ref] = _view(vault)
        return tuple(self._views[ref] for ref in sorted(self._views))


def _slice(
    labels: tuple[str, ...], items: list[tuple[ItemKey, ItemState]], hists: list[tuple[SeriesKey, list[float]]]
) -> VaultItems:
    return VaultItems(
        labels,
        tuple(
            (key, ItemView(s.latest, s.latest_finished, s.latest_size, s.last_success,
                           tuple(sorted(s.counts.items())), s.size_total))
            for key, s in items
        ),
        tuple(
            (key, Histogram(tuple(int(c) for c in h[:-2]), h[-2], int(h[-1])))
            for key, h in hists
        ),
    )


def _view(v: VaultState) -> VaultView:
    return VaultView(
        v.info,
        v.polled,
        v.up,
        v.last_success,
        v.poll_duration,
        tuple(v.tracked[j] for j in v.tracked_ids if j in v.tracked),
        v.last_error,
        v.last_poll,
        tuple(sorted(v.sources.items())),
    )
