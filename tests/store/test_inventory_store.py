"""The inventory store and collector without Azure: twins, failures, departures, state sets."""

from __future__ import annotations

import pytest
from prometheus_client import CollectorRegistry

from exporter.azure.telemetry import ApiTelemetry
from exporter.exposition.inventory_families import InventoryCollector
from exporter.exposition.publisher import Publisher
from exporter.model import VaultRef
from exporter.parsing.protected_items import ProtectedItem
from exporter.simulator import EstateSpec
from exporter.store.inventory_store import InventorySnapshot, InventoryStore

T0 = 1_763_700_000.0
VAULT = VaultRef("00000000-0000-0000-0000-000000000000", "rg-backup", "vault-prod")
OTHER = VaultRef("00000000-0000-0000-0000-000000000000", "rg-backup", "vault-dr")
VAULT_LABELS = {"subscription_id": VAULT.subscription_id, "resource_group": "rg-backup", "vault": "vault-prod"}
LABELS = {**VAULT_LABELS, "backup_management_type": "AzureIaasVM", "item": "vm-app-01"}


def vm(
    name: str = "vm-app-01", state: str = "Protected", point: float | None = T0 - 3600, **kw: object
) -> ProtectedItem:
    fields: dict[str, object] = {"health_status": "Passed", "policy": "DefaultPolicy", **kw}
    return ProtectedItem(name, "AzureIaasVM", "Microsoft.Compute/virtualMachines", "VM", state,
                         last_recovery_point=point, **fields)  # type: ignore[arg-type]


def registry(snapshot: InventorySnapshot | None) -> CollectorRegistry:
    reg = CollectorRegistry(auto_describe=False)
    reg.register(InventoryCollector(lambda: snapshot))
    return reg


def test_two_items_with_the_same_labels_export_the_staler_once() -> None:
    store = InventoryStore(lambda: T0)
    store.set_vaults([VAULT])
    store.record(VAULT, [vm(point=T0 - 3600), vm(point=T0 - 7 * 86400), vm("vm-app-02")])
    (vault,) = store.snapshot().vaults
    assert [(i.item, i.last_recovery_point) for i in vault.items] == [
        ("vm-app-01", T0 - 7 * 86400), ("vm-app-02", T0 - 3600)]
    assert dict(vault.counts) == {"Protected": 3}  # the count is of what the vault holds
    get = registry(store.snapshot()).get_sample_value
    assert get("azure_backup_protected_items", {**VAULT_LABELS, "protection_state": "Protected"}) == 3


def test_failed_listing_keeps_items_and_a_vault_that_leaves_takes_them_along() -> None:
    store = InventoryStore(lambda: T0)
    store.set_vaults([VAULT, OTHER])
    store.record(VAULT, [vm()])
    store.record(OTHER, [vm("vm-dr-01")])
    store.record(VAULT, None)
    vaults = {v.ref: v for v in store.snapshot().vaults}
    assert (vaults[VAULT].up, vaults[VAULT].last_success, [i.item for i in vaults[VAULT].items]) == (
        False, T0, ["vm-app-01"])
    store.set_vaults([VAULT])
    assert [v.ref for v in store.snapshot().vaults] == [VAULT]
    store.record(OTHER, [vm("late")])  # its listing was in flight when it left
    assert [v.ref for v in store.snapshot().vaults] == [VAULT]


def test_state_sets_keep_known_values_and_pass_unknown_ones_verbatim() -> None:
    store = InventoryStore(lambda: T0)
    store.set_vaults([VAULT])
    store.record(VAULT, [vm(state="SoftDeleted", health_status="Degraded")])
    get = registry(store.snapshot()).get_sample_value
    state = "azure_backup_protected_item_protection_state"
    assert get(state, {**LABELS, "protection_state": "SoftDeleted"}) == 1
    assert get(state, {**LABELS, "protection_state": "Protected"}) == 0
    assert get(state, {**LABELS, "protection_state": "BackupsSuspended"}) == 0
    assert get("azure_backup_protected_item_health_status", {**LABELS, "health_status": "Degraded"}) == 1
    assert get("azure_backup_protected_item_health_status", {**LABELS, "health_status": "Passed"}) == 0


def test_a_vault_never_listed_shows_down_without_counts_or_a_last_success() -> None:
    store = InventoryStore(lambda: T0)
    store.set_vaults([VAULT])
    up = registry(store.snapshot()).get_sample_value(
        "azure_backup_exporter_inventory_up", {**VAULT_LABELS, "source": "protected_items"})
    assert up is None  # not listed yet
    store.record(VAULT, None)
    reg = registry(store.snapshot())
    vault_labels = VAULT_LABELS
    source = {**vault_labels, "source": "protected_items"}
    assert reg.get_sample_value("azure_backup_exporter_inventory_up", source) == 0
    assert reg.get_sample_value("azure_backup_exporter_inventory_last_success_timestamp_seconds", vault_labels) is None
    counts = {**vault_labels, "protection_state": "Protected"}
    assert reg.get_sample_value("azure_backup_protected_items", counts) is None


def test_item_without_health_or_times_has_only_its_info_and_state() -> None:
    store = InventoryStore(lambda: T0)
    store.set_vaults([VAULT])
    store.record(VAULT, [vm(state="IRPending", point=None, health_status=None, last_backup_status="IRPending")])
    get = registry(store.snapshot()).get_sample_value
    info = {**LABELS, "policy": "DefaultPolicy", "workload_type": "VM",
            "protected_item_type": "Microsoft.Compute/virtualMachines", "container_name": "",
            "source_resource_id": "", "last_backup_status": "IRPending"}
    assert get("azure_backup_protected_item_info", info) == 1
    assert get("azure_backup_protected_item_last_recovery_point_timestamp_seconds", LABELS) is None
    assert get("azure_backup_protected_item_last_backup_timestamp_seconds", LABELS) is None
    assert get("azure_backup_protected_item_health_status", {**LABELS, "health_status": "Passed"}) is None


def test_publisher_renders_the_inventory_beside_the_jobs_and_drops_it_when_off() -> None:
    publisher = Publisher(ApiTelemetry())
    assert b"azure_backup_protected_item" not in publisher.current.plain
    store = InventoryStore(lambda: T0)
    store.set_vaults([VAULT])
    store.record(VAULT, [vm()])
    publisher.publish_inventory(store.snapshot())
    assert b"azure_backup_protected_item_info{" in publisher.current.plain
    publisher.publish_inventory(None)
    assert b"azure_backup_protected_item" not in publisher.current.plain


def test_estate_spec_rejects_a_negative_number_of_never_backed_up_items() -> None:
    with pytest.raises(ValueError, match="never_backed_up_items"):
        EstateSpec(never_backed_up_items=-1)
