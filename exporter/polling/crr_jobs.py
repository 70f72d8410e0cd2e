"""Cross-region restore jobs: the jobs of a Recovery Services vault that Azure lists only from the
vault's secondary (paired) region, read into the vault's own poll.

A vault with cross-region restore on (`VaultInfo.cross_region_restore`, from discovery's vault
list) gets one more list per poll: BackupCrrJobs_List on its paired region, same window as its
own jobs. The jobs have the same `JobResource` shape and go through the same parser; Azure names
their operation "CrossRegionRestore" (ListCrrJobs_Post.json). Their details come from
BackupCrrJobDetails_Get, never the vault's backupJobs/{id}, so the ids seen here are remembered
per vault. A failed read (a 403 where the role lacks the secondary-region permission) leaves the
vault's own jobs alone and shows as `azure_backup_exporter_target_source_up{source="crr_jobs"} 0`.

The remembered ids live in memory only: after a restart, a CRR job whose details were still wanted
and that the first window no longer lists gets the vault's GET, whose 404 makes the poller use its
list entry (counted, without its error details). A target's `jobs:` id of a CRR job is likewise
read through the vault unless the CRR list has named it.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Sequence

from exporter.azure.backup import RecoveryServicesApi
from exporter.azure.regions import secondary_region
from exporter.model import RECOVERY_SERVICES, Job, VaultInfo, VaultRef
from exporter.parsing.job_pages import decode_job_page
from exporter.parsing.jobs import parse_job
from exporter.polling.sources import parsed_jobs

log = logging.getLogger(__name__)

CRR_SOURCE = "crr_jobs"  # the `source` label of its health series
# Counted in azure_backup_exporter_parse_errors_total{field=…} each poll of a CRR vault whose
# location has no known pair: its CRR jobs are not read.
UNKNOWN_REGION_FIELD = "crr_secondary_region"
# Ids of CRR jobs remembered per vault for their details GET: restores are rare, so this bounds
# memory against a runaway estate only.
MAX_REMEMBERED_IDS = 10_000


class CrossRegionJobs:
    """Lists and reads a vault's cross-region restore jobs. Each vault is polled by one worker at
    a time, and each touches only its own vault's entries."""

    def __init__(self, api: RecoveryServicesApi, operations: Sequence[str] = ()) -> None:
        self._api = api
        self._operations = frozenset(operations)
        self._regions: dict[VaultRef, str] = {}
        self._ids: dict[VaultRef, dict[str, None]] = {}  # insertion-ordered: oldest first
        self._unknown_logged: set[str] = set()

    @staticmethod
    def wanted(info: VaultInfo) -> bool:
        return info.ref.kind == RECOVERY_SERVICES and info.cross_region_restore

    def region(self, info: VaultInfo, errors: Counter[str]) -> str | None:
        """The vault's secondary region; None (logged once per location, counted) when unknown."""
        region = secondary_region(info.location)
        if region is None:
            errors[UNKNOWN_REGION_FIELD] += 1
            if info.location not in self._unknown_logged:
                self._unknown_logged.add(info.location)
                log.warning("vault %s has cross-region restore on, but its location %r has no known paired "
                            "region: its cross-region restore jobs are not read", info.ref, info.location)
        return region

    def list_jobs(self, info: VaultInfo, region: str, start: float, end: float, errors: Counter[str]) -> list[Job]:
        """The vault's CRR jobs that started in [start, end], parsed (raises ArmError)."""
        ref = info.ref
        jobs = parsed_jobs(self._api.list_crr_jobs(ref, region, start, end, decode_job_page), self._operations, errors)
        self._regions[ref] = region
        known = self._ids.setdefault(ref, {})
        for job in jobs:
            known.pop(job.job_id, None)
            known[job.job_id] = None
        while len(known) > MAX_REMEMBERED_IDS:
            del known[next(iter(known))]
        return jobs

    def owns(self, ref: VaultRef, job_id: str) -> bool:
        """Whether `job_id` is a CRR job of the vault listed by this process (its details come from here)."""
        known = self._ids.get(ref)
        return known is not None and job_id in known

    def get_job(self, ref: VaultRef, job_id: str, errors: Counter[str]) -> Job | None:
        """One CRR job with its details (raises ArmError); the caller checked `owns`."""
        return parse_job(self._api.get_crr_job(ref, self._regions[ref], job_id), errors)
