"""Vault posture: Azure's own example bodies parsed in tables, malformed ones counted, and the cycle
against the simulator — one request per read per vault per interval, a 403 on one read leaving the
others working, every family in the exposition."""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from collections.abc import Callable
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from exporter.azure.telemetry import ApiTelemetry
from exporter.exposition.posture_families import rsv_purge_time
from exporter.parsing.protected_items import parse_protected_item
from exporter.parsing.vault_posture import (
    Availability,
    DeletedInstance,
    UnprotectedResource,
    VaultSecurity,
    parse_availability,
    parse_deleted_instance,
    parse_unprotected,
    parse_usages,
    parse_vault_security,
)
from exporter.service import App
from exporter.simulator import EstateSpec, Fault, Simulator
from exporter.simulator.schedule import TICKS_PER_SECOND
from tests.support import AZURE_FIXTURES, ManualClock, sim_config

FIXTURES = AZURE_FIXTURES
DAY = 86400.0
SPEC = EstateSpec(subscriptions=1, vaults_per_subscription=2, items_per_vault=4, period_seconds=3600.0,
                  duration_range=(300, 1200), deletion_jobs=1, history_seconds=2 * DAY,
                  backup_vaults_per_subscription=1, posture_cases=True)
POSTURE_APIS = ("get_vault", "list_vault_usages", "list_deleted_backup_instances", "get_availability_status")


def body(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"))["responses"]["200"]["body"]


# ------------------------------------------------------------------------------------- parsing


def test_recovery_services_vault_get_example() -> None:
    errors: Counter[str] = Counter()
    assert parse_vault_security(body("rsv_GETVault_2025-08-01.json"), False, errors) == VaultSecurity(
        soft_delete_state="Enabled", soft_delete_retention_days=14.0, enhanced_security="Enabled",
        immutability_state="Disabled", multi_user_authorization="Disabled", cross_region_restore="Enabled",
        redundancy="GeoRedundant", security_level="Poor", job_failure_alerts="Enabled", location="westus",
    )
    assert not errors


def test_backup_vault_get_example() -> None:
    errors: Counter[str] = Counter()
    assert parse_vault_security(body("dpp_GetBackupVaultWithCMK_2025-07-01.json"), True, errors) == VaultSecurity(
        soft_delete_state="Off", soft_delete_retention_days=0.0, immutability_state="Disabled",
        multi_user_authorization="Disabled", redundancy="LocallyRedundant", location="WestUS",
    )
    assert not errors


def test_usages_example() -> None:
    errors: Counter[str] = Counter()
    usage = parse_usages(body("rsv_ListUsages_2025-08-01.json")["value"], errors)
    assert dict(usage.storage_bytes) == {"GRS": 117007930.0, "LRS": 0.0, "GRSDedup": 0.0, "LRSDedup": 0.0}
    assert dict(usage.items_by_health) == {"Critical": 0.0, "Warning": 0.0, "Healthy": 3.0}
    assert not errors


def test_deleted_backup_instance_example() -> None:
    errors: Counter[str] = Counter()
    found = parse_deleted_instance(body("dpp_GetDeletedBackupInstance_2025-07-01.json"), errors)
    assert found == DeletedInstance("testInstance1", "AzureDatabaseForPostgreSQL", 1653004836.6660445)
    assert not errors


def test_availability_examples() -> None:
    errors: Counter[str] = Counter()
    found = [parse_availability(s, errors)
             for s in body("rh_AvailabilityStatuses_ListByResourceGroup_2025-05-01.json")["value"]]
    assert found == [Availability("Available", "Unplanned"), Availability("Unavailable", "Unplanned")]
    assert not errors


@pytest.mark.parametrize(
    ("parse", "raw", "field"),
    [
        (lambda raw, e: parse_vault_security(raw, False, e), [], "vault"),
        (lambda raw, e: parse_vault_security(raw, False, e), {"properties": "x"}, "vault"),
        (lambda raw, e: parse_vault_security(raw, False, e),
         {"properties": {"securitySettings": {"softDeleteSettings": {"softDeleteRetentionPeriodInDays": "14"}}}},
         "softDeleteSettings"),
        (lambda raw, e: parse_vault_security(raw, True, e), {"properties": {"storageSettings": "GRS"}},
         "storageSettings"),
        (parse_usages, [{"name": {"value": "GRSStorageUsage"}, "currentValue": "1"}],
         "currentValue"),
        (parse_usages, [7], "usage"),
        (parse_deleted_instance, {"properties": {"deletionInfo": {}}}, "scheduledPurgeTime"),
        (parse_deleted_instance,
         {"properties": {"deletionInfo": {"scheduledPurgeTime": "tomorrow"}}}, "scheduledPurgeTime"),
        (parse_deleted_instance, None, "deletedBackupInstance"),
        (parse_availability, {"properties": {}}, "availabilityState"),
        (parse_protected_item, {"properties": {"isScheduledForDeferredDelete": True,
                                               "deferredDeleteTimeRemaining": "soon"}}, "deferredDeleteTimeRemaining"),
    ],
)
def test_malformed_bodies_are_counted_never_fatal(parse: Callable[[Any, Counter[str]], object], raw: Any,
                                                  field: str) -> None:
    errors: Counter[str] = Counter()
    parse(raw, errors)
    assert errors[field] >= 1


def test_a_protected_item_in_soft_delete_gets_its_purge_time() -> None:
    errors: Counter[str] = Counter()
    item = parse_protected_item({"properties": {
        "friendlyName": "vm-1", "protectionState": "ProtectionStopped", "protectedItemType": "x",
        "isScheduledForDeferredDelete": True, "deferredDeleteTimeInUTC": "2026-01-01T00:00:00Z",
        "deferredDeleteTimeRemaining": "2.00:00:00"}}, errors)
    assert item is not None
    assert (item.deferred_delete_time, item.deferred_delete_remaining) == (1767225600.0, 2 * DAY)
    # The remaining window wins; without it, the delete time plus the vault's retention (else 14 days).
    assert rsv_purge_time(item.deferred_delete_time, item.deferred_delete_remaining, 1767300000.0, 30) == \
        1767300000.0 + 2 * DAY
    assert rsv_purge_time(1767225600.0, None, 1767300000.0, 30) == 1767225600.0 + 30 * DAY
    assert rsv_purge_time(1767225600.0, None, None, None) == 1767225600.0 + 14 * DAY
    assert rsv_purge_time(None, None, None, None) is None


# ------------------------------------------------------------------------------------ the cycle


@pytest.fixture
def sim(start_simulator: Callable[..., Simulator], clock: ManualClock) -> Simulator:
    return start_simulator(SPEC, clock=clock)


def samples(app: App) -> dict[str, list[tuple[dict[str, str], float]]]:
    found: dict[str, list[tuple[dict[str, str], float]]] = defaultdict(list)
    for family in text_string_to_metric_families(app.publisher.current.plain.decode()):
        for sample in family.samples:
            found[sample.name].append((sample.labels, sample.value))
    return found


def config(sim: Simulator, **collection: Any) -> Any:
    """Every vault of the subscription, both kinds, by discovery."""
    return sim_config(sim, targets=[{"subscription_id": "*"}], lookback="6h", **collection)


def posture_requests(sim: Simulator) -> Counter[str]:
    return Counter(r.api for r in sim.requests() if r.api in POSTURE_APIS)


def test_one_request_per_read_per_vault_per_interval(sim: Simulator, clock: ManualClock) -> None:
    monotonic = ManualClock(0.0)
    app = App(config(sim, inventory_interval="30m"), ApiTelemetry(), clock=clock,
              monotonic=monotonic)
    assert app.poller.poll_once()
    assert app.posture is not None
    for minutes, reads in ((0, 1), (10, 0), (31, 1)):
        monotonic.now = minutes * 60.0
        before = posture_requests(sim)
        app.posture.poll_due()
        # Two Recovery Services vaults and one backup vault.
        assert posture_requests(sim) - before == Counter({
            "get_vault": 3 * reads, "get_availability_status": 3 * reads, "list_vault_usages": 2 * reads,
            "list_deleted_backup_instances": reads,
        }), minutes
    app.close()


def test_every_family_reaches_the_exposition(sim: Simulator, clock: ManualClock) -> None:
    app = App(config(sim), ApiTelemetry(), clock=clock, monotonic=ManualClock(0.0))
    assert app.poll_once()
    found = samples(app)
    weak, open_ = (v.name for v in sim.estate.vaults)
    soft = {(labels["vault"], labels["state"]): value
            for labels, value in found["azure_backup_vault_soft_delete_state"]}
    assert soft[weak, "Disabled"] == 1.0
    assert soft[open_, "Enabled"] == 1.0
    immutable = {(labels["vault"], labels["state"]): value
                 for labels, value in found["azure_backup_vault_immutability_state"]}
    assert (immutable[weak, "Locked"], immutable[open_, "Disabled"]) == (1.0, 1.0)
    available = {labels["vault"]: (labels["state"], value) for labels, value in found["azure_backup_vault_available"]}
    assert available[open_] == ("Degraded", 0.0)
    assert available[weak] == ("Available", 1.0)
    purges = {labels["item"]: value for labels, value in found["azure_backup_protected_item_purge_timestamp_seconds"]}
    # Two days after the estate started: its listing says how long is left, and that is what counts.
    assert purges["vm-purge-001"] == pytest.approx(sim.estate.anchor / TICKS_PER_SECOND + 2 * DAY, abs=1)
    assert "pgflex-deleted-001" in purges
    storage = [labels for labels, _ in found["azure_backup_vault_storage_bytes"]]
    assert {labels["redundancy"] for labels in storage} == {"GRS", "LRS"}
    assert found["azure_backup_vault_protected_items_by_health"]
    assert found["azure_backup_vault_security_info"]
    assert found["azure_backup_vault_soft_delete_retention_days"]
    app.close()


def test_a_403_on_one_read_leaves_the_others_working(sim: Simulator, clock: ManualClock) -> None:
    app = App(config(sim), ApiTelemetry(), clock=clock, monotonic=ManualClock(0.0))
    assert app.poll_once()
    before = samples(app)
    sim.add_fault(Fault(path="availabilityStatuses/current", status=403, times=None))
    assert app.posture is not None
    assert not app.posture.poll_once()
    found = samples(app)
    up = {(labels["vault"], labels["source"]): value for labels, value in found["azure_backup_exporter_inventory_up"]}
    assert {value for (_, source), value in up.items() if source == "resource_health"} == {0.0}
    assert {value for (_, source), value in up.items() if source != "resource_health"} == {1.0}
    # The listing keeps its own series: two Recovery Services vaults and the backup vault's instances.
    assert len([key for key in up if key[1] == "protected_items"]) == 3
    # The failed source keeps its last good series; the others are refreshed.
    assert found["azure_backup_vault_available"] == before["azure_backup_vault_available"]
    assert found["azure_backup_vault_security_info"] == before["azure_backup_vault_security_info"]
    app.close()


# ------------------------------------------------------------------------------------- coverage


def test_resource_graph_rows_example() -> None:
    errors: Counter[str] = Counter()
    rows = [parse_unprotected(row, errors) for row in body("arg_ResourcesFirstPageQuery_2024-04-01.json")["data"]]
    assert rows[0] == UnprotectedResource("cfbbd179-59d2-4052-aa06-9270a38aa9d6", "RG1", "microsoft.compute/disks",
                                          "yetanothertest_OsDisk_1_f396cbcb625a457bb69fe2abf5975820")
    assert not errors
    assert parse_unprotected({"id": "/x"}, errors) is None
    assert errors["name"] == 1


def test_coverage_lists_the_unprotected_vms_once_per_cycle(sim: Simulator, clock: ManualClock) -> None:
    monotonic = ManualClock(0.0)
    app = App(config(sim, coverage=True, inventory_interval="30m"), ApiTelemetry(), clock=clock, monotonic=monotonic)
    assert app.poll_once()
    found = samples(app)
    unprotected = {labels["resource"]: labels for labels, _ in found["azure_backup_unprotected_resource_info"]}
    assert sorted(unprotected) == ["vm-unprotected-001", "vm-unprotected-002"]
    assert unprotected["vm-unprotected-001"]["resource_type"] == "microsoft.compute/virtualmachines"
    graph = sum(1 for r in sim.requests() if r.api == "resource_graph")
    assert graph == 1
    assert app.posture is not None
    monotonic.now = 600.0
    app.posture.poll_due()
    assert sum(1 for r in sim.requests() if r.api == "resource_graph") == graph  # not due yet
    # A 403 on the query: coverage down for its subscription, its last answer kept, the vaults fine.
    sim.add_fault(Fault(path="Microsoft.ResourceGraph", status=403, times=None))
    assert not app.posture.poll_once()
    found = samples(app)
    up = {(labels["vault"], labels["source"]): value for labels, value in found["azure_backup_exporter_inventory_up"]}
    assert up[("", "coverage")] == 0.0
    assert {value for (_, source), value in up.items() if source != "coverage"} == {1.0}
    assert len(found["azure_backup_unprotected_resource_info"]) == 2
    app.close()


def test_coverage_is_off_by_default(sim: Simulator, clock: ManualClock) -> None:
    app = App(config(sim), ApiTelemetry(), clock=clock, monotonic=ManualClock(0.0))
    assert app.poll_once()
    assert "azure_backup_unprotected_resource_info" not in samples(app)
    assert not any(r.api == "resource_graph" for r in sim.requests())
    app.close()
