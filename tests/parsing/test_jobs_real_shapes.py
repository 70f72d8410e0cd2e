"""What real bodies reveal in the job parsers: file-share errors without a title, a disk backup that
transfers nothing, 7-digit fractions of a second. Bodies are shaped field for field as recorded
(tests/fixtures/azure/, each with its `_source`) or as the official SDK model of their job type has
them (AzureStorageErrorInfo: errorCode, errorString, recommendations - no errorTitle).
"""

from __future__ import annotations

import copy
import json
from collections import Counter
from fractions import Fraction
from typing import Any

import pytest

from exporter.parsing.common import MAX_LABEL_CHARS
from exporter.parsing.dpp_jobs import parse_dpp_job
from exporter.parsing.jobs import parse_job
from exporter.parsing.values import parse_time
from tests.support import AZURE_FIXTURES

FIXTURES = AZURE_FIXTURES


def _fixture(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((FIXTURES / name).read_text())
    return loaded


def _file_share_job(error_details: list[dict[str, Any]]) -> dict[str, Any]:
    # An AzureStorageJob as `az backup job list` shows one (MicrosoftDocs azure-docs,
    # articles/backup/manage-afs-backup-cli.md), failed, with its details as the GET returns them.
    return {
        "id": "/Subscriptions/ef4ab5a7-c2c0-4304-af80-af49f48af3d1/resourceGroups/azurefiles/providers/"
        "Microsoft.RecoveryServices/vaults/azurefilesvault/backupJobs/d477dfb6-b292-4f24-bb43-6b14e9d06ab5",
        "name": "d477dfb6-b292-4f24-bb43-6b14e9d06ab5",
        "type": "Microsoft.RecoveryServices/vaults/backupJobs",
        "properties": {
            "jobType": "AzureStorageJob",
            "duration": "PT29.718011S",
            "storageAccountName": "afsaccount",
            "storageAccountVersion": "MicrosoftStorage",
            "entityFriendlyName": "azurefiles",
            "backupManagementType": "AzureStorage",
            "operation": "Backup",
            "status": "Failed",
            "startTime": "2020-01-13T08:04:59.462595Z",
            "endTime": "2020-01-13T08:05:29.180606Z",
            "activityId": "3cef43ed-0af4-43e2-b9cb-1322c496ccb4",
            "errorDetails": error_details,
            "extendedInfo": {"tasksList": [{"taskId": "Take Snapshot", "status": "Failed"}], "propertyBag": {}},
        },
    }


@pytest.mark.parametrize(
    ("error", "code", "title"),
    [
        # No errorTitle (the model has none): the code is the title, never the prose.
        (
            {"errorCode": 380001, "errorString": "The storage account of the file share could not be reached.",
             "recommendations": ["Check the storage account firewall allows trusted Microsoft services."]},
            "380001",
            "380001",
        ),
        # Without a code either: the first clause of the message, not the sentence.
        (
            {"errorString": "Storage endpoint is unreachable. Check that the account's firewall allows it.",
             "recommendations": []},
            None,
            "Storage endpoint is unreachable",
        ),
        (
            {"errorString": "The file share was deleted, so the backup could not run", "recommendations": []},
            None,
            "The file share was deleted",
        ),
        ({"errorCode": 380002, "errorString": "", "recommendations": []}, "380002", "380002"),
    ],
)
def test_a_file_share_error_without_title_gets_a_short_one(error, code, title):
    errors: Counter[str] = Counter()
    job = parse_job(_file_share_job([error]), errors)
    assert job is not None
    assert (job.error_code, job.error_title) == (code, title)
    assert errors == Counter()


def test_titles_that_azure_sends_are_kept():
    # The failed SQL job of Microsoft's REST docs: errorTitle present, as AzureWorkloadErrorInfo has it.
    errors: Counter[str] = Counter()
    job = parse_job(_wire(_fixture("rsv_docs_sqlvm_failed_workload_job.json")), errors)
    assert job is not None
    assert job.error_code == "510008"
    assert job.error_title == "OperationCancelledBecauseConflictingOperationRunningUserError"


def test_a_long_clause_is_cut_to_the_label_limit():
    job = parse_job(_file_share_job([{"errorString": "x" * 1000}]), Counter())
    assert job is not None
    assert job.error_title == "x" * MAX_LABEL_CHARS


def _wire(document: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in document.items() if not key.startswith("_")}


# --- a disk backup: dataTransferredInBytes null, the disk's size in the sub-task ----------------

RECORDED = _fixture("dpp_azcli_recording_job_list_and_show_2024-04-01.json")


def _show(**extended: Any) -> dict[str, Any]:
    body = copy.deepcopy(RECORDED["show"])
    body["properties"]["extendedInfo"].update(extended)
    return body


def _task_details(**details: Any) -> list[dict[str, Any]]:
    task = copy.deepcopy(RECORDED["show"]["properties"]["extendedInfo"]["subTasks"][0])
    task["additionalDetails"] = details
    return [task]


@pytest.mark.parametrize(
    ("body", "size", "counted"),
    [
        (RECORDED["show"], 4294967296.0, {}),  # as recorded: the 4 GiB disk
        (_show(dataTransferredInBytes=1048576.0), 1048576.0, {}),  # a transfer, when reported, wins
        (_show(subTasks=_task_details(TaskId="t")), None, {}),  # no size anywhere
        (_show(subTasks=_task_details(OriginalDatasourceSizeInBytes="four GiB")), None,
         {"OriginalDatasourceSizeInBytes": 1}),
        (_show(subTasks="nonsense"), None, {"subTasks": 1}),
        (RECORDED["list_item"], None, {}),  # lists carry no extendedInfo
    ],
)
def test_a_disk_backup_reports_the_disks_size(body, size, counted):
    errors: Counter[str] = Counter()
    job = parse_dpp_job(body, errors)
    assert job is not None
    assert job.size_bytes == size
    assert errors == Counter(counted)


# --- 7-digit fractions ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "2022-05-13T10:09:27.2801342Z",  # azcli_recording_GET_job_*: startTime
        "2025-02-25T12:03:49.8317537Z",  # dpp_azcli_recording_*: endTime
        "2018-05-21T08:56:04.0385664Z",  # rsv_docs_managejobs_*: endTime
        "2022-05-13T10:50:45.207162Z",  # six digits, as Azure drops trailing zeros
        "2017-08-03T05:31:07.014604Z",
        "2022-05-13T10:09:27.9999999Z",
        "2022-05-13T12:09:27.2801342+02:00",
    ],
)
def test_times_keep_their_fraction_as_far_as_a_float_allows(text):
    whole, _, rest = text.partition(".")
    digits = rest.rstrip("Z").split("+")[0]
    offset = 2 * 3600 if "+02:00" in text else 0
    base = parse_time(whole + ("+02:00" if offset else "Z"))
    assert base is not None
    exact = Fraction(int(base)) + Fraction(int(digits), 10 ** len(digits))
    assert parse_time(text) == float(exact)  # the nearest float to the exact instant


def test_the_seventh_digit_changes_the_value():
    assert parse_time("2022-05-13T10:09:27.2801342Z") != parse_time("2022-05-13T10:09:27.2801345Z")
    assert parse_time("2022-05-13T10:09:27.2801342Z") == 1652436567.2801342
