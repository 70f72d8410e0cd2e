"""The Azure resources of the simulated estate: subscriptions, Recovery Services vaults and their
protected items, Data Protection backup vaults and their backup instances."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple

from exporter.simulator.catalog import FILE_SHARES, SQL_DATABASES, VM_ROLES
from exporter.simulator.schedule import OPERATIONS, JobKind, Series

VM = "vm"
SQL = "sql"
FILE_SHARE = "fileshare"


@dataclass(frozen=True, slots=True)
class Subscription:
    index: int
    subscription_id: str
    display_name: str
    tenant_id: str
    environment: str


@dataclass(frozen=True, slots=True)
class Vault:
    """A Recovery Services vault; `index` is global across subscriptions and starts every job id."""

    index: int
    subscription_id: str
    resource_group: str
    name: str
    location: str
    tags: dict[str, str] = field(hash=False)

    @property
    def resource_id(self) -> str:
        return (
            f"/subscriptions/{self.subscription_id}/resourceGroups/{self.resource_group}"
            f"/providers/Microsoft.RecoveryServices/vaults/{self.name}"
        )

    @property
    def ref(self) -> tuple[str, str, str]:
        return (self.subscription_id, self.resource_group, self.name)


@dataclass(frozen=True, slots=True)
class ProtectedItem:
    """One backed-up VM, SQL database or file share, and the job series it produces."""

    index: int
    name: str  # entityFriendlyName
    workload: str  # VM, SQL or FILE_SHARE
    backup_management_type: str
    job_type: str
    backup_operation: str
    container_name: str
    size_mb: int  # typical size of one backup
    series: tuple[Series, ...]
    always_fails_from: int | None  # ticks: every backup from then on fails
    deleted_at: int | None  # ticks: DeleteBackupData ran then, no backups after
    storage_account: str = ""
    classic: bool = False  # a Microsoft.ClassicCompute VM (Azure Service Manager, in a cloud service)

    def series_of(self, kind: int) -> Series | None:
        for series in self.series:
            if series.kind == kind:
                return series
        return None

    def operation(self, kind: JobKind) -> str:
        if kind is JobKind.BACKUP:
            return self.backup_operation
        return OPERATIONS[kind]


class ItemShape(NamedTuple):
    """What kind of thing an item is, and the names Azure shows for it."""

    workload: str
    name: str
    backup_management_type: str
    job_type: str
    backup_operation: str
    container_name: str
    size_mb: int
    storage_account: str = ""
    classic: bool = False


def virtual_machine(vault: Vault, number: int, w_name: int, w_size: int, *, classic: bool = False) -> ItemShape:
    name = f"vm-{VM_ROLES[w_name % len(VM_ROLES)]}-{number:03d}"
    # Classic VMs live in a cloud service named after them and have "iaasvmcontainer;" containers,
    # ARM VMs "iaasvmcontainerv2;" (bms.json: IaaSVMContainer, AzureIaaSClassicComputeVMContainer).
    container = f"iaasvmcontainer;{name};{name}" if classic else f"iaasvmcontainerv2;{vault.resource_group};{name}"
    size = 2000 + w_size % 60000
    return ItemShape(VM, name, "AzureIaasVM", "AzureIaaSVMJob", "Backup", container, size, classic=classic)


def sql_database(vault: Vault, i: int, w_size: int) -> ItemShape:
    # One SQL VM per six items, so (database, host) is unique within the vault.
    host = f"sqlvm-{i // 6 + 1}"
    database = SQL_DATABASES[(vault.index * 3 + (i // 6) * 2 + 2) % len(SQL_DATABASES)]
    name = f"MSSQLSERVER/{database} [{host}.contoso.com]"
    container = f"VMAppContainer;Compute;{vault.resource_group};{host}"
    return ItemShape(SQL, name, "AzureWorkload", "AzureWorkloadJob", "Backup (Full)", container, 200 + w_size % 20000)


def file_share(vault: Vault, i: int) -> ItemShape:
    account = f"st{vault.tags['team']}{vault.index:04d}"
    name = f"fs-{FILE_SHARES[(vault.index + i // 12) % len(FILE_SHARES)]}-{i // 12 + 1}"
    container = f"StorageContainer;Storage;{vault.resource_group};{account}"
    return ItemShape(FILE_SHARE, name, "AzureStorage", "AzureStorageJob", "Backup", container, 0, account)


@dataclass(frozen=True, slots=True)
class BackupVault:
    index: int  # global vault index: starts every job id
    subscription_id: str
    resource_group: str
    name: str
    location: str
    tags: dict[str, str] = field(hash=False)
    spec_words: bool  # print the spec examples' status words (Started, Succeeded)

    @property
    def resource_id(self) -> str:
        return (
            f"/subscriptions/{self.subscription_id}/resourceGroups/{self.resource_group}"
            f"/providers/Microsoft.DataProtection/backupVaults/{self.name}"
        )

    @property
    def ref(self) -> tuple[str, str, str]:
        return (self.subscription_id, self.resource_group, self.name)


class BackupInstance(NamedTuple):
    """One protected data source and its job series (backups, sparse restores)."""

    position: int  # in its vault; part of its job ids
    name: str  # backupInstanceFriendlyName
    data_source_type: str
    data_source_id: str
    data_source_name: str
    data_source_set: str | None
    policy: str
    datastore: str  # where backups go: OperationalStore, OperationalTierStore or VaultStore
    size_bytes: int | None  # typical data transferred per backup; None: snapshots move nothing
    series: tuple[Series, ...]
    source_size_bytes: int | None = None  # a disk's provisioned size (OriginalDatasourceSizeInBytes)

    def series_of(self, kind: int) -> Series | None:
        return next((s for s in self.series if s.kind == kind), None)
