"""Tolerant parsing of backup-vault backup instances: a backup vault's protected items.

One entry of `GET …/backupVaults/{v}/backupInstances` (operation BackupInstances_List, paged by
`nextLink`; schema dataprotection BackupInstanceResource → BackupInstance; example body
tests/fixtures/azure/dpp_ListBackupInstances_2025-07-01.json) becomes one `ProtectedItem`, so that
backup-vault items get the same inventory metrics as Recovery Services items:

| ProtectedItem          | BackupInstance                                                    |
|------------------------|-------------------------------------------------------------------|
| item                   | friendlyName (what its jobs call `backupInstanceFriendlyName`)    |
| backup_management_type | dataSourceInfo.datasourceType, mapped as the jobs map it          |
| protected_item_type    | dataSourceInfo.datasourceType, verbatim                           |
| workload_type          | dataSourceInfo.resourceType                                       |
| protection_state       | currentProtectionState (ProtectionConfigured, ProtectionError, …) |
| health_status          | protectionStatus.status (`DPP_HEALTH_STATUSES`)                   |
| last_error             | protectionStatus.errorDetails.code                                |
| policy                 | the last segment of policyInfo.policyId                           |
| source_resource_id     | dataSourceInfo.resourceID                                         |

The list carries no backup time nor recovery point (those need one request per instance), so
those metrics stay absent for backup-vault items. Error fields are counted as `backupInstance…`.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from typing import Any, Final

from exporter.parsing.common import MAX_LABEL_CHARS, UNKNOWN
from exporter.parsing.dpp_jobs import management_type
from exporter.parsing.protected_items import ProtectedItem

__all__ = ["DPP_HEALTH_STATUSES", "DPP_PROTECTION_STATES", "parse_backup_instance"]

# dataprotection CurrentProtectionState enum: a backup instance's protection_state.
DPP_PROTECTION_STATES: Final[tuple[str, ...]] = (
    "Invalid",
    "NotProtected",
    "ConfiguringProtection",
    "ProtectionConfigured",
    "BackupSchedulesSuspended",
    "RetentionSchedulesSuspended",
    "ProtectionStopped",
    "ProtectionError",
    "ConfiguringProtectionFailed",
    "SoftDeleting",
    "SoftDeleted",
    "UpdatingProtection",
)

# dataprotection ProtectionStatusDetails.status enum (Status).
DPP_HEALTH_STATUSES: Final[tuple[str, ...]] = (
    "ConfiguringProtection",
    "ConfiguringProtectionFailed",
    "ProtectionConfigured",
    "ProtectionStopped",
    "SoftDeleted",
    "SoftDeleting",
)


def parse_backup_instance(raw: object, errors: Counter[str]) -> ProtectedItem | None:
    """One `BackupInstanceResource` → `ProtectedItem`; None only when `raw` is not an object."""
    if not isinstance(raw, Mapping):
        errors["backupInstance"] += 1
        return None
    props = _object(raw.get("properties"), "backupInstance.properties", errors)
    source = _object(props.get("dataSourceInfo"), "backupInstance.dataSourceInfo", errors)
    friendly = _text(props.get("friendlyName")) or _text(raw.get("name"))
    if friendly is None:
        errors["backupInstance.friendlyName"] += 1
    source_type = _text(source.get("datasourceType"))
    if source_type is None:
        errors["backupInstance.datasourceType"] += 1
    state = _text(props.get("currentProtectionState"))
    status = props.get("protectionStatus")
    status = status if isinstance(status, Mapping) else {}
    policy_info = props.get("policyInfo")
    policy_id = _text(policy_info.get("policyId")) if isinstance(policy_info, Mapping) else None
    return ProtectedItem(
        item=friendly or UNKNOWN,
        backup_management_type=management_type(source_type) if source_type else UNKNOWN,
        protected_item_type=source_type or UNKNOWN,
        workload_type=_text(source.get("resourceType")) or UNKNOWN,
        # The list example (a new instance) has protectionStatus but no currentProtectionState.
        protection_state=state or _text(status.get("status")) or UNKNOWN,
        health_status=_text(status.get("status")),
        policy=policy_id.rstrip("/").rpartition("/")[2] if policy_id else "",
        source_resource_id=_text(source.get("resourceID")) or "",
        last_error=_error_code(status.get("errorDetails"), errors),
    )


def _error_code(details: object, errors: Counter[str]) -> str | None:
    if details is None:
        return None
    code = details.get("code") if isinstance(details, Mapping) else None
    if not isinstance(code, str):
        errors["backupInstance.errorDetails"] += 1
        return None
    return code.strip()[:MAX_LABEL_CHARS] or None


def _object(value: object, field: str, errors: Counter[str]) -> Mapping[str, Any]:
    if isinstance(value, Mapping):
        return value
    errors[field] += 1
    return {}


def _text(value: object) -> str | None:
    return value.strip()[:MAX_LABEL_CHARS] if isinstance(value, str) and value.strip() else None
