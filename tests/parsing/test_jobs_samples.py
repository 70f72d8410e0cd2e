"""Real Azure job bodies (tests/fixtures/azure, copied verbatim from the shared samples) parse
into the Jobs the metrics expect."""

import json
from collections import Counter

import pytest

from exporter.model import Job, TaskState
from exporter.parsing.jobs import parse_job
from tests.support import AZURE_FIXTURES

FIXTURES = AZURE_FIXTURES
MB = 1024**2


def _jobs(name):
    """The job objects in a sample, whatever envelope it comes in."""
    document = json.loads((FIXTURES / name).read_text(encoding="utf-8"))
    if "responses" in document:  # REST API specification example
        body = document["responses"]["200"]["body"]
    elif "response" in document:  # Azure CLI recording
        body = document["response"]
    else:  # a body printed in the docs, annotated with _source
        body = {key: value for key, value in document.items() if not key.startswith("_")}
    return body.get("value", [body])


def _parse_one(name):
    errors = Counter()
    (raw,) = _jobs(name)
    job = parse_job(raw, errors)
    assert errors == Counter()
    assert job is not None
    return job


# Named, not globbed: the folder also holds vault, subscription and Resource Graph samples.
RECOVERY_SERVICES_SAMPLES = [
    "azcli_recording_GET_job_completed_backup_with_BackupSize.json",
    "azcli_recording_GET_job_inprogress_backup.json",
    "azcli_recording_LIST_jobs_no_filter.json",
    "rsv_GetJobDetails_2025-08-01.json",
    "rsv_ListJobsWithAllSupportedFilters_2025-08-01.json",
    "rsv_ListJobsWithStartTimeAndEndTimeFilters_2025-08-01.json",
    "rsv_ListJobs_2026-02-01.json",
    "rsv_docs_managejobs_real_response_TimeSpan_duration.json",
    "rsv_docs_sqlvm_failed_workload_job.json",
]
DATA_PROTECTION_SAMPLES = ["dpp_GetJob_2026-06-01.json", "dpp_ListJobs_2026-03-01.json"]


@pytest.mark.parametrize("name", RECOVERY_SERVICES_SAMPLES)
def test_every_recovery_services_job_parses_without_errors(name):
    errors = Counter()
    jobs = [parse_job(raw, errors) for raw in _jobs(name)]
    assert jobs
    assert errors == Counter()
    for job in jobs:
        assert isinstance(job, Job)
        assert job.item != "unknown"
        assert job.status != "unknown"
        assert job.start_time is not None
        assert job.duration_seconds is not None
        assert job.finished == (job.end_time is not None)


@pytest.mark.parametrize("name", RECOVERY_SERVICES_SAMPLES)
def test_only_single_job_gets_have_details(name):
    errors = Counter()
    for raw in _jobs(name):
        job = parse_job(raw, errors)
        assert job.has_details == ("extendedInfo" in raw["properties"])
        if not job.has_details:
            assert job.size_bytes is None
            assert job.tasks == ()


def test_azcli_completed_job_has_size_and_tasks():
    job = _parse_one("azcli_recording_GET_job_completed_backup_with_BackupSize.json")
    assert job == Job(
        job_id="c3068609-5c66-4a08-acd4-b22dcf7b157f",
        item="clitest-vm000003",
        backup_management_type="AzureIaasVM",
        operation="Backup",
        status="Completed",
        start_time=1652436567.2801342,
        end_time=1652439045.207162,
        duration_seconds=2477.9270278,
        size_bytes=11370 * MB,
        tasks=(TaskState("Take Snapshot", "Completed"), TaskState("Transfer data to vault", "Completed")),
        has_details=True,
    )
    assert job.finished
    assert job.succeeded


def test_azcli_in_progress_job_has_no_size_yet():
    job = _parse_one("azcli_recording_GET_job_inprogress_backup.json")
    assert job.status == "InProgress"
    assert job.end_time is None
    assert job.duration_seconds == 2214.7674093
    assert job.size_bytes is None
    assert job.tasks == (
        TaskState("Take Snapshot", "Completed"),
        TaskState("Transfer data to vault", "InProgress"),
    )
    assert not job.finished


def test_azcli_list_page_items_carry_no_details():
    errors = Counter()
    jobs = [parse_job(raw, errors) for raw in _jobs("azcli_recording_LIST_jobs_no_filter.json")]
    assert [(j.operation, j.status, j.duration_seconds, j.has_details) for j in jobs] == [
        ("Restore", "InProgress", 3.6132661, False),
        ("Backup", "Completed", 2477.9270278, False),
        ("ConfigureBackup", "Completed", 91.7816139, False),
    ]
    assert [j.job_id for j in jobs] == [
        "1272e714-b655-44b7-9c8e-dde07d320bbc",
        "c3068609-5c66-4a08-acd4-b22dcf7b157f",
        "358ef65f-3eb5-4e01-8678-4034e514c26c",
    ]
    assert jobs[0].end_time is None
    assert jobs[2].end_time == 1652436562.3836004  # 7 digits, as far as a float allows


def test_docs_timespan_job():
    job = _parse_one("rsv_docs_managejobs_real_response_TimeSpan_duration.json")
    assert job.job_id == "7ddead57-bcb9-4269-ac31-6a1b57588700"
    assert job.item == "uttestvmub1"
    assert job.duration_seconds == 1223.0896697
    assert job.size_bytes == 2332 * MB
    assert job.start_time == 1526891740.9488967
    assert job.tasks == (
        TaskState("Take Snapshot", "Completed"),
        TaskState("Transfer data to vault", "Completed"),
    )


def test_docs_sql_workload_failed_job():
    job = _parse_one("rsv_docs_sqlvm_failed_workload_job.json")
    assert job.item == "MSSQLSERVER/msDB [sqlserver-0.contoso.com]"
    assert job.backup_management_type == "AzureWorkload"
    assert job.operation == "Backup (Full)"
    assert job.status == "Failed"
    assert job.error_code == "510008"
    assert job.error_title == "OperationCancelledBecauseConflictingOperationRunningUserError"
    assert job.duration_seconds == 193.6439467
    size = job.size_bytes
    assert size == 0.0
    assert isinstance(size, float)
    assert job.tasks == (TaskState("Transfer data to vault", "Failed"),)
    assert job.finished
    assert not job.succeeded


def test_spec_in_progress_job_details():
    job = _parse_one("rsv_GetJobDetails_2025-08-01.json")
    assert job.status == "InProgress"
    assert job.progress_ratio is None
    assert job.end_time is None
    assert job.size_bytes is None
    assert job.duration_seconds == 9.8782791
    assert job.start_time == 1501738267.014604
    assert job.tasks == (
        TaskState("Take Snapshot", "InProgress"),
        TaskState("Transfer data to vault", "NotStarted"),
    )
    assert job.has_details
    assert not job.finished


def test_spec_list_with_time_filter():
    errors = Counter()
    jobs = [parse_job(raw, errors) for raw in _jobs("rsv_ListJobsWithStartTimeAndEndTimeFilters_2025-08-01.json")]
    assert [(j.operation, j.status, j.duration_seconds) for j in jobs] == [
        ("Backup", "InProgress", 12.4272909),
        ("ConfigureBackup", "Completed", 31.3066291),
    ]


@pytest.mark.parametrize("name", DATA_PROTECTION_SAMPLES)
def test_data_protection_jobs_do_not_crash(name):
    # DataProtection jobs get their own parser later; here they must only pass through safely.
    errors = Counter()
    for raw in _jobs(name):
        job = parse_job(raw, errors)
        assert job is not None
        assert job.job_id == raw["name"]
        assert job.status == raw["properties"]["status"]  # "Started", "Succeeded": verbatim
        assert job.item == "unknown"  # no entityFriendlyName in DataProtection jobs
    assert errors["entityFriendlyName"] == len(_jobs(name))
