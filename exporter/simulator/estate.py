"""The simulated estate: what exists, decided by an EstateSpec, a seed and the clock.

Subscriptions and vaults are built up front (a thousand vaults cost milliseconds); items are
built per vault on first use; jobs are never stored, only computed for the window asked
(see schedule.py). A window's sorted keys are cached per (vault, window, as-of) so that
following nextLinks costs O(page size) per page.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections import OrderedDict
from collections.abc import Callable
from datetime import datetime
from typing import Any

from exporter.simulator import wire
from exporter.simulator.catalog import ENVIRONMENTS, LOCATIONS, TEAMS
from exporter.simulator.dpp_estate import DataProtectionEstate
from exporter.simulator.resources import (
    ProtectedItem,
    Subscription,
    Vault,
    file_share,
    sql_database,
    virtual_machine,
)
from exporter.simulator.schedule import JobFacts, JobKey, JobKind, Schedule, Series, parse_job_id, to_ticks
from exporter.simulator.spec import NO_FILTER, EstateSpec, JobFilter

FAILING_SECONDS = 3 * 86400.0  # failing items: every backup of the last 3 days failed
CONFIGURE_LEAD_SECONDS = 600.0  # ConfigureBackup runs this long before the first backup
BROKEN_LOG_SECONDS = 6 * 3600.0  # broken log chains: no log backup for the last 6 hours
_WINDOW_CACHE_SIZE = 32
_WINDOW_CACHE_KEYS = 400_000  # ~50 MB of keys at most


def _ticks_of(value: float | datetime) -> int:
    return to_ticks(value.timestamp() if isinstance(value, datetime) else value)


class Estate:
    """Read access for the routes and for tests: vaults, items, and jobs as the API serves them."""

    def __init__(self, spec: EstateSpec, clock: Callable[[], float]) -> None:
        self.spec = spec
        self.clock = clock
        # Failing items and deletions are placed relative to the clock at construction, so a
        # job's final status never changes as the clock moves on.
        self.anchor = to_ticks(clock())
        self.schedule = Schedule(
            spec.seed, spec.duration_range, spec.failure_ratio, spec.warning_ratio, spec.restore_ratio
        )
        self._seed_label = f"azure-backup-sim:{spec.seed}"
        self.epoch = to_ticks(spec.epoch)
        self.period = to_ticks(spec.period_seconds)
        self.history = to_ticks(spec.history_seconds)
        self.tenant_id = self._guid("tenant")
        self.subscriptions = tuple(self._subscription(s) for s in range(spec.subscriptions))
        self.vaults = tuple(
            self._vault(subscription, j)
            for subscription in self.subscriptions
            for j in range(spec.vaults_per_subscription)
        )
        self._by_ref = {tuple(part.lower() for part in vault.ref): vault for vault in self.vaults}
        self._subscription_ids = {s.subscription_id.lower(): s for s in self.subscriptions}
        self._items: dict[int, tuple[ProtectedItem, ...]] = {}
        self._windows: OrderedDict[tuple[Any, ...], list[JobKey]] = OrderedDict()
        self._cached_keys = 0
        self.renderer = wire.JobRenderer()
        self._lock = threading.Lock()
        self.data_protection = DataProtectionEstate(self)  # backup vaults, after the vaults above

    # --- resources -------------------------------------------------------------------------

    def _guid(self, label: str) -> str:
        h = hashlib.blake2b(f"{self._seed_label}:{label}".encode(), digest_size=16).hexdigest()
        return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{'89ab'[int(h[16], 16) % 4]}{h[17:20]}-{h[20:32]}"

    def _subscription(self, s: int) -> Subscription:
        environment = ENVIRONMENTS[s % len(ENVIRONMENTS)]
        return Subscription(
            s, self._guid(f"subscription:{s}"), f"contoso-{environment}-{s + 1:02d}", self.tenant_id, environment
        )

    def _vault(self, subscription: Subscription, j: int) -> Vault:
        g = subscription.index * self.spec.vaults_per_subscription + j
        team = TEAMS[g % len(TEAMS)]
        return Vault(
            index=g,
            subscription_id=subscription.subscription_id,
            resource_group=f"rg-backup-{g + 1:02d}",
            name=f"rsv-{team}-{g + 1:02d}",
            location=LOCATIONS[(g * 5 + subscription.index) % len(LOCATIONS)],
            tags={"team": team, "env": subscription.environment},
        )

    def vault_refs(self) -> list[tuple[str, str, str]]:
        """(subscription_id, resource_group, vault) of every vault, in listing order."""
        return [vault.ref for vault in self.vaults]

    def subscription(self, subscription_id: str) -> Subscription | None:
        return self._subscription_ids.get(subscription_id.lower())

    def vaults_in(self, subscription_id: str) -> list[Vault]:
        wanted = subscription_id.lower()
        return [vault for vault in self.vaults if vault.subscription_id == wanted]

    def find_vault(self, subscription_id: str, resource_group: str, name: str) -> Vault | None:
        # ARM resource ids are case-insensitive.
        return self._by_ref.get((subscription_id.lower(), resource_group.lower(), name.lower()))

    def items(self, vault: Vault) -> tuple[ProtectedItem, ...]:
        items = self._items.get(vault.index)
        if items is None:  # a race builds the same tuple twice, harmlessly
            items = tuple(self._item(vault, i) for i in range(self.spec.items_per_vault))
            self._items[vault.index] = items
        return items

    def _item(self, vault: Vault, i: int) -> ProtectedItem:
        spec, period = self.spec, self.period
        w_offset, w_size, w_name, w_special = self.schedule.hash_words(vault.index, i, 0x100, 0)
        first_vault = vault.index == 0
        always_fails_from = None
        if first_vault and i < spec.failing_items:
            always_fails_from = self.anchor - to_ticks(FAILING_SECONDS)
        deleted_at = None
        if first_vault and i >= spec.items_per_vault - spec.deletion_jobs:
            # Within the last period before the anchor: somewhere in its 10%-50%.
            deleted_at = self.anchor - period // 10 - w_special % max(1, period * 4 // 10)
        base = self.epoch + w_offset % period

        def make(kind: JobKind, first: int, every: int, cut: int | None) -> Series:
            return self.schedule.series(kind, vault.index, i, base=first, period=every, cut=cut)

        series = [make(JobKind.BACKUP, base, period, deleted_at)]
        if i % 6 == 4:
            shape = sql_database(vault, i, w_size)
            if (vault.index + i // 6) % 2 == 0:  # databases in full recovery model also ship logs
                every, cut = period, deleted_at
                if spec.log_backup_minutes > 0:
                    every = to_ticks(spec.log_backup_minutes * 60)
                    if first_vault and i // 6 < spec.broken_log_chains:
                        stop = self.anchor - to_ticks(BROKEN_LOG_SECONDS)
                        cut = stop if cut is None else min(cut, stop)
                series.append(make(JobKind.LOG_BACKUP, base + period // 4, every, cut))
        elif i % 12 == 7:
            shape = file_share(vault, i)
        else:
            # A few VMs are classic ones, as estates that began before Resource Manager still have.
            classic = (vault.index + i) % 8 == 5
            shape = virtual_machine(vault, vault.index * spec.items_per_vault + i + 1, w_name, w_size, classic=classic)
        series.append(make(JobKind.CONFIGURE, base - min(to_ticks(CONFIGURE_LEAD_SECONDS), period // 2), 0, None))
        if spec.restore_ratio > 0:
            series.append(make(JobKind.RESTORE, base + period // 2, period, deleted_at))
        if deleted_at is not None:
            series.append(make(JobKind.DELETE, deleted_at, 0, None))
        return ProtectedItem(
            index=i,
            name=shape.name,
            workload=shape.workload,
            backup_management_type=shape.backup_management_type,
            job_type=shape.job_type,
            backup_operation=shape.backup_operation,
            container_name=shape.container_name,
            size_mb=shape.size_mb,
            series=tuple(series),
            always_fails_from=always_fails_from,
            deleted_at=deleted_at,
            storage_account=shape.storage_account,
            classic=shape.classic,
        )

    # --- jobs ------------------------------------------------------------------------------

    def now(self) -> int:
        """The clock, in ticks."""
        return to_ticks(self.clock())

    def window(self, vault: Vault, lo: int, hi: int, as_of: int, job_filter: JobFilter = NO_FILTER) -> list[JobKey]:
        """Keys of the jobs that started in [lo, hi] (ticks) and exist at `as_of`, newest first."""
        lo, hi = max(lo, as_of - self.history), min(hi, as_of)
        cache_key = (vault.index, lo, hi, as_of, job_filter)
        with self._lock:
            cached = self._windows.get(cache_key)
            if cached is not None:
                self._windows.move_to_end(cache_key)
                return cached
        keys = self._compute_window(vault, lo, hi, as_of, job_filter) if lo <= hi else []
        if len(keys) > self.spec.page_size:  # only a window with a next page is asked for again
            with self._lock:
                self._windows[cache_key] = keys
                self._cached_keys += len(keys)
                while len(self._windows) > _WINDOW_CACHE_SIZE or self._cached_keys > _WINDOW_CACHE_KEYS:
                    self._cached_keys -= len(self._windows.popitem(last=False)[1])
        return keys

    def _compute_window(self, vault: Vault, lo: int, hi: int, as_of: int, job_filter: JobFilter) -> list[JobKey]:
        status, operation, bmt = (value.casefold() if value else None for value in job_filter)
        schedule = self.schedule
        keys: list[JobKey] = []
        for item in self.items(vault):
            if bmt is not None and item.backup_management_type.casefold() != bmt:
                continue
            for series in item.series:
                if operation is not None and item.operation(series.kind).casefold() != operation:
                    continue
                kind, base, period = series.kind, series.base, series.period
                for k in schedule.occurrences(series, lo, hi):
                    if kind is JobKind.RESTORE and not schedule.has_restore(series, k):
                        continue
                    if status is not None and self.facts(vault, item, series, k, as_of).status.casefold() != status:
                        continue
                    keys.append((-(base + k * period), item.index, kind, k))
        keys.sort()
        return keys

    def facts(self, vault: Vault, item: ProtectedItem, series: Series, k: int, as_of: int) -> JobFacts:
        return self.schedule.facts(vault.index, item.index, series, k, as_of, always_fails_from=item.always_fails_from)

    def list_json(
        self, vault: Vault, keys: list[JobKey], as_of: int, dialect: wire.Dialect = wire.CURRENT
    ) -> list[str]:
        """The wire form of `keys` (list shape: no extendedInfo), one JSON text per job."""
        items, render, facts = self.items(vault), self.renderer.list_json, self.schedule.facts
        out = []
        g = vault.index
        for _, item_index, kind, k in keys:
            item = items[item_index]
            series = item.series[0] if kind == 0 else item.series_of(kind)
            if series is None:
                raise LookupError(f"item {item_index} of vault {g} has no series {kind}")
            job = facts(g, item_index, series, k, as_of, always_fails_from=item.always_fails_from)
            out.append(render(vault, item, job, dialect))
        return out

    def find_job(self, vault: Vault, job_name: str, as_of: int) -> tuple[ProtectedItem, JobFacts] | None:
        """Decode a job id and check the job exists at `as_of`; no index needed."""
        parsed = parse_job_id(job_name)
        if parsed is None:
            return None
        g, item_index, kind, k = parsed
        items = self.items(vault)
        if g != vault.index or item_index >= len(items):
            return None
        item = items[item_index]
        series = item.series_of(kind)
        if series is None or (series.period == 0 and k != 0):
            return None
        start = series.base + k * series.period
        if not as_of - self.history <= start <= as_of or (series.cut is not None and start >= series.cut):
            return None
        if not self.schedule.exists(series, k):
            return None
        return item, self.facts(vault, item, series, k, as_of)

    # --- helpers for tests: the same bodies the routes serve --------------------------------

    def _vault_or_raise(self, subscription_id: str, resource_group: str, vault_name: str) -> Vault:
        vault = self.find_vault(subscription_id, resource_group, vault_name)
        if vault is None:
            raise KeyError(f"no vault {subscription_id}/{resource_group}/{vault_name}")
        return vault

    def jobs(
        self,
        subscription_id: str,
        resource_group: str,
        vault_name: str,
        start: float | datetime | None = None,
        end: float | datetime | None = None,
        *,
        as_of: float | None = None,
        job_filter: JobFilter = NO_FILTER,
        api_version: str | None = None,
    ) -> list[dict[str, Any]]:
        """Jobs that started in [start, end] (epoch seconds or aware datetimes), newest first,
        as the list route serves them. No bounds: the whole history."""
        vault = self._vault_or_raise(subscription_id, resource_group, vault_name)
        now = self.now() if as_of is None else to_ticks(as_of)
        lo = now - self.history if start is None else _ticks_of(start)
        hi = now if end is None else _ticks_of(end)
        keys = self.window(vault, lo, hi, now, job_filter)
        return [json.loads(text) for text in self.list_json(vault, keys, now, wire.Dialect.of(api_version))]

    def job(
        self,
        subscription_id: str,
        resource_group: str,
        vault_name: str,
        job_name: str,
        *,
        as_of: float | None = None,
        api_version: str | None = None,
    ) -> dict[str, Any] | None:
        """One job with extendedInfo, as the GET route serves it; None if it does not exist."""
        vault = self._vault_or_raise(subscription_id, resource_group, vault_name)
        found = self.find_job(vault, job_name, self.now() if as_of is None else to_ticks(as_of))
        return None if found is None else self.renderer.details(vault, *found, wire.Dialect.of(api_version))
