"""Azure Resource Graph: one KQL query over the backup jobs of many vaults, paged with $skipToken.

Facts from Microsoft's docs, by page:
- REST API (`Resources` operation, examples "First page query" / "Next page query", in the shared
  azure-samples arg_*.json): `POST /providers/Microsoft.ResourceGraph/resources`, body
  `{subscriptions, query, options: {$top, $skipToken, resultFormat}}`, answer
  `{totalRecords, count, data, facets, resultTruncated, $skipToken}`; "id field is required in the
  response to return the pages in stable sorted fashion". api-version 2024-04-01 (2022-10-01 is GA too).
- "Working with large Azure resource data sets": `$top` is at most 1000.
- "Query your backups using Azure Resource Graph" (Azure Backup): backup jobs are rows of the
  `RecoveryServicesResources` table with type `Microsoft.RecoveryServices/vaults/backupJobs`, whose
  `properties` carry the job as the Recovery Services API does (`entityFriendlyName`,
  `backupManagementType`, `operation`, `status`, `startTime`, `endTime`, `duration`; its sample
  filters on `todatetime(properties.startTime)`); "Backup/Restore jobs that are up to 14 days old
  are available in ARG"; and "ARG allows you to query the resources for which you have the
  appropriate RBAC rights" — jobs of a vault the identity cannot read are silently absent.
- Resource Graph writes `type` in lowercase; `=~` compares without case anyway.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from typing import Any

from exporter.azure.arm import DEFAULT_MAX_PAGES, ArmClient, ArmError

log = logging.getLogger(__name__)

QUERY_PATH = "/providers/Microsoft.ResourceGraph/resources"
API_VERSION = "2024-04-01"
API = "resource_graph"  # the `api` label of this exporter's request metrics
PAGE_SIZE = 1000
JOB_TYPE = "microsoft.recoveryservices/vaults/backupjobs"
# Vault ids listed in one query. Resource Graph documents no limit on the query text; this keeps
# it around 30 KB, and the docs' throttling guidance suggests batches of under 300 anyway.
MAX_VAULTS_PER_QUERY = 200


def jobs_query(vault_ids: Sequence[str], since: float) -> str:
    """KQL for the backup jobs of `vault_ids` (ARM resource ids) that started at or after `since`.

    Ordered by id so that $skipToken pages are stable; projects the columns a Recovery Services
    job object has, so that a row parses like a `GET …/backupJobs` list item."""
    moment = datetime.fromtimestamp(int(since), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")  # whole seconds, rounded down
    ids = ", ".join(_kql_string(vault_id.lower()) for vault_id in vault_ids)
    return (
        "RecoveryServicesResources\n"
        f"| where type =~ '{JOB_TYPE}'\n"
        f"| where todatetime(properties.startTime) >= datetime({moment})\n"
        "| extend vaultId = tostring(split(tolower(id), '/backupjobs/')[0])\n"
        f"| where vaultId in ({ids})\n"
        "| order by id asc\n"
        "| project id, name, type, subscriptionId, resourceGroup, properties"
    )


def vault_id_of(row_id: str) -> str | None:
    """The lowercase vault resource id a job's id starts with, as the query computes it."""
    lowered = row_id.lower()
    cut = lowered.find("/backupjobs/")
    return lowered[:cut] if cut > 0 else None


def _kql_string(text: str) -> str:
    # A KQL string literal in single quotes; backslash escapes (ARM names allow neither, but a
    # discovered name is Azure's word, not ours).
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


class ResourceGraphApi:
    def __init__(self, arm: ArmClient, api_version: str = API_VERSION) -> None:
        self._arm = arm
        self._api_version = api_version

    def query(
        self, subscriptions: Sequence[str], query: str, *, max_pages: int = DEFAULT_MAX_PAGES
    ) -> Iterator[list[Any]]:
        """Yield the rows of each page, following `$skipToken` until the answer has none."""
        options: dict[str, Any] = {"$top": PAGE_SIZE, "resultFormat": "objectArray"}
        seen: set[str] = set()
        for _ in range(max_pages):
            body = {"subscriptions": list(subscriptions), "query": query, "options": options}
            # No subscription_id: the query spans subscriptions, and the quota it spends is the
            # identity's, so its throttling gate is the tenant-level one (shared with GET /subscriptions).
            answer = self._arm.post(QUERY_PATH, body, api=API, params={"api-version": self._api_version})
            if not isinstance(answer, dict) or not isinstance(answer.get("data"), list):
                raise ArmError(API, 200, "UnexpectedAnswer", "no data array in the Resource Graph answer")
            yield answer["data"]
            token = answer.get("$skipToken")
            if not token or not isinstance(token, str):
                if str(answer.get("resultTruncated", "false")).lower() == "true":
                    # Truncated with no way to page on: some jobs would be silently missing.
                    raise ArmError(API, 200, "ResultTruncated", "truncated result and no $skipToken to page on")
                return
            if token in seen:
                raise ArmError(API, None, "PagingLoop", "$skipToken repeated an earlier page")
            seen.add(token)
            options = {"$top": PAGE_SIZE, "$skipToken": token, "resultFormat": "objectArray"}
        raise ArmError(API, None, "TooManyPages", f"stopped after {max_pages} pages")
