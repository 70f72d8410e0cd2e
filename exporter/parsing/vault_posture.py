"""Tolerant parsing of a vault's posture: its security settings, usages, deleted backup instances
and Resource Health status.

Shapes (Azure/azure-rest-api-specs examples, kept in tests/fixtures/azure/):

- Recovery Services vault (Vaults_Get, GETVault.json): `properties.securitySettings`
  {softDeleteSettings {softDeleteState, softDeleteRetentionPeriodInDays, enhancedSecurityState},
  immutabilitySettings.state, multiUserAuthorization}, `redundancySettings`
  {standardTierStorageRedundancy, crossRegionRestore}, `monitoringSettings.azureMonitorAlertSettings
  .alertsForAllJobFailures`, `bcdrSecurityLevel`.
- Backup vault (BackupVaults_Get, GetBackupVaultWithCMK.json): `securitySettings`
  {softDeleteSettings {state, retentionDurationInDays}, immutabilitySettings.state},
  `storageSettings[].type`, `featureSettings.crossRegionRestoreSettings.state`,
  `resourceGuardOperationRequests` (non-empty: a Resource Guard protects the vault — the backup
  vaults' form of multi-user authorization), `monitoringSettings`, `bcdrSecurityLevel`.
- Usages (Usages_ListByVaults, ListUsages.json): `{name.value, currentValue, unit}`;
  `<X>StorageUsage` in Bytes is the storage used at redundancy X (GRS, LRS, GRSDedup, …),
  `ProtectedItemCount` / `ProtectedItemCriticalCount` / `ProtectedItemWarningCount` the item health.
- Deleted backup instance (GetDeletedBackupInstance.json): `properties.friendlyName`,
  `dataSourceInfo.datasourceType`, `deletionInfo.scheduledPurgeTime`.
- Availability status (AvailabilityStatuses, ListByResourceGroup.json): `properties.availabilityState`
  (Available, Unavailable, Degraded, Unknown) and `reasonType`.

Nothing here raises on JSON: a value present but unreadable is counted under its field name
(`azure_backup_exporter_parse_errors_total{field}`) and left out; unknown enum values pass through.
"""

from __future__ import annotations

import re
from collections import Counter
from typing import Any, Final, NamedTuple

from exporter.parsing.common import MAX_LABEL_CHARS, UNKNOWN, is_object
from exporter.parsing.dpp_jobs import management_type
from exporter.parsing.values import parse_time

# Recovery Services softDeleteState (Enabled, Disabled, AlwaysON; Invalid) and backup vaults'
# softDeleteSettings.state (On, Off, AlwaysOn): a state set shows the kind's own values.
RSV_SOFT_DELETE_STATES: Final = ("Enabled", "Disabled", "AlwaysON")
DPP_SOFT_DELETE_STATES: Final = ("On", "Off", "AlwaysOn")
IMMUTABILITY_STATES: Final = ("Disabled", "Unlocked", "Locked")
AVAILABILITY_STATES: Final = ("Available", "Degraded", "Unavailable", "Unknown")
HEALTH_USAGES: Final = {"ProtectedItemCriticalCount": "Critical", "ProtectedItemWarningCount": "Warning"}
_STORAGE_USAGE = re.compile(r"(?P<redundancy>[A-Za-z]+)StorageUsage")


class VaultSecurity(NamedTuple):
    """A vault's security settings; "" where Azure sent nothing."""

    soft_delete_state: str = ""
    soft_delete_retention_days: float | None = None
    enhanced_security: str = ""
    immutability_state: str = ""
    multi_user_authorization: str = ""
    cross_region_restore: str = ""
    redundancy: str = ""
    security_level: str = ""
    job_failure_alerts: str = ""  # monitoringSettings: Azure Monitor alerts for job failures
    location: str = ""


class VaultUsage(NamedTuple):
    storage_bytes: tuple[tuple[str, float], ...] = ()  # (redundancy, bytes)
    items_by_health: tuple[tuple[str, float], ...] = ()  # (Healthy | Critical | Warning, count)


class DeletedInstance(NamedTuple):
    """A soft-deleted backup instance of a backup vault, labelled as its jobs are."""

    item: str
    backup_management_type: str
    purge_time: float


class Availability(NamedTuple):
    state: str
    reason: str  # reasonType ("Unplanned", "Planned", "UserInitiated"), "" when not sent


def _get(value: object, *path: str) -> object:
    for key in path:
        if not is_object(value):
            return None
        value = value.get(key)
    return value


def _text(value: object, field: str, errors: Counter[str]) -> str:
    if value is None or value == "":
        return ""
    if not isinstance(value, str):
        errors[field] += 1
        return ""
    return value[:MAX_LABEL_CHARS]


def _number(value: object, field: str, errors: Counter[str]) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        errors[field] += 1
        return None
    return float(value)


def parse_vault_security(raw: object, backup_vault: bool, errors: Counter[str]) -> VaultSecurity | None:
    """A vault GET body → VaultSecurity; None (counted as `vault`) when it is not an object."""
    props = _get(raw, "properties")
    if not is_object(raw) or not is_object(props):
        errors["vault"] += 1
        return None
    security = props.get("securitySettings")
    common = VaultSecurity(
        # Immutability is opt-in: a vault without the setting has none.
        immutability_state=_text(_get(security, "immutabilitySettings", "state"), "immutabilitySettings", errors)
        or "Disabled",
        security_level=_text(props.get("bcdrSecurityLevel"), "bcdrSecurityLevel", errors),
        job_failure_alerts=_text(_get(props, "monitoringSettings", "azureMonitorAlertSettings",
                                      "alertsForAllJobFailures"), "monitoringSettings", errors),
        location=_text(raw.get("location"), "location", errors),
    )
    if backup_vault:
        return common._replace(
            soft_delete_state=_text(_get(security, "softDeleteSettings", "state"), "softDeleteSettings", errors),
            soft_delete_retention_days=_number(_get(security, "softDeleteSettings", "retentionDurationInDays"),
                                               "softDeleteSettings", errors),
            multi_user_authorization="Enabled" if props.get("resourceGuardOperationRequests") else "Disabled",
            cross_region_restore=_text(_get(props, "featureSettings", "crossRegionRestoreSettings", "state"),
                                       "featureSettings", errors),
            redundancy=_backup_vault_redundancy(props.get("storageSettings"), errors),
        )
    soft = _get(security, "softDeleteSettings")
    return common._replace(
        soft_delete_state=_text(_get(soft, "softDeleteState"), "softDeleteSettings", errors),
        soft_delete_retention_days=_number(_get(soft, "softDeleteRetentionPeriodInDays"), "softDeleteSettings", errors),
        enhanced_security=_text(_get(soft, "enhancedSecurityState"), "softDeleteSettings", errors),
        multi_user_authorization=_text(_get(security, "multiUserAuthorization"), "multiUserAuthorization", errors),
        cross_region_restore=_text(_get(props, "redundancySettings", "crossRegionRestore"), "redundancySettings",
                                   errors),
        redundancy=_text(_get(props, "redundancySettings", "standardTierStorageRedundancy"), "redundancySettings",
                         errors),
    )


def _backup_vault_redundancy(settings: object, errors: Counter[str]) -> str:
    """storageSettings `[{datastoreType, type}]` → the vault store's type (the first one listed)."""
    if settings is None:
        return ""
    if not isinstance(settings, list):
        errors["storageSettings"] += 1
        return ""
    types = [_text(_get(s, "type"), "storageSettings", errors) for s in settings]
    return next((t for t in types if t), "")


def parse_usages(entries: list[Any], errors: Counter[str]) -> VaultUsage:
    """Usages list entries → storage bytes per redundancy and protected items per health."""
    storage: dict[str, float] = {}
    counts: dict[str, float] = {}
    for entry in entries:
        name = _get(entry, "name", "value")
        value = _number(_get(entry, "currentValue"), "currentValue", errors)
        if not isinstance(name, str) or value is None:
            errors["usage"] += 1
            continue
        match = _STORAGE_USAGE.fullmatch(name)
        if match is not None:
            storage[match["redundancy"]] = storage.get(match["redundancy"], 0.0) + value
        elif name == "ProtectedItemCount" or name in HEALTH_USAGES:
            counts[name] = value
    health: dict[str, float] = {HEALTH_USAGES[k]: v for k, v in counts.items() if k in HEALTH_USAGES}
    if "ProtectedItemCount" in counts:
        # Usages count every item and the critical and warning ones; the rest are healthy.
        health["Healthy"] = max(0.0, counts["ProtectedItemCount"] - sum(health.values()))
    return VaultUsage(tuple(sorted(storage.items())), tuple(sorted(health.items())))


def parse_deleted_instance(raw: object, errors: Counter[str]) -> DeletedInstance | None:
    """A deleted backup instance → DeletedInstance; None (counted) without a readable purge time."""
    props = _get(raw, "properties")
    if not is_object(props):
        errors["deletedBackupInstance"] += 1
        return None
    try:
        purge = parse_time(_get(props, "deletionInfo", "scheduledPurgeTime"))
    except ValueError:
        purge = None
    if purge is None:
        errors["scheduledPurgeTime"] += 1
        return None
    item = _text(props.get("friendlyName"), "friendlyName", errors) or _text(_get(raw, "name"), "name", errors)
    source = _text(_get(props, "dataSourceInfo", "datasourceType"), "datasourceType", errors)
    return DeletedInstance(item or UNKNOWN, management_type(source) if source else UNKNOWN, purge)


def parse_availability(raw: object, errors: Counter[str]) -> Availability | None:
    """An AvailabilityStatus → (availabilityState, reasonType); None (counted) without a state."""
    state = _get(raw, "properties", "availabilityState")
    if not isinstance(state, str) or not state:
        errors["availabilityState"] += 1
        return None
    return Availability(state, _text(_get(raw, "properties", "reasonType"), "reasonType", errors))


class UnprotectedResource(NamedTuple):
    """A resource no vault protects (Resource Graph row, `exporter.azure.posture.UNPROTECTED_QUERY`)."""

    subscription_id: str
    resource_group: str
    resource_type: str
    resource: str


def parse_unprotected(raw: object, errors: Counter[str]) -> UnprotectedResource | None:
    """A Resource Graph row `{id, name, type, subscriptionId, resourceGroup}`; None (counted) without a name."""
    if not is_object(raw):
        errors["unprotectedResource"] += 1
        return None
    name = _text(raw.get("name"), "name", errors)
    if not name:
        errors["name"] += 1
        return None
    # A query that projects only `id` still says where the resource lives: /subscriptions/{s}/resourceGroups/{rg}/…
    segments = _text(raw.get("id"), "id", errors).split("/")
    return UnprotectedResource(
        _text(raw.get("subscriptionId"), "subscriptionId", errors) or _segment_after(segments, "subscriptions"),
        _text(raw.get("resourceGroup"), "resourceGroup", errors) or _segment_after(segments, "resourcegroups"),
        _text(raw.get("type"), "type", errors).lower(),  # Resource Graph writes types in lower case anyway
        name,
    )


def _segment_after(segments: list[str], key: str) -> str:
    lowered = [segment.lower() for segment in segments]
    return segments[lowered.index(key) + 1] if key in lowered[:-1] else ""
