"""Cross-region restore: which vault has it on, and the secondary region's CRR job routes.

Shapes: Azure/azure-rest-api-specs, Recovery Services Backup 2021-11-15 (the passive-stamp
operations): BackupCrrJobs_List (ListCrrJobs_Post.json) and BackupCrrJobDetails_Get, both POSTs to
`/subscriptions/{s}/providers/Microsoft.RecoveryServices/locations/{azureRegion}/…` whose body
names the vault (`resourceId`, plus `jobName` for one job). The jobs are `JobResource`s with
operation "CrossRegionRestore" and an id under the region, not the vault.

With `EstateSpec.posture_cases`, Recovery Services vault 1 has cross-region restore on (its vault
body and its vault-list entry say so) and two CRR jobs in its paired region, on its first two
virtual machines: one Completed five hours before the estate's anchor, one Failed two hours before
it (AzureBackupRestoreFailed). Every other vault has none; asked for its CRR jobs, the secondary
region answers an empty list, and a region that is not the vault's pair answers 400.
"""

from __future__ import annotations

import json
import re
import uuid
from typing import Any
from urllib.parse import unquote

from exporter.simulator.arm import JobQuery, job_list_link, parse_job_filter
from exporter.simulator.catalog import VM_ERRORS
from exporter.simulator.formats import format_time, iso_duration
from exporter.simulator.resources import VM, ProtectedItem, Vault
from exporter.simulator.routing import Host, Request, Response, Route, arm_error, json_response, route
from exporter.simulator.schedule import TICKS_PER_SECOND
from exporter.simulator.spec import NO_FILTER
from exporter.simulator.vaults import (
    SUBSCRIPTION_PATH,
    VAULT_PATH,
    BadRequestError,
    crr_enabled,
    page_response,
    read_skiptoken,
    skiptoken,
    vault_or_404,
)

# The pairs of the simulator's locations (catalog.LOCATIONS), as Azure's region list gives them;
# kept here rather than taken from the exporter, so that a wrong exporter table fails the tests.
PAIRED_REGIONS = {
    "westeurope": "northeurope", "northeurope": "westeurope", "eastus2": "centralus", "uksouth": "ukwest",
    "centralindia": "southindia", "japaneast": "japanwest",
}
_LOCATION = SUBSCRIPTION_PATH + r"/providers/Microsoft\.RecoveryServices/locations/(?P<region>[^/]+)"
_HOUR = 3600 * TICKS_PER_SECOND
# (hours before the anchor it started, minutes it ran, status), on the vault's first and second VM.
_JOBS = ((5, 40, "Completed"), (2, 25, "Failed"))


def crr_jobs(sim: Host, vault: Vault) -> list[tuple[ProtectedItem, int, dict[str, Any]]]:
    """The vault's CRR jobs as BackupCrrJobs_List prints them, oldest first: (item, start in ticks, body)."""
    if not crr_enabled(sim, vault):
        return []
    machines = [item for item in sim.estate.items(vault) if item.workload == VM]
    region = PAIRED_REGIONS[vault.location]
    jobs = []
    for item, (hours, minutes, status) in zip(machines, _JOBS, strict=False):
        name = str(uuid.uuid5(uuid.NAMESPACE_URL, f"{vault.resource_id}/crr/{item.name}/{hours}"))
        start = sim.estate.anchor - hours * _HOUR
        duration = minutes * 60 * TICKS_PER_SECOND
        jobs.append((item, start, {
            "id": f"/subscriptions/{vault.subscription_id}/providers/microsoft.recoveryservices/locations/"
                  f"{region}/backupJobs/{name}",
            "name": name, "type": "Microsoft.RecoveryServices/vaults/backupJobs",
            "properties": {
                "jobType": "AzureIaaSVMJob", "virtualMachineVersion": "Compute", "entityFriendlyName": item.name,
                "backupManagementType": item.backup_management_type, "operation": "CrossRegionRestore",
                "status": status, "startTime": format_time(start), "endTime": format_time(start + duration),
                "duration": iso_duration(duration), "activityId": f"{name}-crr",
            },
        }))
    return jobs


def _details(body: dict[str, Any]) -> dict[str, Any]:
    """BackupCrrJobDetails_Get: the listed job plus extendedInfo, and errorDetails when it failed."""
    detailed: dict[str, Any] = json.loads(json.dumps(body))
    properties = detailed["properties"]
    if properties["status"] == "Failed":
        # No recorded CRR failure to copy: the catalog's VM error stands in for the restore's.
        error = VM_ERRORS[0]
        properties["errorDetails"] = [{"errorCode": error.code, "errorString": error.message,
                                       "errorTitle": error.title, "recommendations": [error.recommendation]}]
    properties["extendedInfo"] = {"tasksList": [], "propertyBag": {}}
    return detailed


def _vault_of(sim: Host, request: Request, match: re.Match[str]) -> tuple[Vault, dict[str, Any]] | Response:
    """The vault the body's `resourceId` names (in the path's subscription, asked of its paired
    region), with the body; or the error Azure would answer."""
    try:
        body = json.loads(request.body or b"null")
        named = re.fullmatch(VAULT_PATH + "/?", str(body["resourceId"]), re.IGNORECASE)
    except (ValueError, TypeError, KeyError):
        return arm_error(400, "BMSUserErrorInvalidInput", "Input provided for the call is invalid: resourceId")
    if not named or unquote(named["sub"]).lower() != unquote(match["sub"]).lower():
        return arm_error(400, "BMSUserErrorInvalidInput", "Input provided for the call is invalid: resourceId")
    vault = vault_or_404(sim, named)
    if isinstance(vault, Response):
        return vault
    if PAIRED_REGIONS.get(vault.location) != unquote(match["region"]).lower():
        message = f"Input provided for the call is invalid: '{match['region']}' is not the vault's secondary region"
        return arm_error(400, "BMSUserErrorInvalidInput", message)
    return vault, body


def list_crr_jobs(sim: Host, request: Request, match: re.Match[str]) -> Response:
    found = _vault_of(sim, request, match)
    if isinstance(found, Response):
        return found
    vault, _ = found
    filter_text = request.query.get("$filter")
    token = request.query.get("$skiptoken")
    try:
        query = parse_job_filter(filter_text) if filter_text else JobQuery(None, None, NO_FILTER)
        offset = read_skiptoken(token, 1)[0] if token else 0
    except BadRequestError as error:
        return arm_error(400, "BMSUserErrorInvalidInput", f"Input provided for the call is invalid: {error}")
    bodies = [body for _, start, body in crr_jobs(sim, vault)
              if (query.start is None or start >= query.start) and (query.end is None or start <= query.end)]
    size = sim.estate.spec.page_size
    texts = [json.dumps(body, separators=(",", ":")) for body in bodies[offset : offset + size]]
    link = None
    if offset + size < len(bodies):
        link = job_list_link(filter_text, skiptoken(offset + size))
    return page_response(sim, request, texts, link)


def get_crr_job(sim: Host, request: Request, match: re.Match[str]) -> Response:
    found = _vault_of(sim, request, match)
    if isinstance(found, Response):
        return found
    vault, body = found
    name = str(body.get("jobName") or "")
    for _, _, job in crr_jobs(sim, vault):
        if job["name"] == name:
            return json_response(200, _details(job))
    return arm_error(404, "ResourceNotFound", f"The job '{name}' was not found.")


ROUTES: list[Route] = [
    route("POST", _LOCATION + r"/backupCrrJobs/?", "list_crr_jobs", list_crr_jobs),
    route("POST", _LOCATION + r"/backupCrrJob/?", "get_crr_job", get_crr_job),
]
