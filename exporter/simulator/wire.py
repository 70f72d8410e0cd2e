"""What the simulated resources look like on the wire: ARM JSON shapes of subscriptions, vaults, jobs.

The shapes follow the bodies in the shared azure-samples: list items carry no `extendedInfo`
(azcli_recording_LIST_jobs_no_filter), the single-job GET adds `extendedInfo` and, for failures,
`errorDetails` (rsv_docs_sqlvm_failed_workload_job). Each job type carries exactly the fields of
its model in the official SDK (tests/simulator/test_simulator_fidelity.py proves it): `containerName` only
on VM jobs, `isUserTriggered` on VM and file-share jobs, never on workload jobs.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NamedTuple

from exporter.simulator.details import add_details
from exporter.simulator.formats import format_time, iso_duration, timespan_duration
from exporter.simulator.resources import FILE_SHARE, SQL, VM, ProtectedItem, Subscription, Vault
from exporter.simulator.schedule import JobFacts, JobKind, job_id

JOB_RESOURCE_TYPE = "Microsoft.RecoveryServices/vaults/backupJobs"
# The api-version the exporter asks for by default; bodies built without a request use it.
CURRENT_API_VERSION = "2025-08-01"
# .NET TimeSpan durations only at old api-versions: the docs' responses of 2018 were asked for at
# 2016-12-01 and 2017-07-01 (rsv_docs_*); the 2022-02-01 CLI recording and every later example
# print ISO 8601.
_ISO_DURATIONS_FROM = "2019-01-01"
# The 2022-02-01 CLI recording has `actionsInfo: [1]` (an enum's number, where the SDK expects its
# name) and no `isUserTriggered`; today's SDK models the reverse, and no later example carries
# actionsInfo.
_NO_ACTIONS_INFO_FROM = "2023-01-01"


@dataclass(frozen=True, slots=True)
class Dialect:
    """What the requested api-version changes in a job body."""

    timespan: bool  # durations as .NET TimeSpan (`00:20:23.0896697`) rather than ISO 8601
    actions_info: bool  # `actionsInfo: [1]` on jobs other than ConfigureBackup, no `isUserTriggered`

    @staticmethod
    def of(api_version: str | None) -> Dialect:
        version = api_version or CURRENT_API_VERSION  # "2025-08-01[-preview]" orders as text
        return Dialect(version < _ISO_DURATIONS_FROM, version < _NO_ACTIONS_INFO_FROM)


CURRENT = Dialect.of(CURRENT_API_VERSION)


def arm_error(code: str, message: str) -> dict[str, Any]:
    return {"error": {"code": code, "message": message}}


def subscription_body(subscription: Subscription) -> dict[str, Any]:
    return {
        "id": f"/subscriptions/{subscription.subscription_id}",
        "subscriptionId": subscription.subscription_id,
        "tenantId": subscription.tenant_id,
        "displayName": subscription.display_name,
        "state": "Enabled",
        "subscriptionPolicies": {
            "locationPlacementId": "Public_2014-09-01",
            "quotaId": "EnterpriseAgreement_2014-09-01",
            "spendingLimit": "Off",
        },
        "authorizationSource": "RoleBased",
        "managedByTenants": [],
        "tags": {"env": subscription.environment},
    }


def vault_body(vault: Vault) -> dict[str, Any]:
    return {
        "location": vault.location,
        "name": vault.name,
        "etag": "W/\"datetime'2025-11-22T11%3A05%3A19.907Z'\"",
        "tags": dict(vault.tags),
        "properties": {"provisioningState": "Succeeded"},
        "id": vault.resource_id,
        "type": "Microsoft.RecoveryServices/vaults",
        "sku": {"name": "Standard"},
    }


def _json_members(members: dict[str, Any]) -> str:
    """`"a":1,"b":"x",` - members of a JSON object, escaped, ready to splice into one."""
    return json.dumps(members, separators=(",", ":"))[1:-1] + ","


class _Template(NamedTuple):
    """The constant part of every listed job of one (vault, item, kind), pre-escaped."""

    id_prefix: str  # resource id up to the job id's last 12 digits
    name_prefix: str  # job id up to its last 12 digits
    head: str  # "type" and the properties before "duration"
    tail: str  # the properties between "duration" and "status"
    duration: Callable[[int], str]  # the api-version's duration format


class JobRenderer:
    """Renders jobs as the Recovery Services API prints them.

    List items are produced as JSON text from a template per (vault, item, kind): building a
    dict and json.dumps-ing it costs several times more per job, and pages of listed jobs are
    the hot path of every benchmark. The dict form is parsed back from that text, so the two
    cannot disagree."""

    _MAX_TEMPLATES = 60_000  # ~40 MB at most; an estate of 10,000 items needs ~25,000

    def __init__(self) -> None:
        self._templates: dict[tuple[int, int, int, Dialect], _Template] = {}

    def _template(self, vault: Vault, item: ProtectedItem, kind: JobKind, dialect: Dialect) -> _Template:
        if len(self._templates) >= self._MAX_TEMPLATES:
            self._templates.clear()
        head: dict[str, Any] = {"jobType": item.job_type}
        if item.workload == SQL:
            head["workloadType"] = "SQLDataBase"
        if dialect.actions_info and kind is not JobKind.CONFIGURE:  # the recorded ConfigureBackup has none
            head["actionsInfo"] = [1]
        if item.workload == VM:  # AzureIaaSVMJob is the only job model with a containerName
            head["containerName"] = item.container_name
        tail: dict[str, Any] = {}
        if item.workload == VM:
            tail["virtualMachineVersion"] = "ClassicCompute" if item.classic else "Compute"
        elif item.workload == FILE_SHARE:
            # Values as `az backup job list` prints them (MicrosoftDocs manage-afs-backup-cli.md).
            tail["storageAccountName"] = item.storage_account
            tail["storageAccountVersion"] = "MicrosoftStorage"
        tail["entityFriendlyName"] = item.name
        tail["backupManagementType"] = item.backup_management_type
        tail["operation"] = item.operation(kind)
        if item.workload != SQL and not dialect.actions_info:  # AzureWorkloadJob has none; scheduled backups are not
            tail["isUserTriggered"] = kind not in (JobKind.BACKUP, JobKind.LOG_BACKUP)
        name_prefix = job_id(vault.index, item.index, kind, 0)[:-12]
        template = _Template(
            id_prefix=json.dumps(f"{vault.resource_id}/backupJobs/{name_prefix}")[1:-1],
            name_prefix=name_prefix,
            head=f'"type":"{JOB_RESOURCE_TYPE}","properties":{{{_json_members(head)}',
            tail=_json_members(tail),
            duration=timespan_duration if dialect.timespan else iso_duration,
        )
        self._templates[(vault.index, item.index, kind, dialect)] = template
        return template

    def list_json(self, vault: Vault, item: ProtectedItem, facts: JobFacts, dialect: Dialect = CURRENT) -> str:
        """A job as `GET …/backupJobs` lists it (no extendedInfo, no errorDetails), as JSON text."""
        template = self._templates.get((vault.index, item.index, facts.kind, dialect)) or self._template(
            vault, item, facts.kind, dialect
        )
        occurrence = f"{facts.k:012x}"
        status, start = facts.status, facts.start
        # In-progress jobs report the time elapsed so far and no endTime
        # (azcli_recording_GET_job_inprogress_backup).
        end = "" if status == "InProgress" else f'"endTime":"{format_time(start + facts.duration)}",'
        return (
            f'{{"id":"{template.id_prefix}{occurrence}","name":"{template.name_prefix}{occurrence}",'
            f'{template.head}"duration":"{template.duration(facts.elapsed)}",{template.tail}'
            f'"status":"{status}","startTime":"{format_time(start)}",{end}"activityId":"{facts.activity_id}"}}}}'
        )

    def list_item(
        self, vault: Vault, item: ProtectedItem, facts: JobFacts, dialect: Dialect = CURRENT
    ) -> dict[str, Any]:
        parsed: dict[str, Any] = json.loads(self.list_json(vault, item, facts, dialect))
        return parsed

    def details(self, vault: Vault, item: ProtectedItem, facts: JobFacts, dialect: Dialect = CURRENT) -> dict[str, Any]:
        """A job as `GET …/backupJobs/{id}` returns it: the list item plus extendedInfo."""
        body = self.list_item(vault, item, facts, dialect)
        properties = body["properties"]
        add_details(properties, item, facts, timespan=dialect.timespan)
        return body
