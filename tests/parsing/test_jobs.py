"""parse_job: one Azure job object → Job, never raising, counting what it could not read."""

import math
from collections import Counter

import pytest

from exporter.model import Job, TaskState
from exporter.parsing.common import MAX_LABEL_CHARS
from exporter.parsing.jobs import job_size_bytes, parse_job

MB = 1024**2


def _raw(properties=None, **top):
    raw = {"id": "/subscriptions/s/resourceGroups/rg/providers/Microsoft.RecoveryServices/vaults/v/backupJobs/j1"}
    raw.update(
        name="j1",
        properties={
            "entityFriendlyName": "vm1",
            "backupManagementType": "AzureIaasVM",
            "operation": "Backup",
            "status": "Completed",
            "startTime": "2022-05-13T10:00:00Z",
            "endTime": "2022-05-13T10:10:00Z",
            "duration": "PT10M",
            **(properties or {}),
        },
    )
    raw.update(top)
    return raw


def _parse(raw):
    errors = Counter()
    return parse_job(raw, errors), errors


def test_well_formed_list_item():
    job, errors = _parse(_raw())
    assert job == Job("j1", "vm1", "AzureIaasVM", "Backup", "Completed", 1652436000.0, 1652436600.0, 600.0)
    assert errors == Counter()


def test_unparseable_values_are_counted_and_job_still_returned():
    job, errors = _parse(
        _raw(
            {
                "duration": "forty minutes",
                "startTime": "yesterday",
                "endTime": 1652436600,
                "entityFriendlyName": ["vm1"],
                "status": 7,
                "errorDetails": "boom",
                "extendedInfo": {
                    "propertyBag": {"Backup Size": "lots"},
                    "tasksList": {"taskId": "Take Snapshot"},
                    "progressPercentage": "NaN",
                },
            }
        )
    )
    assert errors == Counter(
        {
            "duration": 1,
            "startTime": 1,
            "endTime": 1,
            "entityFriendlyName": 1,
            "status": 1,
            "errorDetails": 1,
            "Backup Size": 1,
            "tasksList": 1,
            "progressPercentage": 1,
        }
    )
    assert job is not None
    assert (job.job_id, job.item, job.status, job.operation) == ("j1", "unknown", "unknown", "Backup")
    assert job.start_time is job.end_time is job.duration_seconds is job.size_bytes is None
    assert job.has_details


def test_job_id_falls_back_to_last_segment_of_id():
    job, errors = _parse(_raw(name=None, id="/subscriptions/s/vaults/v/backupJobs/abc-123/"))
    assert job.job_id == "abc-123"
    assert errors == Counter()


def test_unusable_name_is_counted_and_id_used():
    job, errors = _parse(_raw(name=42))
    assert job.job_id == "j1"
    assert errors == Counter({"name": 1})


@pytest.mark.parametrize("top", [{"name": None, "id": None}, {"name": "", "id": "/"}, {"name": None, "id": 5}])
def test_job_without_name_or_id_is_dropped_and_counted(top):
    job, errors = _parse(_raw(**top))
    assert job is None
    assert errors["id"] == 1


@pytest.mark.parametrize("raw", [None, [], "job", 3, 1.5])
def test_non_object_is_dropped_and_counted(raw):
    job, errors = _parse(raw)
    assert job is None
    assert errors == Counter({"job": 1})


def test_non_object_properties_is_counted_and_labels_unknown():
    job, errors = _parse({"name": "j1", "properties": ["x"]})
    assert (job.item, job.backup_management_type, job.operation, job.status) == ("unknown",) * 4
    assert errors == Counter({"properties": 1, "entityFriendlyName": 1, "status": 1})


def test_missing_optional_labels_are_unknown_without_error():
    raw = _raw()
    del raw["properties"]["backupManagementType"], raw["properties"]["operation"]
    job, errors = _parse(raw)
    assert (job.backup_management_type, job.operation) == ("unknown", "unknown")
    assert errors == Counter()


def test_missing_item_and_status_are_counted():
    raw = _raw()
    del raw["properties"]["entityFriendlyName"], raw["properties"]["status"]
    job, errors = _parse(raw)
    assert (job.item, job.status) == ("unknown", "unknown")
    assert errors == Counter({"entityFriendlyName": 1, "status": 1})


def test_unknown_status_and_operation_pass_through_verbatim():
    job, _ = _parse(_raw({"status": "Started", "operation": "Backup (Log)"}))
    assert (job.status, job.operation) == ("Started", "Backup (Log)")


@pytest.mark.parametrize(
    ("duration", "counted", "expected"),
    [
        (None, 0, 600.0),
        ("", 0, 600.0),
        ("garbage", 1, 600.0),
        ("-PT5S", 1, 600.0),
        ("PT0S", 0, 0.0),
    ],
)
def test_duration_falls_back_to_end_minus_start(duration, counted, expected):
    job, errors = _parse(_raw({"duration": duration}))
    assert job.duration_seconds == expected
    assert errors["duration"] == counted


def test_no_duration_when_end_precedes_start():
    job, _ = _parse(_raw({"duration": None, "endTime": "2022-05-13T09:00:00Z"}))
    assert job.duration_seconds is None


def test_missing_end_time_is_not_an_error():
    job, errors = _parse(_raw({"endTime": None, "status": "InProgress"}))
    assert job.end_time is None
    assert not job.finished
    assert errors == Counter()


@pytest.mark.parametrize(
    ("error", "code", "title"),
    [
        ({"errorCode": 510008, "errorTitle": "Conflict"}, "510008", "Conflict"),
        ({"errorCode": "UserErrorVmNotFound", "errorTitle": ""}, "UserErrorVmNotFound", "UserErrorVmNotFound"),
        ({"errorCode": 1, "errorString": " Could not reach the VM. "}, "1", "1"),
        ({"errorTitle": "T", "errorString": "long prose"}, None, "T"),
        ({"errorCode": "x" * 500, "errorTitle": "y" * 500}, "x" * MAX_LABEL_CHARS, "y" * MAX_LABEL_CHARS),
    ],
)
def test_error_code_and_title_come_from_first_error(error, code, title):
    job, errors = _parse(_raw({"status": "Failed", "errorDetails": [error, {"errorCode": 2}]}))
    assert (job.error_code, job.error_title) == (code, title)
    assert errors == Counter()


@pytest.mark.parametrize(
    "details", ["boom", {"errorCode": 1}, [None], [["x"]], [{"errorCode": 1.5}], [{"errorTitle": 3}]]
)
def test_malformed_error_details_are_counted(details):
    job, errors = _parse(_raw({"status": "Failed", "errorDetails": details}))
    assert job.status == "Failed"
    assert errors["errorDetails"] == 1


def test_empty_error_details_is_no_error():
    job, errors = _parse(_raw({"errorDetails": []}))
    assert job.error_code is job.error_title is None
    assert errors == Counter()


@pytest.mark.parametrize(
    ("percentage", "ratio", "counted"),
    [
        (50, 0.5, 0),
        (12.5, 0.125, 0),
        ("25", 0.25, 0),
        (150, 1.0, 0),
        (-5, 0.0, 0),
        (0, 0.0, 0),
        (math.nan, None, 1),
        (math.inf, None, 1),
        ("abc", None, 1),
        (True, None, 1),
        ([50], None, 1),
        (10**400, None, 1),
    ],
)
def test_progress_is_a_clamped_ratio(percentage, ratio, counted):
    job, errors = _parse(_raw({"status": "InProgress", "extendedInfo": {"progressPercentage": percentage}}))
    assert job.progress_ratio == ratio
    assert errors["progressPercentage"] == counted


def test_malformed_tasks_are_skipped_and_counted():
    tasks = [
        {"taskId": "Take Snapshot", "status": "Completed"},
        "x",
        {"status": "Failed"},
        {"taskId": "Transfer data to vault"},
        {"taskId": 3, "status": "Completed"},
    ]
    job, errors = _parse(_raw({"extendedInfo": {"tasksList": tasks}}))
    assert job.tasks == (TaskState("Take Snapshot", "Completed"), TaskState("Transfer data to vault", "unknown"))
    assert errors == Counter({"tasksList": 4})


@pytest.mark.parametrize(
    ("extended", "size", "counted"),
    [
        ({"propertyBag": {"Backup Size": "2 GB", "Data Transferred (in MB)": "5"}}, 2 * 1024**3, {}),
        ({"propertyBag": {"Backup Size": "12.5"}}, 12.5 * MB, {}),
        ({"propertyBag": {"Data Transferred (in MB)": "7"}}, 7 * MB, {}),
        ({"propertyBag": {"Backup Size": "n/a", "Data Transferred (in MB)": 3}}, 3 * MB, {"Backup Size": 1}),
        ({"propertyBag": {"Backup Size": ""}, "dataTransferredInBytes": 4096}, 4096.0, {}),
        ({"dataTransferredInBytes": "4096"}, 4096.0, {}),
        ({"dataTransferredInBytes": -1}, None, {"dataTransferredInBytes": 1}),
        ({"propertyBag": ["Backup Size"]}, None, {"propertyBag": 1}),
        ({"propertyBag": {"VM Name": "vm1"}}, None, {}),
        ("details", None, {"extendedInfo": 1}),
    ],
)
def test_size_keys_are_tried_in_order(extended, size, counted):
    errors = Counter()
    assert job_size_bytes({"extendedInfo": extended}, errors) == size
    assert errors == Counter(counted)
    job, job_errors = _parse(_raw({"extendedInfo": extended}))
    assert job.size_bytes == size
    assert job_errors == Counter(counted)


def test_job_size_bytes_without_extended_info_is_none():
    errors = Counter()
    assert job_size_bytes({}, errors) is None
    assert errors == Counter()


def test_has_details_follows_extended_info():
    assert not _parse(_raw())[0].has_details
    assert _parse(_raw({"extendedInfo": {}}))[0].has_details
