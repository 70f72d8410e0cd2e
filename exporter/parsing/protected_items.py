"""Tolerant parsing of Recovery Services protected items (the vault's backup inventory).

One entry of `GET …/vaults/{v}/backupProtectedItems` (operation BackupProtectedItems_List, paged by
`nextLink`) becomes one `ProtectedItem`. Schema: Azure/azure-rest-api-specs,
specification/recoveryservicesbackup/…/stable/2025-08-01/bms.json, definitions `ProtectedItemResource`
(`{id, name, type, properties}`), `ProtectedItem` (the base: backupManagementType, workloadType,
containerName, sourceResourceId, policyId, policyName, lastRecoveryPoint; discriminator
protectedItemType) and its subtypes `AzureIaaSVMProtectedItem` (friendlyName, protectionState,
healthStatus, lastBackupStatus, lastBackupTime), `AzureVmWorkloadProtectedItem` (friendlyName,
serverName, parentName, protectionState, lastBackupStatus, lastBackupTime — no healthStatus, but
protectedItemHealthStatus and lastBackupErrorDetail) and
`AzureFileshareProtectedItem` (friendlyName, protectionState, lastBackupStatus, lastBackupTime — no
healthStatus). Example body: examples/2025-02-01/AzureIaasVm/BackupProtectedItems_List.json.

As in `exporter.parsing.jobs`, nothing here raises on JSON: each value present but unreadable is counted in
a caller-supplied `Counter` under its JSON field name (feeding
`azure_backup_exporter_parse_errors_total{field}`) and left out; unknown enum values pass through.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from typing import Any, Final, NamedTuple

from exporter.parsing.common import MAX_LABEL_CHARS, UNKNOWN, label, last_segment
from exporter.parsing.values import parse_azure_duration, parse_time

__all__ = [
    "HEALTH_STATUSES",
    "PROTECTION_STATES",
    "WORKLOAD_HEALTH_STATUSES",
    "ProtectedItem",
    "health_values",
    "item_label",
    "parse_protected_item",
]

# bms.json enum ProtectionState (the same seven values on every protected item subtype).
PROTECTION_STATES: Final[tuple[str, ...]] = (
    "Invalid",
    "IRPending",
    "Protected",
    "ProtectionError",
    "ProtectionStopped",
    "ProtectionPaused",
    "BackupsSuspended",
)
# bms.json enum HealthStatus; only AzureIaaSVMProtectedItem has `healthStatus`.
HEALTH_STATUSES: Final[tuple[str, ...]] = ("Passed", "ActionRequired", "ActionSuggested", "Invalid")
# bms.json enum ProtectedItemHealthStatus: `protectedItemHealthStatus` of workload items (SQL, SAP
# HANA and ASE databases in a VM), their counterpart of a VM's healthStatus.
WORKLOAD_HEALTH_STATUSES: Final[tuple[str, ...]] = ("Healthy", "Unhealthy", "NotReachable", "IRPending", "Invalid")
_WORKLOAD = "AzureWorkload"
# lastBackupErrorDetail.code of an item whose last backup did not fail (rsv_docs_sqlvm_protected_item).
_NO_ERROR = "Success"


class ProtectedItem(NamedTuple):
    """One protected item as the inventory metrics need it. Times are Unix seconds (UTC).

    `item` is the label the job metrics use for the same thing (their `entityFriendlyName`), and
    `backup_management_type` the item's backupManagementType (also the job's), so the two families
    join on (vault labels, backup_management_type, item). See `item_label`.
    """

    item: str
    backup_management_type: str
    protected_item_type: str
    workload_type: str
    protection_state: str
    health_status: str | None = None  # VMs: healthStatus; workload items: protectedItemHealthStatus
    last_backup_status: str | None = None
    last_backup_time: float | None = None
    last_recovery_point: float | None = None
    policy: str = ""  # "" when no policy is attached (protection stopped)
    container_name: str = ""
    source_resource_id: str = ""
    last_error: str | None = None  # workload items: lastBackupErrorDetail.code, None when "Success"
    # Soft-deleted items (isScheduledForDeferredDelete): when the delete happened
    # (deferredDeleteTimeInUTC) and how long until the purge (deferredDeleteTimeRemaining, seconds,
    # as of the listing). Az PowerShell's DateOfPurge reads the two the same way (Az.RecoveryServices
    # release notes: "use the remaining deferred delete window returned by the service instead of a
    # fixed value of 14 days"). Both None for an item not scheduled for deletion.
    deferred_delete_time: float | None = None
    deferred_delete_remaining: float | None = None


def health_values(item: ProtectedItem) -> tuple[str, ...]:
    """The known values of the item's health_status: a VM's enum or a workload item's."""
    return WORKLOAD_HEALTH_STATUSES if item.backup_management_type == _WORKLOAD else HEALTH_STATUSES


def item_label(props: Mapping[str, Any], management: str, errors: Counter[str]) -> str:
    """The `item` label: the protected item's friendlyName, spelt as jobs spell entityFriendlyName.

    VMs and file shares: the two are the same name. SQL (and SAP) databases in a VM
    (backupManagementType AzureWorkload) differ: the item's friendlyName is the database alone
    ("msdb", parentName "MSSQLSERVER", serverName the host's FQDN) while its jobs say
    "MSSQLSERVER/msDB [sqlserver-0.contoso.com]": Microsoft's REST docs for one vault,
    articles/backup/backup-azure-sql-vm-rest-api.md (the item) and manage-azure-sql-vm-rest-api.md
    (its job). So a workload item is named "{parentName}/{friendlyName} [{serverName}]" when both
    parts are sent. (The two captures differ in the database's case and the host's domain; the
    shape is what they agree on.) Without friendlyName the caller falls back on `name`.
    """
    friendly = props.get("friendlyName")
    if not isinstance(friendly, str) or not friendly:
        errors["friendlyName"] += 1
        return UNKNOWN
    if management == _WORKLOAD:
        parent, server = props.get("parentName"), props.get("serverName")
        if isinstance(parent, str) and parent and isinstance(server, str) and server:
            return f"{parent}/{friendly} [{server}]"
    return friendly


def parse_protected_item(raw: object, errors: Counter[str]) -> ProtectedItem | None:
    """One `ProtectedItemResource` → `ProtectedItem`; None only when `raw` is not an object.

    Labels: friendlyName missing → the last `;` part of `name`, else "unknown", counted either way;
    protectionState and protectedItemType missing → "unknown", counted (every item has them);
    backupManagementType and workloadType missing → "unknown", not counted (read-only, optional in
    the schema). healthStatus (protectedItemHealthStatus for AzureWorkload items), lastBackupStatus,
    the times, policy, container and source resource are optional: missing is None or "",
    unreadable is counted. `last_error` is the code of a workload item's lastBackupErrorDetail.

    Error fields: protectedItem, properties, friendlyName, protectionState, protectedItemType,
    backupManagementType, workloadType, healthStatus, protectedItemHealthStatus, lastBackupStatus,
    lastBackupTime, lastRecoveryPoint, policyName, policyId, containerName, sourceResourceId,
    lastBackupErrorDetail, deferredDeleteTimeInUTC, deferredDeleteTimeRemaining.
    """
    if not isinstance(raw, Mapping):
        errors["protectedItem"] += 1
        return None
    props = raw.get("properties")
    if not isinstance(props, Mapping):
        errors["properties"] += 1
        props = {}
    management = label(props.get("backupManagementType"), "backupManagementType", errors, required=False)
    item = item_label(props, management, errors)
    if item == UNKNOWN and isinstance(raw.get("name"), str) and raw["name"]:
        item = raw["name"].rpartition(";")[2] or UNKNOWN
    workload = management == _WORKLOAD
    deleted, remaining = _deferred_delete(props, errors)
    return ProtectedItem(
        item=item,
        backup_management_type=management,
        protected_item_type=label(props.get("protectedItemType"), "protectedItemType", errors, required=True),
        workload_type=label(props.get("workloadType"), "workloadType", errors, required=False),
        protection_state=label(props.get("protectionState"), "protectionState", errors, required=True),
        health_status=_optional_text(props, "protectedItemHealthStatus" if workload else "healthStatus", errors),
        last_backup_status=_optional_text(props, "lastBackupStatus", errors),
        last_backup_time=_time(props, "lastBackupTime", errors),
        last_recovery_point=_time(props, "lastRecoveryPoint", errors),
        policy=_policy(props, errors),
        container_name=_optional_text(props, "containerName", errors) or "",
        source_resource_id=_optional_text(props, "sourceResourceId", errors) or "",
        last_error=_last_error(props, errors) if workload else None,
        deferred_delete_time=deleted,
        deferred_delete_remaining=remaining,
    )


def _deferred_delete(props: Mapping[str, Any], errors: Counter[str]) -> tuple[float | None, float | None]:
    """(deletion time, seconds to the purge) of an item scheduled for deferred delete; Nones otherwise."""
    if props.get("isScheduledForDeferredDelete") is not True:
        return None, None
    try:
        remaining = parse_azure_duration(props.get("deferredDeleteTimeRemaining"))
    except ValueError:
        errors["deferredDeleteTimeRemaining"] += 1
        remaining = None
    return _time(props, "deferredDeleteTimeInUTC", errors), remaining


def _last_error(props: Mapping[str, Any], errors: Counter[str]) -> str | None:
    """lastBackupErrorDetail `{code, message}` → its code; "Success" (no error) → None."""
    detail = props.get("lastBackupErrorDetail")
    if detail is None:
        return None
    code = detail.get("code") if isinstance(detail, Mapping) else None
    if not isinstance(code, str):
        errors["lastBackupErrorDetail"] += 1
        return None
    code = code.strip()[:MAX_LABEL_CHARS]
    return None if code in ("", _NO_ERROR) else code


def _optional_text(props: Mapping[str, Any], field: str, errors: Counter[str]) -> str | None:
    value = props.get(field)
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        errors[field] += 1
        return None
    return value


def _time(props: Mapping[str, Any], field: str, errors: Counter[str]) -> float | None:
    try:
        moment = parse_time(props.get(field))
    except ValueError:
        errors[field] += 1
        return None
    # .NET serialises an unset DateTime as 0001-01-01T00:00:00: a time before 1970 means "never",
    # not a backup two thousand years ago.
    return moment if moment is not None and moment > 0 else None


def _policy(props: Mapping[str, Any], errors: Counter[str]) -> str:
    """policyName (newer api-versions), else the last segment of policyId; "" when unprotected."""
    name = _optional_text(props, "policyName", errors)
    if name:
        return name
    policy_id = _optional_text(props, "policyId", errors)
    return last_segment(policy_id) if policy_id else ""
