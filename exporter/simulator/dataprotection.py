"""The Data Protection routes: backup vaults of a subscription, jobs of a backup vault (list, get).

Like the real Jobs_List, the job list takes no `$filter`: it serves the vault's whole history, oldest
first, in pages linked by `nextLink` (the last page says `"nextLink": null`, as recorded traffic
does). A skip token pins the instant of the first page, so a listing stays one snapshot while the
clock moves. Rows for server.ROUTES at the bottom.
"""

from __future__ import annotations

import base64
import binascii
import re
from typing import Any
from urllib.parse import quote, unquote

from exporter.simulator import dpp_wire
from exporter.simulator.resources import BackupVault
from exporter.simulator.routing import Host, Request, Response, Route, arm_error, json_response, route
from exporter.simulator.vaults import SUBSCRIPTION_PATH, subscription_missing


def _vault_body(vault: BackupVault) -> dict[str, Any]:
    # dpp_GetBackupVaultsInSubscription, trimmed to what a listing carries.
    return {
        "name": vault.name,
        "type": "Microsoft.DataProtection/backupVaults",
        "id": vault.resource_id,
        "location": vault.location,
        "properties": {
            "provisioningState": "Succeeded",
            "storageSettings": [{"type": "LocallyRedundant", "datastoreType": "VaultStore"}],
            "securitySettings": {"softDeleteSettings": {"retentionDurationInDays": 14, "state": "Enabled"}},
        },
        "tags": dict(vault.tags),
        "identity": {"type": "SystemAssigned"},
    }


def list_backup_vaults(sim: Host, _request: Request, match: re.Match[str]) -> Response:
    subscription_id = unquote(match["sub"])
    missing = subscription_missing(sim, subscription_id)
    if missing is not None:
        return missing
    vaults = sim.estate.data_protection.vaults_in(subscription_id)
    return json_response(200, {"value": [_vault_body(vault) for vault in vaults]})


def backup_vault_or_404(sim: Host, match: re.Match[str]) -> BackupVault | Response:
    subscription_id, group, name = unquote(match["sub"]), unquote(match["rg"]), unquote(match["vault"])
    missing = subscription_missing(sim, subscription_id)
    if missing is not None:
        return missing
    vault = sim.estate.data_protection.find_vault(subscription_id, group, name)
    if vault is None:
        message = (
            f"The Resource 'Microsoft.DataProtection/backupVaults/{name}' under resource group '{group}' "
            "was not found. For more details please go to https://aka.ms/ARMResourceNotFoundFix"
        )
        return arm_error(404, "ResourceNotFound", message)
    return vault


def _skiptoken(as_of: int, offset: int) -> str:
    return base64.b64encode(f"{as_of}:{offset}".encode()).decode()


def _read_skiptoken(token: str) -> tuple[int, int] | None:
    try:
        as_of, offset = (int(part) for part in base64.b64decode(token, validate=True).decode().split(":"))
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None
    return (as_of, offset) if offset >= 0 else None


def list_backup_jobs(sim: Host, request: Request, match: re.Match[str]) -> Response:
    vault = backup_vault_or_404(sim, match)
    if isinstance(vault, Response):
        return vault
    estate = sim.estate.data_protection
    token = request.query.get("$skiptoken")
    position = _read_skiptoken(token) if token else (sim.estate.now(), 0)
    if position is None:
        return arm_error(400, "InvalidSkipToken", "The skip token is invalid.")
    as_of, offset = position
    keys = estate.window(vault, as_of)
    size = sim.estate.spec.page_size
    page = [dpp_wire.list_item(vault, *estate.facts(vault, key, as_of)) for key in keys[offset : offset + size]]
    link = None
    if offset + size < len(keys):
        version = quote(request.query["api-version"], safe="")
        next_token = quote(_skiptoken(as_of, offset + size), safe="")
        link = f"{sim.url}{request.path}?api-version={version}&%24skiptoken={next_token}"
    return json_response(200, {"value": page, "nextLink": link})


def get_backup_job(sim: Host, _request: Request, match: re.Match[str]) -> Response:
    vault = backup_vault_or_404(sim, match)
    if isinstance(vault, Response):
        return vault
    job_name = unquote(match["job"])
    found = sim.estate.data_protection.find_job(vault, job_name, sim.estate.now())
    if found is None:
        return arm_error(404, "ResourceNotFound", f"The job '{job_name}' was not found in vault '{vault.name}'.")
    return json_response(200, dpp_wire.details(vault, *found))


_VAULTS = r"/providers/Microsoft\.DataProtection/backupVaults"
BACKUP_VAULT_PATH = SUBSCRIPTION_PATH + r"/resourceGroups/(?P<rg>[^/]+)" + _VAULTS + r"/(?P<vault>[^/]+)"

ROUTES: list[Route] = [
    route("GET", SUBSCRIPTION_PATH + _VAULTS + "/?", "list_backup_vaults", list_backup_vaults),
    route("GET", BACKUP_VAULT_PATH + r"/backupJobs/?", "list_backup_jobs", list_backup_jobs),
    route("GET", BACKUP_VAULT_PATH + r"/backupJobs/(?P<job>[^/]+)", "get_backup_job", get_backup_job),
]
