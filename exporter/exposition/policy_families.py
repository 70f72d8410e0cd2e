"""Backup policies and each item's expected backup interval → metric families. Pure, like the rest.

Sample (item labels I as `inventory_families`: subscription_id, resource_group, vault,
backup_management_type, item):

    azure_backup_policy_info{subscription_id="0000…",resource_group="rg-backup",vault="vault-prod",
        policy="SqlPolicy",workload="SQLDataBase",schedule="full daily 02:00 UTC, log 15m"} 1.0
    azure_backup_item_expected_interval_seconds{…I…,item="MSSQLSERVER/sales [sql-01]",policy="SqlPolicy",
        backup_type="Full"} 86400.0
    azure_backup_item_expected_interval_seconds{…I…,policy="SqlPolicy",backup_type="Log"} 900.0
    azure_backup_item_expected_interval_seconds{…I…,item="vm-app-01",policy="DefaultPolicy",
        backup_type="Backup"} 86400.0

An item is joined to its policy by the policy id's last segment, case-insensitively (items often
carry only `policyId`). Items without a readable policy, or whose protection is stopped or
suspended, get no expected interval: AzureBackupTooOld's fixed limits cover them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Final

from prometheus_client.core import GaugeMetricFamily, Metric

from exporter.exposition.job_families import VAULT_LABELS
from exporter.parsing.policies import Policy, policy_key
from exporter.parsing.protected_items import ProtectedItem
from exporter.store.inventory_store import VaultInventory

ITEM_LABELS: Final = ["subscription_id", "resource_group", "vault", "backup_management_type", "item"]
CACHED: Final = "Cached; refreshed every inventory_interval."
# States in which the vault runs no scheduled backup of the item (Recovery Services ProtectionState,
# Data Protection CurrentProtectionState): no promise to check.
NOT_SCHEDULED: Final = frozenset({
    "ProtectionStopped", "ProtectionPaused", "BackupsSuspended", "BackupSchedulesSuspended",
    "SoftDeleted", "SoftDeleting", "NotProtected",
})

ItemName = Callable[[VaultInventory, ProtectedItem], str]


def policy_families(vaults: Iterable[VaultInventory], name_of: ItemName) -> Iterator[Metric]:
    """`azure_backup_policy_info` and `azure_backup_item_expected_interval_seconds`.

    `name_of` gives the `item` label the other inventory families export for the item."""
    info = GaugeMetricFamily(
        "azure_backup_policy_info",
        f"A backup policy of the vault, with its workload and schedule. {CACHED}",
        labels=[*VAULT_LABELS, "policy", "workload", "schedule"],
    )
    expected = GaugeMetricFamily(
        "azure_backup_item_expected_interval_seconds",
        "The longest gap the item's backup policy allows between two successful backups of this "
        f"backup_type (Full, Differential, Incremental, Log, or Backup). {CACHED}",
        labels=[*ITEM_LABELS, "policy", "backup_type"],
    )
    for vault in vaults:
        labels = list(vault.ref.labels)
        by_key: dict[str, Policy] = {}
        for policy in vault.policies:
            by_key.setdefault(policy_key(policy.name), policy)
            info.add_metric([*labels, policy.name, policy.workload, policy.schedule], 1.0)
        for item in vault.items:
            joined = by_key.get(policy_key(item.policy)) if item.policy else None
            if joined is None or item.protection_state in NOT_SCHEDULED:
                continue
            item_labels = [*labels, item.backup_management_type, name_of(vault, item), joined.name]
            for backup_type, seconds in joined.intervals:
                expected.add_metric([*item_labels, backup_type], seconds)
    yield from (info, expected)
