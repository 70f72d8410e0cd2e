"""What backup-vault jobs look like on the wire (the Data Protection API's AzureBackupJob).

List items as recorded live (azure-cli-extensions `test_dataprotection_job_list_and_show`,
api-version 2024-04-01, tests/fixtures/azure/dpp_azcli_recording_job_list_and_show_2024-04-01.json):
every property present, an `etag`, `extendedInfo: null`, `errorDetails` inline for a failed job,
TimeSpan durations. The single-job GET of the same recording prints its duration in ISO 8601 and
adds `extendedInfo`: `targetRecoverPoint` an object, and for a disk `dataTransferredInBytes: null`
with the disk's size in `subTasks[].additionalDetails.OriginalDatasourceSizeInBytes`.
Statuses: odd vaults print the spec examples' words (Started, Succeeded), even ones the live
traffic's (InProgress, Completed), so both vocabularies reach the exporter.
"""

from __future__ import annotations

from typing import Any

from exporter.simulator.formats import format_time, iso_duration, timespan_duration
from exporter.simulator.resources import BackupInstance, BackupVault
from exporter.simulator.schedule import TICKS_PER_SECOND, JobFacts, JobKind

JOB_TYPE = "Microsoft.DataProtection/backupVaults/backupJobs"
_SPEC_WORDS = {"InProgress": "Started", "Completed": "Succeeded"}
# `code` InternalServerError and its texts are verbatim from the recorded failed restore; the
# UserError codes are from the Azure Backup troubleshooting docs, their texts illustrative.
_ERRORS = (
    ("UserErrorMissingRequiredPermissions", "Appropriate permissions to perform the operation is missing."),
    ("UserErrorMaxConcurrentOperationLimitReached",
     "Unable to start the operation as the maximum number of allowed concurrent backups has been reached."),
    ("InternalServerError", "Internal Server Error"),
)


def list_item(vault: BackupVault, instance: BackupInstance, facts: JobFacts) -> dict[str, Any]:
    """A job as `GET …/backupJobs` lists it."""
    backup = facts.kind is JobKind.BACKUP
    category = "Backup" if backup else "Restore"
    status = _SPEC_WORDS.get(facts.status, facts.status) if vault.spec_words else facts.status
    properties: dict[str, Any] = {
        "activityID": facts.activity_id,
        "subscriptionId": vault.subscription_id,
        "backupInstanceId": f"{vault.resource_id}/backupInstances/{instance.data_source_name}-{instance.position:04d}",
        "policyId": f"{vault.resource_id}/backupPolicies/{instance.policy}",
        "dataSourceId": instance.data_source_id,
        "vaultName": vault.name,
        "backupInstanceFriendlyName": instance.name,
        "policyName": instance.policy,
        "sourceResourceGroup": instance.data_source_id.split("/")[4],  # /subscriptions/{s}/resourceGroups/{rg}
        "dataSourceSetName": instance.data_source_set,
        "dataSourceName": instance.data_source_name,
        "sourceDataStoreName": None,
        "sourceDataStoreType": None if backup else instance.datastore,
        "destinationDataStoreName": instance.datastore if backup else None,
        "progressEnabled": False,
        "etag": _etag(facts),
        "sourceSubscriptionID": vault.subscription_id,
        "dataSourceLocation": vault.location,
        "startTime": format_time(facts.start),
    }
    if facts.finished:
        properties["endTime"] = format_time(facts.end)
    properties.update({
        "dataSourceType": instance.data_source_type,
        "operationCategory": category,
        "operation": category,
        "status": status,
        "restoreType": None,
        "isUserTriggered": not backup,
        "rehydrationPriority": None,
        "supportedActions": [] if backup else [""],
        "duration": timespan_duration(facts.elapsed),
        "progressUrl": None,
        "isCrossRegionRestore": None,
        "errorDetails": [_error(facts)] if facts.status == "Failed" else None,
        "extendedInfo": None,
    })
    return {"properties": properties, "id": f"{vault.resource_id}/backupJobs/{facts.job_id}",
            "name": facts.job_id, "type": JOB_TYPE}


def details(vault: BackupVault, instance: BackupInstance, facts: JobFacts) -> dict[str, Any]:
    """A job as `GET …/backupJobs/{id}` returns it: the list item plus extendedInfo."""
    body = list_item(vault, instance, facts)
    body["properties"]["duration"] = iso_duration(facts.elapsed)
    backup = facts.kind is JobKind.BACKUP
    succeeded = backup and facts.status in ("Completed", "CompletedWithWarnings")
    transferred = None
    if succeeded and instance.size_bytes is not None:
        transferred = float(int(instance.size_bytes * facts.size_fraction))
    task_status = "Started" if not facts.finished else {"CompletedWithWarnings": "Completed"}.get(
        facts.status, facts.status)
    task_details = {"TaskId": facts.activity_id, "DatasourceType": instance.data_source_type}
    if succeeded and instance.source_size_bytes is not None:
        task_details = {"OriginalDatasourceSizeInBytes": str(instance.source_size_bytes), **task_details}
    # The recorded recovery point has a real id and .NET's "no time" (DateTime.MinValue).
    target = {"recoveryPointID": facts.activity_id.replace("-", ""), "recoveryPointTime": "0001-01-01T00:00:00Z"}
    body["properties"]["extendedInfo"] = {
        "additionalDetails": {"RetentionTag": "Default"} if backup else {},
        "dataTransferredInBytes": transferred,
        "recoveryDestination": None,
        "backupInstanceState": None,
        "sourceRecoverPoint": None,
        "targetRecoverPoint": target if succeeded else None,
        "warningDetails": None,
        "subTasks": [{
            "additionalDetails": task_details,
            "taskId": 1,
            "taskName": "Trigger Backup" if backup else "Trigger Restore",
            "taskProgress": None,
            "taskStatus": task_status,
        }],
    }
    return body


def _etag(facts: JobFacts) -> str:
    # Recorded: W/"datetime'2025-02-25T12%3A03%3A50.1966422Z'" - the job's last change, a moment
    # after its end (or its start while it runs), with the colons escaped.
    changed = facts.end + TICKS_PER_SECOND // 3 if facts.finished else facts.start
    return "W/\"datetime'" + format_time(changed).replace(":", "%3A") + "'\""


def _error(facts: JobFacts) -> dict[str, Any]:
    code, message = _ERRORS[facts.error_pick % len(_ERRORS)]
    return {
        "message": message,
        "recommendedAction": ["Refer https://aka.ms/AzureBackupTroubleshootFailures for more details."],
        "details": None,
        "code": code,
        "target": "",
        "innerError": None,
        "isRetryable": not code.startswith("UserError"),
        "isUserError": code.startswith("UserError"),
        "properties": None,
    }
