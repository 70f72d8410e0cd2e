"""The simulator speaks Azure exactly: every body it serves for the demo estate, at the api-versions
the exporter asks for, is read by the official SDK models (pinned in the test extras) without an
unknown field, a missing required field or a wrong type.

The only exceptions are in ALLOWED, each one a field real recordings carry that the SDK's model
does not know yet; `test_real_bodies_need_exactly_the_allow_list` proves each is real and needed.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from exporter.config.schema import CollectionConfig
from exporter.demo import DEMO_ESTATE
from exporter.simulator import Simulator
from tests.sdk_fidelity import check, check_all, dpp_models, rsv_models
from tests.support import AZURE_FIXTURES

FIXTURES = AZURE_FIXTURES
NOW = 1_767_225_600.0 + 9 * 86400.0 + 1234.5  # nine days into the estate: a full 8-day history
RSV = "/providers/Microsoft.RecoveryServices/vaults/"
DPP = "/providers/Microsoft.DataProtection/backupVaults/"
RSV_API = CollectionConfig().api_version
DPP_API = CollectionConfig().backup_vault_api_version

# Recorded live (dpp_azcli_recording_job_list_and_show_2024-04-01.json, list and GET alike):
# azure-mgmt-dataprotection 2.2.0's AzureBackupJob has neither field.
ALLOWED = frozenset({
    ("AzureBackupJob", "sourceDataStoreType"),
    ("AzureBackupJob", "isCrossRegionRestore"),
})


def _fixture(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((FIXTURES / name).read_text())
    return loaded


def _spec_body(name: str) -> Any:
    return _fixture(name)["responses"]["200"]["body"]


def _wire(document: dict[str, Any]) -> dict[str, Any]:
    """A fixture without the `_source`/`_note` keys we add to say where it comes from."""
    return {key: value for key, value in document.items() if not key.startswith("_")}


# --- the real bodies: the checker agrees with Azure, and the allow-list is what they need --------

REAL_BODIES = [
    ("rsv_ListJobs_2026-02-01.json", rsv_models.JobResource, lambda d: d["responses"]["200"]["body"]["value"]),
    ("rsv_GetJobDetails_2025-08-01.json", rsv_models.JobResource, lambda d: [d["responses"]["200"]["body"]]),
    ("rsv_BackupProtectedItems_List_2025-02-01.json", rsv_models.ProtectedItemResource,
     lambda d: d["responses"]["200"]["body"]["value"]),
    ("rsv_docs_sqlvm_protected_item.json", rsv_models.ProtectedItemResource, lambda d: [_wire(d)]),
    ("dpp_azcli_recording_job_list_and_show_2024-04-01.json", dpp_models.AzureBackupJobResource,
     lambda d: [d["list_item"], d["show"]]),
    ("dpp_GetBackupVaultsInSubscription_2026-06-01.json", dpp_models.BackupVaultResource,
     lambda d: d["responses"]["200"]["body"]["value"]),
]


@pytest.mark.parametrize(("name", "model", "bodies"), REAL_BODIES, ids=[row[0] for row in REAL_BODIES])
def test_real_bodies_pass_with_the_allow_list(name, model, bodies):
    assert check_all(model, bodies(_fixture(name)), ALLOWED) == []


def test_real_bodies_need_exactly_the_allow_list():
    recorded = _fixture("dpp_azcli_recording_job_list_and_show_2024-04-01.json")
    problems = check_all(dpp_models.AzureBackupJobResource, [recorded["list_item"], recorded["show"]])
    assert sorted(problems) == [
        "$.properties.isCrossRegionRestore: unknown to AzureBackupJob",
        "$.properties.sourceDataStoreType: unknown to AzureBackupJob",
    ]


def test_old_recordings_show_what_the_sdk_refuses():
    # 2018 and 2022 bodies: TimeSpan durations and `actionsInfo: [1]`, which today's SDK cannot read.
    timespan = _wire(_fixture("rsv_docs_managejobs_real_response_TimeSpan_duration.json"))
    problems = check(rsv_models.JobResource, timespan)
    assert "$.properties.duration: '00:20:23.0896697' is not timedelta" in problems
    assert "$.properties.actionsInfo[0]: 1 is not str" in problems


# --- the simulator -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def demo() -> Iterator[tuple[Simulator, requests.Session]]:
    with Simulator(DEMO_ESTATE, clock=lambda: NOW) as sim, requests.Session() as session:
        token = session.get(
            sim.identity_endpoint,
            params={"api-version": "2019-08-01", "resource": "https://management.azure.com"},
            headers={"X-IDENTITY-HEADER": sim.identity_header},
            timeout=5,
        ).json()["access_token"]
        session.headers["Authorization"] = f"Bearer {token}"
        yield sim, session


def _get(session: requests.Session, url: str, api_version: str | None) -> Any:
    response = session.get(url, params={"api-version": api_version} if api_version else None, timeout=30)
    assert response.status_code == 200, response.text
    return response.json()


def _pages(session: requests.Session, url: str, api_version: str) -> list[Any]:
    body = _get(session, url, api_version)
    values = list(body["value"])
    while body.get("nextLink"):
        body = _get(session, body["nextLink"].replace("api-version=2017-07-01", f"api-version={api_version}"), None)
        values += body["value"]
    return values


def _one_per_shape(jobs: list[dict[str, Any]], *keys: str) -> list[str]:
    """A job id for each distinct combination of `keys` (item, operation, status): every shape a GET can take."""
    chosen: dict[tuple[Any, ...], str] = {}
    for job in jobs:
        chosen.setdefault(tuple(job["properties"].get(key) for key in keys), job["name"])
    return list(chosen.values())


def _recovery_services_bodies(sim: Simulator, session: requests.Session) -> Iterator[tuple[type, Any]]:
    for sub, rg, vault in sim.estate.vault_refs():
        base = f"{sim.url}/subscriptions/{sub}/resourceGroups/{rg}{RSV}{vault}"
        jobs = _pages(session, f"{base}/backupJobs", RSV_API)
        assert jobs
        yield from ((rsv_models.JobResource, job) for job in jobs)
        for job_id in _one_per_shape(jobs, "entityFriendlyName", "operation", "status"):
            yield rsv_models.JobResource, _get(session, f"{base}/backupJobs/{job_id}", RSV_API)
        for item in _pages(session, f"{base}/backupProtectedItems", RSV_API):
            yield rsv_models.ProtectedItemResource, item


def _backup_vault_bodies(sim: Simulator, session: requests.Session) -> Iterator[tuple[type, Any]]:
    for sub in sorted({sub for sub, _, _ in sim.estate.data_protection.vault_refs()}):
        url = f"{sim.url}/subscriptions/{sub}/providers/Microsoft.DataProtection/backupVaults"
        yield from ((dpp_models.BackupVaultResource, vault) for vault in _pages(session, url, DPP_API))
    for sub, rg, vault in sim.estate.data_protection.vault_refs():
        base = f"{sim.url}/subscriptions/{sub}/resourceGroups/{rg}{DPP}{vault}"
        jobs = _pages(session, f"{base}/backupJobs", DPP_API)
        assert jobs
        yield from ((dpp_models.AzureBackupJobResource, job) for job in jobs)
        for job_id in _one_per_shape(jobs, "backupInstanceFriendlyName", "operation", "status"):
            yield dpp_models.AzureBackupJobResource, _get(session, f"{base}/backupJobs/{job_id}", DPP_API)


def test_every_body_of_the_demo_estate_is_read_by_the_sdk(demo):
    sim, session = demo
    problems: dict[str, None] = {}
    counts: dict[str, int] = {}
    for model, body in [*_recovery_services_bodies(sim, session), *_backup_vault_bodies(sim, session)]:
        counts[model.__name__] = counts.get(model.__name__, 0) + 1
        problems.update(dict.fromkeys(check(model, body, ALLOWED)))
    assert list(problems)[:20] == []
    assert sorted(counts) == ["AzureBackupJobResource", "BackupVaultResource", "JobResource", "ProtectedItemResource"]


def _served_job(demo: tuple[Simulator, requests.Session], status: str = "Completed") -> dict[str, Any]:
    sim, session = demo
    sub, rg, vault = sim.estate.vault_refs()[0]
    base = f"{sim.url}/subscriptions/{sub}/resourceGroups/{rg}{RSV}{vault}"
    jobs = _get(session, f"{base}/backupJobs", RSV_API)["value"]
    job = next(j for j in jobs if (j["properties"]["jobType"], j["properties"]["status"]) == ("AzureIaaSVMJob", status))
    body: dict[str, Any] = _get(session, f"{base}/backupJobs/{job['name']}", RSV_API)
    return body


def test_the_check_fails_on_an_unknown_field_a_missing_one_and_a_wrong_type(demo):
    served = _served_job(demo)
    assert check(rsv_models.JobResource, served) == []

    unknown = copy.deepcopy(served)
    unknown["properties"]["extendedInfo"]["tasksList"][0]["progress"] = 12
    assert check(rsv_models.JobResource, unknown) == [
        "$.properties.extendedInfo.tasksList[0].progress: unknown to AzureIaaSVMJobTaskDetails"
    ]
    timespan = copy.deepcopy(served)
    timespan["properties"]["duration"] = "00:20:23.0896697"
    assert check(rsv_models.JobResource, timespan) == ["$.properties.duration: '00:20:23.0896697' is not timedelta"]

    recorded = _fixture("dpp_azcli_recording_job_list_and_show_2024-04-01.json")["show"]
    missing = copy.deepcopy(recorded)
    del missing["properties"]["activityID"]
    assert "$.properties.activityID: required by AzureBackupJob, missing" in check(
        dpp_models.AzureBackupJobResource, missing, ALLOWED
    )


def test_old_api_versions_get_the_old_shapes(demo):
    sim, session = demo
    sub, rg, vault = sim.estate.vault_refs()[0]
    base = f"{sim.url}/subscriptions/{sub}/resourceGroups/{rg}{RSV}{vault}"
    old = _get(session, f"{base}/backupJobs", "2017-07-01")["value"]
    current = _get(session, f"{base}/backupJobs", RSV_API)["value"]
    assert all(":" in job["properties"]["duration"] for job in old)
    assert all(job["properties"]["duration"].startswith("P") for job in current)
    assert any("actionsInfo" in job["properties"] for job in old)
    assert not any("actionsInfo" in job["properties"] for job in current)


# --- the fields Azure sends, including those nobody reads: the simulator's keys are the recordings' ---


def _keys(body: Any) -> Any:
    """The body's structure: its keys, recursively (lists by their first element), not its values."""
    if isinstance(body, dict):
        return {key: _keys(value) for key, value in body.items()}
    if isinstance(body, list) and body:
        return [_keys(body[0])]
    return None


def _first(jobs: list[dict[str, Any]], **wanted: str) -> dict[str, Any]:
    return next(job for job in jobs if all(job["properties"].get(k) == v for k, v in wanted.items()))


def test_backup_vault_jobs_have_the_recorded_fields(demo):
    sim, _ = demo
    recorded = _fixture("dpp_azcli_recording_job_list_and_show_2024-04-01.json")
    estate = sim.estate.data_protection
    ref = estate.vault_refs()[0]  # an even vault: the live traffic's status words
    listed = _first(estate.jobs(*ref), dataSourceType="Microsoft.Compute/disks", status="Completed")
    assert _keys(listed) == _keys(recorded["list_item"])
    shown = estate.job(*ref, listed["name"])
    assert _keys(shown) == _keys(recorded["show"])
    assert shown["properties"]["duration"].startswith("PT")
    assert listed["properties"]["duration"] == "0" or ":" in listed["properties"]["duration"]


def test_recovery_services_jobs_have_the_recorded_fields_of_their_api_version(demo):
    sim, _ = demo
    ref = sim.estate.vault_refs()[0]
    recorded = _fixture("azcli_recording_LIST_jobs_no_filter.json")["response"]["value"]
    # A day into the estate: its ConfigureBackup jobs are still in the history.
    old = sim.estate.jobs(*ref, as_of=DEMO_ESTATE.epoch + 86400, api_version="2022-02-01")
    for operation in ("Backup", "Restore", "ConfigureBackup"):
        mine = _first(old, jobType="AzureIaaSVMJob", operation=operation, status="Completed")
        theirs = next(job for job in recorded if job["properties"]["operation"] == operation)
        assert set(mine["properties"]) == set(theirs["properties"]) | {"endTime"}, operation
    completed = _fixture("azcli_recording_GET_job_completed_backup_with_BackupSize.json")["response"]
    name = _first(old, jobType="AzureIaaSVMJob", operation="Backup", status="Completed")["name"]
    mine = sim.estate.job(*ref, name, as_of=DEMO_ESTATE.epoch + 86400, api_version="2022-02-01")
    assert _keys(mine) == _keys(completed)


def test_sql_jobs_and_items_have_the_documented_fields(demo):
    sim, session = demo
    ref = sim.estate.vault_refs()[0]
    failed = _wire(_fixture("rsv_docs_sqlvm_failed_workload_job.json"))  # from 2018: a TimeSpan api-version
    jobs = sim.estate.jobs(*ref, api_version="2017-07-01")
    mine = sim.estate.job(*ref, _first(jobs, jobType="AzureWorkloadJob", status="Failed")["name"],
                          api_version="2017-07-01")
    assert _keys(mine) == _keys(failed)
    base = f"{sim.url}/subscriptions/{ref[0]}/resourceGroups/{ref[1]}{RSV}{ref[2]}"
    items = _pages(session, f"{base}/backupProtectedItems", RSV_API)
    new_database = next(i for i in items if i["properties"].get("protectedItemHealthStatus") == "IRPending")
    assert _keys(new_database) == _keys(SQL_ITEM)
    classic = [i for i in items if i["properties"]["protectedItemType"] == "Microsoft.ClassicCompute/virtualMachines"]
    assert classic
    assert all(i["properties"]["containerName"].startswith("iaasvmcontainer;") for i in classic)


SQL_ITEM = _wire(_fixture("rsv_docs_sqlvm_protected_item.json"))
