"""The typed decoding of job list pages gives exactly what json.loads + parse_job give: same jobs,
same error counts, same nextLink; a page out of shape is refused (and then decoded generically)."""

import json
from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from exporter.model import Job
from exporter.parsing.job_pages import decode_job_page, parse_listed_job
from exporter.parsing.jobs import parse_job
from tests.parsing.test_jobs_fuzz import _json, _plausible
from tests.support import AZURE_FIXTURES


def _reference(body: bytes) -> tuple[list[Job | None], Counter[str], object]:
    page = json.loads(body)
    errors: Counter[str] = Counter()
    return [parse_job(raw, errors) for raw in page["value"]], errors, page.get("nextLink")


def _typed(body: bytes) -> tuple[list[Job | None], Counter[str], object] | None:
    decoded = decode_job_page(body)
    if decoded is None:
        return None
    items, link = decoded
    errors: Counter[str] = Counter()
    return [parse_listed_job(raw, errors) for raw in items], errors, link


def _same(page: dict) -> bool:
    """Asserts the typed path matches the reference; whether it took the page at all."""
    body = json.dumps(page).encode()
    typed = _typed(body)
    if typed is None:
        return False
    jobs, errors, link = typed
    expected_jobs, expected_errors, expected_link = _reference(body)
    assert jobs == expected_jobs
    assert [type(job) for job in jobs] == [type(job) for job in expected_jobs]
    assert errors == expected_errors
    assert link == expected_link
    return True


@settings(max_examples=300)
@given(st.lists(_plausible, max_size=5), st.none() | st.text(max_size=10))
def test_generated_pages_read_the_same_either_way(jobs: list, link: str | None) -> None:
    _same({"value": jobs, "nextLink": link})


@settings(max_examples=100)
@given(st.lists(_json, max_size=3))
def test_pages_of_any_json_read_the_same_or_are_refused(jobs: list) -> None:
    _same({"value": jobs})


def test_well_formed_jobs_take_the_typed_path() -> None:
    job = {
        "name": "a1",
        "properties": {
            "entityFriendlyName": "vm1", "backupManagementType": "AzureIaasVM", "operation": "Backup",
            "status": "Failed", "startTime": "2022-05-13T10:09:27.2801342Z", "endTime": "2022-05-13T10:50:45.2071620Z",
            "duration": "PT41M17.9270278S", "jobType": "AzureIaaSVMJob",
            "errorDetails": [{"errorCode": 400002, "errorTitle": "UserErrorVmNotFound"}],
        },
    }
    assert _same({"value": [job, {**job, "name": "a2", "properties": {**job["properties"], "extendedInfo": None}}]})
    items, link = decode_job_page(json.dumps({"value": [job], "nextLink": "https://x/next"}).encode()) or ([], None)
    assert link == "https://x/next"
    parsed = parse_listed_job(items[0], Counter())
    assert parsed is not None
    assert (parsed.error_code, parsed.error_title) == ("400002", "UserErrorVmNotFound")
    assert parsed.duration_seconds == 2477.9270278


def test_labels_of_listed_jobs_are_one_string_each() -> None:
    # Each page decodes its labels anew; the jobs share one string per label, so a poll's 100,000
    # jobs do not each hold their own copies (bench/RESULTS.md, memory).
    def listed(name: str) -> Job:
        props = {"entityFriendlyName": "vm-shared", "backupManagementType": "AzureIaasVM", "operation": "Backup",
                 "status": "Completed", "startTime": "2022-05-13T10:09:27.2801342Z"}
        decoded = decode_job_page(json.dumps({"value": [{"name": name, "properties": props}]}).encode())
        assert decoded is not None
        job = parse_listed_job(decoded[0][0], Counter())
        assert job is not None
        return job

    first, second = listed("a1"), listed("a2")
    assert first.item == "vm-shared"
    for field in ("item", "backup_management_type", "operation", "status"):
        assert getattr(first, field) is getattr(second, field), field


@pytest.mark.parametrize(
    "body",
    [
        b'{"nextLink": null}',  # no value list
        b'{"value": [1]}',  # a job that is not an object
        b'{"value": [{"name": "a", "properties": "x"}]}',  # properties that are not an object
        b'{"value": [], "nextLink": 3}',  # a nextLink that is not a string
        b'{"value": [{"name": 1e999}]}',  # a number msgspec cannot hold (json reads it as inf)
        b'{"value": [{"name": NaN}]}',  # not JSON, but what json reads
        b"not json",
    ],
)
def test_pages_out_of_shape_are_refused(body: bytes) -> None:
    assert decode_job_page(body) is None


# Azure's own job list pages (REST reference examples and a recording; tests/fixtures/azure/README.md).
_LIST_PAGES = {
    "rsv_ListJobs_2026-02-01.json": lambda d: d["responses"]["200"]["body"],
    "rsv_ListJobsWithAllSupportedFilters_2025-08-01.json": lambda d: d["responses"]["200"]["body"],
    "rsv_ListJobsWithStartTimeAndEndTimeFilters_2025-08-01.json": lambda d: d["responses"]["200"]["body"],
    "rsv_ListCrrJobs_Post_2021-11-15.json": lambda d: d["responses"]["200"]["body"],
    "azcli_recording_LIST_jobs_no_filter.json": lambda d: d["response"],
}


@pytest.mark.parametrize("name", sorted(_LIST_PAGES))
def test_azure_example_pages_read_the_same(name: str) -> None:
    page = _LIST_PAGES[name](json.loads((AZURE_FIXTURES / name).read_text()))
    assert page["value"]
    assert _same(page)
