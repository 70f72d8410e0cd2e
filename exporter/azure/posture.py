"""The vault posture reads: a vault's own resource (security settings), its usages, its deleted
backup instances and its Resource Health status. Raw JSON out; `exporter.parsing.vault_posture`
reads it.

One request (plus pages) per read per vault per inventory interval:

- `GET {vault}` — Vaults_Get (Recovery Services, api-version 2025-08-01: `VAULTS_API_VERSION`,
  example GETVault.json) or BackupVaults_Get (Data Protection, the configured
  backup_vault_api_version, example GetBackupVaultWithCMK.json). Discovery's vault list carries the
  same properties, but it runs on the job poller's schedule and does not reach this cycle; a vault
  named in the config is never listed at all, so the posture GETs each vault itself.
- `GET {vault}/usages` — Usages_ListByVaults (Recovery Services only; the Data Protection API has
  no usages operation), api-version 2025-08-01 (example ListUsages.json).
- `GET {vault}/deletedBackupInstances` — DeletedBackupInstances_List (backup vaults), paged.
- `GET {vault}/providers/Microsoft.ResourceHealth/availabilityStatuses/current` —
  AvailabilityStatuses_GetByResource, api-version 2025-05-01.

With `collection.coverage`, one Resource Graph query per cycle (`UNPROTECTED_QUERY`) lists the
virtual machines and PostgreSQL flexible servers that no vault protects: the resources left after
removing every Recovery Services protected item's `properties.sourceResourceId` and every backup
instance's `properties.dataSourceInfo.resourceID` (both in `RecoveryServicesResources`, per
Microsoft's "Query your backups using Azure Resource Graph"). Disks and storage accounts are left
out on purpose: a VM's backup covers its disks, and most storage accounts hold nothing to back up,
so they would be noise. Resource Graph shows only what the identity may read: `Reader` on the
resources is needed, or they are silently absent.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from exporter.azure.arm import ArmClient
from exporter.azure.backup import VAULTS_API_VERSION
from exporter.azure.resourcegraph import ResourceGraphApi
from exporter.model import BACKUP_VAULT, VaultRef

USAGES_API_VERSION = "2025-08-01"
RESOURCE_HEALTH_API_VERSION = "2025-05-01"
COVERED_TYPES = ("microsoft.compute/virtualmachines", "microsoft.dbforpostgresql/flexibleservers")
UNPROTECTED_QUERY = (
    "Resources\n"
    f"| where type in~ ({', '.join(repr(t) for t in COVERED_TYPES)})\n"
    "| extend resourceId = tolower(id)\n"
    "| join kind=leftanti (\n"
    "    RecoveryServicesResources\n"
    "    | where type in~ ('microsoft.recoveryservices/vaults/backupfabrics/protectioncontainers/protecteditems',"
    " 'microsoft.dataprotection/backupvaults/backupinstances')\n"
    "    | extend resourceId = tolower(coalesce(tostring(properties.sourceResourceId),"
    " tostring(properties.dataSourceInfo.resourceID)))\n"
    "    | project resourceId\n"
    ") on resourceId\n"
    "| order by id asc\n"
    "| project id, name, type, subscriptionId, resourceGroup"
)


class PostureApi:
    def __init__(self, arm: ArmClient, backup_vault_api_version: str) -> None:
        self._arm = arm
        self._dpp_version = backup_vault_api_version
        self._graph = ResourceGraphApi(arm)

    def unprotected(self, subscriptions: Sequence[str]) -> Iterator[list[Any]]:
        """Pages of Resource Graph rows {id, name, type, subscriptionId, resourceGroup}: resources
        of `COVERED_TYPES` in `subscriptions` that no vault protects."""
        return self._graph.query(subscriptions, UNPROTECTED_QUERY)

    def get_vault(self, vault: VaultRef) -> Any:
        """The vault resource itself: location, securitySettings, redundancy, monitoring."""
        version = self._dpp_version if vault.kind == BACKUP_VAULT else VAULTS_API_VERSION
        return self._arm.get(vault.resource_id, api="get_vault", params={"api-version": version},
                             subscription_id=vault.subscription_id)

    def list_usages(self, vault: VaultRef) -> Iterator[list[Any]]:
        """Pages of a Recovery Services vault's usages (storage bytes, item counts)."""
        return self._arm.pages(f"{vault.resource_id}/usages", api="list_vault_usages",
                               api_version=USAGES_API_VERSION, subscription_id=vault.subscription_id)

    def list_deleted_instances(self, vault: VaultRef) -> Iterator[list[Any]]:
        """Pages of a backup vault's soft-deleted backup instances."""
        return self._arm.pages(f"{vault.resource_id}/deletedBackupInstances", api="list_deleted_backup_instances",
                               api_version=self._dpp_version, subscription_id=vault.subscription_id)

    def availability(self, vault: VaultRef) -> Any:
        """The vault's current Resource Health availability status."""
        return self._arm.get(
            f"{vault.resource_id}/providers/Microsoft.ResourceHealth/availabilityStatuses/current",
            api="get_availability_status",
            params={"api-version": RESOURCE_HEALTH_API_VERSION},
            subscription_id=vault.subscription_id,
        )
