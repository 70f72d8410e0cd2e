"""The vault posture routes: a vault's own resource with its security settings, its usages, a
backup vault's deleted backup instances, and Resource Health's current availability status.

Shapes: Azure/azure-rest-api-specs examples GETVault.json and ListUsages.json (Recovery Services
2025-08-01), GetBackupVaultWithCMK.json and GetDeletedBackupInstance.json (Data Protection
2025-07-01), AvailabilityStatuses_ListByResourceGroup.json (Resource Health 2025-05-01).

Every vault is hardened (soft delete on, immutability Unlocked) and Available unless
`EstateSpec.posture_cases` designs the posture alerts' cases:

- Recovery Services vault 0: soft delete Disabled, immutability Locked;
- vault 1: immutability Disabled, Resource Health Degraded, cross-region restore on, and a
  soft-deleted VM two days from its purge (`inventory.purging_item_body`);
- the first backup vault: a deleted backup instance two days from its purge;
- two virtual machines of the first subscription that no vault protects, the answer to the
  exporter's coverage query (Resource Graph; `resourcegraph` hands that query here).

Storage grows with the clock: 50 GB per vault index plus 1 GB a day since the estate's epoch.
"""

from __future__ import annotations

import re
from typing import Any

# The vault look-ups and path patterns of the job routes: one implementation of each for every route.
from exporter.simulator.dataprotection import BACKUP_VAULT_PATH as _DPP_VAULT
from exporter.simulator.dataprotection import backup_vault_or_404 as _dpp_vault_or_404
from exporter.simulator.formats import format_time
from exporter.simulator.resources import BackupVault, Vault
from exporter.simulator.routing import Host, Request, Response, Route, json_response, route
from exporter.simulator.schedule import TICKS_PER_SECOND
from exporter.simulator.vaults import VAULT_PATH as _RSV_VAULT
from exporter.simulator.vaults import redundancy_settings
from exporter.simulator.vaults import vault_or_404 as _rsv_vault_or_404

GB = 1024**3
DAY_TICKS = 86400 * TICKS_PER_SECOND
PURGE_LEAD_TICKS = 2 * DAY_TICKS  # the designed soft-deleted items are purged two days after the estate starts
_HEALTH = r"/providers/Microsoft\.ResourceHealth/availabilityStatuses/current"


def _case(sim: Host, vault: Vault, index: int) -> bool:
    return sim.estate.spec.posture_cases and vault.index == index


def rsv_vault_body(sim: Host, vault: Vault) -> dict[str, Any]:
    """Vaults_Get as GETVault.json (trimmed of private endpoints)."""
    weak, open_ = _case(sim, vault, 0), _case(sim, vault, 1)
    soft = "Disabled" if weak else "Enabled"
    immutability = "Locked" if weak else "Disabled" if open_ else "Unlocked"
    return {
        "name": vault.name, "type": "Microsoft.RecoveryServices/vaults", "id": vault.resource_id,
        "location": vault.location, "tags": dict(vault.tags), "sku": {"name": "Standard"},
        "properties": {
            "bcdrSecurityLevel": "Poor" if weak else "Good",
            "monitoringSettings": {"azureMonitorAlertSettings": {"alertsForAllJobFailures": "Enabled"},
                                   "classicAlertSettings": {"alertsForCriticalOperations": "Disabled"}},
            "provisioningState": "Succeeded", "publicNetworkAccess": "Enabled",
            "redundancySettings": redundancy_settings(sim, vault),
            "securitySettings": {
                "immutabilitySettings": {"state": immutability},
                "multiUserAuthorization": "Disabled",
                "softDeleteSettings": {"enhancedSecurityState": soft, "softDeleteRetentionPeriodInDays": 14,
                                       "softDeleteState": soft},
            },
        },
    }


def backup_vault_body(vault: BackupVault) -> dict[str, Any]:
    """BackupVaults_Get as GetBackupVaultWithCMK.json (no customer-managed key)."""
    return {
        "name": vault.name, "type": "Microsoft.DataProtection/backupVaults", "id": vault.resource_id,
        "location": vault.location, "tags": dict(vault.tags),
        "properties": {
            "provisioningState": "Succeeded",
            "securitySettings": {"immutabilitySettings": {"state": "Unlocked"},
                                 "softDeleteSettings": {"retentionDurationInDays": 14, "state": "On"}},
            "storageSettings": [{"type": "LocallyRedundant", "datastoreType": "VaultStore"}],
            "featureSettings": {"crossRegionRestoreSettings": {"state": "Disabled"}},
        },
    }


def _usage(name: str, localized: str, value: float, unit: str) -> dict[str, Any]:
    return {"name": {"localizedValue": localized, "value": name}, "currentValue": value, "limit": -1, "unit": unit}


def usages_body(sim: Host, vault: Vault) -> dict[str, Any]:
    """Usages_ListByVaults as ListUsages.json: GRS storage growing by a GB a day, item counts."""
    days = max(0.0, (sim.estate.now() - sim.estate.epoch) / DAY_TICKS)
    items = len(sim.estate.items(vault))
    critical = sim.estate.spec.failing_items if vault.index == 0 else 0
    return {"value": [
        _usage("ProtectedItemCount", "Backup items/Azure virtual machine backup", items, "Count"),
        _usage("ProtectedItemCriticalCount", "Critical", critical, "Count"),
        _usage("ProtectedItemWarningCount", "Warning", 0, "Count"),
        _usage("GRSStorageUsage", "Cloud - GRS", int((50 * (vault.index + 1) + days) * GB), "Bytes"),
        _usage("LRSStorageUsage", "Cloud - LRS", 0, "Bytes"),
    ]}


def deleted_instances_body(sim: Host, vault: BackupVault) -> dict[str, Any]:
    """DeletedBackupInstances_List: the designed case's one instance, as GetDeletedBackupInstance.json."""
    first = sim.estate.data_protection.vaults[0] if sim.estate.data_protection.vaults else None
    if not sim.estate.spec.posture_cases or vault != first:
        return {"value": []}
    name = "pgflex-deleted-001"
    purge = sim.estate.anchor + PURGE_LEAD_TICKS
    return {"value": [{
        "id": f"{vault.resource_id}/deletedBackupInstances/{name}", "name": name,
        "type": "Microsoft.DataProtection/backupVaults/deletedBackupInstances",
        "properties": {
            "friendlyName": name,
            "dataSourceInfo": {"datasourceType": "Microsoft.DBforPostgreSQL/flexibleServers", "resourceName": name,
                               "resourceType": "Microsoft.DBforPostgreSQL/flexibleServers", "objectType": "Datasource"},
            "deletionInfo": {"deletionTime": format_time(purge - 14 * DAY_TICKS),
                             "scheduledPurgeTime": format_time(purge)},
            "protectionStatus": {"status": "SoftDeleted"}, "provisioningState": "Succeeded",
            "objectType": "DeletedBackupInstance",
        },
    }]}


def availability_body(resource_id: str, degraded: bool) -> dict[str, Any]:
    """AvailabilityStatuses_GetByResource: one AvailabilityStatus, as the example's list items."""
    props: dict[str, Any] = (
        {"availabilityState": "Degraded", "title": "Degraded", "summary": "The vault is degraded.",
         "reasonType": "Unplanned", "reasonChronicity": "Persistent"}
        if degraded else
        {"availabilityState": "Available", "title": "Available", "summary": "The vault is available.",
         "reasonChronicity": "Persistent"}
    )
    return {"id": f"{resource_id}/providers/Microsoft.ResourceHealth/availabilityStatuses/current",
            "name": "current", "type": "Microsoft.ResourceHealth/AvailabilityStatuses", "properties": props}


UNPROTECTED_VMS = ("vm-unprotected-001", "vm-unprotected-002")
UNPROTECTED_GROUP = "rg-app-unprotected"


def is_coverage_query(query: str) -> bool:
    """The exporter's unprotected-resources query: resources left by an anti-join with the vaults'
    protected items (the one other query shape this Resource Graph knows)."""
    text = " ".join(query.split())
    return text.startswith("Resources | where type in~ (") and "join kind=leftanti" in text


def coverage_answer(sim: Host, subscriptions: list[str]) -> dict[str, Any]:
    """The coverage query's answer, as the Resources operation's example shapes it (one page)."""
    first = sim.estate.subscriptions[0].subscription_id
    rows: list[dict[str, Any]] = []
    if sim.estate.spec.posture_cases and first.lower() in {s.lower() for s in subscriptions}:
        rows = [{"id": f"/subscriptions/{first}/resourceGroups/{UNPROTECTED_GROUP}"
                       f"/providers/Microsoft.Compute/virtualMachines/{name}",
                 "name": name, "type": "microsoft.compute/virtualmachines", "subscriptionId": first,
                 "resourceGroup": UNPROTECTED_GROUP} for name in UNPROTECTED_VMS]
    return {"totalRecords": len(rows), "count": len(rows), "data": rows, "facets": [], "resultTruncated": "false"}


def get_vault(sim: Host, _request: Request, match: re.Match[str]) -> Response:
    vault = _rsv_vault_or_404(sim, match)
    return vault if isinstance(vault, Response) else json_response(200, rsv_vault_body(sim, vault))


def list_usages(sim: Host, _request: Request, match: re.Match[str]) -> Response:
    vault = _rsv_vault_or_404(sim, match)
    return vault if isinstance(vault, Response) else json_response(200, usages_body(sim, vault))


def rsv_availability(sim: Host, _request: Request, match: re.Match[str]) -> Response:
    vault = _rsv_vault_or_404(sim, match)
    if isinstance(vault, Response):
        return vault
    return json_response(200, availability_body(vault.resource_id, _case(sim, vault, 1)))


def get_backup_vault(sim: Host, _request: Request, match: re.Match[str]) -> Response:
    vault = _dpp_vault_or_404(sim, match)
    return vault if isinstance(vault, Response) else json_response(200, backup_vault_body(vault))


def list_deleted_instances(sim: Host, _request: Request, match: re.Match[str]) -> Response:
    vault = _dpp_vault_or_404(sim, match)
    return vault if isinstance(vault, Response) else json_response(200, deleted_instances_body(sim, vault))


def backup_vault_availability(sim: Host, _request: Request, match: re.Match[str]) -> Response:
    vault = _dpp_vault_or_404(sim, match)
    return vault if isinstance(vault, Response) else json_response(200, availability_body(vault.resource_id, False))


ROUTES: list[Route] = [
    route("GET", _RSV_VAULT + "/?", "get_vault", get_vault),
    route("GET", _RSV_VAULT + r"/usages/?", "list_vault_usages", list_usages),
    route("GET", _RSV_VAULT + _HEALTH, "get_availability_status", rsv_availability),
    route("GET", _DPP_VAULT + "/?", "get_vault", get_backup_vault),
    route("GET", _DPP_VAULT + r"/deletedBackupInstances/?", "list_deleted_backup_instances",
          list_deleted_instances),
    route("GET", _DPP_VAULT + _HEALTH, "get_availability_status", backup_vault_availability),
]
