"""Backup policies → expected intervals (every shape, from Azure's own bodies and broken ones), backup
instances → inventory items, and the whole path against the simulator: metrics and requests."""

from __future__ import annotations

import copy
import json
import math
from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from exporter.azure.telemetry import ApiTelemetry
from exporter.parsing.backup_instances import DPP_PROTECTION_STATES, parse_backup_instance
from exporter.parsing.policies import Policy, parse_dpp_policy, parse_rsv_policy, policy_key
from exporter.service import App
from exporter.simulator import EstateSpec, Fault, Simulator
from exporter.simulator.policies import backup_instance_body, dpp_policies, rsv_policies
from tests.support import AZURE_FIXTURES, ManualClock, sim_config

FIXTURES = AZURE_FIXTURES
HOUR, DAY = 3600.0, 86400.0


def body(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"))["responses"]["200"]["body"]


def rsv(raw: object) -> tuple[Policy | None, Counter[str]]:
    errors: Counter[str] = Counter()
    return parse_rsv_policy(raw, errors), errors


def dpp(raw: object) -> tuple[Policy | None, Counter[str]]:
    errors: Counter[str] = Counter()
    return parse_dpp_policy(raw, errors), errors


# fixture, entry, name, schedule text, intervals
RSV_SHAPES = [
    ("rsv_BackupPolicies_List_2025-08-01.json", 0, "DefaultPolicy", "daily 19:00 UTC", (("Backup", DAY),)),
    ("rsv_BackupPolicies_List_2025-08-01.json", 1, "testPolicy1", "daily 02:00 Pacific Standard Time",
     (("Backup", DAY),)),
    # Weekly on Monday, Wednesday, Thursday: the longest stretch is Thursday → Monday.
    ("rsv_ProtectionPolicies_IaasVm_Complex_2025-08-01.json", None, "testPolicy1",
     "weekly Mon,Wed,Thu 10:00 Pacific Standard Time", (("Backup", 4 * DAY),)),
    # Enhanced (V2) hourly: every 4h in a 16h window from 08:00 → last at 00:00, 8h until 08:00.
    ("rsv_ProtectionPolicies_IaaS_v2_hourly_2025-08-01.json", None, "v2-daily-sample",
     "hourly every 4h 08:00-00:00 India Standard Time", (("Backup", 8 * HOUR),)),
    # Azure Files hourly: every 4h in a 12h window from 08:00 → 08, 12, 16, 20; the night is 12h.
    ("rsv_ProtectionPolicies_AzureStorage_Hourly_2025-08-01.json", None, "newPolicy2",
     "hourly every 4h 08:00-20:00 UTC", (("Backup", 12 * HOUR),)),
    # SQL: full on Sunday and Tuesday (Tue → Sun: 5 days), differential on Friday, log hourly;
    # the time zone comes from settings.timeZone.
    ("rsv_ProtectionPolicies_AzureWorkload_Complex_2025-08-01.json", None, "testPolicy1",
     "full weekly Tue,Sun 10:00 Pacific Standard Time, differential weekly Fri 10:00 Pacific Standard Time, log 60m",
     (("Full", 5 * DAY), ("Differential", 7 * DAY), ("Log", HOUR))),
]


@pytest.mark.parametrize(("fixture", "entry", "name", "schedule", "intervals"), RSV_SHAPES)
def test_recovery_services_policy_shapes(
    fixture: str, entry: int | None, name: str, schedule: str, intervals: tuple[tuple[str, float], ...]
) -> None:
    raw = body(fixture)
    policy, errors = rsv(raw["value"][entry] if entry is not None else raw)
    assert policy is not None
    assert (policy.name, policy.schedule, policy.intervals) == (name, schedule, intervals)
    assert not errors


def _v2(frequency: str, nested: dict[str, Any]) -> dict[str, Any]:
    """The enhanced VM policy of the example with another schedule (its V2 daily/weekly fields)."""
    raw = copy.deepcopy(body("rsv_ProtectionPolicies_IaaS_v2_hourly_2025-08-01.json"))
    raw["properties"]["schedulePolicy"] = {"schedulePolicyType": "SimpleSchedulePolicyV2",
                                           "scheduleRunFrequency": frequency, **nested}
    return raw


def _sql_log(minutes: object) -> dict[str, Any]:
    raw = copy.deepcopy(body("rsv_ProtectionPolicies_AzureWorkload_Complex_2025-08-01.json"))
    raw["properties"]["subProtectionPolicy"][2]["schedulePolicy"]["scheduleFrequencyInMins"] = minutes
    return raw


@pytest.mark.parametrize(("raw", "intervals", "error_fields"), [
    (_v2("Daily", {"dailySchedule": {"scheduleRunTimes": ["2021-12-17T02:00:00Z"]}}), (("Backup", DAY),), set()),
    (_v2("Weekly", {"weeklySchedule": {"scheduleRunDays": ["Saturday"], "scheduleRunTimes": ["2021-12-17T02:00:00Z"]}}),
     (("Backup", 7 * DAY),), set()),
    # A 24h window is no window: every interval hours round the clock.
    (_v2("Hourly", {"hourlySchedule": {"interval": 6, "scheduleWindowDuration": 24,
                                       "scheduleWindowStartTime": "2021-12-17T00:00:00Z"}}),
     (("Backup", 6 * HOUR),), set()),
    (_sql_log(15), (("Full", 5 * DAY), ("Differential", 7 * DAY), ("Log", 900.0)), set()),
    # Malformed: kept, counted, no expectation for what cannot be read.
    (_sql_log("15"), (("Full", 5 * DAY), ("Differential", 7 * DAY)), {"policy.scheduleFrequencyInMins"}),
    (_v2("Hourly", {"hourlySchedule": {"interval": 0, "scheduleWindowDuration": 12}}), (), {"policy.hourlySchedule"}),
    (_v2("Monthly", {}), (), {"policy.scheduleRunFrequency"}),
    (_v2("Weekly", {"weeklySchedule": {"scheduleRunDays": ["Funday"], "scheduleRunTimes": ["02:00"]}}),
     (("Backup", 7 * DAY),), {"policy.scheduleRunDays", "policy.scheduleRunTimes"}),
    ({"name": "p", "properties": {"schedulePolicy": {"schedulePolicyType": "FutureSchedulePolicy"}}}, (),
     {"policy.schedulePolicyType"}),
    ({"name": "p", "properties": {"schedulePolicy": "daily"}}, (), {"policy.schedulePolicy"}),
    ({"name": "p", "properties": {}}, (), {"policy.schedulePolicy"}),
    ({"name": "p", "properties": None}, (), {"policy.properties", "policy.schedulePolicy"}),
])
def test_recovery_services_policy_variants_and_malformed(
    raw: object, intervals: tuple[tuple[str, float], ...], error_fields: set[str]
) -> None:
    policy, errors = rsv(raw)
    assert policy is not None
    assert policy.intervals == intervals
    assert set(errors) == error_fields


def test_unknown_schedule_type_is_kept_verbatim() -> None:
    policy, _ = rsv({"name": "p", "properties": {"schedulePolicy": {"schedulePolicyType": "FutureSchedulePolicy"}}})
    assert policy is not None
    assert policy.schedule == "FutureSchedulePolicy"


@pytest.mark.parametrize("raw", [None, [], "policy", {"properties": {}}])
def test_a_policy_without_a_name_is_dropped_and_counted(raw: object) -> None:
    policy, errors = rsv(raw)
    assert policy is None
    assert errors


def _dpp_rule(*intervals: object, store: str = "OperationalStore") -> dict[str, Any]:
    """The Data Protection example's policy with its backup rule's repeatingTimeIntervals replaced."""
    raw = copy.deepcopy(body("dpp_GetBackupPolicy_2025-07-01.json"))
    rule = raw["properties"]["policyRules"][0]
    rule["trigger"]["schedule"]["repeatingTimeIntervals"] = list(intervals)
    rule["dataStore"]["dataStoreType"] = store
    return raw


@pytest.mark.parametrize(("raw", "schedule", "seconds", "error_fields"), [
    (body("dpp_GetBackupPolicy_2025-07-01.json"), "weekly from 08:00 -08:00 VaultStore", 7 * DAY, set()),
    (_dpp_rule("R/2024-01-01T02:00:00+00:00/PT4H"), "hourly every 4h from 02:00 UTC OperationalStore", 4 * HOUR, set()),
    (_dpp_rule("R/2024-01-01T02:00:00+00:00/P1D", store="VaultStore"), "daily from 02:00 UTC VaultStore", DAY, set()),
    # Weekly on Sunday and Wednesday (two intervals): Wednesday → Sunday is the longest gap.
    (_dpp_rule("R/2024-01-07T02:00:00+00:00/P1W", "R/2024-01-10T02:00:00+00:00/P1W"),
     "weekly x2 OperationalStore", 4 * DAY, set()),
    (_dpp_rule("R/2024-01-01T02:00:00+00:00/P1M"), "R/2024-01-01T02:00:00+00:00/P1M OperationalStore", None,
     {"policy.repeatingTimeIntervals"}),
    (_dpp_rule("every day"), "every day OperationalStore", None, {"policy.repeatingTimeIntervals"}),
    (_dpp_rule(), "OperationalStore", None, {"policy.repeatingTimeIntervals"}),
])
def test_backup_vault_policy_shapes(raw: object, schedule: str, seconds: float | None, error_fields: set[str]) -> None:
    policy, errors = dpp(raw)
    assert policy is not None
    assert policy.schedule == schedule
    assert policy.intervals == ((("Backup", seconds),) if seconds is not None else ())
    assert set(errors) == error_fields


def test_backup_vault_policy_without_rules_is_counted() -> None:
    policy, errors = dpp({"name": "p", "properties": {"datasourceTypes": ["Microsoft.Compute/disks"]}})
    assert policy == Policy("p", "Microsoft.Compute/disks", "none", ())
    assert errors == Counter({"policy.policyRules": 1})


def test_items_join_policies_on_the_id_last_segment_case_insensitively() -> None:
    assert policy_key("/Subscriptions/x/resourceGroups/r/providers/Microsoft.RecoveryServices/vaults/v/"
                      "backupPolicies/DefaultPolicy") == policy_key("defaultpolicy")


def test_backup_instance_from_the_spec_example() -> None:
    errors: Counter[str] = Counter()
    item = parse_backup_instance(body("dpp_ListBackupInstances_2025-07-01.json")["value"][0], errors)
    assert item is not None
    assert (item.item, item.backup_management_type, item.protection_state, item.health_status, item.policy) == (
        "harshitbi2", "OssDB", "NotProtected", "NotProtected", "PratikPolicy1")
    assert item.source_resource_id.endswith("/databases/testdb")
    assert not errors


@pytest.mark.parametrize(("raw", "error_fields"), [
    (None, {"backupInstance"}),
    ({"name": "bi", "properties": None}, {"backupInstance.properties", "backupInstance.dataSourceInfo",
                                          "backupInstance.datasourceType"}),
    ({"properties": {"dataSourceInfo": {"datasourceType": "Microsoft.Compute/disks"},
                     "protectionStatus": {"status": "ProtectionError", "errorDetails": {"code": 42}}}},
     {"backupInstance.friendlyName", "backupInstance.errorDetails"}),
])
def test_malformed_backup_instances_are_counted(raw: object, error_fields: set[str]) -> None:
    errors: Counter[str] = Counter()
    parse_backup_instance(raw, errors)
    assert set(errors) == error_fields


# ------------------------------------------------------------------------------ against the simulator

SPEC = EstateSpec(subscriptions=1, vaults_per_subscription=2, items_per_vault=12, period_seconds=HOUR,
                  duration_range=(60, 600), page_size=5, failing_items=1, history_seconds=2 * DAY,
                  backup_vaults_per_subscription=1, log_backup_minutes=15.0, broken_log_chains=1)


@pytest.fixture
def sim(start_simulator: Callable[..., Simulator], clock: ManualClock) -> Simulator:
    return start_simulator(SPEC, clock=clock)


def app_for(sim: Simulator, clock: ManualClock, **collection: Any) -> App:
    sub, rg, name = sim.estate.data_protection.vault_refs()[0]
    targets = [{"subscription_id": s, "resource_group": g, "vault": v} for s, g, v in sim.estate.vault_refs()]
    targets.append({"subscription_id": sub, "resource_group": rg, "backup_vault": name})
    config = sim_config(sim, targets=targets, **{"lookback": "12h", **collection})
    return App(config, ApiTelemetry(), clock=clock, monotonic=ManualClock(0.0))


def exposition(app: App) -> dict[str, list[tuple[dict[str, str], float]]]:
    found: dict[str, list[tuple[dict[str, str], float]]] = {}
    for family in text_string_to_metric_families(app.publisher.current.plain.decode()):
        for sample in family.samples:
            found.setdefault(sample.name, []).append((sample.labels, sample.value))
    return found


def test_policies_and_backup_instances_reach_the_exposition(sim: Simulator, clock: ManualClock) -> None:
    app = app_for(sim, clock)
    assert app.poll_once()
    found = exposition(app)
    vault = sim.estate.vaults[0]
    policies = {labels["policy"]: labels["schedule"]
                for labels, _ in found["azure_backup_policy_info"] if labels["vault"] == vault.name}
    assert policies["SqlLogPolicy"] == "full daily 02:00 UTC, log 15m"
    assert policies["EnhancedPolicy-hourly"] == "hourly every 4h 08:00-20:00 UTC"
    expected = {(labels["item"], labels["backup_type"]): value
                for labels, value in found["azure_backup_item_expected_interval_seconds"]}
    items = sim.estate.items(vault)
    database = items[4]  # the first SQL database: logs every 15 minutes (its chain is the broken one)
    assert expected[database.name, "Log"] == 900.0
    assert expected[database.name, "Full"] == DAY
    assert expected[items[1].name, "Backup"] == 12 * HOUR  # hourly VM, 08:00-20:00
    assert expected[items[2].name, "Backup"] == 4 * DAY  # weekly on Sunday and Wednesday
    # Backup-vault items: the inventory metrics and an expectation from their policy's rule.
    backup_vault = sim.estate.data_protection.vaults[0]
    instances = sim.estate.data_protection.instances(backup_vault)
    info = {labels["item"] for labels, _ in found["azure_backup_protected_item_info"]
            if labels["vault"] == backup_vault.name}
    assert info == {instance.name for instance in instances}
    assert expected[instances[0].name, "Backup"] == 4 * HOUR  # a disk, R/…/PT4H
    states = {labels["item"]: labels["protection_state"]
              for labels, value in found["azure_backup_protected_item_protection_state"]
              if labels["vault"] == backup_vault.name and value == 1.0}
    assert set(states.values()) == {"ProtectionConfigured"}
    shown = {labels["protection_state"] for labels, _ in found["azure_backup_protected_item_protection_state"]
             if labels["vault"] == backup_vault.name}
    assert shown == set(DPP_PROTECTION_STATES)  # a backup vault's own state set, not Recovery Services'


def test_the_log_chain_is_broken_and_the_full_backups_go_on(sim: Simulator, clock: ManualClock) -> None:
    app = app_for(sim, clock)
    assert app.poll_once()
    database = sim.estate.items(sim.estate.vaults[0])[4]
    rows = exposition(app)["azure_backup_job_last_success_timestamp_seconds"]
    last = {labels["operation"]: value for labels, value in rows
            if labels["item"] == database.name and labels["vault"] == sim.estate.vaults[0].name}
    now = clock.now
    assert now - last["Backup (Log)"] > 6 * HOUR - 15 * 60  # stopped 6 hours ago: overdue (limit 82.5 min)
    assert now - last["Backup (Full)"] < 2 * HOUR


def by_api(sim: Simulator) -> Counter[str]:
    return Counter(r.api for r in sim.requests())


def test_one_listing_of_policies_and_instances_per_vault_per_interval_and_the_warm_poll_unchanged(
    sim: Simulator, clock: ManualClock
) -> None:
    app = app_for(sim, clock, inventory_interval="30m")
    assert app.inventory is not None
    assert app.poller.poll_once()  # the cold job poll
    page = SPEC.page_size
    rsv_pages = sum(math.ceil(len(rsv_policies(sim.estate, vault)) / page) for vault in sim.estate.vaults)
    backup_vault = sim.estate.data_protection.vaults[0]
    sim.reset_requests()
    assert app.inventory.poll_once()
    counts = by_api(sim)
    assert counts["list_policies"] == rsv_pages
    assert counts["list_backup_policies"] == math.ceil(len(dpp_policies(sim.estate, backup_vault)) / page)
    assert counts["list_backup_instances"] == math.ceil(SPEC.items_per_vault / page)
    # A warm job poll asks for jobs only, as it did before the inventory read policies.
    clock.now += 60
    sim.reset_requests()
    assert app.poller.poll_once()
    assert set(by_api(sim)) <= {"list_jobs", "get_job", "list_backup_jobs", "get_backup_job"}
    # Within the interval nothing is listed again.
    sim.reset_requests()
    assert app.inventory.poll_due() == 0
    assert not by_api(sim)


# ------------------------------------------------------------- the bodies, judged by the official SDK


def test_the_simulated_policies_and_instances_are_read_by_the_sdk(sim: Simulator) -> None:
    from tests.sdk_fidelity import check, dpp_models, rsv_models  # noqa: PLC0415  (heavy SDK imports)

    bodies: list[tuple[type, Any]] = [
        *((rsv_models.ProtectionPolicyResource, b) for v in sim.estate.vaults for b in rsv_policies(sim.estate, v)),
        *((dpp_models.BaseBackupPolicyResource, b)
          for v in sim.estate.data_protection.vaults for b in dpp_policies(sim.estate, v)),
        *((dpp_models.BackupInstanceResource, b)
          for v in sim.estate.data_protection.vaults
          for b in (backup_instance_body(v, i) for i in sim.estate.data_protection.instances(v))),
    ]
    real: list[tuple[type, Any]] = [
        (rsv_models.ProtectionPolicyResource, body("rsv_ProtectionPolicies_AzureWorkload_Complex_2025-08-01.json")),
        (dpp_models.BaseBackupPolicyResource, body("dpp_GetBackupPolicy_2025-07-01.json")),
        (dpp_models.BackupInstanceResource, body("dpp_ListBackupInstances_2025-07-01.json")["value"][0]),
    ]
    problems = [problem for model, raw in [*real, *bodies] for problem in check(model, raw, frozenset())]
    assert problems == []


def test_a_failed_policy_listing_keeps_the_vaults_last_expectations(sim: Simulator, clock: ManualClock) -> None:
    app = app_for(sim, clock)
    assert app.poll_once()
    bad, good = sim.estate.data_protection.vaults[0], sim.estate.vaults[0]

    def expected_in(vault: str) -> list[tuple[dict[str, str], float]]:
        rows = exposition(app)["azure_backup_item_expected_interval_seconds"]
        return sorted(((labels, value) for labels, value in rows if labels["vault"] == vault), key=repr)

    before = expected_in(bad.name)
    assert before
    sim.add_fault(Fault(path=f"{bad.name}/backupPolicies", status=500, times=None))
    clock.advance(HOUR)
    assert app.inventory is not None
    assert not app.inventory.poll_once()
    assert expected_in(bad.name) == before  # the last good series stay
    assert expected_in(good.name)  # the other vaults are untouched
    up = {labels["vault"]: value for labels, value in exposition(app)["azure_backup_exporter_inventory_up"]
          if labels["source"] == "protected_items"}  # the inventory's own listing, not a posture read
    assert up[bad.name] == 0.0
    assert up[good.name] == 1.0
