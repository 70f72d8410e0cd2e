"""Inventory snapshot → Prometheus metric families. Pure: no I/O, no clock, no shared mutable state."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Iterator

from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from exporter.exposition.fragments import Section, Whole, flatten
from exporter.exposition.job_families import VAULT_LABELS, state_set  # one state-set rule for every family (SPEC §6)
from exporter.exposition.policy_families import policy_families
from exporter.model import BACKUP_VAULT
from exporter.parsing.backup_instances import DPP_HEALTH_STATUSES, DPP_PROTECTION_STATES
from exporter.parsing.protected_items import PROTECTION_STATES, ProtectedItem, health_values
from exporter.store.inventory_store import InventorySnapshot, VaultInventory

# The job metrics' item labels without `operation`: the two families join on these.
INVENTORY_ITEM_LABELS = ["subscription_id", "resource_group", "vault", "backup_management_type", "item"]
INFO_LABELS = ["policy", "workload_type", "protected_item_type", "container_name", "source_resource_id",
               "last_backup_status"]
CACHED = "Cached; refreshed every inventory_interval."



class InventoryCollector(Collector):
    """The protected items of each vault, from the latest inventory (`backupProtectedItems`).

    Sample (labels I = subscription_id, resource_group, vault, backup_management_type, item — the
    job metrics' labels without `operation`, so `on (…)` joins work both ways):

        azure_backup_protected_item_info{subscription_id="0000…",resource_group="rg-backup",vault="vault-prod",
            backup_management_type="AzureIaasVM",item="vm-app-01",policy="DefaultPolicy",workload_type="VM",
            protected_item_type="Microsoft.Compute/virtualMachines",container_name="iaasvmcontainerv2;rg-app;vm-app-01",
            source_resource_id="/subscriptions/…/virtualMachines/vm-app-01",last_backup_status="Completed"} 1.0
        azure_backup_protected_item_last_backup_timestamp_seconds{…} 1.7637e+09
        azure_backup_protected_item_last_recovery_point_timestamp_seconds{…} 1.7637e+09
        azure_backup_protected_item_protection_state{…,protection_state="Protected"} 1.0
        azure_backup_protected_item_protection_state{…,protection_state="IRPending"} 0.0
        azure_backup_protected_item_health_status{…,health_status="Passed"} 1.0
        azure_backup_protected_item_health_status{…,health_status="ActionRequired"} 0.0
        azure_backup_protected_item_last_backup_error_info{…,error_code="UserErrorSQLNoSysadminMembership"} 1.0
        azure_backup_protected_items{subscription_id=…,resource_group=…,vault=…,protection_state="Protected"} 11.0
        azure_backup_protected_items{…,protection_state="ProtectionStopped"} 1.0
        azure_backup_exporter_inventory_up{subscription_id=…,resource_group=…,vault=…,source="protected_items"} 1.0
        azure_backup_exporter_inventory_last_success_timestamp_seconds{…} 1.7637e+09

    `health_status` is a VM's healthStatus (Passed, ActionRequired, …) or a workload item's
    protectedItemHealthStatus (Healthy, Unhealthy, IRPending, …); file shares have neither. The
    last backup error exists for workload items whose lastBackupErrorDetail is not "Success"; the
    timestamps are absent for an item never backed up. Both state sets always show every known
    value (0 or 1); an unknown value appears verbatim.

    Item names join case-insensitively: a SQL database's protected item and its jobs spell its name
    in different cases (Microsoft's REST docs for one vault: "msdb" in the item, "msDB" in its
    jobs), so an inventory item that matches a job series' item but for case is exported under the
    jobs' spelling, and `on (…, item)` joins hold. `job_items` gives the job series' label tuples
    (subscription_id, resource_group, vault, backup_management_type, item, …).
    """

    def __init__(
        self,
        source: Callable[[], InventorySnapshot | None],
        job_items: Callable[[], Iterable[tuple[str, ...]]] = tuple,
        extra_up: Callable[[], Iterable[tuple[list[str], float]]] = tuple,
    ) -> None:
        self._source = source
        self._job_items = job_items
        # Further rows of azure_backup_exporter_inventory_up (vault labels + source): the other
        # reads of the inventory interval (vault posture), one family for every source.
        self._extra_up = extra_up

    def _job_spellings(self) -> dict[tuple[str, ...], str]:
        """(subscription_id, resource_group, vault, backup_management_type, casefolded item) → the
        jobs' spelling of the item."""
        return {(*key[:4], key[4].casefold()): key[4] for key in self._job_items()}

    def sections(self) -> Iterator[Section]:
        """The families as one piece (exposition.fragments), rendered again only when the inventory,
        the job series' items or the other inventory reads changed: not on every job poll."""
        snapshot = self._source()
        if snapshot is None:
            return
        job_items, extra_up = tuple(self._job_items()), tuple(self._extra_up())
        yield Whole("inventory", (snapshot, job_items, extra_up),
                    lambda: self._families(snapshot, job_items, extra_up))

    def collect(self) -> Iterator[Metric]:
        return flatten(self.sections())

    def _families(self, snapshot: InventorySnapshot, job_items: tuple[tuple[str, ...], ...],
                  extra_up: tuple[tuple[list[str], float], ...]) -> Iterator[Metric]:
        inputs = InventoryCollector(lambda: snapshot, lambda: job_items, lambda: extra_up)
        yield from inputs._render(snapshot)

    def _render(self, snapshot: InventorySnapshot) -> Iterator[Metric]:
        yield from self._item_families(snapshot.vaults)
        yield from self._vault_families(snapshot.vaults)
        yield from policy_families(snapshot.vaults, self._name_function())

    def _name_function(self) -> Callable[[VaultInventory, ProtectedItem], str]:
        """The `item` label of an inventory item, as `_item_families` exports it."""
        spellings = self._job_spellings()
        folded: dict[VaultInventory, Counter[tuple[str, str]]] = {}

        def name_of(vault: VaultInventory, item: ProtectedItem) -> str:
            if vault not in folded:
                folded[vault] = Counter((i.backup_management_type, i.item.casefold()) for i in vault.items)
            key = (item.backup_management_type, item.item.casefold())
            return spellings.get((*vault.ref.labels, *key), item.item) if folded[vault][key] == 1 else item.item

        return name_of

    def _item_families(self, vaults: tuple[VaultInventory, ...]) -> Iterator[Metric]:
        def gauge(name: str, text: str, extra: list[str] | None = None) -> GaugeMetricFamily:
            return GaugeMetricFamily(name, f"{text} {CACHED}", labels=[*INVENTORY_ITEM_LABELS, *(extra or [])])

        info = gauge("azure_backup_protected_item_info", "A protected item of the vault, with its policy and type.",
                     INFO_LABELS)
        last_backup = gauge("azure_backup_protected_item_last_backup_timestamp_seconds",
                            "Time of the item's last backup operation (lastBackupTime).")
        recovery_point = gauge("azure_backup_protected_item_last_recovery_point_timestamp_seconds",
                               "Time the item's latest recovery point was created (lastRecoveryPoint).")
        state = gauge("azure_backup_protected_item_protection_state",
                      "The item's protectionState (1) among the known states (0).", ["protection_state"])
        health = gauge("azure_backup_protected_item_health_status",
                       "The item's health (1) among the known values (0): healthStatus of VMs, "
                       "protectedItemHealthStatus of workload items.", ["health_status"])
        last_error = gauge("azure_backup_protected_item_last_backup_error_info",
                           "The error of the item's last backup (lastBackupErrorDetail); workload items.",
                           ["error_code"])
        spellings = self._job_spellings()
        for vault in vaults:
            # Two items that differ only in case keep their own names: one series each.
            folded = Counter((item.backup_management_type, item.item.casefold()) for item in vault.items)
            for item in vault.items:
                key = (item.backup_management_type, item.item.casefold())
                name = spellings.get((*vault.ref.labels, *key), item.item) if folded[key] == 1 else item.item
                labels = [*vault.ref.labels, item.backup_management_type, name]
                info.add_metric([*labels, item.policy, item.workload_type, item.protected_item_type,
                                 item.container_name, item.source_resource_id, item.last_backup_status or ""], 1.0)
                if item.last_backup_time is not None:
                    last_backup.add_metric(labels, item.last_backup_time)
                if item.last_recovery_point is not None:
                    recovery_point.add_metric(labels, item.last_recovery_point)
                states = DPP_PROTECTION_STATES if vault.ref.kind == BACKUP_VAULT else PROTECTION_STATES
                state_set(state, labels, item.protection_state, states)
                if item.health_status is not None:
                    known = DPP_HEALTH_STATUSES if vault.ref.kind == BACKUP_VAULT else health_values(item)
                    state_set(health, labels, item.health_status, known)
                if item.last_error is not None:
                    last_error.add_metric([*labels, item.last_error], 1.0)
        yield from (info, last_backup, recovery_point, state, health, last_error)

    def _vault_families(self, vaults: tuple[VaultInventory, ...]) -> Iterator[Metric]:
        count = GaugeMetricFamily("azure_backup_protected_items",
                                  f"Protected items of the vault by protectionState. {CACHED}",
                                  labels=[*VAULT_LABELS, "protection_state"])
        up = GaugeMetricFamily("azure_backup_exporter_inventory_up",
                               "1 if the vault's last inventory read from `source` succeeded (protected_items: "
                               "the protected-item listing).",
                               labels=[*VAULT_LABELS, "source"])
        last = GaugeMetricFamily("azure_backup_exporter_inventory_last_success_timestamp_seconds",
                                 "Time of the vault's last successful inventory.", labels=VAULT_LABELS)
        for vault in vaults:
            if not vault.polled:
                continue
            labels = list(vault.ref.labels)
            up.add_metric([*labels, "protected_items"], 1.0 if vault.up else 0.0)
            if vault.last_success is None:
                continue  # never listed successfully: no counts to show
            last.add_metric(labels, vault.last_success)
            counts = dict(vault.counts)
            known = DPP_PROTECTION_STATES if vault.ref.kind == BACKUP_VAULT else PROTECTION_STATES
            for name in (*known, *sorted(s for s in counts if s not in known)):
                count.add_metric([*labels, name], float(counts.get(name, 0)))
        for labels, value in self._extra_up():
            up.add_metric(labels, value)
        yield from (count, up, last)
