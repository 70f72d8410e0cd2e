"""The Azure simulator speaks ARM as the exporter sees it: paging with Azure's nextLink quirks,
filters, errors, stable estates, job details."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
import requests

from exporter.simulator import EstateSpec, JobFilter, Simulator

NOW = EstateSpec().epoch + 40 * 86400 + 3600.0  # 2026-02-10T01:00:00Z, 40 days into the schedule
API = {"api-version": "2025-08-01"}
SPEC = EstateSpec(page_size=50, failing_items=1, deletion_jobs=1)
FILTER_FORMAT = "%Y-%m-%d %I:%M:%S %p"
VAULTS = "providers/Microsoft.RecoveryServices/vaults"
TIMEOUT = 10


def job_filter(start: float, end: float) -> str:
    def fmt(t: float) -> str:
        return datetime.fromtimestamp(t, UTC).strftime(FILTER_FORMAT)

    return f"startTime eq '{fmt(start)}' and endTime eq '{fmt(end)}'"


def parse_time(text: str) -> float:
    head, _, fraction = text.rstrip("Z").partition(".")
    return datetime.strptime(head, "%Y-%m-%dT%H:%M:%S").replace(tzinfo=UTC).timestamp() + float(f"0.{fraction or 0}")


@pytest.fixture
def sim() -> Iterator[Simulator]:
    with Simulator(SPEC, clock=lambda: NOW) as simulator:
        yield simulator


def token_for(sim: Simulator) -> str:
    response = requests.get(
        sim.identity_endpoint,
        params={"api-version": "2019-08-01", "resource": "https://management.azure.com"},
        headers={"X-IDENTITY-HEADER": sim.identity_header},
        timeout=5,
    )
    assert response.status_code == 200
    return str(response.json()["access_token"])


@pytest.fixture
def session(sim: Simulator) -> Iterator[requests.Session]:
    with requests.Session() as s:
        s.headers["Authorization"] = f"Bearer {token_for(sim)}"
        yield s


def jobs_url(sim: Simulator, vault_index: int = 0) -> str:
    sub, rg, vault = sim.estate.vault_refs()[vault_index]
    return f"{sim.url}/subscriptions/{sub}/resourceGroups/{rg}/{VAULTS}/{vault}/backupJobs"


def list_all(session: requests.Session, url: str, params: dict[str, str]) -> list[dict]:
    pages = [session.get(url, params={**API, **params}, timeout=5).json()]
    while "nextLink" in pages[-1]:
        link = pages[-1]["nextLink"].replace("api-version=2017-07-01", "api-version=2025-08-01")
        pages.append(session.get(link, timeout=5).json())
    return [job for page in pages for job in page["value"]]


def test_paging_next_links_carry_an_old_api_version_and_yield_every_job_once(sim, session):
    url, start = jobs_url(sim), NOW - 20 * 86400
    first = session.get(url, params={**API, "$filter": job_filter(start, NOW)}).json()
    links = [first["nextLink"]]
    jobs = first["value"]
    while links[-1]:
        assert links[-1].startswith(url + "?api-version=2017-07-01&")
        assert re.search(r"&%24skiptoken=[^&]+$", links[-1])
        page = session.get(links[-1].replace("api-version=2017-07-01", "api-version=2025-08-01")).json()
        jobs += page["value"]
        links.append(page.get("nextLink"))
    assert len(links) > 4  # more than three pages were followed
    names = [job["name"] for job in jobs]
    assert len(set(names)) == len(names)
    starts = [parse_time(job["properties"]["startTime"]) for job in jobs]
    assert starts == sorted(starts, reverse=True)
    assert jobs == sim.estate.jobs(*sim.estate.vault_refs()[0], start, NOW)
    assert all("extendedInfo" not in job["properties"] for job in jobs)
    assert {r.api_version for r in sim.requests() if r.api == "list_jobs"} == {"2025-08-01"}


def test_a_mangled_skiptoken_is_refused(sim, session):
    link = session.get(jobs_url(sim), params=API).json()["nextLink"]
    mangled = re.sub(r"%24skiptoken=[^&]+", "%24skiptoken=bm90IGEgdG9rZW4%3d", link)
    response = session.get(mangled)
    assert (response.status_code, response.json()["error"]["code"]) == (400, "BMSUserErrorInvalidInput")


def test_filter_returns_only_jobs_started_in_the_window(sim, session):
    start, end = NOW - 3 * 86400, NOW - 86400
    jobs = list_all(session, jobs_url(sim), {"$filter": job_filter(start, end)})
    everything = sim.estate.jobs(*sim.estate.vault_refs()[0])
    expected = [j for j in everything if start <= parse_time(j["properties"]["startTime"]) <= end]
    assert jobs == expected
    assert 20 < len(jobs) < len(everything)


def test_status_and_operation_clauses_narrow_the_window(sim, session):
    window = job_filter(NOW - 20 * 86400, NOW)
    failed = list_all(session, jobs_url(sim), {"$filter": f"{window} and status eq 'Failed'"})
    full = list_all(session, jobs_url(sim), {"$filter": f"{window} and operation eq 'Backup (Full)'"})
    assert {j["properties"]["status"] for j in failed} == {"Failed"}
    assert {j["properties"]["operation"] for j in full} == {"Backup (Full)"}
    expected = sim.estate.jobs(*sim.estate.vault_refs()[0], NOW - 20 * 86400, NOW, job_filter=JobFilter("Failed"))
    assert failed == expected


@pytest.mark.parametrize(
    "bad",
    [
        "startTime eq 'yesterday'",
        "startTime gt '2026-01-01 01:00:00 PM'",
        "colour eq 'red'",
        "startTime eq '2026-02-30 01:00:00 PM'",
        "startTime eq '2026-02-10 13:00:00 PM'",
        "startTime eq '2026-02-10 01:00:00 PM' and endTime eq '2026-02-01 01:00:00 PM'",
        "startTime eq '2026-02-01 01:00:00 PM' and startTime eq '2026-02-02 01:00:00 PM'",
    ],
)
def test_malformed_filter_is_400_with_an_arm_error_body(sim, session, bad):
    response = session.get(jobs_url(sim), params={**API, "$filter": bad})
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "BMSUserErrorInvalidInput"


def test_unknown_vault_subscription_and_missing_api_version(sim, session):
    sub, rg, _ = sim.estate.vault_refs()[0]
    no_vault = session.get(f"{sim.url}/subscriptions/{sub}/resourceGroups/{rg}/{VAULTS}/nope/backupJobs", params=API)
    no_sub = session.get(f"{sim.url}/subscriptions/00000000-0000-0000-0000-000000000000/{VAULTS}", params=API)
    no_version = session.get(jobs_url(sim))
    assert (no_vault.status_code, no_vault.json()["error"]["code"]) == (404, "ResourceNotFound")
    assert (no_sub.status_code, no_sub.json()["error"]["code"]) == (404, "SubscriptionNotFound")
    assert (no_version.status_code, no_version.json()["error"]["code"]) == (400, "MissingApiVersionParameter")


def test_paths_are_case_insensitive_like_arm(sim, session):
    url = jobs_url(sim).replace("/subscriptions/", "/Subscriptions/").replace("RecoveryServices", "recoveryservices")
    assert session.get(url, params=API).json()["value"] == session.get(jobs_url(sim), params=API).json()["value"]


def test_same_spec_and_clock_give_identical_bodies(sim, session):
    with Simulator(SPEC, clock=lambda: NOW) as twin, requests.Session() as twin_session:
        twin_session.headers["Authorization"] = f"Bearer {token_for(twin)}"
        for path in ("/subscriptions", f"/subscriptions/{sim.estate.vault_refs()[0][0]}/{VAULTS}"):
            ours = session.get(sim.url + path, params=API).json()
            assert ours == twin_session.get(twin.url + path, params=API).json()
        ours = session.get(jobs_url(sim, 3), params=API).text.replace(sim.url, "")
        theirs = twin_session.get(jobs_url(twin, 3), params=API).text.replace(twin.url, "")
        assert ours == theirs


def test_a_later_clock_adds_jobs_and_finishes_in_progress_ones():
    clock = [NOW]
    with Simulator(SPEC, clock=lambda: clock[0]) as sim:
        ref = sim.estate.vault_refs()[0]
        newest = sim.estate.jobs(*ref)[0]
        clock[0] = parse_time(newest["properties"]["startTime"]) + 1.0  # it has just started
        before = {j["name"]: j for j in sim.estate.jobs(*ref)}
        clock[0] += 6 * 3600
        after = {j["name"]: j for j in sim.estate.jobs(*ref)}
    assert before[newest["name"]]["properties"]["status"] == "InProgress"
    assert "endTime" not in before[newest["name"]]["properties"]
    assert after[newest["name"]]["properties"]["status"] != "InProgress"
    assert "endTime" in after[newest["name"]]["properties"]
    assert len(set(after) - set(before)) > 0
    finished_before = [n for n, j in before.items() if n in after and j["properties"]["status"] != "InProgress"]
    assert finished_before
    assert all(after[n] == before[n] for n in finished_before)


def find(sim: Simulator, **wanted: str) -> dict:
    return next(
        job for job in sim.estate.jobs(*sim.estate.vault_refs()[0]) if wanted.items() <= job["properties"].items()
    )


def test_finished_vm_backup_details_carry_backup_size(sim, session):
    job = find(sim, status="Completed", backupManagementType="AzureIaasVM", operation="Backup")
    details = session.get(f"{jobs_url(sim)}/{job['name']}", params=API).json()
    extended = details["properties"].pop("extendedInfo")
    assert details == job
    assert re.fullmatch(r"[1-9]\d* MB", extended["propertyBag"]["Backup Size"])
    assert [t["status"] for t in extended["tasksList"]] == ["Completed", "Completed"]


def test_failed_job_details_carry_error_details(sim, session):
    job = find(sim, status="Failed", operation="Backup")
    details = session.get(f"{jobs_url(sim)}/{job['name']}", params=API).json()["properties"]
    (error,) = details["errorDetails"]
    assert isinstance(error["errorCode"], int)
    assert error["errorTitle"]
    assert error["recommendations"]
    assert "Failed" in [t["status"] for t in details["extendedInfo"]["tasksList"]]


def test_sql_details_report_data_transferred(sim, session):
    sql = find(sim, status="Completed", operation="Backup (Full)")
    bag = session.get(f"{jobs_url(sim)}/{sql['name']}", params=API).json()["properties"]["extendedInfo"]["propertyBag"]
    assert int(bag["Data Transferred (in MB)"]) > 0


def test_in_progress_details_report_progress_and_no_end(sim):
    newest = sim.estate.jobs(*sim.estate.vault_refs()[0])[0]
    started = parse_time(newest["properties"]["startTime"])
    with Simulator(SPEC, clock=lambda: started + 60.0) as early, requests.Session() as session:
        session.headers["Authorization"] = f"Bearer {token_for(early)}"
        properties = session.get(f"{jobs_url(early)}/{newest['name']}", params=API).json()["properties"]
    assert properties["status"] == "InProgress"
    assert "endTime" not in properties
    assert re.fullmatch(r"PT(1M|1M0\.0+\d*S|59\.9+\d*S)", properties["duration"])  # elapsed so far, ~60 s
    assert 0 < properties["extendedInfo"]["progressPercentage"] < 100


def test_unknown_job_id_is_404(sim, session):
    for name in ("00000000-0000-4000-8000-0000ffffffff", "41f3e94b-ae6b-4a20-b422-65abfcaf03e5", "x"):
        response = session.get(f"{jobs_url(sim)}/{name}", params=API)
        assert (response.status_code, response.json()["error"]["code"]) == (404, "ResourceNotFound")


def test_subscriptions_and_vaults_page_too():
    with Simulator(EstateSpec(subscriptions=3, vaults_per_subscription=5, page_size=2)) as sim, requests.Session() as s:
        s.headers["Authorization"] = f"Bearer {token_for(sim)}"
        subscriptions = list_all(s, f"{sim.url}/subscriptions", {})
        vaults = list_all(s, f"{sim.url}/subscriptions/{subscriptions[1]['subscriptionId']}/{VAULTS}", {})
        link = s.get(f"{sim.url}/subscriptions", params=API).json()["nextLink"]
        refused = s.get(re.sub(r"%24skiptoken=[^&]+", "%24skiptoken=%25%25", link))
    assert [x["subscriptionId"] for x in subscriptions] == [x.subscription_id for x in sim.estate.subscriptions]
    assert [(v["id"].split("/")[4], v["name"]) for v in vaults] == [ref[1:] for ref in sim.estate.vault_refs()[5:10]]
    assert "api-version=2025-08-01" in link
    assert refused.status_code == 400
