"""The simulator's backup vaults speak Data Protection as Azure does: no filter, oldest first,
nextLink paging ending in `"nextLink": null`, details by id, the recorded wire shape; and an
estate without backup vaults is exactly the estate it was."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator

import pytest
import requests

from exporter.parsing.values import parse_azure_duration
from exporter.simulator import EstateSpec, Simulator
from exporter.simulator.schedule import parse_job_id

NOW = EstateSpec().epoch + 40 * 86400 + 3600.0
API = {"api-version": "2025-07-01"}
SPEC = EstateSpec(subscriptions=2, vaults_per_subscription=1, backup_vaults_per_subscription=2, items_per_vault=5,
                  page_size=10, history_seconds=5 * 86400.0)
TIMEOUT = 10
PROVIDER = "providers/Microsoft.DataProtection/backupVaults"


@pytest.fixture
def sim() -> Iterator[Simulator]:
    with Simulator(SPEC, clock=lambda: NOW) as simulator:
        yield simulator


@pytest.fixture
def session(sim: Simulator) -> Iterator[requests.Session]:
    token = requests.get(
        sim.identity_endpoint,
        params={"api-version": "2019-08-01", "resource": "https://management.azure.com"},
        headers={"X-IDENTITY-HEADER": sim.identity_header},
        timeout=TIMEOUT,
    ).json()["access_token"]
    with requests.Session() as s:
        s.headers["Authorization"] = f"Bearer {token}"
        yield s


def jobs_url(sim: Simulator, index: int = 0) -> str:
    sub, rg, name = sim.estate.data_protection.vault_refs()[index]
    return f"{sim.url}/subscriptions/{sub}/resourceGroups/{rg}/{PROVIDER}/{name}/backupJobs"


def all_pages(session: requests.Session, url: str, params: dict[str, str]) -> list[dict]:
    pages = []
    response = session.get(url, params=params, timeout=TIMEOUT)
    for _ in range(100):
        assert response.status_code == 200, response.text
        pages.append(response.json())
        link = pages[-1]["nextLink"]
        if link is None:
            return pages
        response = session.get(link, timeout=TIMEOUT)
    raise AssertionError("paging did not end")


def test_job_list_is_oldest_first_in_pages_ending_with_a_null_next_link(sim, session):
    pages = all_pages(session, jobs_url(sim), API)
    jobs = [job for page in pages for job in page["value"]]
    assert len(pages) > 2
    assert all(len(page["value"]) == SPEC.page_size for page in pages[:-1])
    starts = [job["properties"]["startTime"] for job in jobs]
    assert starts == sorted(starts)
    assert starts[0] >= "2026-02-05"  # history_seconds bounds the list, nothing else does
    sub, rg, name = sim.estate.data_protection.vault_refs()[0]
    assert jobs == sim.estate.data_protection.jobs(sub, rg, name)
    assert len({job["name"] for job in jobs}) == len(jobs)


def test_job_list_ignores_a_filter_as_the_real_api_has_none(sim, session):
    filtered = {**API, "$filter": "startTime eq '2026-02-10 12:00:00 AM' and endTime eq '2026-02-10 01:00:00 AM'"}
    assert all_pages(session, jobs_url(sim), filtered) == all_pages(session, jobs_url(sim), API)


def test_job_by_id_is_the_listed_job_plus_extended_info(sim, session):
    listed = {job["name"]: job for page in all_pages(session, jobs_url(sim, 1), API) for job in page["value"]}
    statuses = Counter(job["properties"]["status"] for job in listed.values())
    assert {"Succeeded", "Failed"} <= set(statuses)  # vault 1 prints the spec examples' words
    for status in ("Succeeded", "Failed"):
        name = next(n for n, job in listed.items() if job["properties"]["status"] == status)
        response = session.get(f"{jobs_url(sim, 1)}/{name}", params=API, timeout=TIMEOUT)
        assert response.status_code == 200
        body = response.json()
        extended = body["properties"].pop("extendedInfo")
        listed[name]["properties"].pop("extendedInfo")
        # Recorded: the list prints the duration as a TimeSpan, the GET of the same job in ISO 8601.
        got, was = body["properties"].pop("duration"), listed[name]["properties"].pop("duration")
        assert got.startswith("PT")
        assert ":" in was
        assert parse_azure_duration(got) == parse_azure_duration(was)
        assert body == listed[name]
        assert extended["subTasks"][0]["taskStatus"] in ("Completed", "Failed")
        if status == "Failed":
            assert body["properties"]["errorDetails"][0]["code"]
            assert extended["dataTransferredInBytes"] is None


def test_both_status_vocabularies_and_every_data_source_type_are_served(sim):
    data = sim.estate.data_protection
    live, spec_words = (Counter(j["properties"]["status"] for j in data.jobs(*ref)) for ref in data.vault_refs()[:2])
    assert "Completed" in live
    assert "Succeeded" not in live
    assert "Succeeded" in spec_words
    types = {j["properties"]["dataSourceType"] for j in data.jobs(*data.vault_refs()[0])}
    assert types == {
        "Microsoft.Compute/disks", "Microsoft.Storage/storageAccounts/blobServices",
        "Microsoft.DBforPostgreSQL/servers/databases", "Microsoft.DBforPostgreSQL/flexibleServers",
        "Microsoft.ContainerService/managedClusters",
    }


def test_unknown_job_vault_and_token_answer_like_arm(sim, session):
    assert session.get(f"{jobs_url(sim)}/00000000-0000-4000-8000-000000000000", params=API,
                       timeout=TIMEOUT).status_code == 404
    missing = session.get(jobs_url(sim).replace("bvault-", "nope-"), params=API, timeout=TIMEOUT)
    assert missing.status_code == 404
    assert "Microsoft.DataProtection/backupVaults" in missing.json()["error"]["message"]
    bad = session.get(jobs_url(sim), params={**API, "$skiptoken": "%%%"}, timeout=TIMEOUT)
    assert bad.status_code == 400


def test_backup_vaults_are_listed_per_subscription(sim, session):
    for subscription in sim.estate.subscriptions:
        url = f"{sim.url}/subscriptions/{subscription.subscription_id}/{PROVIDER}"
        body = session.get(url, params=API, timeout=TIMEOUT).json()
        assert [(v["name"], v["type"]) for v in body["value"]] == [
            (v.name, "Microsoft.DataProtection/backupVaults")
            for v in sim.estate.data_protection.vaults_in(subscription.subscription_id)
        ]
        assert len(body["value"]) == SPEC.backup_vaults_per_subscription
        assert all(v["location"] and v["tags"]["team"] for v in body["value"])


def test_job_ids_never_collide_across_vault_kinds(sim):
    rsv_vaults = {parse_job_id(j["name"])[0] for ref in sim.estate.vault_refs() for j in sim.estate.jobs(*ref)}
    data = sim.estate.data_protection
    backup_vaults = {parse_job_id(j["name"])[0] for ref in data.vault_refs() for j in data.jobs(*ref)}
    assert len(backup_vaults) == len(data.vaults)
    assert not rsv_vaults & backup_vaults


def test_backup_vaults_leave_the_recovery_services_estate_unchanged():
    plain = Simulator(EstateSpec(), clock=lambda: NOW).estate
    mixed = Simulator(EstateSpec(backup_vaults_per_subscription=3), clock=lambda: NOW).estate
    assert plain.data_protection.vaults == ()
    assert mixed.vault_refs() == plain.vault_refs()
    for ref in plain.vault_refs():
        assert mixed.jobs(*ref) == plain.jobs(*ref)


def test_newest_first_is_available_for_tests_of_that_path():
    estate = Simulator(EstateSpec(backup_vaults_per_subscription=1, backup_jobs_newest_first=True),
                       clock=lambda: NOW).estate
    data = estate.data_protection
    starts = [j["properties"]["startTime"] for j in data.jobs(*data.vault_refs()[0])]
    assert starts == sorted(starts, reverse=True)
