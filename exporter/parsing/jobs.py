"""Tolerant parsing of Azure Recovery Services backup jobs into `exporter.model.Job`.

One job JSON object (a list page item or a single-job GET body) becomes one `Job`. Azure's job
payloads are loosely typed and vary by workload and api-version, so nothing here raises on JSON:
each value that is present but cannot be read is counted in a caller-supplied `Counter` under its
JSON field name (it feeds `azure_backup_exporter_parse_errors_total{field}`) and left out.

The value formats (times, durations, sizes) are read by `exporter.parsing.values`, whose parsers
raise `ValueError` on unreadable input; `job_size_bytes` and `parse_job` never raise: they turn
each `ValueError` into a count. What all parsers share is in `exporter.parsing.common`.
"""

from __future__ import annotations

import contextlib
import math
import re
from collections import Counter
from collections.abc import Mapping
from typing import Any

from exporter.model import Job, TaskState
from exporter.parsing.common import (
    MAX_LABEL_CHARS,
    first_error_entry,
    is_object,
    job_id,
    label,
    read_tasks,
    read_times,
)
from exporter.parsing.values import parse_size

__all__ = ["error_labels", "job_size_bytes", "parse_job"]

def job_size_bytes(properties: Mapping[str, Any], errors: Counter[str]) -> float | None:
    """The job's size in bytes from its `extendedInfo`, which only single-job GETs carry.

    Tried in order, the first readable one wins: `propertyBag["Backup Size"]` ("11370 MB"; a bare
    number is MB), `propertyBag["Data Transferred (in MB)"]` (workload jobs: "0"), then
    DataProtection's `dataTransferredInBytes`. Each present but unreadable one is counted.
    """
    extended = properties.get("extendedInfo")
    if extended is None:
        return None
    if not is_object(extended):
        errors["extendedInfo"] += 1
        return None
    return _size_from_extended_info(extended, errors)


def _size_from_extended_info(extended: Mapping[str, Any], errors: Counter[str]) -> float | None:
    bag = extended.get("propertyBag")
    if bag is not None:
        if is_object(bag):
            for key in ("Backup Size", "Data Transferred (in MB)"):
                value = bag.get(key)
                if value is not None:
                    try:
                        size = parse_size(value)
                    except ValueError:
                        errors[key] += 1
                        continue
                    if size is not None:
                        return size
        else:
            errors["propertyBag"] += 1
    return _read_size_in_bytes(extended.get("dataTransferredInBytes"), errors)


def _read_size_in_bytes(value: object, errors: Counter[str]) -> float | None:
    if value is None:
        return None
    try:
        return parse_size(value, "B")
    except ValueError:
        errors["dataTransferredInBytes"] += 1
        return None


def parse_job(raw: Mapping[str, Any], errors: Counter[str]) -> Job | None:
    """One Recovery Services job object (`{id, name, type, properties}`) → `Job`.

    Returns None only when `raw` is not an object (counted as `job`) or has neither a usable
    `name` nor an `id` to take the job id from (counted as `id`). Otherwise every field that is
    missing is left at its default and every value that cannot be read is counted under its JSON
    field name and left out; the job is still returned.

    Labels: `entityFriendlyName` and `status` missing or unreadable → "unknown", counted (every
    job has them, and the metrics hang on them); `backupManagementType` and `operation` missing →
    "unknown", not counted (both are optional in Azure's schema), unreadable → counted. Unknown
    statuses and operations pass through verbatim.

    `duration` missing or unreadable is endTime - startTime when both are known and in order; a
    missing `endTime` (a job still running) is not an error. `errorDetails[0]` gives
    `error_code` (a number becomes its decimal string) and `error_title` (`errorTitle`; without
    one, as file-share errors come, the code, else the first clause of `errorString`), both cut to
    MAX_LABEL_CHARS. `has_details` means `extendedInfo` was sent.

    Error fields, a fixed set (they become label values): job, id, name, properties,
    entityFriendlyName, backupManagementType, operation, status, startTime, endTime, duration,
    errorDetails, extendedInfo, propertyBag, Backup Size, Data Transferred (in MB),
    dataTransferredInBytes, progressPercentage, tasksList.
    """
    # The hot path of every poll (100,000 jobs): well-formed values are read inline.
    if not is_object(raw):
        errors["job"] += 1
        return None
    name = raw.get("name")
    if type(name) is not str or not name:
        name = job_id(raw, errors)
        if name is None:
            errors["id"] += 1
            return None
    props = raw.get("properties")
    if type(props) is not dict and not isinstance(props, Mapping):
        errors["properties"] += 1
        props = {}
    item, management, operation, status = _labels(props, errors)
    start, end, duration = read_times(props, errors)
    details = props.get("errorDetails")
    error_code, error_title = (None, None) if details is None else error_labels(details, errors)
    extended = props.get("extendedInfo")
    size, progress, tasks = (None, None, ()) if extended is None else _from_extended_info(extended, errors)
    return Job(
        name,
        item,
        management,
        operation,
        status,
        start,
        end,
        duration,
        size,
        error_code,
        error_title,
        progress,
        tasks,
        "extendedInfo" in props,
    )


def _labels(props: Mapping[str, Any], errors: Counter[str]) -> tuple[str, str, str, str]:
    """entityFriendlyName, backupManagementType, operation and status (see `parse_job`)."""
    get = props.get
    item = get("entityFriendlyName")
    if type(item) is not str or not item:
        item = label(item, "entityFriendlyName", errors, required=True)
    management = get("backupManagementType")
    if type(management) is not str or not management:
        management = label(management, "backupManagementType", errors, required=False)
    operation = get("operation")
    if type(operation) is not str or not operation:
        operation = label(operation, "operation", errors, required=False)
    status = get("status")
    if type(status) is not str or not status:
        status = label(status, "status", errors, required=True)
    return item, management, operation, status


def _from_extended_info(
    extended: object, errors: Counter[str]
) -> tuple[float | None, float | None, tuple[TaskState, ...]]:
    """Size, progress and tasks from a single-job GET's `extendedInfo`."""
    if not is_object(extended):
        errors["extendedInfo"] += 1
        return None, None, ()
    size = _size_from_extended_info(extended, errors)
    progress = _progress(extended.get("progressPercentage"), errors)
    task_list = extended.get("tasksList")
    tasks: tuple[TaskState, ...] = ()
    if task_list is not None:
        tasks = read_tasks(task_list, errors, field="tasksList", keys=("taskId", "status"))
    return size, progress, tasks


def error_labels(details: object, errors: Counter[str]) -> tuple[str | None, str | None]:
    """error_code and error_title of a job's `errorDetails` (see `parse_job`)."""
    first = first_error_entry(details, errors)
    if first is None:
        return None, None
    # Recovery Services sends errorCode as a number (510008), other sources as a string.
    code = first.get("errorCode")
    if isinstance(code, int) and not isinstance(code, bool):
        code = str(code)
    # The title is a stable identifier. File-share errors have none (AzureStorageErrorInfo: code,
    # string, recommendations): their code stands in, and only without a code does the prose's
    # first clause, never a whole sentence that would make a label value per wording.
    title = _error_text(first.get("errorTitle"), errors)
    code_text = _error_text(code, errors)
    if title is None:
        title = code_text or _first_clause(_error_text(first.get("errorString"), errors))
    return code_text, title


def _first_clause(text: str | None) -> str | None:
    if text is None:
        return None
    clause = _CLAUSE_END.split(text, maxsplit=1)[0].strip()
    return clause or None


_CLAUSE_END = re.compile(r"[.,;:!?]\s|[.!?]$|\s[-\u2013]\s")


def _error_text(value: object, errors: Counter[str]) -> str | None:
    # Both end up as label values: kept short, and blank means absent.
    if isinstance(value, str):
        text = value.strip()
        return text[:MAX_LABEL_CHARS] if text else None
    if value is not None:
        errors["errorDetails"] += 1
    return None


def _progress(value: object, errors: Counter[str]) -> float | None:
    if value is None:
        return None
    ratio = math.nan
    if isinstance(value, int | float | str) and not isinstance(value, bool):
        with contextlib.suppress(ValueError, OverflowError):
            ratio = float(value) / 100
    if not math.isfinite(ratio):
        errors["progressPercentage"] += 1
        return None
    return min(max(ratio, 0.0), 1.0)


