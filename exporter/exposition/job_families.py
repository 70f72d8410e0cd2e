"""Snapshot → Prometheus metric families. Pure: no I/O, no clock, no shared mutable state."""

from __future__ import annotations

import platform
from array import array
from collections.abc import Callable, Iterable, Iterator, Sequence
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
from exporter.exposition.text import Writer, render_samples
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
# Counters start at 0 for every final status, so the first failure is an increase Prometheus sees.
FINAL_STATUSES = tuple(s for s in KNOWN_STATUSES if s in FINISHED_STATUSES)
TASK_STATUSES = ("NotStarted", "InProgress", "Completed", "CompletedWithWarnings", "Failed", "Cancelled")
CACHED = "Cached; refreshed every poll."


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


def states(current: str, known: Sequence[str]) -> Sequence[str]:
    """A state set's states, each with a sample: 1 for `current`, 0 for the others. An unknown
    current state passes through verbatim."""
    return known if current in known else (*known, current)


def state_set(family: GaugeMetricFamily, labels: list[str], current: str, known: Sequence[str]) -> None:
    for state in states(current, known):
        family.add_metric([*labels, state], 1.0 if state == current else 0.0)


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
            yield VaultBlock("jobs", [(key, items) for key, items, _ in parts], _item_families, _items_text)
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

    def _vaults_block(self, parts: Sequence[VaultsPart]) -> Iterator[Metric]:
        vaults = tuple(chain.from_iterable(parts))
        yield from self._tracked_families(vaults)
        yield from self._vault_families(vaults)

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


# Each item family is defined once, by one of the three kinds below: its name, help, labels and
# what it reads from an item's view. `metric()` builds it as a Metric family (the full render,
# `collect()`, and the headers of the incremental one); `lines()` writes the same samples' lines
# straight from the views (`_items_text`: a Sample and its label dict per line cost too much at
# 10,000 items). tests/exposition hold the two equal, byte for byte.
_Items = Sequence[tuple[list[str], ItemView]]
# An item whose lines are written: its key, the key's escaped values, its label text alone (`body`), its view.
_ItemToWrite = tuple[ItemKey, tuple[str, ...], str, ItemView]
# An item's samples of one family: the values of the family's labels after ITEM_LABELS, and the value.
_Samples = Sequence[tuple[tuple[str, ...], float]]


def _kind(counter: bool) -> type[GaugeMetricFamily] | type[CounterMetricFamily]:
    return CounterMetricFamily if counter else GaugeMetricFamily


@dataclass(frozen=True, slots=True)
class _ItemValue:
    """A family with at most one value per item, and no labels but the item's."""

    name: str
    help: str
    counter: bool  # its samples are name_total
    value: Callable[[ItemView], float | None]  # None: no sample for the item

    def metric(self, items: _Items) -> Metric:
        family = _kind(self.counter)(self.name, f"{self.help} {CACHED}", labels=ITEM_LABELS)
        read = self.value
        for labels, view in items:
            value = read(view)
            if value is not None:
                family.add_metric(labels, value)
        return family

    def lines(self, writer: Writer, items: Sequence[_ItemToWrite]) -> list[str]:
        """Each item's line ("" for none): the name, then the item's label text (`body`, made once
        for all these families)."""
        name, number, read = writer.name(f"{self.name}_total" if self.counter else self.name), writer.number, self.value
        return ["" if (value := read(view)) is None else f"{name}{body}{number(value)}\n" for _, _, body, view in items]


@dataclass(frozen=True, slots=True)
class _ItemState:
    """A state set per item (`label` names the state)."""

    name: str
    help: str
    label: str
    known: tuple[str, ...]
    current: Callable[[ItemView], str | None]  # None: no samples for the item

    def metric(self, items: _Items) -> Metric:
        family = GaugeMetricFamily(self.name, f"{self.help} {CACHED}", labels=[*ITEM_LABELS, self.label])
        known, read = self.known, self.current
        for labels, view in items:
            current = read(view)
            if current is not None:
                state_set(family, labels, current, known)
        return family

    def lines(self, writer: Writer, items: Sequence[_ItemToWrite]) -> list[str]:
        """Each item's lines ("" for none): the text around the state is made once per item."""
        cut, known, read = writer.cut(self.name, ITEM_LABELS, self.label), self.known, self.current
        one, zero, escaped = writer.number(1.0), writer.number(0.0), writer.escaped
        texts = []
        for _, labels, _, view in items:
            current = read(view)
            if current is None:
                texts.append("")
                continue
            head, tail = cut.split(labels)
            texts.append("".join([f"{head}{escaped[state]}{tail}{one if state == current else zero}\n"
                                  for state in states(current, known)]))
        return texts


@dataclass(frozen=True, slots=True)
class _ItemSamples:
    """A family with labels of its own after the item's (`extra`), and any number of samples per item."""

    name: str
    help: str
    counter: bool
    extra: tuple[str, ...]
    samples: Callable[[ItemView], _Samples]

    def metric(self, items: _Items) -> Metric:
        family = _kind(self.counter)(self.name, f"{self.help} {CACHED}", labels=[*ITEM_LABELS, *self.extra])
        read = self.samples
        for labels, view in items:
            for values, value in read(view):
                family.add_metric([*labels, *values], value)
        return family

    def lines(self, writer: Writer, items: Sequence[_ItemToWrite]) -> list[str]:
        """Each item's lines ("" for none)."""
        number, escaped, read = writer.number, writer.escaped, self.samples
        sample = f"{self.name}_total" if self.counter else self.name
        texts = []
        if len(self.extra) == 1:  # the text around the one label that varies is made once per item
            cut = writer.cut(sample, ITEM_LABELS, self.extra[0])
            for _, labels, _, view in items:
                found = read(view)
                head, tail = cut.split(labels) if found else ("", "")
                texts.append("".join([f"{head}{escaped[values[0]]}{tail}{number(value)}\n" for values, value in found]))
            return texts
        names = (*ITEM_LABELS, *self.extra)
        for key, _, _, view in items:
            texts.append("".join([writer.line(sample, dict(zip(names, (*key, *values), strict=True)), value, None)
                                  for values, value in read(view)]))
        return texts


def _error(view: ItemView) -> _Samples:
    finished = view.latest_finished
    if finished is None or finished.status != "Failed":
        return ()
    return (((finished.error_code or "unknown", finished.error_title or "unknown"), 1.0),)


def _jobs(view: ItemView) -> _Samples:
    counts = dict(view.counts)
    finals = (*FINAL_STATUSES, *sorted(s for s in counts if s not in FINAL_STATUSES))
    return [((final,), float(counts.get(final, 0))) for final in finals]


# In exposition order; the job duration histogram (by series, not by item) follows them.
_ITEM_FAMILIES: tuple[_ItemValue | _ItemState | _ItemSamples, ...] = (
    _ItemState(
        "azure_backup_job_last_status", "Status of the item's latest job (1) among the known statuses (0).",
        "status", KNOWN_STATUSES, lambda view: view.latest.status if view.latest is not None else None,
    ),
    _ItemValue(
        "azure_backup_job_last_start_timestamp_seconds", "Start time of the item's latest job.", False,
        lambda view: view.latest.start_time if view.latest is not None else None,
    ),
    _ItemValue(
        "azure_backup_job_last_end_timestamp_seconds", "End time of the item's latest finished job.", False,
        lambda view: view.latest_finished.end_time if view.latest_finished is not None else None,
    ),
    _ItemValue(
        "azure_backup_job_last_duration_seconds", "Duration of the item's latest finished job.", False,
        lambda view: view.latest_finished.duration_seconds if view.latest_finished is not None else None,
    ),
    _ItemValue(
        "azure_backup_job_last_size_bytes",
        "Size of the item's latest finished job that reported one (MB = 1024^2 bytes).", False,
        lambda view: view.latest_size,
    ),
    _ItemValue(
        "azure_backup_job_last_success_timestamp_seconds",
        "End time of the item's latest Completed or CompletedWithWarnings job; "
        "kept after it leaves the lookback window.", False,
        lambda view: view.last_success,
    ),
    _ItemSamples(
        "azure_backup_job_last_error_info", "Error of the item's latest finished job, present while that job failed.",
        False, ("error_code", "error_title"), _error,
    ),
    _ItemSamples(
        "azure_backup_jobs", "Finished jobs by final status, each job counted once.", True, ("status",), _jobs,
    ),
    _ItemValue(
        "azure_backup_job_size_bytes", "Sum of the sizes of finished jobs.", True, lambda view: view.size_total,
    ),
)


def _item_families(parts: Sequence[ItemsPart]) -> Iterator[Metric]:
    """The jobs block's families for `parts`: what a full render (`collect()`) writes, and the
    headers (`parts` empty) the incremental render puts above each vault's lines."""
    items = [(list(key), view) for part in parts for key, view in part.items]
    # One pass per family, each yielded as soon as it is full and then dropped: at 10,000
    # items the samples of all nine families together would take ~60 MB at once.
    for family in _ITEM_FAMILIES:
        yield family.metric(items)
    yield _durations(chain.from_iterable(part.histograms for part in parts))


def _durations(histograms: Iterable[tuple[SeriesKey, Histogram]]) -> HistogramMetricFamily:
    family = HistogramMetricFamily(
        "azure_backup_job_duration_seconds", f"Durations of finished jobs. {CACHED}", labels=SERIES_LABELS
    )
    for series, data in histograms:
        _histogram(family, list(series), DURATION_BUCKETS, HistogramData(data.bucket_counts, data.total, data.count))
    return family


# One column per item family in `_items_text`'s Written; the histogram's lines follow them.
_ITEM_COLUMNS = len(_ITEM_FAMILIES)


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
    """One vault's sample lines of the item families, written straight from its views: the bytes
    `render_samples` writes for `_item_families` (tests/exposition hold the two equal), without a
    Sample and its label dict per line, each item's label text formatted once per family rather
    than once per line, and the lines of items unchanged since `previous` copied."""
    kept = _KeptLines.of(previous)
    found = [None if kept is None else kept.find(key, view) for key, view in part.items]
    fresh = iter(_fresh_lines(writer, [item for item, n in zip(part.items, found, strict=True) if n is None]))
    columns: list[list[bytes]] = [[] for _ in range(_ITEM_COLUMNS)]
    lengths = tuple(array("Q") for _ in range(_ITEM_COLUMNS))
    run: list[int] = []  # first and last previous index of the unchanged items not yet copied
    for n in found:
        if n is not None and run and n == run[1] + 1:
            run[1] = n
            continue
        if run and kept is not None:
            kept.copy(run[0], run[1], columns, lengths)
        run = [] if n is None else [n, n]
        if n is None:
            for column, column_lengths, text in zip(columns, lengths, next(fresh), strict=True):
                column.append(text)
                column_lengths.append(len(text))
    if run and kept is not None:
        kept.copy(run[0], run[1], columns, lengths)
    histograms = render_samples(writer, _durations(part.histograms))  # a few series a vault: no shortcut needed
    return Written((*(b"".join(column) for column in columns), histograms), lengths)


def _fresh_lines(writer: Writer, items: Sequence[tuple[ItemKey, ItemView]]) -> list[tuple[bytes, ...]]:
    """Each item's lines of each item family (empty where it has no sample), written family by
    family: a call per family, not per item and family."""
    body, escaped = writer.cut("", ITEM_LABELS), writer.escaped.__getitem__
    prepared = []
    for key, view in items:
        labels = tuple(map(escaped, key))
        prepared.append((key, labels, body.split(labels)[0], view))
    per_family = [[text.encode("utf-8") for text in family.lines(writer, prepared)] for family in _ITEM_FAMILIES]
    return list(zip(*per_family, strict=True))


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
