"""The vault's protected items (`GET …/vaults/{v}/backupProtectedItems`), consistent with its jobs.

One protected item per estate item, its state derived from the same job facts the job routes serve:
lastBackupTime and lastBackupStatus from its latest finished backup job (any backup series: full
or log), lastRecoveryPoint from its latest successful one, protectionState ProtectionStopped after a
DeleteBackupData job (soft delete keeps the item listed, scheduled for deferred delete),
healthStatus ActionRequired (VMs) or protectionState ProtectionError (databases, file shares) while
an item keeps failing. `EstateSpec.never_backed_up_items` adds items to the first vault that have no
jobs at all (IRPending): VMs and SQL databases in turn.

Shapes: Azure/azure-rest-api-specs recoveryservicesbackup bms.json (AzureIaaSVMProtectedItem,
AzureVmWorkloadProtectedItem, AzureFileshareProtectedItem) and its example
AzureIaasVm/BackupProtectedItems_List.json; the SQL database shape follows Microsoft's REST docs
(articles/backup/backup-azure-sql-vm-rest-api.md): friendlyName is the database, parentName the
instance, serverName the host, which the jobs join into "MSSQLSERVER/db [host]".
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from typing import Any, overload

from exporter.simulator.details import error_of
from exporter.simulator.estate import Estate
from exporter.simulator.formats import format_time
from exporter.simulator.policies import item_policy
from exporter.simulator.resources import FILE_SHARE, SQL, VM, ProtectedItem, Vault
from exporter.simulator.routing import Host, Request, Response, Route, route
from exporter.simulator.schedule import TICKS_PER_SECOND, JobFacts, JobKind

# The job routes' paging and vault look-up: one implementation of each for every route.
from exporter.simulator.vaults import VAULT_PATH, offset_paging, vault_or_404

ITEM_RESOURCE_TYPE = "Microsoft.RecoveryServices/vaults/backupFabrics/protectionContainers/protectedItems"
SOFT_DELETE_TICKS = 14 * 86400 * TICKS_PER_SECOND  # Azure Backup's default soft-delete retention
_SUCCESS = ("Completed", "CompletedWithWarnings")
_BACKUP_KINDS = (JobKind.BACKUP, JobKind.LOG_BACKUP)
_SQL_NAME = re.compile(r"(?P<parent>[^/]+)/(?P<database>.+) \[(?P<server>[^\]]+)\]")
_POLICIES = {VM: "DefaultPolicy", SQL: "HourlyLogBackup", FILE_SHARE: "DailyPolicy-fileshare"}


def _latest_backups(
    estate: Estate, vault: Vault, item: ProtectedItem, as_of: int
) -> tuple[JobFacts | None, JobFacts | None]:
    """(latest finished backup job, latest successful one) of the item as of `as_of`."""
    finished: JobFacts | None = None
    success: JobFacts | None = None
    for series in item.series:
        if series.kind not in _BACKUP_KINDS:
            continue
        for k in reversed(estate.schedule.occurrences(series, as_of - estate.history, as_of)):
            facts = estate.facts(vault, item, series, k, as_of)
            if not facts.finished:
                continue
            if finished is None or facts.start > finished.start:
                finished = facts
            if facts.status in _SUCCESS:
                if success is None or facts.start > success.start:
                    success = facts
                break  # older occurrences of this series can only be older
    return finished, success


def _state(item: ProtectedItem, finished: JobFacts | None, as_of: int) -> tuple[str, bool]:
    """(protectionState, whether the item keeps failing)."""
    failing = item.always_fails_from is not None and as_of >= item.always_fails_from
    if item.deleted_at is not None and as_of >= item.deleted_at:
        return "ProtectionStopped", failing
    if failing and item.workload != VM:  # VMs report it through healthStatus instead
        return "ProtectionError", failing
    return ("IRPending" if finished is None else "Protected"), failing


def item_body(estate: Estate, vault: Vault, item: ProtectedItem, as_of: int) -> dict[str, Any]:
    """One estate item as `GET …/backupProtectedItems` lists it, as of `as_of` (ticks)."""
    finished, success = _latest_backups(estate, vault, item, as_of)
    state, failing = _state(item, finished, as_of)
    stopped = state == "ProtectionStopped"
    unhealthy = failing or (finished is not None and finished.status not in _SUCCESS)
    props: dict[str, Any] = {}
    if item.workload == VM:
        # Classic VMs: examples/2025-02-01/AzureIaasVm/BackupProtectedItems_List.json.
        provider = "Microsoft.ClassicCompute" if item.classic else "Microsoft.Compute"
        host_group = vault.resource_group if item.classic else item.container_name.split(";")[1]
        vm_id = (f"/subscriptions/{vault.subscription_id}/resourceGroups/{host_group}"
                 f"/providers/{provider}/virtualMachines/{item.name}")
        name = f"VM;{item.container_name}"
        container_path = f"IaasVMContainer;{item.container_name}"
        props |= {"friendlyName": item.name, "virtualMachineId": vm_id}
        props |= _status(state, "Unhealthy" if unhealthy else "Healthy", finished.status if finished else "IRPending")
        props["healthStatus"] = "ActionRequired" if failing else "Passed"
        props |= {"protectedItemType": f"{provider}/virtualMachines", "workloadType": "VM",
                  "sourceResourceId": vm_id}
    elif item.workload == SQL:
        parts = _SQL_NAME.fullmatch(item.name)
        if parts is None:
            raise LookupError(f"SQL item name {item.name!r} is not 'instance/database [host]'")
        host = parts["server"].split(".")[0]
        name = f"SQLDataBase;{parts['parent'].lower()};{parts['database'].lower()}"
        container_path = item.container_name
        # Lower-cased as the item's name is: the docs' "msdb" item whose jobs say "msDB".
        props |= {"friendlyName": parts["database"].lower(), "serverName": parts["server"],
                  "parentName": parts["parent"],
                  "parentType": "AzureVmWorkloadSQLInstance"}
        props |= _status(state, "Unhealthy" if unhealthy else "Healthy", _health(finished))
        # As the docs' SQL item (rsv_docs_sqlvm_protected_item): the last error ("Success" when
        # none), the data source id, and the health in protectedItemHealthStatus (no healthStatus).
        props["lastBackupErrorDetail"] = _last_error(item, finished)
        props["protectedItemDataSourceId"] = str(17592186044416 + vault.index * 4096 + item.index)
        props |= {"protectedItemHealthStatus": "Unhealthy" if failing else _health(finished),
                  "protectedItemType": "AzureVmWorkloadSQLDatabase", "workloadType": "SQLDataBase",
                  "sourceResourceId": f"/subscriptions/{vault.subscription_id}/resourceGroups/{vault.resource_group}"
                                      f"/providers/Microsoft.Compute/virtualMachines/{host}"}
    else:
        name = f"AzureFileShare;{item.name}"
        container_path = item.container_name
        props["friendlyName"] = item.name
        props |= _status(state, "Unhealthy" if unhealthy else "Healthy", _health(finished))
        props |= {"protectedItemType": "AzureFileShareProtectedItem", "workloadType": "AzureFileShare",
                  "sourceResourceId": f"/subscriptions/{vault.subscription_id}/resourceGroups/{vault.resource_group}"
                                      f"/providers/Microsoft.Storage/storageAccounts/{item.storage_account}"}
    props |= {"backupManagementType": item.backup_management_type, "containerName": item.container_name}
    if finished is not None:
        props["lastBackupTime"] = format_time(finished.start)
    if success is not None:  # the snapshot, hence the recovery point, is taken as the job starts
        props["lastRecoveryPoint"] = format_time(success.start)
    # Only some items name their policy: the spec's VM items and the docs' SQL item carry policyId alone.
    named = item.workload != SQL and vault.index % 2 == 0
    _policy(props, vault, None if stopped else item_policy(estate, item), named=named)
    if stopped and item.deleted_at is not None:
        props |= _deferred_delete(item.deleted_at, as_of)
    return _resource(vault, container_path, name, props)


def _deferred_delete(deleted_at: int, as_of: int) -> dict[str, Any]:
    """The soft-delete fields: deferredDeleteTimeInUTC is the delete, deferredDeleteTimeRemaining
    (a TimeSpan) the time left to the purge, as Az PowerShell reads them for DateOfPurge."""
    left = max(0, deleted_at + SOFT_DELETE_TICKS - as_of) // TICKS_PER_SECOND
    days, rest = divmod(left, 86400)
    remaining = f"{days}.{rest // 3600:02d}:{rest % 3600 // 60:02d}:{rest % 60:02d}"
    return {"isScheduledForDeferredDelete": True, "deferredDeleteTimeInUTC": format_time(deleted_at),
            "deferredDeleteTimeRemaining": remaining}


def purging_item_body(estate: Estate, vault: Vault, as_of: int) -> dict[str, Any]:
    """`EstateSpec.posture_cases`: a VM whose protection was stopped with delete 12 days before the
    estate started, in soft delete until its purge two days after it."""
    name = "vm-purge-001"
    container = f"iaasvmcontainerv2;{vault.resource_group};{name}"
    vm_id = (f"/subscriptions/{vault.subscription_id}/resourceGroups/{vault.resource_group}"
             f"/providers/Microsoft.Compute/virtualMachines/{name}")
    props: dict[str, Any] = {"friendlyName": name, "virtualMachineId": vm_id}
    props |= _status("ProtectionStopped", "Healthy", "Completed")
    props |= {"healthStatus": "Passed", "protectedItemType": "Microsoft.Compute/virtualMachines",
              "workloadType": "VM", "sourceResourceId": vm_id, "backupManagementType": "AzureIaasVM",
              "containerName": container}
    _policy(props, vault, None)
    props |= _deferred_delete(estate.anchor + 2 * 86400 * TICKS_PER_SECOND - SOFT_DELETE_TICKS, as_of)
    return _resource(vault, f"IaasVMContainer;{container}", f"VM;{container}", props)


def never_backed_up_body(vault: Vault, n: int) -> dict[str, Any]:
    """The n-th extra item of the first vault: protection configured, no backup (nor any job) yet.
    Even n: a VM; odd n: a SQL database, as the docs' one right after protection is enabled."""
    if n % 2:
        return _never_backed_up_database(vault, n)
    name = f"vm-new-{n + 1:03d}"
    container = f"iaasvmcontainerv2;{vault.resource_group};{name}"
    vm_id = (f"/subscriptions/{vault.subscription_id}/resourceGroups/{vault.resource_group}"
             f"/providers/Microsoft.Compute/virtualMachines/{name}")
    props: dict[str, Any] = {"friendlyName": name, "virtualMachineId": vm_id}
    props |= _status("IRPending", "Healthy", "IRPending")
    props |= {"healthStatus": "Passed", "protectedItemType": "Microsoft.Compute/virtualMachines",
              "workloadType": "VM", "sourceResourceId": vm_id, "backupManagementType": "AzureIaasVM",
              "containerName": container}
    _policy(props, vault, _POLICIES[VM])
    return _resource(vault, f"IaasVMContainer;{container}", f"VM;{container}", props)


def _never_backed_up_database(vault: Vault, n: int) -> dict[str, Any]:
    # Field for field rsv_docs_sqlvm_protected_item (backup-azure-sql-vm-rest-api.md).
    host, database = f"sqlvm-new-{n + 1:03d}", f"newdb{n + 1:03d}"
    container = f"VMAppContainer;Compute;{vault.resource_group};{host}"
    props: dict[str, Any] = {"friendlyName": database, "serverName": f"{host}.contoso.com",
                             "parentName": "MSSQLSERVER", "parentType": "AzureVmWorkloadSQLInstance"}
    props |= _status("IRPending", "Healthy", "IRPending")
    props |= {"lastBackupErrorDetail": {"code": "Success", "message": ""},
              "protectedItemDataSourceId": str(17592741727863 + n), "protectedItemHealthStatus": "IRPending",
              "extendedInfo": {"recoveryPointCount": 0, "policyState": "Consistent"},
              "protectedItemType": "AzureVmWorkloadSQLDatabase", "backupManagementType": "AzureWorkload",
              "workloadType": "SQLDataBase", "containerName": container,
              "sourceResourceId": f"/subscriptions/{vault.subscription_id}/resourceGroups/{vault.resource_group}"
                                  f"/providers/Microsoft.Compute/virtualMachines/{host}"}
    _policy(props, vault, _POLICIES[SQL], named=False)
    return _resource(vault, container, f"SQLDataBase;mssqlserver;{database}", props)


def _status(state: str, protection_status: str, last_backup_status: str) -> dict[str, str]:
    return {"protectionStatus": protection_status, "protectionState": state, "lastBackupStatus": last_backup_status}


def _health(finished: JobFacts | None) -> str:
    """lastBackupStatus of databases and file shares: the LastBackupStatus enum, not a job status."""
    if finished is None:
        return "IRPending"
    return "Healthy" if finished.status in _SUCCESS else "Unhealthy"


def _policy(props: dict[str, Any], vault: Vault, name: str | None, *, named: bool = True) -> None:
    # Stopping protection detaches the policy: the docs' stop request sends "policyId": "".
    props["policyId"] = f"{vault.resource_id}/backupPolicies/{name}" if name else ""
    if name and named:
        props["policyName"] = name


def _last_error(item: ProtectedItem, finished: JobFacts | None) -> dict[str, str]:
    """lastBackupErrorDetail of a workload item: its latest backup's error, or the docs' "Success"."""
    if finished is None or finished.status != "Failed":
        return {"code": "Success", "message": ""}
    error = error_of(item, finished)
    return {"code": error.title, "message": error.message}


def _resource(vault: Vault, container_path: str, name: str, props: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": f"{vault.resource_id}/backupFabrics/Azure/protectionContainers/{container_path}/protectedItems/{name}",
        "name": name,
        "type": ITEM_RESOURCE_TYPE,
        "properties": props,
    }


class ProtectedItemList(Sequence[dict[str, Any]]):
    """A vault's protected items in listing order, each built only when its page is asked for."""

    def __init__(self, estate: Estate, vault: Vault, as_of: int) -> None:
        self._estate, self._vault, self._as_of = estate, vault, as_of
        self._items = estate.items(vault)
        self._extra = estate.spec.never_backed_up_items if vault.index == 0 else 0
        self._purging = 1 if estate.spec.posture_cases and vault.index == 1 else 0

    def __len__(self) -> int:
        return len(self._items) + self._extra + self._purging

    def _body(self, index: int) -> dict[str, Any]:
        if index < len(self._items):
            return item_body(self._estate, self._vault, self._items[index], self._as_of)
        if index >= len(self._items) + self._extra:
            return purging_item_body(self._estate, self._vault, self._as_of)
        return never_backed_up_body(self._vault, index - len(self._items))

    @overload
    def __getitem__(self, index: int) -> dict[str, Any]: ...
    @overload
    def __getitem__(self, index: slice) -> list[dict[str, Any]]: ...
    def __getitem__(self, index: int | slice) -> dict[str, Any] | list[dict[str, Any]]:
        if isinstance(index, slice):
            return [self._body(i) for i in range(*index.indices(len(self)))]
        if not -len(self) <= index < len(self):
            raise IndexError(index)
        return self._body(index % len(self))

    def __iter__(self) -> Iterator[dict[str, Any]]:
        return (self._body(i) for i in range(len(self)))


def protected_items(estate: Estate, vault: Vault, as_of: float | None = None) -> list[dict[str, Any]]:
    """Every protected item of `vault` as the route lists it (for tests): as of now, or `as_of` seconds."""
    when = estate.now() if as_of is None else round(as_of * TICKS_PER_SECOND)
    return list(ProtectedItemList(estate, vault, when))


def list_protected_items(sim: Host, request: Request, match: re.Match[str]) -> Response:
    vault = vault_or_404(sim, match)
    if isinstance(vault, Response):
        return vault
    return offset_paging(sim, request, ProtectedItemList(sim.estate, vault, sim.estate.now()))


ROUTES: list[Route] = [
    route("GET", VAULT_PATH + r"/backupProtectedItems/?", "list_protected_items", list_protected_items),
]
