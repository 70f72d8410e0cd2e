"""What real protected items reveal: workload items' health and last error, and item names whose
case differs between the inventory and the jobs.

Bodies: the docs' SQL database right after protection (rsv_docs_sqlvm_protected_item.json) and
variants of it, field for field as the SDK's AzureVmWorkloadSQLDatabaseProtectedItem /
AzureVmWorkloadSAPHanaDatabaseProtectedItem have them (lastBackupErrorDetail: code, message,
recommendations).
"""

from __future__ import annotations

import copy
import json
from collections import Counter
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from exporter.exposition.inventory_families import InventoryCollector
from exporter.model import VaultRef
from exporter.parsing.protected_items import WORKLOAD_HEALTH_STATUSES, ProtectedItem, parse_protected_item
from exporter.store.inventory_store import InventoryStore
from tests.support import AZURE_FIXTURES

FIXTURES = AZURE_FIXTURES
SQL_ITEM = {k: v for k, v in json.loads((FIXTURES / "rsv_docs_sqlvm_protected_item.json").read_text()).items()
            if not k.startswith("_")}
T0 = 1_763_700_000.0
VAULT = VaultRef("00000000-0000-0000-0000-0000000000", "SQLServerSelfHost", "SQLServer2012")
VAULT_LABELS = {"subscription_id": VAULT.subscription_id, "resource_group": VAULT.resource_group,
                "vault": VAULT.vault}
DOCS_ITEM = "MSSQLSERVER/msdb [sqlserver-0.shopkart.com]"


def _item(**properties: Any) -> dict[str, Any]:
    body = copy.deepcopy(SQL_ITEM)
    body["properties"].update(properties)
    return {**body, "properties": {k: v for k, v in body["properties"].items() if v is not None}}


FAILED = {"code": "UserErrorSQLNoSysadminMembership",
          "message": "Azure Backup service doesn't have sysadmin privileges on the SQL Server instance.",
          "recommendations": ["Add the NT SERVICE\\AzureWLBackupPluginSvc account to the sysadmin role."]}


@pytest.mark.parametrize(
    ("body", "health", "last_error", "counted"),
    [
        (SQL_ITEM, "IRPending", None, {}),  # as documented: protection enabled, no backup yet
        (_item(protectionState="Protected", protectedItemHealthStatus="Healthy"), "Healthy", None, {}),
        (_item(protectionState="ProtectionError", protectedItemHealthStatus="Unhealthy", lastBackupErrorDetail=FAILED),
         "Unhealthy", "UserErrorSQLNoSysadminMembership", {}),
        (_item(protectedItemType="AzureVmWorkloadSAPHanaDatabase", workloadType="SAPHanaDatabase",
               protectedItemHealthStatus="NotReachable", lastBackupErrorDetail=FAILED),
         "NotReachable", "UserErrorSQLNoSysadminMembership", {}),
        (_item(protectedItemHealthStatus=None, lastBackupErrorDetail=None), None, None, {}),
        (_item(lastBackupErrorDetail={"code": 42}), "IRPending", None, {"lastBackupErrorDetail": 1}),
        (_item(lastBackupErrorDetail="Success"), "IRPending", None, {"lastBackupErrorDetail": 1}),
        (_item(protectedItemHealthStatus=3), None, None, {"protectedItemHealthStatus": 1}),
        # A workload item's healthStatus would be a VM's enum: not read.
        (_item(protectedItemHealthStatus=None, healthStatus="Passed"), None, None, {}),
    ],
)
def test_workload_items_get_health_and_last_error(body, health, last_error, counted):
    errors: Counter[str] = Counter()
    item = parse_protected_item(body, errors)
    assert item is not None
    assert (item.health_status, item.last_error) == (health, last_error)
    assert errors == Counter(counted)


def _registry(items: list[ProtectedItem], job_items: list[tuple[str, ...]]) -> CollectorRegistry:
    store = InventoryStore(lambda: T0)
    store.set_vaults([VAULT])
    store.record(VAULT, items)
    reg = CollectorRegistry(auto_describe=False)
    reg.register(InventoryCollector(store.snapshot, lambda: job_items))
    return reg


def _parsed(**properties: Any) -> ProtectedItem:
    item = parse_protected_item(_item(**properties), Counter())
    assert item is not None
    return item


def _job_series(item: str) -> tuple[str, ...]:
    return (*VAULT.labels, "AzureWorkload", item, "Backup (Full)")


def test_workload_health_and_error_are_exported():
    failing = _parsed(protectionState="ProtectionError", protectedItemHealthStatus="Unhealthy",
                      lastBackupErrorDetail=FAILED)
    get = _registry([failing], []).get_sample_value
    labels = {**VAULT_LABELS, "backup_management_type": "AzureWorkload", "item": DOCS_ITEM}
    assert [get("azure_backup_protected_item_health_status", {**labels, "health_status": h})
            for h in WORKLOAD_HEALTH_STATUSES] == [0.0, 1.0, 0.0, 0.0, 0.0]
    assert get("azure_backup_protected_item_last_backup_error_info",
               {**labels, "error_code": "UserErrorSQLNoSysadminMembership"}) == 1.0


@pytest.mark.parametrize(
    ("inventory", "jobs", "exported"),
    [
        # The docs' own vault: the item says "msdb", its jobs "msDB" (host spelt alike here).
        ([DOCS_ITEM], ["MSSQLSERVER/msDB [sqlserver-0.shopkart.com]"], ["MSSQLSERVER/msDB [sqlserver-0.shopkart.com]"]),
        ([DOCS_ITEM], [DOCS_ITEM], [DOCS_ITEM]),
        ([DOCS_ITEM], [], [DOCS_ITEM]),  # no job yet: the item's own spelling
        ([DOCS_ITEM], ["MSSQLSERVER/master [sqlserver-0.shopkart.com]"], [DOCS_ITEM]),
        # Two items alike but for case keep their names: never two series with one label set.
        ([DOCS_ITEM, "MSSQLSERVER/MSDB [sqlserver-0.shopkart.com]"], ["MSSQLSERVER/msDB [sqlserver-0.shopkart.com]"],
         [DOCS_ITEM, "MSSQLSERVER/MSDB [sqlserver-0.shopkart.com]"]),
    ],
)
def test_items_take_the_jobs_spelling_of_their_name(inventory, jobs, exported):
    items = [_parsed(friendlyName=name.split("/")[1].split(" ")[0]) for name in inventory]
    reg = _registry(items, [_job_series(job) for job in jobs])
    found = sorted(s.labels["item"] for m in reg.collect() if m.name == "azure_backup_protected_item_info"
                   for s in m.samples)
    assert found == sorted(exported)
