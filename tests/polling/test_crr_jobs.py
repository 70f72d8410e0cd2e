"""Cross-region restore jobs (issue 12 part 5): Azure's CRR job list read into the vault's polls.

The example body is Azure's (tests/fixtures/azure/README.md); the simulator serves the CRR case
of `EstateSpec.posture_cases` (simulator.crr): vault 1 has cross-region restore on and a failed and
a completed CrossRegionRestore job in its paired region.
"""

from __future__ import annotations

import json
import logging
from collections import Counter, defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from exporter.azure.arm import ArmError
from exporter.azure.backup import RecoveryServicesApi, vault_info
from exporter.azure.regions import PAIRED_REGIONS, secondary_region
from exporter.azure.telemetry import ApiTelemetry
from exporter.model import VaultInfo, VaultRef
from exporter.parsing.jobs import parse_job
from exporter.polling.crr_jobs import UNKNOWN_REGION_FIELD, CrossRegionJobs
from exporter.service import App
from exporter.simulator import EstateSpec, Fault, Simulator
from exporter.simulator.catalog import LOCATIONS
from exporter.simulator.crr import PAIRED_REGIONS as SIMULATED_PAIRS
from exporter.simulator.crr import crr_jobs
from exporter.store.job_store import Store
from exporter.store.state_file import StateFile
from tests.arm_builders import client_for
from tests.support import AZURE_FIXTURES, ManualClock, by_api, sim_config

FIXTURES = AZURE_FIXTURES
SPEC = EstateSpec(subscriptions=1, vaults_per_subscription=2, items_per_vault=4, period_seconds=3600.0,
                  duration_range=(300, 1200), failure_ratio=0.0, warning_ratio=0.0, restore_ratio=0.0,
                  history_seconds=86400.0, posture_cases=True)
API_VERSION = "2025-08-01"


def example() -> Any:
    return json.loads((FIXTURES / "rsv_ListCrrJobs_Post_2021-11-15.json").read_text(encoding="utf-8"))


# ------------------------------------------------------------------------------------ parsing


def test_the_crr_example_parses_as_a_cross_region_restore_job() -> None:
    errors: Counter[str] = Counter()
    (raw,) = example()["responses"]["200"]["body"]["value"]
    job = parse_job(raw, errors)
    assert job is not None
    assert (job.job_id, job.item, job.backup_management_type, job.operation, job.status) == (
        "02585cc9-d7f4-4b46-860c-14c048cce178", "sriniccylinux", "AzureIaasVM", "CrossRegionRestore", "InProgress")
    assert job.start_time is not None
    assert not job.finished
    assert errors == Counter()


@pytest.mark.parametrize(("properties", "expected"), [
    ({"redundancySettings": {"crossRegionRestore": "Enabled", "standardTierStorageRedundancy": "GeoRedundant"}}, True),
    ({"redundancySettings": {"crossRegionRestore": "enabled"}}, True),
    ({"redundancySettings": {"crossRegionRestore": "Disabled"}}, False),
    ({"provisioningState": "Succeeded"}, False),  # the list example's entries carry no redundancySettings
    ({"redundancySettings": "Enabled"}, False),
    ("garbage", False),
])
def test_the_vault_list_entry_says_whether_cross_region_restore_is_on(properties: Any, expected: bool) -> None:
    entry = {"id": "/subscriptions/s/resourceGroups/rg/providers/Microsoft.RecoveryServices/vaults/v",
             "name": "v", "location": "westeurope", "properties": properties}
    info = vault_info("s", entry)
    assert info is not None
    assert info.cross_region_restore is expected


@pytest.mark.parametrize(("location", "secondary"), [
    ("westeurope", "northeurope"), ("West Europe", "northeurope"), ("brazilsouth", "southcentralus"),
    ("southcentralus", "northcentralus"), ("westus3", "eastus"), ("japaneast", "japanwest"),
    ("polandcentral", None), ("", None), ("marsnorth", None),
])
def test_secondary_region(location: str, secondary: str | None) -> None:
    assert secondary_region(location) == secondary


def test_every_pair_points_at_a_region_of_the_table_and_the_simulator_agrees() -> None:
    assert set(PAIRED_REGIONS.values()) <= set(PAIRED_REGIONS)
    assert {location: secondary_region(location) for location in LOCATIONS} == SIMULATED_PAIRS


def test_an_unknown_location_skips_the_vault_with_one_log_line_and_a_count(caplog: pytest.LogCaptureFixture) -> None:
    crr = CrossRegionJobs(RecoveryServicesApi(None, API_VERSION))  # type: ignore[arg-type] # never called
    info = VaultInfo(VaultRef("s", "rg", "v"), "marsnorth", cross_region_restore=True)
    errors: Counter[str] = Counter()
    with caplog.at_level(logging.WARNING):
        assert crr.region(info, errors) is None
        assert crr.region(info, errors) is None
    assert errors == Counter({UNKNOWN_REGION_FIELD: 2})
    assert len([r for r in caplog.records if "marsnorth" in r.getMessage()]) == 1


# ------------------------------------------------------------------------------------ the simulator


@pytest.fixture
def sim(start_simulator: Callable[..., Simulator], clock: ManualClock) -> Simulator:
    return start_simulator(SPEC, clock=clock)


def crr_vault(sim: Simulator) -> tuple[VaultRef, str]:
    vault = sim.estate.vaults[1]
    return VaultRef(vault.subscription_id, vault.resource_group, vault.name), SIMULATED_PAIRS[vault.location]


def test_the_simulator_pages_crr_jobs_and_reads_the_vault_from_the_body(
    start_simulator: Callable[..., Simulator], clock: ManualClock
) -> None:
    sim = start_simulator(EstateSpec(**{**SPEC.__dict__, "page_size": 1}), clock=clock)
    ref, region = crr_vault(sim)
    api = RecoveryServicesApi(client_for(sim), API_VERSION)
    pages = list(api.list_crr_jobs(ref, region, clock.now - 86400, clock.now))
    assert [[job["properties"]["status"] for job in page] for page in pages] == [["Completed"], ["Failed"]]
    assert {job["properties"]["operation"] for page in pages for job in page} == {"CrossRegionRestore"}
    posts = [r for r in sim.requests() if r.api == "list_crr_jobs"]
    assert [r.method for r in posts] == ["POST", "POST"]  # the nextLink is posted with the body too
    assert f"/locations/{region}/backupCrrJobs" in posts[0].path
    # A window before the jobs lists none; another vault (no CRR) has none; the body decides the vault.
    assert list(api.list_crr_jobs(ref, region, clock.now - 86400, clock.now - 6 * 3600)) == [[]]
    other = sim.estate.vaults[0]
    other_ref = VaultRef(other.subscription_id, other.resource_group, other.name)
    assert list(api.list_crr_jobs(other_ref, SIMULATED_PAIRS[other.location], clock.now - 86400, clock.now)) == [[]]
    with pytest.raises(ArmError) as wrong_region:
        list(api.list_crr_jobs(ref, "westus", clock.now - 86400, clock.now))
    assert wrong_region.value.status == 400
    failed = pages[1][0]
    details = api.get_crr_job(ref, region, failed["name"])
    assert details["properties"]["errorDetails"][0]["errorCode"]
    assert "extendedInfo" in details["properties"]


def test_the_vault_list_and_the_vault_get_agree_on_cross_region_restore(sim: Simulator) -> None:
    api = RecoveryServicesApi(client_for(sim), API_VERSION)
    infos = api.list_vaults(sim.estate.subscriptions[0].subscription_id)
    assert [info.cross_region_restore for info in infos] == [False, True]


# ------------------------------------------------------------------------------------ the poller


def samples(app: App) -> dict[str, list[tuple[dict[str, str], float]]]:
    found: dict[str, list[tuple[dict[str, str], float]]] = defaultdict(list)
    for family in text_string_to_metric_families(app.publisher.current.plain.decode()):
        for sample in family.samples:
            found[sample.name].append((sample.labels, sample.value))
    return found


def app_for(sim: Simulator, clock: ManualClock, **collection: Any) -> App:
    config = sim_config(sim, lookback="1d", inventory_interval=0, **collection)
    return App(config, ApiTelemetry(), clock=clock, monotonic=ManualClock(0.0))


def test_a_failed_cross_region_restore_reaches_the_job_metrics_with_its_error(
    sim: Simulator, clock: ManualClock
) -> None:
    app = app_for(sim, clock)
    assert app.poller.poll_once()
    clock.advance(300)
    assert app.poller.poll_once()  # backfill: the latest job of each item gets its details
    ref, _ = crr_vault(sim)
    status = {(labels["vault"], labels["item"], labels["status"]): value
              for labels, value in samples(app)["azure_backup_job_last_status"]
              if labels["operation"] == "CrossRegionRestore"}
    first, second = (item.name for item in sim.estate.items(sim.estate.vaults[1])[:2])
    assert status[ref.vault, first, "Completed"] == 1.0
    assert status[ref.vault, second, "Failed"] == 1.0
    assert {vault for vault, _, _ in status} == {ref.vault}
    errors = [labels for labels, _ in samples(app)["azure_backup_job_last_error_info"]
              if labels["operation"] == "CrossRegionRestore"]
    assert [labels["item"] for labels in errors] == [second]
    assert errors[0]["error_code"] != "unknown"
    # The details came from the CRR details call, never from the vault's backupJobs/{id}.
    crr_ids = {body["name"] for _, _, body in crr_jobs(sim, sim.estate.vaults[1])}
    assert crr_ids <= set(app.store.vault(ref).counted)
    assert by_api(sim)["get_crr_job"] == 2
    assert not [r for r in sim.requests() if r.api == "get_job" and r.path.rsplit("/", 1)[-1] in crr_ids]


def test_a_warm_poll_costs_one_more_request_per_crr_vault_only(sim: Simulator, clock: ManualClock) -> None:
    app = app_for(sim, clock, job_details=False)
    assert app.poller.poll_once()
    clock.advance(300)
    assert app.poller.poll_once()
    sim.reset_requests()
    clock.advance(300)
    assert app.poller.poll_once()
    assert by_api(sim) == Counter({"list_jobs": 2, "list_crr_jobs": 1})
    _, region = crr_vault(sim)
    (post,) = [r for r in sim.requests() if r.api == "list_crr_jobs"]
    assert post.path.endswith(f"/locations/{region}/backupCrrJobs")


def test_crr_jobs_can_be_turned_off(sim: Simulator, clock: ManualClock) -> None:
    app = app_for(sim, clock, cross_region_restore_jobs=False)
    assert app.poller.poll_once()
    assert by_api(sim)["list_crr_jobs"] == 0
    assert "azure_backup_exporter_target_source_up" not in samples(app)


def test_a_403_on_crr_jobs_leaves_the_vault_working_and_shows_on_its_source_only(
    sim: Simulator, clock: ManualClock
) -> None:
    sim.add_fault(Fault(path="backupCrrJobs", status=403, times=None))
    app = app_for(sim, clock)
    assert app.poller.poll_once()  # the vaults' own jobs are read: every vault is up
    ref, _ = crr_vault(sim)
    found = samples(app)
    assert {labels["vault"]: value for labels, value in found["azure_backup_exporter_target_up"]} == {
        vault.name: 1.0 for vault in sim.estate.vaults
    }
    assert [(labels["vault"], labels["source"], value)
            for labels, value in found["azure_backup_exporter_target_source_up"]] == [(ref.vault, "crr_jobs", 0.0)]
    assert not [labels for labels, _ in found["azure_backup_job_last_status"]
                if labels["operation"] == "CrossRegionRestore"]
    assert {labels["vault"] for labels, _ in found["azure_backup_job_last_status"]} == {
        vault.name for vault in sim.estate.vaults
    }
    # Once the role is fixed, the next poll reaches back to the window the failed read missed.
    sim.clear_faults()
    clock.advance(300)
    assert app.poller.poll_once()
    found = samples(app)
    assert [value for _, value in found["azure_backup_exporter_target_source_up"]] == [1.0]
    assert {labels["status"] for labels, value in found["azure_backup_job_last_status"]
            if labels["operation"] == "CrossRegionRestore" and value == 1.0} == {"Completed", "Failed"}


def crr_counts(app: App) -> dict[str, float]:
    return {labels["status"]: value for labels, value in samples(app)["azure_backup_jobs_total"]
            if labels["operation"] == "CrossRegionRestore" and value}


def test_crr_jobs_are_counted_once_across_a_restart(sim: Simulator, clock: ManualClock, tmp_path: Path) -> None:
    app = app_for(sim, clock)
    for _ in range(2):
        assert app.poller.poll_once()
        clock.advance(300)
    assert crr_counts(app) == {"Completed": 1.0, "Failed": 1.0}
    path = tmp_path / "state.json"
    StateFile(path, clock=clock).save(app.store)
    app.close()
    restored = Store(lookback=86400.0, clock=clock)
    StateFile(path, clock=clock).load(restored)
    again = App(sim_config(sim, lookback="1d", inventory_interval=0), ApiTelemetry(), store=restored, clock=clock,
                monotonic=ManualClock(0.0))
    for _ in range(2):
        assert again.poller.poll_once()  # the CRR list names both jobs again: counted already
        clock.advance(300)
    assert crr_counts(again) == {"Completed": 1.0, "Failed": 1.0}
    again.close()
