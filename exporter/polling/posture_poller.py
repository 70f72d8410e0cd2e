"""The posture cycle: once per `collection.inventory_interval`, read each vault's own resource
(security settings), its usages or deleted backup instances, and its Resource Health status.

Three requests per vault per interval (plus pages; `exporter.azure.posture` lists them):

    Recovery Services vault: GET {vault}, GET {vault}/usages, GET …/availabilityStatuses/current
    backup vault:            GET {vault}, GET {vault}/deletedBackupInstances, GET …/availabilityStatuses/current

Runs in its own thread beside the job and inventory pollers and touches neither: it takes the
vaults through a callable, as the inventory poller does, keeps its own store and hands its snapshot
to the publisher. Each read fails alone (`azure_backup_exporter_inventory_up{source}` 0 for it), so a
role that may not read Resource Health still gets the vault's security settings.

With `collection.coverage`, each cycle that reads any vault also runs one Resource Graph query
over the vaults' subscriptions for resources no vault protects (`exporter.azure.posture`).
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable

from exporter.azure.arm import ArmError
from exporter.azure.posture import PostureApi
from exporter.azure.telemetry import ApiTelemetry
from exporter.model import BACKUP_VAULT, VaultRef
from exporter.parsing.vault_posture import (
    UnprotectedResource,
    parse_availability,
    parse_deleted_instance,
    parse_unprotected,
    parse_usages,
    parse_vault_security,
)
from exporter.polling.interval import IntervalSchedule, run_until
from exporter.store.posture_store import (
    DELETED_INSTANCES,
    FAILED,
    RESOURCE_HEALTH,
    USAGES,
    VAULT,
    Outcome,
    PostureSnapshot,
    PostureStore,
)

log = logging.getLogger(__name__)

Reads = tuple[list[tuple[str, Outcome]], Counter[str]]


class PosturePoller:
    def __init__(
        self,
        api: PostureApi,
        store: PostureStore,
        *,
        interval: float,
        vaults: Callable[[], Iterable[VaultRef]],
        telemetry: ApiTelemetry,
        publish: Callable[[PostureSnapshot], object],
        concurrency: int = 4,
        monotonic: Callable[[], float] = time.monotonic,
        coverage: bool = False,
    ) -> None:
        self._api = api
        self._coverage = coverage  # collection.coverage: one Resource Graph query per cycle
        self._store = store
        self._vaults = vaults  # the monitored vaults, every kind
        self._telemetry = telemetry
        self._publish = publish
        self._schedule = IntervalSchedule(
            self._read, interval=interval, concurrency=concurrency, monotonic=monotonic, name="posture"
        )

    def close(self) -> None:
        self._schedule.close()

    def poll_once(self) -> bool:
        """Read every vault's posture now and publish; True if every read succeeded."""
        self._schedule.all_due()
        self.poll_due()
        snapshot = self._store.snapshot()
        coverage_ok = snapshot.coverage is None or snapshot.coverage.up
        return coverage_ok and all(ok for vault in snapshot.vaults for _, ok in vault.up)

    def run(self, stop: threading.Event) -> None:
        """Read each vault every `interval` on the monotonic clock until `stop` is set."""
        run_until(stop, self.poll_due)

    def poll_due(self, stop: threading.Event | None = None) -> int:
        """Read the vaults that are due (new vaults at once), record, publish; how many were read.

        A stop request abandons the batch unpublished (`exporter.polling.interval`).
        """
        refs = sorted(set(self._vaults()))
        self._store.set_vaults(refs)
        batch = self._schedule.start(refs)
        if self._coverage and batch.due:
            self._query_coverage(refs)  # on this thread, while the pool reads the vaults
        return batch.finish(stop, self._record, lambda: self._publish(self._store.snapshot()))

    def _record(self, ref: VaultRef, reads: Reads) -> None:
        outcomes, errors = reads
        self._telemetry.add_parse_errors(errors)
        for source, outcome in outcomes:
            self._store.record(ref, source, outcome)

    def _read(self, ref: VaultRef) -> Reads:
        errors: Counter[str] = Counter()
        backup_vault = ref.kind == BACKUP_VAULT
        reads: list[tuple[str, Callable[[], Outcome]]] = [
            (VAULT, lambda: parse_vault_security(self._api.get_vault(ref), backup_vault, errors)),
            (DELETED_INSTANCES, lambda: self._deleted(ref, errors)) if backup_vault
            else (USAGES, lambda: parse_usages(self._entries(self._api.list_usages(ref)), errors)),
            (RESOURCE_HEALTH, lambda: parse_availability(self._api.availability(ref), errors)),
        ]
        outcomes: list[tuple[str, Outcome]] = []
        for source, read in reads:
            try:
                outcomes.append((source, read()))
            except ArmError as exc:
                log.warning("posture read %s of vault %s failed: %s", source, ref, exc)
                outcomes.append((source, FAILED))
        return outcomes, errors

    def _query_coverage(self, refs: list[VaultRef]) -> None:
        """The resources of the vaults' subscriptions that no vault protects: one query (plus pages)."""
        subscriptions = tuple(sorted({ref.subscription_id for ref in refs}))
        errors: Counter[str] = Counter()
        found: tuple[UnprotectedResource, ...] | None
        try:
            rows = (parse_unprotected(raw, errors) for raw in self._entries(self._api.unprotected(subscriptions)))
            found = tuple(sorted({row for row in rows if row is not None}))
        except ArmError as exc:
            log.warning("coverage query failed: %s", exc)
            found = None
        self._telemetry.add_parse_errors(errors)
        self._store.record_coverage(subscriptions, found)

    @staticmethod
    def _entries(pages: Iterable[list[object]]) -> list[object]:
        return [entry for page in pages for entry in page]

    def _deleted(self, ref: VaultRef, errors: Counter[str]) -> Outcome:
        found = (parse_deleted_instance(raw, errors) for raw in self._entries(self._api.list_deleted_instances(ref)))
        return tuple(sorted(item for item in found if item is not None))
