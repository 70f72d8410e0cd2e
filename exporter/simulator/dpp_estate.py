"""The simulated Data Protection backup vaults: their backup instances (disks, blobs, PostgreSQL
servers and flexible servers, AKS clusters) and jobs.

Built on the Recovery Services estate's schedule (same seed, ratios, durations, clock), so jobs
are computed, never stored, and any job is rebuilt from its id. Backup vaults take the global
vault indices after the Recovery Services vaults, so job ids never collide. Listings come oldest
first, as Azure's do (see exporter.azure.dataprotection); the wire shapes are in dpp_wire.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Sequence
from typing import Any, Protocol

from exporter.simulator import dpp_wire
from exporter.simulator.catalog import LOCATIONS, TEAMS, VM_ROLES
from exporter.simulator.resources import BackupInstance, BackupVault, Subscription, Vault
from exporter.simulator.schedule import JobFacts, JobKind, Schedule, parse_job_id, to_ticks
from exporter.simulator.spec import EstateSpec

_GIB = 1024**3
_WINDOW_CACHE_SIZE = 16  # listings being paged at once; each page then costs O(page size)
_POSTGRES_DATABASES = ("orders", "billing", "inventory", "crm", "ledger", "telemetry")


# A job's place in a listing: (start, instance index, kind, k); sorted ascending = oldest first.
BackupJobKey = tuple[int, int, int, int]


class RecoveryServicesEstate(Protocol):
    """What the backup vaults take from the Recovery Services estate (exporter.simulator.estate)."""

    @property
    def spec(self) -> EstateSpec: ...
    @property
    def schedule(self) -> Schedule: ...
    @property
    def epoch(self) -> int: ...  # ticks
    @property
    def period(self) -> int: ...  # ticks
    @property
    def subscriptions(self) -> Sequence[Subscription]: ...
    @property
    def vaults(self) -> Sequence[Vault]: ...

    def now(self) -> int: ...


class DataProtectionEstate:
    """The backup vaults of an Estate, and their jobs as the Data Protection API serves them."""

    def __init__(self, estate: RecoveryServicesEstate) -> None:
        self._estate = estate
        spec = estate.spec
        first = len(estate.vaults)
        self.vaults = tuple(
            self._vault(first, subscription, subscription.index * spec.backup_vaults_per_subscription + j)
            for subscription in estate.subscriptions
            for j in range(spec.backup_vaults_per_subscription)
        )
        self._by_ref = {tuple(part.lower() for part in vault.ref): vault for vault in self.vaults}
        self._instances: dict[int, tuple[BackupInstance, ...]] = {}
        self._windows: OrderedDict[tuple[int, int], list[BackupJobKey]] = OrderedDict()
        reach = spec.history_seconds if spec.backup_history_seconds is None else spec.backup_history_seconds
        self.history = to_ticks(reach)
        self._lock = threading.Lock()

    def _vault(self, first: int, subscription: Subscription, n: int) -> BackupVault:
        team = TEAMS[(n + 3) % len(TEAMS)]
        return BackupVault(
            index=first + n,
            subscription_id=subscription.subscription_id,
            resource_group=f"rg-dataprotection-{n + 1:02d}",
            name=f"bvault-{team}-{n + 1:02d}",
            location=LOCATIONS[(n * 5 + 2) % len(LOCATIONS)],
            tags={"team": team, "env": subscription.environment},
            spec_words=n % 2 == 1,
        )

    def vault_refs(self) -> list[tuple[str, str, str]]:
        return [vault.ref for vault in self.vaults]

    def vaults_in(self, subscription_id: str) -> list[BackupVault]:
        wanted = subscription_id.lower()
        return [vault for vault in self.vaults if vault.subscription_id == wanted]

    def find_vault(self, subscription_id: str, resource_group: str, name: str) -> BackupVault | None:
        return self._by_ref.get((subscription_id.lower(), resource_group.lower(), name.lower()))

    def instances(self, vault: BackupVault) -> tuple[BackupInstance, ...]:
        found = self._instances.get(vault.index)
        if found is None:
            found = tuple(self._instance(vault, i) for i in range(self._estate.spec.items_per_vault))
            self._instances[vault.index] = found
        return found

    def _instance(self, vault: BackupVault, i: int) -> BackupInstance:
        estate = self._estate
        w_offset, w_size, w_name, _ = estate.schedule.hash_words(vault.index, i, 0x100, 0)
        period = estate.period
        base = estate.epoch + w_offset % period
        series = [estate.schedule.series(JobKind.BACKUP, vault.index, i, base=base, period=period, cut=None)]
        if estate.spec.restore_ratio > 0:
            restores = estate.schedule.series(
                JobKind.RESTORE, vault.index, i, base=base + period // 2, period=period, cut=None
            )
            series.append(restores)
        team, number = vault.tags["team"], (vault.index * 100 + i) % 1000
        source_group = f"rg-{team}-app"
        source = f"/subscriptions/{vault.subscription_id}/resourceGroups/{source_group}/providers"
        shape = i % 5
        if shape == 0:
            name = f"disk-{VM_ROLES[w_name % len(VM_ROLES)]}-{number:03d}"
            disk_size = 4 * _GIB << w_size % 6  # managed disk sizes: 4 GiB (as recorded) to 128 GiB
            return BackupInstance(i, name, "Microsoft.Compute/disks", f"{source}/Microsoft.Compute/disks/{name}", name,
                                  None, "diskpolicy", "OperationalTierStore", None, tuple(series), disk_size)
        if shape == 1:
            account = f"st{team}{number:03d}"
            return BackupInstance(i, account, "Microsoft.Storage/storageAccounts/blobServices",
                                  f"{source}/Microsoft.Storage/storageAccounts/{account}", account, account,
                                  "vaultedblobpolicy", "VaultStore", _GIB // 2 + w_size % (20 * _GIB), tuple(series))
        if shape == 2:
            server, database = f"psql-{team}-{vault.index:02d}", _POSTGRES_DATABASES[i // 5 % len(_POSTGRES_DATABASES)]
            return BackupInstance(i, f"{server}\\{database}", "Microsoft.DBforPostgreSQL/servers/databases",
                                  f"{source}/Microsoft.DBforPostgreSQL/servers/{server}/databases/{database}",
                                  database, server, "pgpolicy", "VaultStore", _GIB // 8 + w_size % (4 * _GIB),
                                  tuple(series))
        if shape == 3:
            name = f"pgflex-{team}-{number:03d}"
            return BackupInstance(i, name, "Microsoft.DBforPostgreSQL/flexibleServers",
                                  f"{source}/Microsoft.DBforPostgreSQL/flexibleServers/{name}", name, None,
                                  "pgflexpolicy", "VaultStore", _GIB // 4 + w_size % (8 * _GIB), tuple(series))
        name = f"aks-{team}-{number:03d}"
        return BackupInstance(i, name, "Microsoft.ContainerService/managedClusters",
                              f"{source}/Microsoft.ContainerService/managedClusters/{name}", name, None, "akspolicy",
                              "OperationalStore", None, tuple(series))

    # --- jobs ----------------------------------------------------------------------------------

    def window(self, vault: BackupVault, as_of: int) -> list[BackupJobKey]:
        """Every job the vault lists at `as_of` (the whole history), oldest first unless the
        spec asks for newest first. Cached per (vault, as_of): a skip token pins as_of."""
        with self._lock:
            cached = self._windows.get((vault.index, as_of))
        if cached is not None:
            return cached
        schedule, lo = self._estate.schedule, as_of - self.history
        keys: list[BackupJobKey] = []
        for instance in self.instances(vault):
            for series in instance.series:
                for k in schedule.occurrences(series, lo, as_of):
                    if schedule.exists(series, k):
                        keys.append((series.base + k * series.period, instance.position, series.kind, k))
        keys.sort(reverse=self._estate.spec.backup_jobs_newest_first)
        with self._lock:
            self._windows[(vault.index, as_of)] = keys
            while len(self._windows) > _WINDOW_CACHE_SIZE:
                self._windows.popitem(last=False)
        return keys

    def facts(self, vault: BackupVault, key: BackupJobKey, as_of: int) -> tuple[BackupInstance, JobFacts]:
        _, position, kind, k = key
        instance = self.instances(vault)[position]
        series = instance.series_of(kind)
        if series is None:
            raise LookupError(f"backup instance {position} of vault {vault.index} has no series {kind}")
        return instance, self._estate.schedule.facts(vault.index, position, series, k, as_of, always_fails_from=None)

    def find_job(self, vault: BackupVault, name: str, as_of: int) -> tuple[BackupInstance, JobFacts] | None:
        parsed = parse_job_id(name)
        if parsed is None or parsed[0] != vault.index or parsed[1] >= len(self.instances(vault)):
            return None
        _, position, kind, k = parsed
        series = self.instances(vault)[position].series_of(kind)
        if series is None or not self._estate.schedule.exists(series, k):
            return None
        start = series.base + k * series.period
        if not as_of - self.history <= start <= as_of:
            return None
        return self.facts(vault, (start, position, kind, k), as_of)

    # --- helpers for tests: the same bodies the routes serve ----------------------------------

    def jobs(self, subscription_id: str, resource_group: str, name: str, *, as_of: float | None = None,
             start: float | None = None, end: float | None = None) -> list[dict[str, Any]]:
        """The jobs the list route serves, in its order; optionally only those started in [start, end]."""
        vault = self._vault_or_raise(subscription_id, resource_group, name)
        now = self._estate.now() if as_of is None else to_ticks(as_of)
        lo = -1 if start is None else to_ticks(start)
        hi = now if end is None else to_ticks(end)
        keys = [key for key in self.window(vault, now) if lo <= key[0] <= hi]
        return [dpp_wire.list_item(vault, *self.facts(vault, key, now)) for key in keys]

    def job(self, subscription_id: str, resource_group: str, name: str, job_name: str, *,
            as_of: float | None = None) -> dict[str, Any] | None:
        vault = self._vault_or_raise(subscription_id, resource_group, name)
        found = self.find_job(vault, job_name, self._estate.now() if as_of is None else to_ticks(as_of))
        return None if found is None else dpp_wire.details(vault, *found)

    def _vault_or_raise(self, subscription_id: str, resource_group: str, name: str) -> BackupVault:
        vault = self.find_vault(subscription_id, resource_group, name)
        if vault is None:
            raise KeyError(f"no backup vault {subscription_id}/{resource_group}/{name}")
        return vault

