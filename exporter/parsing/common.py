"""What every Azure parser shares: the "unknown" label, label cut-off, tolerant value and label
readers, a job's id, times, first error entry and task list (Recovery Services and Data Protection).

Same contract as the parsers built on it: nothing raises on JSON; a value present but unreadable
is counted in the caller's `Counter` under its JSON field name and left out.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping
from typing import Any, Final, TypeGuard

from exporter.model import TaskState
from exporter.parsing.values import parse_azure_duration, parse_time

__all__ = [
    "MAX_LABEL_CHARS", "UNKNOWN", "first_error_entry", "is_object", "job_id", "label", "last_segment", "read_tasks",
    "read_times", "read_value", "times_of",
]

# Label value for a field Azure did not send or sent unreadable; a label value is never empty.
UNKNOWN: Final = "unknown"

# Error codes and titles become label values; Azure's messages can run to paragraphs.
MAX_LABEL_CHARS: Final = 200


def is_object(value: object) -> TypeGuard[Mapping[str, Any]]:
    """A JSON object. json.loads gives dicts; the exact-type test skips the slower ABC check."""
    return type(value) is dict or isinstance(value, Mapping)


def read_value(
    value: object, parse: Callable[[object], float | None], field: str, errors: Counter[str]
) -> float | None:
    """One value through its parser; unreadable means counted under its field and left out."""
    if value is None:
        return None
    try:
        return parse(value)
    except ValueError:
        errors[field] += 1
        return None


def label(value: object, field: str, errors: Counter[str], *, required: bool) -> str:
    """A label value read verbatim; missing or not a string is "unknown". Counted under `field`
    when unreadable, and when missing if the field is `required` (the metrics hang on it)."""
    if isinstance(value, str) and value:
        return value
    if required or (value is not None and value != ""):
        errors[field] += 1
    return UNKNOWN


def last_segment(resource_id: str) -> str:
    """An ARM resource id's last segment, its resource's name; a trailing slash is tolerated."""
    return resource_id.rstrip("/").rpartition("/")[2]


def job_id(raw: Mapping[str, Any], errors: Counter[str]) -> str | None:
    """A job's `name`, else the last segment of its `id` (".../backupJobs/{name}", a trailing slash
    tolerated); a `name` present but unusable is counted. None when neither gives one."""
    name = raw.get("name")
    if isinstance(name, str) and name:
        return name
    if name is not None and name != "":
        errors["name"] += 1
    resource_id = raw.get("id")
    if isinstance(resource_id, str):
        return last_segment(resource_id) or None
    return None


def read_times(props: Mapping[str, Any], errors: Counter[str]) -> tuple[float | None, float | None, float | None]:
    """startTime, endTime and duration of a job of either vault kind; a missing duration is the
    time between start and end when both are known."""
    return times_of(props.get("startTime"), props.get("endTime"), props.get("duration"), errors)


def times_of(
    start_time: object, end_time: object, duration_text: object, errors: Counter[str]
) -> tuple[float | None, float | None, float | None]:
    """`read_times` of the three raw values."""
    try:
        # One try for the three: this runs for every job of a poll (bench/RESULTS.md, poll pipeline).
        start, end, duration = parse_time(start_time), parse_time(end_time), parse_azure_duration(duration_text)
    except ValueError:
        # Read again one by one, so that each unreadable value is counted under its own field.
        start = read_value(start_time, parse_time, "startTime", errors)
        end = read_value(end_time, parse_time, "endTime", errors)
        duration = read_value(duration_text, parse_azure_duration, "duration", errors)
    if duration is None and start is not None and end is not None and end >= start:
        duration = end - start
    return start, end, duration


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
