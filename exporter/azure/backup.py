"""The Azure Backup reads the exporter makes: jobs and protected items of a Recovery Services vault,
vaults, subscriptions.

Returns raw JSON objects; turning them into `Job`s is the parser's business (`exporter.parsing.jobs`).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

from exporter.azure.arm import ArmClient, PageDecoder
from exporter.model import VaultInfo, VaultRef

# The jobs $filter takes UTC times in this 12-hour format (REST docs and recorded traffic).
FILTER_TIME_FORMAT = "%Y-%m-%d %I:%M:%S %p"
# The service rejects job windows longer than 30 days.
MAX_WINDOW_SECONDS = 30 * 86400.0
VAULTS_API_VERSION = "2025-08-01"
# BackupCrrJobs_List and BackupCrrJobDetails_Get (the "passive stamp" operations, answered by the
# secondary region) are specified at this version: Azure/azure-rest-api-specs
# specification/recoveryservicesbackup/.../stable/2021-11-15/bms.json, ListCrrJobs_Post.json.
CRR_API_VERSION = "2021-11-15"
SUBSCRIPTIONS_API_VERSION = "2022-12-01"


def job_filter(start: float, end: float) -> str:
    def fmt(ts: float) -> str:
        return datetime.fromtimestamp(ts, UTC).strftime(FILTER_TIME_FORMAT)

    return f"startTime eq '{fmt(start)}' and endTime eq '{fmt(end)}'"


def windows(start: float, end: float) -> list[tuple[float, float]]:
    """Split [start, end] into filter windows the service accepts, newest first."""
    result: list[tuple[float, float]] = []
    upper = end
    while upper > start:
        lower = max(start, upper - MAX_WINDOW_SECONDS)
        result.append((lower, upper))
        upper = lower
    return result or [(start, end)]


class RecoveryServicesApi:
    def __init__(self, arm: ArmClient, api_version: str) -> None:
        self._arm = arm
        self._api_version = api_version

    def list_jobs(
        self, vault: VaultRef, start: float, end: float, decode: PageDecoder | None = None
    ) -> Iterator[list[Any]]:
        """Yield pages of raw job objects whose start time lies in [start, end] (as `decode` reads
        them: see ArmClient.pages)."""
        path = f"{vault.resource_id}/backupJobs"
        for lower, upper in windows(start, end):
            yield from self._arm.pages(
                path,
                api="list_jobs",
                api_version=self._api_version,
                params={"$filter": job_filter(lower, upper)},
                subscription_id=vault.subscription_id,
                decode=decode,
            )

    def get_job(self, vault: VaultRef, job_id: str) -> Any:
        return self._arm.get(
            f"{vault.resource_id}/backupJobs/{job_id}",
            api="get_job",
            params={"api-version": self._api_version},
            subscription_id=vault.subscription_id,
        )

    def list_crr_jobs(
        self, vault: VaultRef, region: str, start: float, end: float, decode: PageDecoder | None = None
    ) -> Iterator[list[Any]]:
        """Yield pages of the vault's cross-region restore jobs that started in [start, end].

        BackupCrrJobs_List: a POST to the secondary region `region` naming the vault in the body,
        with the same `$filter` as the vault's own list; every page is posted with that body."""
        path = f"{_location(vault, region)}/backupCrrJobs"
        for lower, upper in windows(start, end):
            yield from self._arm.pages(
                path,
                api="list_crr_jobs",
                api_version=CRR_API_VERSION,
                params={"$filter": job_filter(lower, upper)},
                subscription_id=vault.subscription_id,
                post={"resourceId": vault.resource_id},
                decode=decode,
            )

    def get_crr_job(self, vault: VaultRef, region: str, job_id: str) -> Any:
        """One cross-region restore job with its details (BackupCrrJobDetails_Get: a JobResource)."""
        return self._arm.post(
            f"{_location(vault, region)}/backupCrrJob",
            {"resourceId": vault.resource_id, "jobName": job_id},
            api="get_crr_job",
            params={"api-version": CRR_API_VERSION},
            subscription_id=vault.subscription_id,
        )

    def list_protected_items(self, vault: VaultRef) -> Iterator[list[Any]]:
        """Yield pages of the vault's raw protected items (BackupProtectedItems_List, paged by nextLink)."""
        return self._arm.pages(
            f"{vault.resource_id}/backupProtectedItems",
            api="list_protected_items",
            api_version=self._api_version,
            subscription_id=vault.subscription_id,
        )

    def list_policies(self, vault: VaultRef) -> Iterator[list[Any]]:
        """Yield pages of the vault's raw backup policies (BackupPolicies_List, paged by nextLink).

        Read once per inventory interval beside the protected items: a policy changes rarely."""
        return self._arm.pages(
            f"{vault.resource_id}/backupPolicies",
            api="list_policies",
            api_version=self._api_version,
            subscription_id=vault.subscription_id,
        )

    def list_subscriptions(self) -> list[str]:
        ids: list[str] = []
        for page in self._arm.pages(
            "/subscriptions", api="list_subscriptions", api_version=SUBSCRIPTIONS_API_VERSION
        ):
            for entry in page:
                if isinstance(entry, dict) and isinstance(entry.get("subscriptionId"), str):
                    ids.append(entry["subscriptionId"])
        return ids

    def list_vaults(self, subscription_id: str) -> list[VaultInfo]:
        infos: list[VaultInfo] = []
        for page in self._arm.pages(
            f"/subscriptions/{subscription_id}/providers/Microsoft.RecoveryServices/vaults",
            api="list_vaults",
            api_version=VAULTS_API_VERSION,
            subscription_id=subscription_id,
        ):
            for entry in page:
                info = vault_info(subscription_id, entry)
                if info is not None:
                    infos.append(info)
        return infos


def _location(vault: VaultRef, region: str) -> str:
    """The Recovery Services provider of the vault's subscription in `region` (the CRR operations' base)."""
    return f"/subscriptions/{vault.subscription_id}/providers/Microsoft.RecoveryServices/locations/{region}"


def vault_info(subscription_id: str, entry: Any) -> VaultInfo | None:
    """A vault list entry → VaultInfo; the resource group comes from its id."""
    if not isinstance(entry, dict) or not isinstance(entry.get("id"), str):
        return None
    segments = entry["id"].strip("/").split("/")
    lowered = [s.lower() for s in segments]
    try:
        resource_group = segments[lowered.index("resourcegroups") + 1]
    except (ValueError, IndexError):
        return None
    name = entry.get("name")
    if not isinstance(name, str):
        name = segments[-1]
    tags = entry.get("tags")
    if not isinstance(tags, dict):
        tags = {}
    return VaultInfo(
        ref=VaultRef(subscription_id, resource_group, name),
        location=str(entry.get("location") or ""),
        tags=tuple(sorted((str(k), str(v)) for k, v in tags.items())),
        cross_region_restore=_cross_region_restore(entry),
    )


def _cross_region_restore(entry: dict[str, Any]) -> bool:
    """`properties.redundancySettings.crossRegionRestore` is "Enabled": the list's items are whole
    `Vault` resources (Vaults_ListBySubscriptionId returns a VaultList of them), and the vault's
    GET example (GETVault.json, 2025-08-01) shows the field."""
    properties = entry.get("properties")
    settings = properties.get("redundancySettings") if isinstance(properties, dict) else None
    state = settings.get("crossRegionRestore") if isinstance(settings, dict) else None
    return isinstance(state, str) and state.lower() == "enabled"
