"""Protected items (the vault inventory): real bodies parse; odd values are counted, never fatal."""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from exporter.parsing.protected_items import ProtectedItem, parse_protected_item
from exporter.parsing.values import parse_time
from tests.support import AZURE_FIXTURES

FIXTURES = AZURE_FIXTURES


def load(name: str) -> Any:
    document = json.loads((FIXTURES / name).read_text(encoding="utf-8"))
    if "responses" in document:  # REST API specification example
        return document["responses"]["200"]["body"]["value"]
    return [{key: value for key, value in document.items() if not key.startswith("_")}]


def parse(raw: object) -> tuple[ProtectedItem | None, Counter[str]]:
    errors: Counter[str] = Counter()
    return parse_protected_item(raw, errors), errors


def test_spec_example_vm_item_parses_completely() -> None:
    (raw,) = load("rsv_BackupProtectedItems_List_2025-02-01.json")
    item, errors = parse(raw)
    assert errors == Counter()
    assert item == ProtectedItem(
        item="iaasvm-1",
        backup_management_type="AzureIaasVM",
        protected_item_type="Microsoft.ClassicCompute/virtualMachines",
        workload_type="VM",
        protection_state="Protected",
        health_status="Passed",
        last_backup_status="Completed",
        last_backup_time=parse_time("2018-01-22T12:25:32.048723Z"),
        last_recovery_point=parse_time("2017-11-22T12:25:32.048723Z"),
        policy="testPolicy1",  # no policyName in this api-version: the end of policyId
        container_name="iaasvmcontainer;iaasvm-rg;iaasvm-1",
        source_resource_id=raw["properties"]["sourceResourceId"],
    )


def test_sql_database_is_named_as_its_jobs_name_it() -> None:
    (raw,) = load("rsv_docs_sqlvm_protected_item.json")
    item, errors = parse(raw)
    assert errors == Counter()
    assert item is not None
    # Jobs of this database say "MSSQLSERVER/msDB [sqlserver-0.contoso.com]": instance/db [host].
    assert item.item == "MSSQLSERVER/msdb [sqlserver-0.shopkart.com]"
    assert item.backup_management_type == "AzureWorkload"
    assert item.protection_state == "IRPending"
    assert item.health_status == "IRPending"  # protectedItemHealthStatus, the workload items' own enum
    assert item.last_error is None  # lastBackupErrorDetail.code "Success"
    assert item.last_backup_time is None
    assert item.last_recovery_point is None
    assert item.policy == "HourlyLogBackup"


def test_workload_item_without_instance_or_host_keeps_its_friendly_name() -> None:
    raw = {"properties": {"friendlyName": "hanadb", "backupManagementType": "AzureWorkload",
                          "protectedItemType": "AzureVmWorkloadSAPHanaDatabase", "protectionState": "Protected",
                          "parentName": "H01"}}
    item, _ = parse(raw)
    assert item is not None
    assert item.item == "hanadb"


def test_policy_name_wins_over_policy_id_and_stopped_items_have_none() -> None:
    base = {"friendlyName": "vm-1", "protectedItemType": "Microsoft.Compute/virtualMachines",
            "protectionState": "ProtectionStopped"}
    named, _ = parse({"properties": {**base, "policyName": "Gold", "policyId": "/x/backupPolicies/Silver"}})
    stopped, errors = parse({"properties": {**base, "policyId": ""}})
    assert named is not None
    assert named.policy == "Gold"
    assert stopped is not None
    assert stopped.policy == ""
    assert errors == Counter()


def test_unknown_enum_values_pass_through_verbatim() -> None:
    item, errors = parse({"properties": {"friendlyName": "vm-1", "protectedItemType": "Future/type",
                                         "protectionState": "SoftDeleted", "healthStatus": "Degraded"}})
    assert item is not None
    assert (item.protection_state, item.health_status, item.protected_item_type) == (
        "SoftDeleted", "Degraded", "Future/type")
    assert errors == Counter()


def test_dotnet_min_date_means_never() -> None:
    properties = {"friendlyName": "vm-1", "protectedItemType": "t", "protectionState": "IRPending",
                  "lastBackupTime": "0001-01-01T00:00:00Z", "lastRecoveryPoint": "0001-01-01T00:00:00"}
    item, errors = parse({"properties": properties})
    assert item is not None
    assert item.last_backup_time is None
    assert item.last_recovery_point is None
    assert errors == Counter()


@pytest.mark.parametrize(
    ("properties", "field"),
    [
        ({"protectedItemType": "t", "protectionState": "Protected"}, "friendlyName"),
        ({"friendlyName": "vm", "protectionState": "Protected"}, "protectedItemType"),
        ({"friendlyName": "vm", "protectedItemType": "t"}, "protectionState"),
        ({"friendlyName": "vm", "protectedItemType": "t", "protectionState": 3}, "protectionState"),
        ({"friendlyName": "vm", "protectedItemType": "t", "protectionState": "P", "healthStatus": 1}, "healthStatus"),
        ({"friendlyName": "vm", "protectedItemType": "t", "protectionState": "P", "lastBackupTime": "yesterday"},
         "lastBackupTime"),
        ({"friendlyName": "vm", "protectedItemType": "t", "protectionState": "P", "lastRecoveryPoint": 17},
         "lastRecoveryPoint"),
        ({"friendlyName": "vm", "protectedItemType": "t", "protectionState": "P", "policyId": ["x"]}, "policyId"),
        ({"friendlyName": "vm", "protectedItemType": "t", "protectionState": "P", "backupManagementType": 7},
         "backupManagementType"),
    ],
)
def test_each_unreadable_value_is_counted_under_its_field_and_the_item_kept(
    properties: dict[str, Any], field: str
) -> None:
    item, errors = parse({"name": "VM;iaasvmcontainerv2;rg;vm-from-name", "properties": properties})
    assert item is not None
    assert errors == Counter({field: 1})


def test_missing_friendly_name_falls_back_on_the_resource_name() -> None:
    item, errors = parse({"name": "VM;iaasvmcontainerv2;rg;vm-7", "properties": {"protectedItemType": "t",
                                                                                  "protectionState": "Protected"}})
    assert item is not None
    assert item.item == "vm-7"
    assert errors == Counter({"friendlyName": 1})


def test_not_an_object_is_counted_and_skipped() -> None:
    assert parse(["a list"]) == (None, Counter({"protectedItem": 1}))
    item, errors = parse({"properties": "text"})
    assert item is not None
    assert item.item == "unknown"
    assert errors["properties"] == 1


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=30),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=12), children, max_size=4),
    max_leaves=12,
)
# Well-formed values mixed in, so that the paths after a successful read are exercised too.
VALUE = JSON | st.sampled_from(["2022-05-13T10:00:00.1234567Z", "0001-01-01T00:00:00Z", "Protected", "AzureWorkload",
                                "/subscriptions/x/backupPolicies/p", "MSSQLSERVER", "sql-0.contoso.com"])
FIELDS = ["friendlyName", "protectionState", "healthStatus", "lastBackupTime", "lastRecoveryPoint", "policyId",
          "policyName", "backupManagementType", "parentName", "serverName", "protectedItemType", "containerName"]


@settings(deadline=None)
@given(st.dictionaries(st.sampled_from(FIELDS), VALUE, max_size=len(FIELDS)), JSON)
def test_parser_never_raises_and_labels_are_never_empty(properties: dict[str, Any], name: object) -> None:
    item, _ = parse({"name": name, "properties": properties})
    assert item is not None
    assert item.item
    assert item.protection_state
    assert item.backup_management_type
