"""Tolerant parsing of Azure Recovery Services backup jobs into `exporter.model.Job`.

One job JSON object (a list page item or a single-job GET body) becomes one `Job`. Azure's job
payloads are loosely typed and vary by workload and api-version, so nothing here raises on JSON:
each value that is present but cannot be read is counted in a caller-supplied `Counter` under its
JSON field name (it feeds `azure_backup_exporter_parse_errors_total{field}`) and left out.

The value formats (times, durations, sizes) are read by `exporter.values`, whose parsers raise
`ValueError` on unreadable input; `job_size_bytes` and `parse_job` never raise: they turn each
`ValueError` into a count.
"""

from __future__ import annotations

import contextlib
import math
import re
from collections import Counter
from collections.abc import Callable, Mapping
from typing import Any, Final, TypeGuard

from exporter.model import Job, TaskState
from exporter.parsing.values import parse_duration, parse_size, parse_time

__all__ = [
    "MAX_LABEL_CHARS", "UNKNOWN", "is_object", "job_size_bytes", "parse_duration", "parse_job", "parse_size",
    "parse_time", "read_value",
]

# Label value for a field Azure did not send or sent unreadable; a label value is never empty.
UNKNOWN: Final = "unknown"

# Error codes and titles become label values; Azure's messages can run to paragraphs.
MAX_LABEL_CHARS: Final = 200

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

    `duration` missing or unreadable falls back to endTime - startTime when both are known and in
    order; a missing `endTime` (a job still running) is not an error. `errorDetails[0]` gives
    `error_code` (a number becomes its decimal string) and `error_title` (`errorTitle`; without
    one, as file-share errors come, the code, else the first clause of `errorString`), both cut to
    MAX_LABEL_CHARS. `has_details` means `extendedInfo` was sent.

    Error fields, a fixed set (they become label values): job, id, name, properties,
    entityFriendlyName, backupManagementType, operation, status, startTime, endTime, duration,
    errorDetails, extendedInfo, propertyBag, Backup Size, Data Transferred (in MB),
    dataTransferredInBytes, progressPercentage, tasksList.
    """
    # The hot path of every poll (100,000 jobs): well-formed values are read inline, and only
    # missing or odd ones go through the helpers below.
    if not is_object(raw):
        errors["job"] += 1
        return None
    job_id = raw.get("name")
    if type(job_id) is not str or not job_id:
        job_id = _job_id_from_id(raw, job_id, errors)
        if job_id is None:
            errors["id"] += 1
            return None
    props = raw.get("properties")
    if type(props) is not dict and not isinstance(props, Mapping):
        errors["properties"] += 1
        props = {}
    get = props.get

    item = get("entityFriendlyName")
    if type(item) is not str or not item:
        item = _label(item, "entityFriendlyName", errors, required=True)
    management = get("backupManagementType")
    if type(management) is not str or not management:
        management = _label(management, "backupManagementType", errors, required=False)
    operation = get("operation")
    if type(operation) is not str or not operation:
        operation = _label(operation, "operation", errors, required=False)
    status = get("status")
    if type(status) is not str or not status:
        status = _label(status, "status", errors, required=True)

    start, end, duration = read_times(props, errors)

    error_code = error_title = None
    details = get("errorDetails")
    if details is not None:
        error_code, error_title = _first_error(details, errors)

    size = progress = None
    tasks: tuple[TaskState, ...] = ()
    extended = get("extendedInfo")
    if extended is not None:
        if is_object(extended):
            size = _size_from_extended_info(extended, errors)
            progress = _progress(extended.get("progressPercentage"), errors)
            task_list = extended.get("tasksList")
            if task_list is not None:
                tasks = read_tasks(task_list, errors, field="tasksList", keys=("taskId", "status"))
        else:
            errors["extendedInfo"] += 1

    return Job(
        job_id,
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


def read_times(props: Mapping[str, Any], errors: Counter[str]) -> tuple[float | None, float | None, float | None]:
    """startTime, endTime and duration of a job of either vault kind; a missing duration is the
    time between start and end when both are known."""
    start = read_value(props.get("startTime"), parse_time, "startTime", errors)
    end = read_value(props.get("endTime"), parse_time, "endTime", errors)
    duration = read_value(props.get("duration"), parse_duration, "duration", errors)
    if duration is None and start is not None and end is not None and end >= start:
        duration = end - start
    return start, end, duration


def read_value(
    value: object, parse: Callable[[object], float | None], field: str, errors: Counter[str]
) -> float | None:
    """One value through its parser; unreadable means counted under its field and left out.
    Shared by every job parser (Recovery Services, Data Protection)."""
    if value is None:
        return None
    try:
        return parse(value)
    except ValueError:
        errors[field] += 1
        return None


def is_object(value: object) -> TypeGuard[Mapping[str, Any]]:
    # json.loads gives dicts; the exact-type test skips the slower ABC check for them.
    return type(value) is dict or isinstance(value, Mapping)


def _job_id_from_id(raw: Mapping[str, Any], name: object, errors: Counter[str]) -> str | None:
    if name is not None and name != "":
        errors["name"] += 1
    resource_id = raw.get("id")
    if isinstance(resource_id, str):
        # ".../backupJobs/{name}"; a trailing slash is tolerated.
        last = resource_id.rstrip("/").rpartition("/")[2]
        if last:
            return last
    return None


def _label(value: object, field: str, errors: Counter[str], *, required: bool) -> str:
    if isinstance(value, str) and value:
        return value
    if required or (value is not None and value != ""):
        errors[field] += 1
    return UNKNOWN


def first_error_entry(details: object, errors: Counter[str]) -> Mapping[str, Any] | None:
    """The first object of an `errorDetails` list (both vault kinds send one); None when there is
    none, and a list or entry that is not what it should be is counted as `errorDetails`."""
    if not isinstance(details, list):
        errors["errorDetails"] += 1
        return None
    if not details:
        return None
    first = details[0]
    if not is_object(first):
        errors["errorDetails"] += 1
        return None
    return first


def read_tasks(
    task_list: object,
    errors: Counter[str],
    *,
    field: str,
    keys: tuple[str, str],
    status_of: Callable[[str], str] = str.strip,
) -> tuple[TaskState, ...]:
    """A job's task list as (name, status) pairs, read from the `keys` of each entry: a task
    without a name is dropped, one without a status is "unknown"; either is counted as `field`."""
    if not isinstance(task_list, list):
        errors[field] += 1
        return ()
    tasks = []
    for task in task_list:
        if not is_object(task):
            errors[field] += 1
            continue
        name, status = task.get(keys[0]), task.get(keys[1])
        if not (isinstance(name, str) and name.strip()):
            errors[field] += 1
            continue
        if not (isinstance(status, str) and status.strip()):
            errors[field] += 1
            status = UNKNOWN
        tasks.append(TaskState(" ".join(name.split()), status_of(status)))
    return tuple(tasks)


def _first_error(details: object, errors: Counter[str]) -> tuple[str | None, str | None]:
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


