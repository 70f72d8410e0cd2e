"""Job sources: where the poller gets a vault's jobs from, one per vault kind.

The poller knows only this protocol. Recovery Services vaults are the first kind, Data Protection
backup vaults the second; Azure Resource Graph plugs in as a further source without touching the
schedule.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Generic, NamedTuple, Protocol, TypeVar

from exporter.azure.backup import RecoveryServicesApi
from exporter.azure.dataprotection import DataProtectionApi
from exporter.model import BACKUP_VAULT, RECOVERY_SERVICES, Job, VaultInfo, VaultRef
from exporter.parsing.dpp_jobs import parse_dpp_job, start_time
from exporter.parsing.job_pages import decode_job_page, parse_listed_job
from exporter.parsing.jobs import parse_job


class Window(NamedTuple):
    """The jobs one poll of a vault asks for: those that started in [start, end]."""

    start: float
    end: float
    first: bool = False  # the vault's first window since the exporter started on it: the whole lookback


class JobSource(Protocol):
    kind: str  # the VaultRef.kind it serves

    def prepare(self, windows: Mapping[VaultRef, Window]) -> None:
        """The windows the polls about to start will ask for, before the first asks: a source
        that answers many vaults with one query plans it from them."""
        ...

    def list_vaults(self, subscription_id: str) -> list[VaultInfo]:
        """Every vault of this kind in the subscription (raises ArmError)."""
        ...

    def list_jobs(self, vault: VaultRef, start: float, end: float, errors: Counter[str]) -> list[Job]:
        """Jobs that started in [start, end], parsed; unreadable values counted in `errors`."""
        ...

    def get_job(self, vault: VaultRef, job_id: str, errors: Counter[str]) -> Job | None:
        """One job with its details (size, errors, tasks); None if it cannot be read."""
        ...


def of_operations(job: Job, operations: frozenset[str]) -> bool:
    """Whether `collection.operations` keeps the job (empty: every operation)."""
    return not operations or job.operation in operations


def parsed_jobs(pages: Iterable[list[Any]], operations: frozenset[str], errors: Counter[str]) -> list[Job]:
    """The Recovery Services jobs of a list's pages (decoded by `decode_job_page` or generically)
    that parse and that `operations` keeps."""
    jobs: list[Job] = []
    for page in pages:
        for raw in page:
            job = parse_listed_job(raw, errors)
            if job is not None and of_operations(job, operations):
                jobs.append(job)
    return jobs


class _VaultApi(Protocol):
    def list_vaults(self, subscription_id: str) -> list[VaultInfo]: ...


Api = TypeVar("Api", bound=_VaultApi)


class _PerVaultSource(Generic[Api]):
    """A source that lists each vault's jobs with its own listing (one request plus pages) of its kind's API."""

    def __init__(self, api: Api, operations: Sequence[str] = ()) -> None:
        self._api = api
        self._operations = frozenset(operations)  # empty: every operation

    def list_vaults(self, subscription_id: str) -> list[VaultInfo]:
        return self._api.list_vaults(subscription_id)

    def prepare(self, windows: Mapping[VaultRef, Window]) -> None:
        pass  # one list per vault: nothing to plan

    def _kept(self, job: Job) -> bool:
        return of_operations(job, self._operations)


class RecoveryServicesSource(_PerVaultSource[RecoveryServicesApi]):
    kind = RECOVERY_SERVICES

    def list_jobs(self, vault: VaultRef, start: float, end: float, errors: Counter[str]) -> list[Job]:
        pages = self._api.list_jobs(vault, start, end, decode_job_page)
        return parsed_jobs(pages, self._operations, errors)

    def get_job(self, vault: VaultRef, job_id: str, errors: Counter[str]) -> Job | None:
        return parse_job(self._api.get_job(vault, job_id), errors)


class DataProtectionSource(_PerVaultSource[DataProtectionApi]):
    """Backup vaults. Their job list has no filter, so the window is applied here (see
    `exporter.azure.dataprotection`: the list comes oldest first and is read to its end)."""

    kind = BACKUP_VAULT

    def list_jobs(self, vault: VaultRef, start: float, end: float, errors: Counter[str]) -> list[Job]:
        jobs: list[Job] = []
        order = _ListingOrder()
        for page in self._api.list_jobs(vault):
            for raw in page:
                started = start_time(raw)
                if started is None:
                    # In no window (kept, it would be counted again once its id left the store's
                    # seen ids), but what is wrong with it is counted.
                    parse_dpp_job(raw, errors)
                    continue
                order.see(started)
                if not start <= started <= end:
                    continue  # most of the list: not parsed
                job = parse_dpp_job(raw, errors)
                if job is not None and self._kept(job):
                    jobs.append(job)
            if order.newest_first and order.last < start:
                break  # every job on later pages started before the window
        return jobs

    def get_job(self, vault: VaultRef, job_id: str, errors: Counter[str]) -> Job | None:
        return parse_dpp_job(self._api.get_job(vault, job_id), errors)


class _ListingOrder:
    """Whether a listing has shown itself newest first: some start times fell, none rose."""

    def __init__(self) -> None:
        self.last = float("inf")
        self._fell = self._rose = False

    def see(self, start: float) -> None:
        if self.last != float("inf"):
            self._fell |= start < self.last
            self._rose |= start > self.last
        self.last = start

    @property
    def newest_first(self) -> bool:
        return self._fell and not self._rose
