"""The inventory against the simulator: requests per interval, agreement with the jobs, state sets."""

from __future__ import annotations

import math
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from exporter.azure.telemetry import ApiTelemetry
from exporter.config.schema import ConfigError, parse_config
from exporter.parsing.protected_items import HEALTH_STATUSES, PROTECTION_STATES, WORKLOAD_HEALTH_STATUSES
from exporter.service import App
from exporter.simulator import EstateSpec, Fault, Simulator
from exporter.simulator.inventory import protected_items
from tests.support import ManualClock, sim_config

HOUR = 3600.0
PAGE = 5
# First vault: items 0-4 keep failing (0-3 VMs, 4 a SQL database), item 11 (a VM) had its backup
# data deleted, and one extra VM was never backed up. Item 7 is a file share.
SPEC = EstateSpec(subscriptions=1, vaults_per_subscription=2, items_per_vault=12, period_seconds=HOUR,
                  duration_range=(300, 1200), page_size=PAGE, failing_items=5, deletion_jobs=1,
                  never_backed_up_items=1, history_seconds=5 * 86400.0)
ItemKey = tuple[str, str]  # backup_management_type, item


@pytest.fixture
def sim(start_simulator: Callable[..., Simulator], clock: ManualClock) -> Simulator:
    return start_simulator(SPEC, clock=clock)


def app_for(sim: Simulator, clock: ManualClock, monotonic: ManualClock | None = None, **collection: Any) -> App:
    config = sim_config(sim, **{"lookback": "6h", **collection})
    return App(config, ApiTelemetry(), clock=clock, monotonic=monotonic or ManualClock(0.0))


def inventory_requests(sim: Simulator) -> int:
    return sum(1 for r in sim.requests() if r.api == "list_protected_items")


def samples(app: App) -> dict[str, list[tuple[dict[str, str], float]]]:
    """Every sample of the published exposition, by sample name (parsed back, so escaping is checked)."""
    found: dict[str, list[tuple[dict[str, str], float]]] = defaultdict(list)
    for family in text_string_to_metric_families(app.publisher.current.plain.decode()):
        for sample in family.samples:
            found[sample.name].append((sample.labels, sample.value))
    return found


def by_item(rows: list[tuple[dict[str, str], float]], vault: str) -> dict[ItemKey, list[tuple[dict[str, str], float]]]:
    grouped: dict[ItemKey, list[tuple[dict[str, str], float]]] = defaultdict(list)
    for labels, value in rows:
        if labels["vault"] == vault:
            grouped[labels["backup_management_type"], labels["item"]].append((labels, value))
    return grouped


def polled(sim: Simulator, clock: ManualClock, **collection: Any) -> App:
    app = app_for(sim, clock, **collection)
    assert app.poller.poll_once()
    assert app.inventory is not None
    assert app.inventory.poll_once()
    return app


def test_one_paged_listing_per_vault_per_inventory_interval(sim: Simulator, clock: ManualClock) -> None:
    monotonic = ManualClock(0.0)
    app = app_for(sim, clock, monotonic, inventory_interval="30m")
    assert app.inventory is not None
    app.poller.poll_once()
    sizes = [len(protected_items(sim.estate, vault)) for vault in sim.estate.vaults]
    assert sizes == [13, 12]
    pages = sum(math.ceil(size / PAGE) for size in sizes)  # nextLink pages of the same listing
    for minutes, listed in ((0, 2), (10, 0), (29, 0), (31, 2), (45, 0), (61, 2)):
        monotonic.now = minutes * 60.0
        clock.now += 60
        sim.reset_requests()
        assert app.inventory.poll_due() == listed, f"at {minutes}m"
        assert inventory_requests(sim) == (pages if listed else 0), f"at {minutes}m"
        # Beside the items, one listing of the vault's policies (tests/polling/test_policies.py counts it).
        assert {r.api for r in sim.requests()} <= {"list_protected_items", "list_policies"}


def test_inventory_off_lists_nothing_and_exports_nothing(sim: Simulator, clock: ManualClock) -> None:
    on = polled(sim, clock)
    assert "azure_backup_protected_items" in samples(on)
    sim.reset_requests()
    off = App(sim_config(sim, lookback="6h", inventory_interval=0), ApiTelemetry(), store=on.store,
              publisher=on.publisher, clock=clock)
    assert off.inventory is None
    assert off.poll_once()
    assert inventory_requests(sim) == 0
    assert not [name for name in samples(off) if "protected_item" in name or "inventory" in name]


def test_items_join_the_job_series_and_their_times_match_the_jobs(sim: Simulator, clock: ManualClock) -> None:
    app = polled(sim, clock)
    found = samples(app)
    for vault in sim.estate.vaults:
        inventory = by_item(found["azure_backup_protected_item_info"], vault.name)
        jobs = by_item(found["azure_backup_job_last_status"], vault.name)
        extra = {("AzureIaasVM", "vm-new-001")} if vault.index == 0 else set()
        # Same item and backup_management_type spelling in both families, SQL databases included.
        assert set(inventory) == set(jobs) | extra
        assert any(item.startswith("MSSQLSERVER/") for _, item in inventory)
        history = sim.estate.jobs(*vault.ref, clock.now - SPEC.history_seconds, clock.now)
        backups = [j["properties"] for j in history if j["properties"]["operation"].startswith("Backup")]
        last_backup = by_item(found["azure_backup_protected_item_last_backup_timestamp_seconds"], vault.name)
        recovery_point = by_item(found["azure_backup_protected_item_last_recovery_point_timestamp_seconds"],
                                 vault.name)
        for key in set(jobs):
            mine = [p for p in backups if (p["backupManagementType"], p["entityFriendlyName"]) == key]
            finished = [p["startTime"] for p in mine if p["status"] != "InProgress"]
            succeeded = [p["startTime"] for p in mine if p["status"] in ("Completed", "CompletedWithWarnings")]
            assert [v for _, v in last_backup[key]] == [_seconds(max(finished))], key
            assert [v for _, v in recovery_point[key]] == [_seconds(max(succeeded))], key
        assert not last_backup.get(("AzureIaasVM", "vm-new-001"))


def _seconds(text: str) -> float:
    from exporter.parsing.values import parse_time  # noqa: PLC0415 - the exporter's own reading of Azure times

    value = parse_time(text)
    assert value is not None
    return value


def test_state_sets_show_every_known_value_and_the_estate_s_troubles(sim: Simulator, clock: ManualClock) -> None:
    found = samples(polled(sim, clock))
    first = sim.estate.vaults[0].name
    state = by_item(found["azure_backup_protected_item_protection_state"], first)
    health = by_item(found["azure_backup_protected_item_health_status"], first)
    current: dict[ItemKey, str] = {}
    for key, rows in state.items():
        assert {labels["protection_state"] for labels, _ in rows} == set(PROTECTION_STATES), key
        assert sum(value for _, value in rows) == 1
        current[key] = next(labels["protection_state"] for labels, value in rows if value == 1)
    vm_health, workload_health = {}, {}
    for key, rows in health.items():
        assert key[0] in ("AzureIaasVM", "AzureWorkload"), "file shares report no health"
        vm = key[0] == "AzureIaasVM"
        known = HEALTH_STATUSES if vm else WORKLOAD_HEALTH_STATUSES
        assert {labels["health_status"] for labels, _ in rows} == set(known)
        (vm_health if vm else workload_health)[key[1]] = next(labels["health_status"] for labels, v in rows if v == 1)
    items = sim.estate.items(sim.estate.vaults[0])
    assert {key[1] for key in state if key[0] == "AzureIaasVM"} == set(vm_health)
    assert [vm_health[item.name] for item in items[:4]] == ["ActionRequired"] * 4  # failing VMs
    assert current["AzureWorkload", items[4].name] == "ProtectionError"  # failing database
    assert workload_health[items[4].name] == "Unhealthy"
    (error,) = [labels["error_code"] for labels, _ in found["azure_backup_protected_item_last_backup_error_info"]
                if labels["vault"] == first]
    assert error.startswith(("UserError", "Operation"))  # the failing database's, never "Success"
    assert current[items[11].backup_management_type, items[11].name] == "ProtectionStopped"  # data deleted
    assert current["AzureIaasVM", "vm-new-001"] == "IRPending"
    assert Counter(current.values()) == Counter(
        {"Protected": 10, "ProtectionError": 1, "ProtectionStopped": 1, "IRPending": 1})
    counts = {labels["protection_state"]: value for labels, value in found["azure_backup_protected_items"]
              if labels["vault"] == first}
    assert counts == {name: float(Counter(current.values())[name]) for name in PROTECTION_STATES}


def test_failed_inventory_keeps_the_last_items_and_shows_down(sim: Simulator, clock: ManualClock) -> None:
    app = polled(sim, clock)
    assert app.inventory is not None
    bad = sim.estate.vaults[1]
    before = by_item(samples(app)["azure_backup_protected_item_info"], bad.name)
    sim.add_fault(Fault(path=f"{bad.name}/backupProtectedItems", status=403, times=None))
    clock.advance(HOUR)
    assert not app.inventory.poll_once()
    found = samples(app)
    assert by_item(found["azure_backup_protected_item_info"], bad.name) == before
    up = {labels["vault"]: value for labels, value in found["azure_backup_exporter_inventory_up"]
          if labels["source"] == "protected_items"}
    assert up == {sim.estate.vaults[0].name: 1.0, bad.name: 0.0}
    assert ({"api": "list_protected_items", "code": "403"}, 1.0) in found["azure_backup_exporter_api_requests_total"]


def test_app_runs_the_inventory_beside_the_job_poller_and_stops_both(sim: Simulator, clock: ManualClock) -> None:
    app = App(sim_config(sim, interval="1h", lookback="6h"), ApiTelemetry(), clock=clock)
    stop = threading.Event()
    runner = threading.Thread(target=app.run, args=(stop,), name="test-app-run")
    runner.start()
    try:
        deadline = time.monotonic() + 20
        while b"azure_backup_protected_items{" not in app.publisher.current.plain and time.monotonic() < deadline:
            time.sleep(0.05)
        assert "azure_backup_protected_items" in samples(app)
    finally:
        stop.set()
        runner.join(timeout=10)
        app.close()
    assert not runner.is_alive()
    assert inventory_requests(sim) == sum(math.ceil(len(protected_items(sim.estate, v)) / PAGE)
                                          for v in sim.estate.vaults)


@pytest.mark.parametrize(("value", "seconds"), [(None, 1800.0), ("1h", 3600.0), (0, 0.0), ("0", 0.0), (False, 0.0)])
def test_inventory_interval_defaults_to_30m_and_0_or_false_turn_it_off(value: object, seconds: float) -> None:
    collection = {} if value is None else {"inventory_interval": value}
    config = parse_config({"collection": collection, "targets": [{"subscription_id": "*"}]}, environ={})
    assert config.collection.inventory_interval == seconds


@pytest.mark.parametrize("value", ["-5m", "soon", True, [1]])
def test_bad_inventory_interval_is_reported_with_its_key_path(value: object) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config({"collection": {"inventory_interval": value}, "targets": [{"subscription_id": "*"}]}, environ={})
    assert any(p.startswith("collection.inventory_interval: ") for p in caught.value.problems)
