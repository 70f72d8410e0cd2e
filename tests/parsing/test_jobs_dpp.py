"""Backup-vault jobs (Data Protection) parse into the same Jobs as Recovery Services ones: the
spec's samples, the live-traffic shape, the status / type / operation tables, and the errors
contract (never raises; each unreadable value counted under a fixed set of fields)."""

import json
import math
from collections import Counter
from datetime import UTC, datetime
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from exporter.model import Job, TaskState
from exporter.parsing.common import MAX_LABEL_CHARS
from exporter.parsing.dpp_jobs import management_type, normalise_status, parse_dpp_job
from tests.support import AZURE_FIXTURES

FIXTURES = AZURE_FIXTURES
PG = "AzureDatabaseForPostgreSQL"


def ts(*parts: int) -> float:
    """The instant to the tick (100 ns, Azure's 7 digits): the last part is ticks, not microseconds."""
    *whole, ticks = parts
    return float(Fraction(int(datetime(*whole, tzinfo=UTC).timestamp())) + Fraction(ticks, 10**7))


def sample_jobs(name):
    body = json.loads((FIXTURES / name).read_text(encoding="utf-8"))["responses"]["200"]["body"]
    return body.get("value", [body])


# (sample, index, expected Job). Times keep Azure's 7 fractional digits as far as a float allows.
SAMPLES = [
    ("dpp_ListJobs_2026-03-01.json", 0, Job(
        "8989416e-7573-4836-8cf1-0e90954f1002", "mabtestingccybasicv11\\bugbashdb4", PG, "Backup", "InProgress",
        start_time=ts(2021, 3, 16, 5, 0, 8, 1746833), duration_seconds=0.0)),
    ("dpp_ListJobs_2026-03-01.json", 1, Job(
        "ad218c05-242a-47c2-b7b7-c16bd0f8870c", "mabtestingccybasicv11\\bugbashdb5", PG, "Backup", "InProgress",
        start_time=ts(2021, 3, 16, 18, 0, 3, 6660733), duration_seconds=0.0)),
    ("dpp_ListJobs_2026-03-01.json", 2, Job(
        "3c60cb49-63e8-4b21-b9bd-26277b3fdfae", "mabtestingccybasicv11\\bugbashdb2", PG, "Backup", "InProgress",
        start_time=ts(2021, 3, 17, 3, 0, 3, 7604146), duration_seconds=0.0)),
    ("dpp_ListJobs_2026-03-01.json", 3, Job(
        "43252662-1b43-44fd-a856-0055665cb097", "mabtestingccybasicv11\\bugbashdb3", PG, "Backup", "Completed",
        start_time=ts(2021, 3, 17, 11, 11, 50, 5595259), end_time=ts(2021, 3, 17, 11, 14, 2, 5319646),
        duration_seconds=131.9724387)),
    ("dpp_GetJob_2026-06-01.json", 0, Job(
        "3c60cb49-63e8-4b21-b9bd-26277b3fdfae", "mabtestingccybasicv11\\bugbashdb2", PG, "Backup", "InProgress",
        start_time=ts(2021, 3, 17, 3, 0, 3, 7604146), duration_seconds=0.0,
        tasks=(TaskState("Trigger Backup", "InProgress"),), has_details=True)),
]


@pytest.mark.parametrize(("name", "index", "expected"), SAMPLES, ids=[f"{n}[{i}]" for n, i, _ in SAMPLES])
def test_every_sample_job_parses_into_the_expected_job(name, index, expected):
    errors = Counter()
    assert parse_dpp_job(sample_jobs(name)[index], errors) == expected
    assert errors == Counter()


def test_every_sample_is_covered_by_the_table():
    assert {(n, i) for n, i, _ in SAMPLES} == {
        (n, i) for n in {n for n, _, _ in SAMPLES} for i in range(len(sample_jobs(n)))
    }


def test_sample_list_is_oldest_first():
    # The fact the backup-vault poll is built on (exporter.azure.dataprotection).
    starts = [parse_dpp_job(raw, Counter()).start_time for raw in sample_jobs("dpp_ListJobs_2026-03-01.json")]
    assert starts == sorted(starts)


def live_failed_restore() -> dict:
    """A list item in the shape recorded live (azure-cli-extensions, 2025): null fields, inline
    errorDetails with nested details, `extendedInfo: null`, live status words."""
    return {
        "properties": {
            "activityID": "371e1cb6-0000-11ef-9651-000000000000", "backupInstanceFriendlyName": "stshop01",
            "dataSourceSetName": None, "sourceDataStoreType": "VaultStore", "destinationDataStoreName": None,
            "startTime": "2025-03-11T08:38:34.4024206Z", "endTime": "2025-03-11T08:51:18.4562499Z",
            "dataSourceType": "Microsoft.Storage/storageAccounts/blobServices", "operationCategory": "Restore",
            "operation": "Restore", "status": "Failed", "restoreType": None, "isUserTriggered": True,
            "supportedActions": [""], "duration": "00:12:44.0538293", "progressUrl": None,
            "errorDetails": [{
                "message": "Internal\n        Server Error",
                "recommendedAction": ["Refer https://aka.ms/AzureBackupTroubleshootFailures for more details."],
                "details": [{"message": "Inner", "code": "InnerCode", "isRetryable": False}],
                "code": "InternalServerError", "target": "", "innerError": None,
                "isRetryable": True, "isUserError": False, "properties": None,
            }],
            "extendedInfo": None,
        },
        "id": "/subscriptions/s/resourceGroups/rg/providers/Microsoft.DataProtection/backupVaults/v/backupJobs/1a32",
        "name": "1a32ea73-07e3-4099-b209-8c2ff43f888c",
        "type": "Microsoft.DataProtection/backupVaults/backupJobs",
    }


def test_live_shape_failed_restore():
    errors = Counter()
    job = parse_dpp_job(live_failed_restore(), errors)
    assert errors == Counter()
    assert (job.item, job.backup_management_type, job.operation, job.status) == (
        "stshop01", "AzureBlob", "Restore", "Failed")
    assert (job.error_code, job.error_title) == ("InternalServerError", "Internal Server Error")
    assert job.duration_seconds == 764.0538293
    assert job.finished
    assert not job.has_details  # extendedInfo: null in a list item


def test_details_give_size_in_bytes_and_tasks():
    raw = live_failed_restore()
    raw["properties"].update(status="Completed", errorDetails=None, operationCategory="Backup", operation="Backup",
                             extendedInfo={"additionalDetails": {"RetentionTag": "Default"},
                                           "dataTransferredInBytes": 4294967296.0,
                                           "subTasks": [{"taskId": 1, "taskName": "Trigger\n        Backup",
                                                         "taskStatus": "Completed", "taskProgress": None}]})
    errors = Counter()
    job = parse_dpp_job(raw, errors)
    assert errors == Counter()
    assert job.size_bytes == 4 * 1024**3
    assert job.tasks == (TaskState("Trigger Backup", "Completed"),)
    assert job.has_details
    assert job.succeeded
    assert job.error_code is None


@pytest.mark.parametrize(("azure", "exported"), [
    ("Started", "InProgress"),
    ("InProgress", "InProgress"),
    ("Succeeded", "Completed"),
    ("Success", "Completed"),
    ("Completed", "Completed"),
    ("completed", "Completed"),
    ("SucceededWithWarnings", "CompletedWithWarnings"),
    ("SuccessWithWarning", "CompletedWithWarnings"),
    ("CompletedWithWarnings", "CompletedWithWarnings"),
    ("Failed", "Failed"),
    ("Cancelled", "Cancelled"),
    ("Cancelling", "Cancelling"),
    ("Paused", "Paused"),
    ("SomethingNew", "SomethingNew"),
])
def test_status_table(azure, exported):
    assert normalise_status(azure) == exported


@pytest.mark.parametrize(("data_source_type", "management"), [
    ("Microsoft.Compute/disks", "AzureDisk"),
    ("Microsoft.Storage/storageAccounts/blobServices", "AzureBlob"),
    ("microsoft.storage/storageaccounts/blobservices", "AzureBlob"),
    ("Microsoft.DBforPostgreSQL/servers/databases", "AzureDatabaseForPostgreSQL"),
    ("Microsoft.DBforPostgreSQL/flexibleServers", "AzureDatabaseForPostgreSQLFlexibleServer"),
    ("Microsoft.ContainerService/managedClusters", "AzureKubernetesService"),
    ("Microsoft.Storage/storageAccounts/adlsBlobServices", "adlsBlobServices"),
    ("Microsoft.DBforMySQL/flexibleServers", "flexibleServers"),
    ("SomethingWithoutSlash", "SomethingWithoutSlash"),
])
def test_management_type_table(data_source_type, management):
    assert management_type(data_source_type) == management


@pytest.mark.parametrize(("category", "operation", "exported"), [
    ("Backup", "Backup", "Backup"),
    ("Restore", "Restore", "Restore"),
    ("Backup", "backup", "Backup"),
    ("Backup", "Full", "Backup (Full)"),
    ("Tiering", "Backup", "Tiering (Backup)"),  # not a backup: the freshness alerts match Backup.*
    ("Management", "ConfigureProtection", "Management (ConfigureProtection)"),
    (None, "Backup", "Backup"),
    ("Restore", None, "Restore"),
])
def test_operation_category_wins_and_operation_adds_detail(category, operation, exported):
    raw = live_failed_restore()
    raw["properties"].update(operationCategory=category, operation=operation)
    errors = Counter()
    assert parse_dpp_job(raw, errors).operation == exported
    assert errors == Counter()


@pytest.mark.parametrize(("change", "field"), [
    ({"backupInstanceFriendlyName": None}, "backupInstanceFriendlyName"),
    ({"dataSourceType": 7}, "dataSourceType"),
    ({"status": ""}, "status"),
    ({"operationCategory": None, "operation": None}, "operationCategory"),
    ({"operation": ["Backup"]}, "operation"),
    ({"startTime": "yesterday"}, "startTime"),
    ({"endTime": 5}, "endTime"),
    ({"errorDetails": "boom"}, "errorDetails"),
    ({"errorDetails": [{"code": 42, "message": "x"}]}, "errorDetails"),
    ({"extendedInfo": []}, "extendedInfo"),
    ({"extendedInfo": {"dataTransferredInBytes": "lots"}}, "dataTransferredInBytes"),
    ({"extendedInfo": {"subTasks": {"taskName": "x"}}}, "subTasks"),
    ({"extendedInfo": {"subTasks": [{"taskStatus": "Completed"}]}}, "subTasks"),
])
def test_unreadable_values_are_counted_and_the_job_kept(change, field):
    raw = live_failed_restore()
    raw["properties"].update(change)
    errors = Counter()
    job = parse_dpp_job(raw, errors)
    assert job is not None
    assert errors == Counter({field: 1})


def test_unusable_duration_falls_back_to_end_minus_start():
    raw = live_failed_restore()
    raw["properties"]["duration"] = "soon"
    errors = Counter()
    assert parse_dpp_job(raw, errors).duration_seconds == pytest.approx(764.053825)
    assert errors == Counter({"duration": 1})


def test_job_without_an_id_is_dropped_and_counted():
    errors = Counter()
    assert parse_dpp_job({"properties": {}}, errors) is None
    assert parse_dpp_job("not a job", errors) is None  # type: ignore[arg-type]
    assert errors == Counter({"id": 1, "job": 1})
    assert parse_dpp_job({"id": "/x/backupJobs/abc", "properties": {}}, Counter()).job_id == "abc"


ERROR_FIELDS = {
    "job", "id", "name", "properties", "backupInstanceFriendlyName", "dataSourceType", "operationCategory",
    "operation", "status", "startTime", "endTime", "duration", "errorDetails", "extendedInfo",
    "dataTransferredInBytes", "subTasks",
}
_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=20,
)
_keys = st.sampled_from([
    "backupInstanceFriendlyName", "dataSourceType", "operationCategory", "operation", "status", "startTime",
    "endTime", "duration", "errorDetails", "extendedInfo",
])


@settings(max_examples=120, deadline=None)
@given(st.one_of(_json, st.fixed_dictionaries(
    {"name": st.text(max_size=8) | st.none(), "properties": st.dictionaries(_keys, _json, max_size=8) | _json},
)))
def test_never_raises_and_counts_only_known_fields(raw):
    errors = Counter()
    job = parse_dpp_job(raw, errors)
    assert set(errors) <= ERROR_FIELDS
    if job is not None:
        assert all((job.item, job.status, job.operation, job.backup_management_type))
        for value in (job.start_time, job.end_time, job.duration_seconds, job.size_bytes):
            assert value is None or math.isfinite(value)
        for label in (job.error_code, job.error_title):
            assert label is None or 0 < len(label) <= MAX_LABEL_CHARS
