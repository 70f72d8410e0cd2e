"""The inventory schedule: list each vault's protected items once per `collection.inventory_interval`.

Jobs only show items that run jobs. An item whose backups never start — protection configured but
never run, a policy whose schedule was removed, backups suspended — produces no job at all, so the
job poller cannot see it; the vault's protected-item list can. One paged request per vault per
inventory interval (`GET …/backupProtectedItems`, plus one per further page its nextLinks lead to),
and one for its backup policies (`GET …/backupPolicies`), which give each item its expected backup
interval (`exporter.parsing.policies`). Backup vaults, when a `DataProtectionApi` is given: one
`GET …/backupInstances` and one `GET …/backupPolicies` per vault per interval.

Runs in its own thread beside the job poller (`exporter.polling.job_poller`), which it does not
touch: it reads the vaults of the job poller's latest discovery (`exporter.polling.discovery`:
discovery stays in one place), keeps its own store, and hands its snapshot to the same publisher.
A vault whose inventory fails keeps its last good items and shows `azure_backup_exporter_inventory_up 0`.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator

from exporter.azure.arm import ArmError
from exporter.azure.backup import RecoveryServicesApi
from exporter.azure.dataprotection import DataProtectionApi
from exporter.azure.telemetry import ApiTelemetry
from exporter.model import BACKUP_VAULT, RECOVERY_SERVICES, VaultRef
from exporter.parsing.backup_instances import parse_backup_instance
from exporter.parsing.policies import Policy, parse_dpp_policy, parse_rsv_policy
from exporter.parsing.protected_items import ProtectedItem, parse_protected_item
from exporter.polling.interval import IntervalSchedule, run_until
from exporter.store.inventory_store import InventorySnapshot, InventoryStore

log = logging.getLogger(__name__)

Listing = tuple[list[ProtectedItem] | None, list[Policy], Counter[str]]
Pages = Callable[[VaultRef], Iterable[list[object]]]
Parser = Callable[[object, Counter[str]], object]


class InventoryPoller:
    def __init__(
        self,
        api: RecoveryServicesApi,
        store: InventoryStore,
        *,
        interval: float,
        vaults: Callable[[], Iterable[VaultRef]],
        telemetry: ApiTelemetry,
        publish: Callable[[InventorySnapshot], object],
        concurrency: int = 4,
        monotonic: Callable[[], float] = time.monotonic,
        dpp_api: DataProtectionApi | None = None,
    ) -> None:
        self._api = api
        self._dpp_api = dpp_api  # None: backup vaults are not inventoried
        self._kinds = (RECOVERY_SERVICES,) if dpp_api is None else (RECOVERY_SERVICES, BACKUP_VAULT)
        self._store = store
        self._vaults = vaults  # the monitored vaults, as the job poller's latest discovery found them
        self._telemetry = telemetry
        self._publish = publish
        self._schedule = IntervalSchedule(
            self._list, interval=interval, concurrency=concurrency, monotonic=monotonic, name="inventory"
        )

    def close(self) -> None:
        self._schedule.close()

    def poll_once(self) -> bool:
        """Inventory every vault now and publish; True if every vault's listing succeeded."""
        self._schedule.all_due()
        self.poll_due()
        return all(vault.up for vault in self._store.snapshot().vaults)

    def run(self, stop: threading.Event) -> None:
        """Inventory each vault every `interval` on the monotonic clock until `stop` is set."""
        run_until(stop, self.poll_due)

    def poll_due(self, stop: threading.Event | None = None) -> int:
        """List the vaults that are due (new vaults at once), fold the results in, publish.

        Returns how many vaults were listed; a stop request abandons the batch unpublished
        (`exporter.polling.interval`).
        """
        refs = sorted(ref for ref in self._vaults() if ref.kind in self._kinds)
        self._store.set_vaults(refs)
        return self._schedule.start(refs).finish(stop, self._record, lambda: self._publish(self._store.snapshot()))

    def _record(self, ref: VaultRef, listing: Listing) -> None:
        items, policies, errors = listing
        self._telemetry.add_parse_errors(errors)
        self._store.record(ref, items, policies)

    def _list(self, ref: VaultRef) -> Listing:
        errors: Counter[str] = Counter()
        if ref.kind == BACKUP_VAULT and self._dpp_api is not None:
            lists: tuple[tuple[Pages, Parser], tuple[Pages, Parser]] = (
                (self._dpp_api.list_backup_instances, parse_backup_instance),
                (self._dpp_api.list_policies, parse_dpp_policy),
            )
        else:
            lists = (
                (self._api.list_protected_items, parse_protected_item),
                (self._api.list_policies, parse_rsv_policy),
            )
        try:
            (items_pages, parse_item), (policy_pages, parse_policy) = lists
            items = [item for item in _parsed(items_pages(ref), parse_item, errors) if isinstance(item, ProtectedItem)]
            policies = [p for p in _parsed(policy_pages(ref), parse_policy, errors) if isinstance(p, Policy)]
        except ArmError as exc:
            log.warning("inventory of vault %s failed: %s", ref, exc)
            return None, [], errors
        return items, policies, errors


def _parsed(pages: Iterable[list[object]], parse: Parser, errors: Counter[str]) -> Iterator[object]:
    for page in pages:
        for raw in page:
            parsed = parse(raw, errors)
            if parsed is not None:
                yield parsed
