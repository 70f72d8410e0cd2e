"""Tolerant parsing of Data Protection backup-vault jobs (`AzureBackupJob`) into `exporter.model.Job`.

Same contract as `exporter.parsing.jobs` (Recovery Services): nothing raises on JSON; each value that is
present but cannot be read is counted in a caller-supplied `Counter` under its JSON field name
(`azure_backup_exporter_parse_errors_total{field}`) and left out. Values are read by
`exporter.parsing.values`. What differs is the vocabulary, mapped here onto the Recovery Services one so
that both vault kinds feed the same metric families, alerts and dashboard:

status (`STATUSES`; anything else passes through verbatim)

    | Data Protection (spec examples, live traffic, field docs)  | exported                |
    |------------------------------------------------------------|-------------------------|
    | Started, InProgress                                        | InProgress              |
    | Succeeded, Success, Completed                              | Completed               |
    | SucceededWithWarnings, SuccessWithWarning,                 | CompletedWithWarnings   |
    |   CompletedWithWarnings                                    |                         |
    | Failed, Cancelled, Cancelling                              | verbatim                |
    | Paused, anything else                                      | verbatim (unknown)      |

backup_management_type, from `dataSourceType` (`MANAGEMENT_TYPES`, case-insensitive)

    | dataSourceType                                   | backup_management_type                    |
    |--------------------------------------------------|-------------------------------------------|
    | Microsoft.Compute/disks                          | AzureDisk                                 |
    | Microsoft.Storage/storageAccounts/blobServices   | AzureBlob                                 |
    | Microsoft.DBforPostgreSQL/servers/databases      | AzureDatabaseForPostgreSQL                |
    | Microsoft.DBforPostgreSQL/flexibleServers        | AzureDatabaseForPostgreSQLFlexibleServer  |
    | Microsoft.ContainerService/managedClusters       | AzureKubernetesService                    |
    | anything else                                    | its last segment, verbatim                |

operation: `operationCategory` wins (Backup, Restore, Tiering, Management: what the job is for,
which the alerts match on with `Backup.*` and `.*Restore.*`); `operation` is appended in
parentheses when it says more, as Recovery Services writes "Backup (Full)". The field docs list
pairs such as Tiering:Backup, so `operation` alone could make a tiering job look like a backup.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from typing import Any, Final

from exporter.model import Job, TaskState
from exporter.parsing.common import (
    MAX_LABEL_CHARS,
    UNKNOWN,
    first_error_entry,
    is_object,
    job_id,
    read_tasks,
    read_times,
    read_value,
)
from exporter.parsing.values import parse_size, parse_time

__all__ = ["MANAGEMENT_TYPES", "STATUSES", "management_type", "normalise_status", "parse_dpp_job", "start_time"]

# Keys lower-cased: Azure's casing of enum-like strings is not stable across api-versions.
# The spec examples print Started/Succeeded (dpp_ListJobs, dpp_GetJob); recorded live traffic
# (azure-cli-extensions test_dataprotection_job_list_and_show, 2025) prints Completed/Failed; the
# field's docs have said both "InProgress/Success/Failed/Cancelled/SuccessWithWarning" and
# "InProgress/Completed/Failed/Cancelled/CompletedWithWarnings/Cancelling/Paused".
STATUSES: Final[Mapping[str, str]] = {
    "started": "InProgress",
    "inprogress": "InProgress",
    "succeeded": "Completed",
    "success": "Completed",
    "completed": "Completed",
    "succeededwithwarnings": "CompletedWithWarnings",
    "successwithwarning": "CompletedWithWarnings",
    "completedwithwarnings": "CompletedWithWarnings",
    "failed": "Failed",
    "cancelled": "Cancelled",
    "cancelling": "Cancelling",
}

# ARM resource types are case-insensitive; keys lower-cased.
MANAGEMENT_TYPES: Final[Mapping[str, str]] = {
    "microsoft.compute/disks": "AzureDisk",
    "microsoft.storage/storageaccounts/blobservices": "AzureBlob",
    "microsoft.dbforpostgresql/servers/databases": "AzureDatabaseForPostgreSQL",
    "microsoft.dbforpostgresql/flexibleservers": "AzureDatabaseForPostgreSQLFlexibleServer",
    "microsoft.containerservice/managedclusters": "AzureKubernetesService",
}


def normalise_status(status: str) -> str:
    """A Data Protection job or task status in the Recovery Services vocabulary (table above)."""
    return STATUSES.get(status.lower(), status)


def management_type(data_source_type: str) -> str:
    """`dataSourceType` → the `backup_management_type` label (table above)."""
    known = MANAGEMENT_TYPES.get(data_source_type.strip().strip("/").lower())
    if known is not None:
        return known
    return data_source_type.strip().strip("/").rpartition("/")[2] or UNKNOWN


def start_time(raw: object) -> float | None:
    """A listed job's start, read without parsing the rest; None when missing or unreadable.

    A backup vault's list cannot be filtered, so most of what a poll reads lies outside its window:
    only the jobs inside it are worth parsing (and counting parse errors for)."""
    properties = raw.get("properties") if is_object(raw) else None
    if not is_object(properties):
        return None
    try:
        return parse_time(properties.get("startTime"))
    except ValueError:
        return None


def parse_dpp_job(raw: Mapping[str, Any], errors: Counter[str]) -> Job | None:
    """One backup-vault job object (`{id, name, type, properties}`) → `Job`.

    Returns None only when `raw` is not an object (counted as `job`) or has neither a usable
    `name` nor an `id` to take the job id from (counted as `id`); otherwise the job is returned
    with what could be read.

    `item` is `backupInstanceFriendlyName`. Every field used here is required by the schema, so
    each one missing is counted like an unreadable one, except `endTime` (a running job has
    none), `errorDetails` and `extendedInfo` (null in list items: recorded traffic). `duration`
    missing or unreadable falls back to endTime - startTime. `errorDetails[0]` gives `error_code`
    (`code`) and `error_title` (`message`, whitespace collapsed), both cut to MAX_LABEL_CHARS;
    `isRetryable` and `isUserError` are not exported (they describe the error, not the job).
    From `extendedInfo` (single-job GET only): size from `dataTransferredInBytes` (bytes), or when
    that is null (a disk's snapshot moves nothing to the vault) the disk's size from
    `subTasks[].additionalDetails.OriginalDatasourceSizeInBytes` (recorded live), and
    tasks from `subTasks` (`taskName`, `taskStatus` normalised like job statuses). Backup vault
    jobs report no progress percentage (only `progressEnabled`/`progressUrl`).

    Error fields, a fixed set: job, id, name, properties, backupInstanceFriendlyName,
    dataSourceType, operationCategory, operation, status, startTime, endTime, duration,
    errorDetails, extendedInfo, dataTransferredInBytes, OriginalDatasourceSizeInBytes, subTasks.
    """
    if not is_object(raw):
        errors["job"] += 1
        return None
    name = job_id(raw, errors)
    if name is None:
        errors["id"] += 1
        return None
    props = raw.get("properties")
    if not is_object(props):
        errors["properties"] += 1
        props = {}
    get = props.get
    item = _text(get("backupInstanceFriendlyName"), "backupInstanceFriendlyName", errors)
    source_type = _text(get("dataSourceType"), "dataSourceType", errors)
    status = _text(get("status"), "status", errors)
    start, end, duration = read_times(props, errors)
    error_code, error_title = _first_error(get("errorDetails"), errors)
    extended = get("extendedInfo")
    size, tasks = (None, ()) if extended is None else _from_extended_info(extended, errors)
    return Job(
        name,
        item or UNKNOWN,
        management_type(source_type) if source_type else UNKNOWN,
        _operation(get("operationCategory"), get("operation"), errors),
        normalise_status(status) if status else UNKNOWN,
        start,
        end,
        duration,
        size,
        error_code,
        error_title,
        None,
        tasks,
        is_object(extended),
    )


def _from_extended_info(extended: object, errors: Counter[str]) -> tuple[float | None, tuple[TaskState, ...]]:
    """Size and tasks from a single-job GET's `extendedInfo` (see `parse_dpp_job`)."""
    if not is_object(extended):
        errors["extendedInfo"] += 1
        return None, ()
    size = read_value(extended.get("dataTransferredInBytes"), _bytes, "dataTransferredInBytes", errors)
    sub_tasks = extended.get("subTasks")
    if size is None:
        size = _original_size(sub_tasks, errors)
    tasks: tuple[TaskState, ...] = ()
    if sub_tasks is not None:
        tasks = read_tasks(sub_tasks, errors, field="subTasks", keys=("taskName", "taskStatus"),
                           status_of=normalise_status)
    return size, tasks


def _text(value: object, field: str, errors: Counter[str]) -> str | None:
    """A required string; missing, blank or not a string is counted under `field`."""
    if isinstance(value, str) and value.strip():
        return value
    errors[field] += 1
    return None


def _bytes(value: object) -> float | None:
    return parse_size(value, "B")


def _original_size(sub_tasks: object, errors: Counter[str]) -> float | None:
    """The first `OriginalDatasourceSizeInBytes` ("4294967296") among the sub-tasks' details."""
    if not isinstance(sub_tasks, list):
        return None  # read_tasks counts a malformed subTasks
    for task in sub_tasks:
        details = task.get("additionalDetails") if is_object(task) else None
        if is_object(details) and details.get("OriginalDatasourceSizeInBytes") is not None:
            return read_value(details["OriginalDatasourceSizeInBytes"], _bytes, "OriginalDatasourceSizeInBytes", errors)
    return None


def _operation(category: object, operation: object, errors: Counter[str]) -> str:
    names = []
    for value, field in ((category, "operationCategory"), (operation, "operation")):
        if isinstance(value, str) and value.strip():
            names.append(value.strip())
        elif value is not None and value != "":
            errors[field] += 1
    if not names:
        errors["operationCategory"] += 1
        return UNKNOWN
    if len(names) == 1 or names[0].casefold() == names[1].casefold():
        return names[0]
    return f"{names[0]} ({names[1]})"


def _first_error(details: object, errors: Counter[str]) -> tuple[str | None, str | None]:
    if details is None:
        return None, None
    first = first_error_entry(details, errors)
    if first is None:
        return None, None
    return _error_text(first.get("code"), errors), _error_text(first.get("message"), errors)


def _error_text(value: object, errors: Counter[str]) -> str | None:
    if isinstance(value, str):
        # Messages arrive wrapped over several lines in recorded traffic; a label is one line.
        text = " ".join(value.split())
        return text[:MAX_LABEL_CHARS] if text else None
    if value is not None:
        errors["errorDetails"] += 1
    return None
