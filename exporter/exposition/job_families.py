"""Snapshot → Prometheus metric families. Pure: no I/O, no clock, no shared mutable state."""

from __future__ import annotations

import platform
from array import array
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from itertools import accumulate, chain, groupby

from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from exporter import __version__
from exporter.azure.telemetry import API_DURATION_BUCKETS, HistogramData, TelemetrySnapshot
from exporter.config.schema import vault_tag_label
from exporter.exposition.fragments import Section, VaultBlock, Written, flatten
from exporter.exposition.text import Cut, Writer
from exporter.model import FINISHED_STATUSES, KNOWN_STATUSES, Job
from exporter.store.job_store import (
    DURATION_BUCKETS,
    Histogram,
    ItemKey,
    ItemView,
    SeriesKey,
    Snapshot,
    VaultView,
)

ITEM_LABELS = ["subscription_id", "resource_group", "vault", "backup_management_type", "item", "operation"]
SERIES_LABELS = ["subscription_id", "resource_group", "vault", "backup_management_type", "operation"]
VAULT_LABELS = ["subscription_id", "resource_group", "vault"]
ERROR_LABELS = [*ITEM_LABELS, "error_code", "error_title"]
# Counters start at 0 for every final status, so the first failure is an increase Prometheus sees.
FINAL_STATUSES = tuple(s for s in KNOWN_STATUSES if s in FINISHED_STATUSES)
TASK_STATUSES = ("NotStarted", "InProgress", "Completed", "CompletedWithWarnings", "Failed", "Cancelled")
CACHED = "Cached; refreshed every poll."
# The item families' names, shared by the families and their lines written directly (_items_text).
STATUS = "azure_backup_job_last_status"
ERROR = "azure_backup_job_last_error_info"
JOBS = "azure_backup_jobs"  # a counter: its samples are JOBS_total
SIZE_TOTAL = "azure_backup_job_size_bytes"  # a counter too
DURATIONS = "azure_backup_job_duration_seconds"


@dataclass(frozen=True, slots=True)
class ItemsPart:
    """One vault's items and histograms: what its lines of the item families are rendered from."""

    items: tuple[tuple[ItemKey, ItemView], ...]
    histograms: tuple[tuple[SeriesKey, Histogram], ...]


VaultsPart = tuple[VaultView, ...]  # one, unless two vaults share labels (then their series clash anyway)


def vault_parts(snapshot: Snapshot) -> list[tuple[tuple[str, ...], ItemsPart, VaultsPart]]:
    """The snapshot cut by vault labels, in the order a full render writes (items and histograms
    are sorted by key, whose first three fields are the vault's labels; vaults by their ref).
    The store's snapshots come cut already (`by_vault`: no pass over every item per render)."""
    if snapshot.by_vault is not None:
        items = {s.labels: s.items for s in snapshot.by_vault if s.items}
        histograms = {s.labels: s.histograms for s in snapshot.by_vault if s.histograms}
    else:
        items = {labels: tuple(group) for labels, group in groupby(snapshot.items, key=_vault_of)}
        histograms = {labels: tuple(group) for labels, group in groupby(snapshot.histograms, key=_vault_of)}
    vaults: dict[tuple[str, ...], list[VaultView]] = {}
    for view in snapshot.vaults:
        vaults.setdefault(view.info.ref.labels, []).append(view)
    keys = sorted({*items, *histograms, *vaults})
    return [(k, ItemsPart(items.get(k, ()), histograms.get(k, ())), tuple(vaults.get(k, ()))) for k in keys]


def _vault_of(entry: tuple[tuple[str, ...], object]) -> tuple[str, ...]:
    return entry[0][:3]


@dataclass(frozen=True, slots=True)
class Published:
    """What one poll hands to the renderer: the store's snapshot and the API telemetry."""

    snapshot: Snapshot
    telemetry: TelemetrySnapshot


def state_set(family: GaugeMetricFamily, labels: list[str], current: str, known: Sequence[str]) -> None:
    for status in known:
        family.add_metric([*labels, status], 1.0 if status == current else 0.0)
    if current not in known:  # unknown statuses pass through verbatim
        family.add_metric([*labels, current], 1.0)


def _histogram(
    family: HistogramMetricFamily, labels: list[str], bounds: Sequence[float], data: HistogramData
) -> None:
    cumulative = 0
    buckets: list[tuple[str, float]] = []
    for bound, count in zip((*bounds, float("inf")), data.bucket_counts, strict=True):
        cumulative += count
        # Same `le` spelling as the client library's own histograms: 60.0, 0.05, +Inf.
        buckets.append(("+Inf" if bound == float("inf") else repr(float(bound)), float(cumulative)))
    family.add_metric(labels, buckets, data.total)


class BackupCollector(Collector):
    """Azure Backup job metrics from the latest published snapshot.

    Sample (one item, values from the last completed poll):

        azure_backup_job_last_status{subscription_id="0000…",resource_group="rg-backup",vault="vault-prod",
            backup_management_type="AzureIaasVM",item="vm-app-01",operation="Backup",status="Completed"} 1.0
        azure_backup_job_last_status{…,status="Failed"} 0.0
        azure_backup_job_last_start_timestamp_seconds{…} 1.7637e+09
        azure_backup_job_last_end_timestamp_seconds{…} 1.7637e+09
        azure_backup_job_last_duration_seconds{…} 2477.93
        azure_backup_job_last_size_bytes{…} 1.1922309e+10
        azure_backup_job_last_success_timestamp_seconds{…} 1.7637e+09
        azure_backup_job_last_error_info{…,error_code="510008",error_title="OperationCancelled…"} 1.0
        azure_backup_jobs_total{…,status="Completed"} 7.0
        azure_backup_job_size_bytes_total{…} 8.3e+10
        azure_backup_job_duration_seconds_bucket{…,backup_management_type=…,operation="Backup",le="3600"} 6.0
        azure_backup_tracked_job_status{…,vault=…,job_id="41f3…",item="vm-app-01",operation="Backup",
            status="InProgress"} 1.0
        azure_backup_tracked_job_progress_ratio{…,job_id="41f3…"} 0.42
        azure_backup_tracked_job_task_status{…,job_id="41f3…",task="Take Snapshot",status="Completed"} 1.0
        azure_backup_vault_info{…,vault=…,location="westeurope",kind="recovery_services",tag_team="payments"} 1.0
        azure_backup_exporter_target_up{subscription_id=…,resource_group=…,vault=…} 1.0
        azure_backup_exporter_target_source_up{subscription_id=…,resource_group=…,vault=…,source="crr_jobs"} 0.0
        azure_backup_exporter_discovery_up 1.0
        azure_backup_exporter_api_requests_total{api="list_jobs",code="200"} 42.0
        azure_backup_exporter_api_ratelimit_remaining{subscription_id=…,scope="subscription-reads"} 11999.0
        azure_backup_exporter_parse_errors_total{field="duration"} 1.0
        azure_backup_exporter_build_info{version="0.1.0",python_version="3.11.7"} 1.0
    """

    def __init__(self, source: Callable[[], Published | None], vault_tags: Sequence[str] = ()) -> None:
        self._source = source
        self._vault_tags = tuple(vault_tags)

    def collect(self) -> Iterator[Metric]:
        return flatten(self.sections())

    def sections(self) -> Iterator[Section]:
        """The families, the per-vault ones as one block (exposition.fragments renders it by vault)."""
        published = self._source()
        if published is not None:
            parts = vault_parts(published.snapshot)
            # Two blocks: a poll that found no new job changes only the vault's poll time, and then
            # only the vault's few lines are rendered again, not its items'.
            yield VaultBlock("jobs", [(key, items) for key, items, _ in parts], self._items_block, _items_text)
            yield VaultBlock("vaults", [(key, vaults) for key, _, vaults in parts], self._vaults_block)
            yield from self._source_families(tuple(chain.from_iterable(vaults for _, _, vaults in parts)))
            if published.snapshot.discovery_ok is not None:
                discovery = GaugeMetricFamily(
                    "azure_backup_exporter_discovery_up",
                    f"1 if the last discovery listed every subscription and vault the targets ask for. {CACHED}",
                )
                discovery.add_metric([], 1.0 if published.snapshot.discovery_ok else 0.0)
                yield discovery
            yield from _telemetry_families(published.telemetry)
        build = GaugeMetricFamily(
            "azure_backup_exporter_build_info",
            "Build information of the exporter.",
            labels=["version", "python_version"],
        )
        build.add_metric([__version__, platform.python_version()], 1.0)
        yield build

    def _items_block(self, parts: Sequence[ItemsPart]) -> Iterator[Metric]:
        if len(parts) == 1:
            yield from self._job_families(parts[0].items, parts[0].histograms)
        else:
            items = tuple(chain.from_iterable(p.items for p in parts))
            yield from self._job_families(items, tuple(chain.from_iterable(p.histograms for p in parts)))

    def _vaults_block(self, parts: Sequence[VaultsPart]) -> Iterator[Metric]:
        vaults = tuple(chain.from_iterable(parts))
        yield from self._tracked_families(vaults)
        yield from self._vault_families(vaults)

    def _job_families(
        self, snapshot_items: Sequence[tuple[ItemKey, ItemView]], histograms: Sequence[tuple[SeriesKey, Histogram]]
    ) -> Iterator[Metric]:
        # One pass per family, each yielded as soon as it is full and then dropped: at 10,000
        # items the samples of all nine families together would take ~60 MB at once.
        items = [(list(key), view) for key, view in snapshot_items]
        yield _status_family(items)
        for name, text, value in _ITEM_GAUGES:
            family = GaugeMetricFamily(name, f"{text} {CACHED}", labels=ITEM_LABELS)
            for labels, view in items:
                sample = value(view)
                if sample is not None:
                    family.add_metric(labels, sample)
            yield family
        yield _error_family(items)
        yield _jobs_family(items)
        size_total = CounterMetricFamily(
            SIZE_TOTAL, f"Sum of the sizes of finished jobs. {CACHED}", labels=ITEM_LABELS
        )
        for labels, view in items:
            size_total.add_metric(labels, view.size_total)
        yield size_total
        del size_total
        hist = HistogramMetricFamily(
            DURATIONS,
            f"Durations of finished jobs. {CACHED}",
            labels=SERIES_LABELS,
        )
        for series, data in histograms:
            _histogram(hist, list(series), DURATION_BUCKETS, HistogramData(data.bucket_counts, data.total, data.count))
        yield hist

    def _tracked_families(self, vaults: Sequence[VaultView]) -> Iterator[Metric]:
        def gauge(name: str, text: str, extra: Sequence[str]) -> GaugeMetricFamily:
            return GaugeMetricFamily(name, f"{text} {CACHED}", labels=[*VAULT_LABELS, "job_id", *extra])

        status = gauge(
            "azure_backup_tracked_job_status",
            "Status of a job listed under a target's jobs:.",
            ["item", "operation", "status"],
        )
        duration = gauge(
            "azure_backup_tracked_job_duration_seconds", "Duration (so far) of a tracked job.", []
        )
        size = gauge("azure_backup_tracked_job_size_bytes", "Size of a tracked job.", [])
        progress = gauge("azure_backup_tracked_job_progress_ratio", "Progress of a tracked job, 0 to 1.", [])
        tasks = gauge(
            "azure_backup_tracked_job_task_status",
            "Status of each task of a tracked job.",
            ["task", "status"],
        )
        for vault in vaults:
            for job in vault.tracked:
                labels = [*vault.info.ref.labels, job.job_id]
                state_set(status, [*labels, job.item, job.operation], job.status, KNOWN_STATUSES)
                _optional(duration, labels, job.duration_seconds)
                _optional(size, labels, job.size_bytes)
                _optional(progress, labels, _progress(job))
                for task in job.tasks:
                    state_set(tasks, [*labels, task.name], task.status, TASK_STATUSES)
        yield from (status, duration, size, progress, tasks)

    def _vault_families(self, vaults: Sequence[VaultView]) -> Iterator[Metric]:
        info = GaugeMetricFamily(
            "azure_backup_vault_info",
            f"A monitored vault, with its location and selected tags; join on it to route alerts. {CACHED}",
            labels=[*VAULT_LABELS, "location", "kind", *(vault_tag_label(t) for t in self._vault_tags)],
        )
        up = GaugeMetricFamily(
            "azure_backup_exporter_target_up",
            f"1 if the last poll of the vault succeeded. {CACHED}",
            labels=VAULT_LABELS,
        )
        last = GaugeMetricFamily(
            "azure_backup_exporter_target_last_success_timestamp_seconds",
            f"Time of the vault's last successful poll. {CACHED}",
            labels=VAULT_LABELS,
        )
        took = GaugeMetricFamily(
            "azure_backup_exporter_target_poll_duration_seconds",
            f"Duration of the vault's last poll. {CACHED}",
            labels=VAULT_LABELS,
        )
        for vault in vaults:
            labels = list(vault.info.ref.labels)
            tags = dict(vault.info.tags)
            info.add_metric(
                [*labels, vault.info.location, vault.info.ref.kind, *(tags.get(t, "") for t in self._vault_tags)], 1.0
            )
            if not vault.polled:
                continue
            up.add_metric(labels, 1.0 if vault.up else 0.0)
            _optional(last, labels, vault.last_success)
            _optional(took, labels, vault.poll_duration)
        yield from (info, up, last, took)

    def _source_families(self, vaults: Sequence[VaultView]) -> Iterator[Metric]:
        # Outside the vaults block: the family exists only while some vault has a further read
        # (cross-region restore on), and a block's families must not depend on its parts.
        source_up = GaugeMetricFamily(
            "azure_backup_exporter_target_source_up",
            "1 if the further read `source` of the vault's last good poll succeeded (crr_jobs: the "
            f"cross-region restore jobs, listed from the paired region). {CACHED}",
            labels=[*VAULT_LABELS, "source"],
        )
        for vault in vaults:
            if vault.polled:
                for source, ok in vault.sources:
                    source_up.add_metric([*vault.info.ref.labels, source], 1.0 if ok else 0.0)
        if source_up.samples:
            yield source_up


_Items = Sequence[tuple[list[str], ItemView]]

# The item gauges with one plain value each, in exposition order: name, help, the value (None: no
# sample for that item).
_ITEM_GAUGES: tuple[tuple[str, str, Callable[[ItemView], float | None]], ...] = (
    (
        "azure_backup_job_last_start_timestamp_seconds", "Start time of the item's latest job.",
        lambda view: view.latest.start_time if view.latest is not None else None,
    ),
    (
        "azure_backup_job_last_end_timestamp_seconds", "End time of the item's latest finished job.",
        lambda view: view.latest_finished.end_time if view.latest_finished is not None else None,
    ),
    (
        "azure_backup_job_last_duration_seconds", "Duration of the item's latest finished job.",
        lambda view: view.latest_finished.duration_seconds if view.latest_finished is not None else None,
    ),
    (
        "azure_backup_job_last_size_bytes",
        "Size of the item's latest finished job that reported one (MB = 1024^2 bytes).",
        lambda view: view.latest_size,
    ),
    (
        "azure_backup_job_last_success_timestamp_seconds",
        (
            "End time of the item's latest Completed or CompletedWithWarnings job; "
            "kept after it leaves the lookback window."
        ),
        lambda view: view.last_success,
    ),
)


def _status_family(items: _Items) -> GaugeMetricFamily:
    family = GaugeMetricFamily(
        STATUS,
        f"Status of the item's latest job (1) among the known statuses (0). {CACHED}",
        labels=[*ITEM_LABELS, "status"],
    )
    for labels, view in items:
        if view.latest is not None:
            state_set(family, labels, view.latest.status, KNOWN_STATUSES)
    return family


def _error_family(items: _Items) -> GaugeMetricFamily:
    family = GaugeMetricFamily(
        ERROR,
        f"Error of the item's latest finished job, present while that job failed. {CACHED}",
        labels=ERROR_LABELS,
    )
    for labels, view in items:
        finished = view.latest_finished
        if finished is not None and finished.status == "Failed":
            family.add_metric([*labels, finished.error_code or "unknown", finished.error_title or "unknown"], 1.0)
    return family


def _jobs_family(items: _Items) -> CounterMetricFamily:
    jobs = CounterMetricFamily(
        JOBS,
        f"Finished jobs by final status, each job counted once. {CACHED}",
        labels=[*ITEM_LABELS, "status"],
    )
    for labels, view in items:
        counts = dict(view.counts)
        for final in (*FINAL_STATUSES, *sorted(s for s in counts if s not in FINAL_STATUSES)):
            jobs.add_metric([*labels, final], float(counts.get(final, 0)))
    return jobs


# The item families written item by item (_items_text), one column each: status, the five gauges,
# error, jobs, size; the histogram (by series, not by item) follows them.
_ITEM_COLUMNS = 9


@dataclass(frozen=True, slots=True)
class _ItemCuts:
    status: Cut
    jobs: Cut
    body: Cut  # the label text alone: the gauges and the size counter share it

    @classmethod
    def of(cls, writer: Writer) -> _ItemCuts:
        return cls(writer.cut(STATUS, ITEM_LABELS, "status"), writer.cut(f"{JOBS}_total", ITEM_LABELS, "status"),
                   writer.cut("", ITEM_LABELS))


@dataclass(frozen=True, slots=True)
class _KeptLines:
    """The lines written for each item of a vault's previous part, found by item key and reused
    while the item's view is equal: a poll changes a few items of a vault, and the lines of each
    run of unchanged items are copied with one slice per family, not written again."""

    index: dict[ItemKey, int]
    views: tuple[ItemView, ...]
    fragments: tuple[bytes, ...]
    lengths: tuple[array[int], ...]  # per column, the length of each item's lines
    ends: tuple[array[int], ...]  # per column, where each item's lines end (0 first)

    @classmethod
    def of(cls, previous: tuple[ItemsPart, Written] | None) -> _KeptLines | None:
        if previous is None or not isinstance(previous[1].layout, tuple):
            return None
        part, written = previous
        lengths: tuple[array[int], ...] = written.layout
        return cls({key: n for n, (key, _) in enumerate(part.items)}, tuple(view for _, view in part.items),
                   written.fragments[:_ITEM_COLUMNS], lengths,
                   tuple(array("Q", accumulate(column, initial=0)) for column in lengths))

    def find(self, key: ItemKey, view: ItemView) -> int | None:
        """The item's index in the previous part, if its lines there are still its lines."""
        n = self.index.get(key)
        if n is None:
            return None
        kept = self.views[n]
        return n if kept is view or kept == view else None

    def copy(self, first: int, last: int, columns: list[list[bytes]], lengths: tuple[array[int], ...]) -> None:
        """The lines of previous items first..last (consecutive there) onto each column."""
        for fragment, ends, column, kept, column_lengths in zip(
            self.fragments, self.ends, columns, self.lengths, lengths, strict=True
        ):
            column.append(fragment[ends[first]:ends[last + 1]])
            column_lengths.extend(kept[first:last + 1])


def _items_text(writer: Writer, part: ItemsPart, previous: tuple[ItemsPart, Written] | None) -> Written:
    """One vault's sample lines of the item families (`_job_families`), written straight from its
    views: the bytes `render_samples` writes for those families (tests/exposition hold the two
    equal), without a Sample and its label dict per line, each item's label text formatted once
    per family rather than once per line, and the lines of items unchanged since `previous` copied."""
    cuts, kept = _ItemCuts.of(writer), _KeptLines.of(previous)
    columns: list[list[bytes]] = [[] for _ in range(_ITEM_COLUMNS)]
    lengths = tuple(array("Q") for _ in range(_ITEM_COLUMNS))
    run: list[int] = []  # first and last previous index of the unchanged items not yet copied
    for key, view in part.items:
        n = kept.find(key, view) if kept is not None else None
        if n is not None and run and n == run[1] + 1:
            run[1] = n
            continue
        if run and kept is not None:
            kept.copy(run[0], run[1], columns, lengths)
        run = [] if n is None else [n, n]
        if n is None:
            texts = _item_lines(writer, cuts, key, view)
            for column, column_lengths, text in zip(columns, lengths, texts, strict=True):
                column.append(text)
                column_lengths.append(len(text))
    if run and kept is not None:
        kept.copy(run[0], run[1], columns, lengths)
    histograms = "".join(_histogram_lines(writer, part.histograms)).encode("utf-8")
    return Written((*(b"".join(column) for column in columns), histograms), lengths)


def _item_lines(writer: Writer, cuts: _ItemCuts, key: ItemKey, view: ItemView) -> tuple[bytes, ...]:
    """One item's lines of each item family (empty where it has no sample)."""
    number = writer.number
    labels = tuple(map(writer.escaped.__getitem__, key))
    status: list[str] = []
    if view.latest is not None:
        _state_lines(status, cuts.status.split(labels), view.latest.status, KNOWN_STATUSES, writer)
    body = cuts.body.split(labels)[0]
    gauges = []
    for name, _, read in _ITEM_GAUGES:
        value = read(view)
        gauges.append("" if value is None else f"{name}{body}{number(value)}\n")
    error = ""
    finished = view.latest_finished
    if finished is not None and finished.status == "Failed":
        values = [*key, finished.error_code or "unknown", finished.error_title or "unknown"]
        error = writer.line(ERROR, dict(zip(ERROR_LABELS, values, strict=True)), 1.0, None)
    counts = dict(view.counts)
    head, tail = cuts.jobs.split(labels)
    jobs = "".join(f"{head}{writer.escaped[final]}{tail}{number(float(counts.get(final, 0)))}\n"
                   for final in (*FINAL_STATUSES, *sorted(s for s in counts if s not in FINAL_STATUSES)))
    size = f"{SIZE_TOTAL}_total{body}{number(view.size_total)}\n"
    return tuple(text.encode("utf-8") for text in ("".join(status), *gauges, error, jobs, size))


def _state_lines(
    lines: list[str], cut: tuple[str, str], current: str, known: Sequence[str], writer: Writer
) -> None:
    """`state_set`'s lines."""
    head, tail = cut
    one, zero, escaped = writer.number(1.0), writer.number(0.0), writer.escaped
    for status in known:
        lines.append(f"{head}{escaped[status]}{tail}{one if status == current else zero}\n")
    if current not in known:
        lines.append(f"{head}{escaped[current]}{tail}{one}\n")


def _histogram_lines(writer: Writer, histograms: Sequence[tuple[SeriesKey, Histogram]]) -> list[str]:
    """`_histogram`'s lines for the item histograms: buckets (cumulative), then _count and _sum."""
    bucket = writer.cut(f"{DURATIONS}_bucket", SERIES_LABELS, "le")
    count, total = writer.cut(f"{DURATIONS}_count", SERIES_LABELS), writer.cut(f"{DURATIONS}_sum", SERIES_LABELS)
    bounds = [("+Inf" if b == float("inf") else repr(float(b))) for b in (*DURATION_BUCKETS, float("inf"))]
    number, escaped = writer.number, writer.escaped.__getitem__
    lines: list[str] = []
    for series, data in histograms:
        labels = tuple(map(escaped, series))
        head, tail = bucket.split(labels)
        cumulative = 0
        for le, bucket_count in zip(bounds, data.bucket_counts, strict=True):
            cumulative += bucket_count
            lines.append(f"{head}{escaped(le)}{tail}{number(float(cumulative))}\n")
        if float(bounds[0]) >= 0:  # the client library leaves _count and _sum out after a negative bucket
            lines.append(f"{count.split(labels)[0]}{number(float(cumulative))}\n")
            lines.append(f"{total.split(labels)[0]}{number(data.total)}\n")
    return lines


def _progress(job: Job) -> float | None:
    if job.progress_ratio is not None:
        return job.progress_ratio
    return 1.0 if job.finished else None


def _optional(family: GaugeMetricFamily, labels: list[str], value: float | None) -> None:
    if value is not None:
        family.add_metric(labels, value)


def _telemetry_families(telemetry: TelemetrySnapshot) -> Iterator[Metric]:
    requests = CounterMetricFamily(
        "azure_backup_exporter_api_requests",
        f"Requests to Azure by API and HTTP status (or error kind). {CACHED}",
        labels=["api", "code"],
    )
    for (api, code), count in sorted(telemetry.requests.items()):
        requests.add_metric([api, code], float(count))
    yield requests
    durations = HistogramMetricFamily(
        "azure_backup_exporter_api_request_duration_seconds", f"Duration of requests to Azure. {CACHED}", labels=["api"]
    )
    for api, data in sorted(telemetry.durations.items()):
        _histogram(durations, [api], API_DURATION_BUCKETS, data)
    yield durations
    remaining = GaugeMetricFamily(
        "azure_backup_exporter_api_ratelimit_remaining",
        f"Last x-ms-ratelimit-remaining-<scope> header Azure sent for the subscription. {CACHED}",
        labels=["subscription_id", "scope"],
    )
    for (sub, scope), value in sorted(telemetry.ratelimit_remaining.items()):
        remaining.add_metric([sub, scope], value)
    yield remaining
    errors = CounterMetricFamily(
        "azure_backup_exporter_parse_errors",
        f"Values from Azure that could not be parsed; the job is still counted. {CACHED}",
        labels=["field"],
    )
    for name, count in sorted(telemetry.parse_errors.items()):
        errors.add_metric([name], float(count))
    yield errors
