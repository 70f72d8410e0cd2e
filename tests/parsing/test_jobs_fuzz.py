"""parse_job never raises, whatever JSON Azure (or a broken proxy) sends, and what it returns is sane."""

import math
from collections import Counter

from hypothesis import given
from hypothesis import strategies as st

from exporter.model import Job
from exporter.parsing.common import MAX_LABEL_CHARS
from exporter.parsing.jobs import parse_job

# parse_errors_total{field} must keep a small, fixed set of label values.
ERROR_FIELDS = {
    "job",
    "id",
    "name",
    "properties",
    "entityFriendlyName",
    "backupManagementType",
    "operation",
    "status",
    "startTime",
    "endTime",
    "duration",
    "errorDetails",
    "extendedInfo",
    "propertyBag",
    "Backup Size",
    "Data Transferred (in MB)",
    "dataTransferredInBytes",
    "progressPercentage",
    "tasksList",
}

_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=20,
)
# Well-formed values mixed in, so that the paths after a successful read are exercised too.
_value = _json | st.sampled_from(
    ["PT5S", "00:00:01.5", "2022-05-13T10:00:00.1234567Z", "5 MB", "0", "Completed", 50, 10**400, "-1 MB"]
)


def _object(keys):
    return st.dictionaries(st.sampled_from(keys), _value)


_FIELDS = ["entityFriendlyName", "backupManagementType", "operation", "status", "startTime", "endTime", "duration"]
_plausible = st.fixed_dictionaries(
    {},
    optional={
        "name": st.text(max_size=5) | _json,
        "id": st.text(max_size=30) | _json,
        "properties": st.tuples(
            _object(_FIELDS),
            st.fixed_dictionaries(
                {},
                optional={
                    "errorDetails": st.lists(_object(["errorCode", "errorTitle", "errorString"])) | _json,
                    "extendedInfo": st.fixed_dictionaries(
                        {},
                        optional={
                            "propertyBag": _object(["Backup Size", "Data Transferred (in MB)"]) | _json,
                            "tasksList": st.lists(_object(["taskId", "status"]) | _json) | _json,
                            "progressPercentage": _value,
                            "dataTransferredInBytes": _value,
                        },
                    )
                    | _json,
                },
            ),
        ).map(lambda parts: {**parts[0], **parts[1]})
        | _json,
    },
)


def _assert_sane(job, errors):
    assert set(errors) <= ERROR_FIELDS
    if job is None:
        assert errors["job"] + errors["id"] == 1
        return
    assert isinstance(job, Job)
    assert isinstance(job.job_id, str)
    assert job.job_id
    for value in (job.duration_seconds, job.size_bytes):
        assert value is None or (math.isfinite(value) and value >= 0)
    for value in (job.start_time, job.end_time):
        assert value is None or math.isfinite(value)
    assert job.progress_ratio is None or 0.0 <= job.progress_ratio <= 1.0
    for label in (job.item, job.backup_management_type, job.operation, job.status):
        assert isinstance(label, str)
        assert label
    for label in (job.error_code, job.error_title):
        assert label is None or 0 < len(label) <= MAX_LABEL_CHARS
    assert all(isinstance(task.name, str) and isinstance(task.status, str) for task in job.tasks)


@given(_json)
def test_random_json_never_raises(raw):
    errors = Counter()
    _assert_sane(parse_job(raw, errors), errors)


@given(_plausible)
def test_job_shaped_random_json_never_raises(raw):
    errors = Counter()
    _assert_sane(parse_job(raw, errors), errors)
