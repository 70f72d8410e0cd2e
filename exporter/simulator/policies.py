"""Backup policies of every vault and the backup vaults' backup instances, consistent with the jobs.

Routes: `GET …/vaults/{v}/backupPolicies` (Recovery Services), `GET …/backupVaults/{v}/backupPolicies`
and `GET …/backupVaults/{v}/backupInstances` (Data Protection). A policy never promises more than
the estate delivers (a backup every `period_seconds`, log backups every `log_backup_minutes`), so
the only overdue items are the designed ones: the always-failing items and the broken log chains.

Shapes, field for field: tests/fixtures/azure/rsv_BackupPolicies_List_2025-08-01.json (daily VM),
rsv_ProtectionPolicies_IaaS_v2_hourly (enhanced hourly VM), rsv_ProtectionPolicies_IaasVm_Complex
(weekly with run days), rsv_ProtectionPolicies_AzureWorkload_Complex (SQL full + log),
rsv_ProtectionPolicies_AzureStorage_Hourly (file share), dpp_GetBackupPolicy_2025-07-01 and
dpp_ListBackupInstances_2025-07-01 (backup vaults). Retention is left out: nothing reads it.
"""

from __future__ import annotations

import math
import re
from typing import TYPE_CHECKING, Any

from exporter.simulator.dataprotection import BACKUP_VAULT_PATH, backup_vault_or_404
from exporter.simulator.resources import FILE_SHARE, SQL, BackupInstance, BackupVault, ProtectedItem, Vault
from exporter.simulator.routing import Host, Request, Response, Route, route
from exporter.simulator.schedule import JobKind, to_ticks
from exporter.simulator.vaults import VAULT_PATH, offset_paging, vault_or_404

if TYPE_CHECKING:
    from exporter.simulator.estate import Estate

_RSV_TYPE = "Microsoft.RecoveryServices/vaults/backupPolicies"
_DPP_TYPE = "Microsoft.DataProtection/backupVaults/backupPolicies"
_HOURLY_MAX = 4 * 3600  # an hourly policy (every 4 h) fits estates that back up at least this often
DAILY, HOURLY_VM, WEEKLY = "DefaultPolicy", "EnhancedPolicy-hourly", "WeeklyPolicy"
SQL_POLICY, SQL_FAST_LOG = "HourlyLogBackup", "SqlLogPolicy"
SHARE_DAILY, SHARE_HOURLY = "DailyPolicy-fileshare", "HourlyPolicy-fileshare"


def _hourly_fits(estate: Estate) -> bool:
    return estate.period <= to_ticks(_HOURLY_MAX)


def item_policy(estate: Estate, item: ProtectedItem) -> str:
    """The policy an estate item is protected by (its `policyId`'s last segment)."""
    if item.workload == SQL:
        ships_logs = item.series_of(JobKind.LOG_BACKUP) is not None
        return SQL_FAST_LOG if ships_logs and estate.spec.log_backup_minutes > 0 else SQL_POLICY
    if item.workload == FILE_SHARE:
        return SHARE_HOURLY if _hourly_fits(estate) else SHARE_DAILY
    if item.index % 4 == 1 and _hourly_fits(estate):
        return HOURLY_VM
    return WEEKLY if item.index % 4 == 2 and estate.period <= to_ticks(86400) else DAILY


def _simple(frequency: str, **more: Any) -> dict[str, Any]:
    return {"schedulePolicyType": "SimpleSchedulePolicy", "scheduleRunFrequency": frequency,
            "scheduleRunTimes": ["2026-01-01T02:00:00Z"], "scheduleWeeklyFrequency": 0, **more}


def _log_minutes(estate: Estate, fast: bool) -> int:
    if fast:
        return math.ceil(estate.spec.log_backup_minutes)
    return max(60, math.ceil(estate.spec.period_seconds / 60))


def rsv_policies(estate: Estate, vault: Vault) -> list[dict[str, Any]]:
    """Every policy of a Recovery Services vault, as BackupPolicies_List lists them."""
    hourly = {"interval": 4, "scheduleWindowStartTime": "2026-01-01T08:00:00Z", "scheduleWindowDuration": 12}
    bodies: list[tuple[str, dict[str, Any]]] = [
        (DAILY, {"backupManagementType": "AzureIaasVM", "schedulePolicy": _simple("Daily"), "timeZone": "UTC"}),
        (HOURLY_VM, {"backupManagementType": "AzureIaasVM", "policyType": "V2", "timeZone": "UTC",
                     "schedulePolicy": {"schedulePolicyType": "SimpleSchedulePolicyV2",
                                        "scheduleRunFrequency": "Hourly", "hourlySchedule": hourly}}),
        (WEEKLY, {"backupManagementType": "AzureIaasVM", "timeZone": "UTC",
                  "schedulePolicy": _simple("Weekly", scheduleRunDays=["Sunday", "Wednesday"])}),
        (SHARE_DAILY, {"backupManagementType": "AzureStorage", "workLoadType": "AzureFileShare",
                       "schedulePolicy": _simple("Daily"), "timeZone": "UTC"}),
        (SHARE_HOURLY, {"backupManagementType": "AzureStorage", "workLoadType": "AzureFileShare", "timeZone": "UTC",
                        "schedulePolicy": {"schedulePolicyType": "SimpleSchedulePolicy",
                                           "scheduleRunFrequency": "Hourly", "hourlySchedule": hourly,
                                           "scheduleWeeklyFrequency": 0}}),
        (SQL_POLICY, _workload(_log_minutes(estate, fast=False))),
    ]
    if estate.spec.log_backup_minutes > 0:
        bodies.append((SQL_FAST_LOG, _workload(_log_minutes(estate, fast=True))))
    return [{"id": f"{vault.resource_id}/backupPolicies/{name}", "name": name, "type": _RSV_TYPE,
             "properties": {**props, "protectedItemsCount": 0}} for name, props in bodies]


def _workload(log_minutes: int) -> dict[str, Any]:
    return {
        "backupManagementType": "AzureWorkload", "workLoadType": "SQLDataBase",
        "settings": {"timeZone": "UTC", "issqlcompression": False},
        "subProtectionPolicy": [
            {"policyType": "Full", "schedulePolicy": _simple("Daily")},
            {"policyType": "Log", "schedulePolicy": {"schedulePolicyType": "LogSchedulePolicy",
                                                      "scheduleFrequencyInMins": log_minutes}},
        ],
    }


def dpp_policies(estate: Estate, vault: BackupVault) -> list[dict[str, Any]]:
    """The policies the vault's instances name, as BackupPolicies_List (Data Protection) lists them."""
    found: dict[str, BackupInstance] = {}
    for instance in estate.data_protection.instances(vault):
        found.setdefault(instance.policy, instance)
    fast = "PT4H" if _hourly_fits(estate) else "P1D"
    bodies = []
    for name, instance in sorted(found.items()):
        period = fast if instance.datastore.startswith("Operational") else "P1D"
        rule = {"name": "BackupHourly" if period == "PT4H" else "BackupDaily",
                "backupParameters": {"backupType": "Incremental" if period == "PT4H" else "Full",
                                     "objectType": "AzureBackupParams"},
                "dataStore": {"dataStoreType": instance.datastore, "objectType": "DataStoreInfoBase"},
                "objectType": "AzureBackupRule",
                "trigger": {"objectType": "ScheduleBasedTriggerContext",
                            "schedule": {"repeatingTimeIntervals": [f"R/2026-01-01T02:00:00+00:00/{period}"]},
                            "taggingCriteria": [{"isDefault": True, "tagInfo": {"id": "Default_", "tagName": "Default"},
                                                 "taggingPriority": 99}]}}
        bodies.append({"id": f"{vault.resource_id}/backupPolicies/{name}", "name": name, "type": _DPP_TYPE,
                       "properties": {"datasourceTypes": [instance.data_source_type], "objectType": "BackupPolicy",
                                      "policyRules": [rule]}})
    return bodies


def backup_instance_body(vault: BackupVault, instance: BackupInstance) -> dict[str, Any]:
    """One backup instance as BackupInstances_List lists it (dpp_ListBackupInstances, protected)."""
    source = {"datasourceType": instance.data_source_type, "objectType": "Datasource",
              "resourceID": instance.data_source_id, "resourceLocation": vault.location,
              "resourceName": instance.data_source_name, "resourceType": instance.data_source_type,
              "resourceUri": ""}
    name = re.sub(r"[^A-Za-z0-9-]", "-", instance.name)
    return {
        "name": name, "type": "Microsoft.DataProtection/backupVaults/backupInstances",
        "id": f"{vault.resource_id}/backupInstances/{name}",
        "properties": {"dataSourceInfo": source, "friendlyName": instance.name, "objectType": "BackupInstance",
                       "policyInfo": {"policyId": f"{vault.resource_id}/backupPolicies/{instance.policy}",
                                      "policyVersion": "1.0"},
                       "protectionStatus": {"status": "ProtectionConfigured"},
                       "currentProtectionState": "ProtectionConfigured", "provisioningState": "Succeeded"},
    }


def list_policies(sim: Host, request: Request, match: re.Match[str]) -> Response:
    vault = vault_or_404(sim, match)
    if isinstance(vault, Response):
        return vault
    return offset_paging(sim, request, rsv_policies(sim.estate, vault))


def list_backup_policies(sim: Host, request: Request, match: re.Match[str]) -> Response:
    vault = backup_vault_or_404(sim, match)
    if isinstance(vault, Response):
        return vault
    return offset_paging(sim, request, dpp_policies(sim.estate, vault))


def list_backup_instances(sim: Host, request: Request, match: re.Match[str]) -> Response:
    vault = backup_vault_or_404(sim, match)
    if isinstance(vault, Response):
        return vault
    bodies = [backup_instance_body(vault, i) for i in sim.estate.data_protection.instances(vault)]
    return offset_paging(sim, request, bodies)


ROUTES: list[Route] = [
    route("GET", VAULT_PATH + r"/backupPolicies/?", "list_policies", list_policies),
    route("GET", BACKUP_VAULT_PATH + r"/backupPolicies/?", "list_backup_policies", list_backup_policies),
    route("GET", BACKUP_VAULT_PATH + r"/backupInstances/?", "list_backup_instances", list_backup_instances),
]
