"""The Data Protection reads: backup vaults of a subscription, the jobs of a backup vault, one job.

Returns raw JSON objects; turning them into `Job`s is `exporter.parsing.dpp_jobs`'s business.

Facts about `GET …/Microsoft.DataProtection/backupVaults/{v}/backupJobs` (operation Jobs_List)
that shape the poll, with their sources:

- No `$filter` (nor `$top`/`$orderby`): the operation takes `api-version` only (REST spec,
  every api-version from 2021-01-01 to 2026-06-01). Every poll reads the vault's whole list and
  the time window is applied on our side.
- Oldest first: the spec's example lists four jobs by ascending `startTime` (dpp_ListJobs), and so
  does recorded live traffic (azure-cli-extensions `test_dataprotection_job_list_and_show`,
  api-version 2024-04-01, March 2025: 28 jobs over two weeks, ascending, one page,
  `"nextLink": null`). The newest jobs are on the last page, so a poll cannot stop early;
  `DataProtectionSource` still stops as soon as a listing proves to be newest first and has
  passed the window, should the service ever change. The cost is bounded by `MAX_JOB_PAGES`.
- Paged by `nextLink` (x-ms-pageable), followed by `ArmClient.pages` like every other list.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from typing import Any

from exporter.azure.arm import ArmClient
from exporter.azure.backup import vault_info
from exporter.model import BACKUP_VAULT, VaultInfo, VaultRef

# The default api-version (`collection.backup_vault_api_version`, "2025-07-01") is the newest GA
# version of the spec's TypeSpec source (main.tsp: 2025-07-01 and 2025-08-15-preview). The job and
# vault fields read here have not changed since 2021 (the 2026-03-01 and 2026-06-01 examples carry
# the same ones), so a newer version gains nothing, and an older GA one is more likely to be served
# in every cloud: sovereign clouds trail public Azure.
# A listing longer than this fails the poll (TooManyPages, target_up 0, logged) rather than
# dropping its newest jobs, which an oldest-first list puts on the last pages.
MAX_JOB_PAGES = 500


class DataProtectionApi:
    def __init__(self, arm: ArmClient, api_version: str) -> None:
        self._arm = arm
        self._api_version = api_version

    def list_vaults(self, subscription_id: str) -> list[VaultInfo]:
        infos: list[VaultInfo] = []
        for page in self._arm.pages(
            f"/subscriptions/{subscription_id}/providers/Microsoft.DataProtection/backupVaults",
            api="list_backup_vaults",
            api_version=self._api_version,
            subscription_id=subscription_id,
        ):
            for entry in page:
                # A backup vault is listed as the same ARM tracked resource as a Recovery
                # Services vault (id, name, location, tags): one reader, another kind.
                info = vault_info(subscription_id, entry)
                if info is not None:
                    infos.append(dataclasses.replace(info, ref=dataclasses.replace(info.ref, kind=BACKUP_VAULT)))
        return infos

    def list_jobs(self, vault: VaultRef) -> Iterator[list[Any]]:
        """Yield pages of raw job objects, every job the vault lists, lazily: stop iterating and no
        further page is requested."""
        yield from self._arm.pages(
            f"{vault.resource_id}/backupJobs",
            api="list_backup_jobs",
            api_version=self._api_version,
            subscription_id=vault.subscription_id,
            max_pages=MAX_JOB_PAGES,
        )

    def get_job(self, vault: VaultRef, job_id: str) -> Any:
        return self._arm.get(
            f"{vault.resource_id}/backupJobs/{job_id}",
            api="get_backup_job",
            params={"api-version": self._api_version},
            subscription_id=vault.subscription_id,
        )

    def list_policies(self, vault: VaultRef) -> Iterator[list[Any]]:
        """Yield pages of the backup vault's raw backup policies (BackupPolicies_List, nextLink-paged)."""
        return self._arm.pages(
            f"{vault.resource_id}/backupPolicies",
            api="list_backup_policies",
            api_version=self._api_version,
            subscription_id=vault.subscription_id,
        )

    def list_backup_instances(self, vault: VaultRef) -> Iterator[list[Any]]:
        """Yield pages of the backup vault's raw backup instances (BackupInstances_List, nextLink-paged):
        a backup vault's counterpart of a Recovery Services vault's protected items."""
        return self._arm.pages(
            f"{vault.resource_id}/backupInstances",
            api="list_backup_instances",
            api_version=self._api_version,
            subscription_id=vault.subscription_id,
        )
