"""What only the single-job GET shows: `extendedInfo` (tasks, property bag, progress) and, for a
failed job, `errorDetails`. Shapes from azcli_recording_GET_job_*, rsv_GetJobDetails and
rsv_docs_sqlvm_failed_workload_job, field by field as each job type's SDK model has them: only VM
jobs report `progressPercentage` and task durations (the recorded SQL task has no duration), and
file-share errors have no `errorTitle` (AzureStorageErrorInfo: code, string, recommendations)."""

from __future__ import annotations

from typing import Any

from exporter.simulator.catalog import FILE_SHARE_ERRORS, SQL_ERRORS, VM_ERRORS, ErrorInfo
from exporter.simulator.formats import date_of, iso_duration, timespan_duration
from exporter.simulator.resources import FILE_SHARE, SQL, VM, ProtectedItem
from exporter.simulator.schedule import TICKS_PER_SECOND, JobFacts, JobKind

_ERRORS = {VM: VM_ERRORS, SQL: SQL_ERRORS, FILE_SHARE: FILE_SHARE_ERRORS}


def add_details(properties: dict[str, Any], item: ProtectedItem, facts: JobFacts, *, timespan: bool) -> None:
    """Add errorDetails and extendedInfo to a listed job's `properties`."""
    if facts.status == "Failed":
        error = error_of(item, facts)
        entry: dict[str, Any] = {"errorCode": error.code, "errorString": error.message}
        if item.workload != FILE_SHARE:
            entry["errorTitle"] = error.title
        entry["recommendations"] = [error.recommendation]
        properties["errorDetails"] = [entry]
    extended: dict[str, Any] = {
        "tasksList": _tasks(item, facts, timespan=timespan),
        "propertyBag": _property_bag(item, facts),
    }
    if not facts.finished and item.workload == VM:
        extended["progressPercentage"] = round(100.0 * facts.elapsed / facts.duration, 2)
    if item.workload == VM and facts.kind is JobKind.BACKUP:
        extended["internalPropertyBag"] = {"IsInstantRpJob": "True"}
    properties["extendedInfo"] = extended


def error_of(item: ProtectedItem, facts: JobFacts) -> ErrorInfo:
    """The error a failed job of `item` reports."""
    errors = _ERRORS[item.workload]
    # An item that keeps failing keeps failing for one reason, as a broken VM agent would.
    persistent = item.always_fails_from is not None and facts.start >= item.always_fails_from
    return errors[(item.index if persistent else facts.error_pick) % len(errors)]


def _task_names(item: ProtectedItem, kind: JobKind) -> tuple[str, ...]:
    if kind in (JobKind.CONFIGURE, JobKind.DELETE):
        return ()
    if kind is JobKind.RESTORE:
        return ("Transfer data",)
    if item.workload == VM:
        return ("Take Snapshot", "Transfer data to vault")
    if item.workload == FILE_SHARE:
        return ("Take Snapshot",)
    return ("Transfer data to vault",)


def _tasks(item: ProtectedItem, facts: JobFacts, *, timespan: bool) -> list[dict[str, str]]:
    names = _task_names(item, facts.kind)
    count = len(names)
    if not count:
        return []
    if facts.status == "InProgress":
        current = min(count - 1, facts.elapsed * count // facts.duration)
        statuses = ["Completed"] * current + ["InProgress"] + ["NotStarted"] * (count - current - 1)
    elif facts.status == "Failed":
        # Snapshot errors fail the first task; workload errors fail the transfer.
        failed = 0 if item.workload == VM else count - 1
        statuses = ["Completed"] * failed + ["Failed"] + ["NotStarted"] * (count - failed - 1)
    elif facts.status == "CompletedWithWarnings":
        statuses = ["CompletedWithWarnings"] + ["Completed"] * (count - 1)
    elif facts.status == "Cancelled":
        statuses = ["Completed"] * (count - 1) + ["Cancelled"]
    else:
        statuses = ["Completed"] * count
    pairs = zip(names, statuses, strict=True)
    if item.workload != VM:
        return [{"taskId": name, "status": status} for name, status in pairs]
    # Recorded VM task durations are always zero ("PT0S", "00:00:00").
    zero = timespan_duration(0) if timespan else iso_duration(0)
    return [{"taskId": name, "duration": zero, "status": status} for name, status in pairs]


def _size_mb(item: ProtectedItem, facts: JobFacts) -> int:
    typical = item.size_mb // 50 if facts.kind is JobKind.LOG_BACKUP else item.size_mb
    return max(1, int(typical * facts.size_fraction))


def _property_bag(item: ProtectedItem, facts: JobFacts) -> dict[str, str]:
    succeeded = facts.status in ("Completed", "CompletedWithWarnings")
    backup = facts.kind in (JobKind.BACKUP, JobKind.LOG_BACKUP)
    if item.workload == VM:
        bag = {"VM Name": item.name}
        if backup and succeeded:
            expiry = date_of(facts.start // TICKS_PER_SECOND // 86400 + 30)
            bag["Recovery Point Expiry Time in UTC"] = f"{expiry.month}/{expiry.day}/{expiry.year} 12:00:00 AM"
            bag["Backup Size"] = f"{_size_mb(item, facts)} MB"
        return bag
    if item.workload == SQL:
        if backup and facts.finished:
            # The failed job in Microsoft's docs reports "0"; the size is a bare number of MB.
            transferred = _size_mb(item, facts) if succeeded else 0
            return {"Data Transferred (in MB)": str(transferred)}
        return {}
    return {"File Share Name": item.name, "Storage Account Name": item.storage_account}
