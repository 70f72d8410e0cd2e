"""Job sources: where the poller gets a vault's jobs from, one per vault kind.

The poller knows only this protocol. Recovery Services vaults are the first kind; Data Protection
backup vaults and Azure Resource Graph plug in as further sources without touching the schedule.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Protocol

from exporter.azure.backup import RecoveryServicesApi
from exporter.jobs import parse_job
from exporter.model import RECOVERY_SERVICES, Job, VaultInfo, VaultRef


class JobSource(Protocol):
    kind: str  # the VaultRef.kind it serves

    def list_vaults(self, subscription_id: str) -> list[VaultInfo]:
        """Every vault of this kind in the subscription (raises ArmError)."""
        ...

    def list_jobs(self, vault: VaultRef, start: float, end: float, errors: Counter[str]) -> list[Job]:
        """Jobs that started in [start, end], parsed; unreadable values counted in `errors`."""
        ...

    def get_job(self, vault: VaultRef, job_id: str, errors: Counter[str]) -> Job | None:
        """One job with its details (size, errors, tasks); None if it cannot be read."""
        ...


class RecoveryServicesSource:
    kind = RECOVERY_SERVICES

    def __init__(self, api: RecoveryServicesApi, operations: Sequence[str] = ()) -> None:
        self._api = api
        self._operations = frozenset(operations)

    def list_vaults(self, subscription_id: str) -> list[VaultInfo]:
        return self._api.list_vaults(subscription_id)

    def list_jobs(self, vault: VaultRef, start: float, end: float, errors: Counter[str]) -> list[Job]:
        allowed = self._operations
        jobs: list[Job] = []
        for page in self._api.list_jobs(vault, start, end):
            for raw in page:
                job = parse_job(raw, errors)
                if job is not None and (not allowed or job.operation in allowed):
                    jobs.append(job)
        return jobs

    def get_job(self, vault: VaultRef, job_id: str, errors: Counter[str]) -> Job | None:
        return parse_job(self._api.get_job(vault, job_id), errors)
