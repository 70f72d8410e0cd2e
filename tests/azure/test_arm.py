"""The Azure client against the simulator: paging, throttling, retries, token refresh, timeouts."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest
from azure.identity import ManagedIdentityCredential

from exporter.azure.arm import ArmClient, ArmError
from exporter.azure.backup import RecoveryServicesApi
from exporter.azure.credential import TokenSource
from exporter.azure.telemetry import ApiTelemetry
from exporter.simulator import EstateSpec, Fault, Simulator
from tests.arm_builders import API_VERSION, SCOPE, RecordingSleep, client_for, counted, first_vault
from tests.support import T0, ManualClock


@pytest.fixture
def sim(start_simulator: Callable[..., Simulator], clock: ManualClock) -> Simulator:
    return start_simulator(EstateSpec(subscriptions=1, vaults_per_subscription=1, items_per_vault=4,
                                      period_seconds=3600, page_size=5), clock=clock)


def test_paging_follows_next_links_with_our_api_version(sim: Simulator) -> None:
    vault = first_vault(sim)
    api = RecoveryServicesApi(client_for(sim), API_VERSION)
    start, end = T0 - 86400, T0
    pages = list(api.list_jobs(vault, start, end))
    names = [job["name"] for page in pages for job in page]
    expected = [job["name"] for job in sim.estate.jobs(*vault.labels, start, end)]
    assert len(pages) >= 3
    assert names == expected
    assert len(set(names)) == len(names)
    listed = [r for r in sim.requests() if r.api == "list_jobs"]
    assert len(listed) == len(pages)
    assert {r.api_version for r in listed} == {API_VERSION}  # nextLink carried 2017-07-01


def test_429_waits_retry_after_then_succeeds(sim: Simulator) -> None:
    sleep = RecordingSleep()
    telemetry = ApiTelemetry()
    client = client_for(sim, sleep=sleep, telemetry=telemetry)
    sim.add_fault(Fault(path="backupJobs", status=429, retry_after=7, times=1))
    body = client.get(f"{first_vault(sim).resource_id}/backupJobs", api="list_jobs",
                      params={"api-version": API_VERSION}, subscription_id=first_vault(sim).subscription_id)
    assert isinstance(body["value"], list)
    assert sleep.calls
    assert sleep.calls[0] == pytest.approx(7, abs=0.5)
    assert counted(telemetry, "list_jobs", "429") == 1
    assert counted(telemetry, "list_jobs", "200") == 1


def test_5xx_is_retried_with_backoff_then_gives_up(sim: Simulator) -> None:
    sleep = RecordingSleep()
    telemetry = ApiTelemetry()
    client = client_for(sim, sleep=sleep, telemetry=telemetry)
    path = f"{first_vault(sim).resource_id}/backupJobs"
    sim.add_fault(Fault(path="backupJobs", status=503, times=2))
    client.get(path, api="list_jobs", params={"api-version": API_VERSION})
    assert counted(telemetry, "list_jobs", "503") == 2
    assert len(sleep.calls) == 2
    assert sleep.calls[1] > sleep.calls[0] * 0.9
    sim.add_fault(Fault(path="backupJobs", status=500, times=None))
    with pytest.raises(ArmError) as failure:
        client.get(path, api="list_jobs", params={"api-version": API_VERSION})
    assert failure.value.status == 500
    assert counted(telemetry, "list_jobs", "500") == 4  # bounded: max_attempts


def test_403_is_not_retried(sim: Simulator) -> None:
    telemetry = ApiTelemetry()
    client = client_for(sim, telemetry=telemetry)
    sim.add_fault(Fault(path="backupJobs", status=403, times=None))
    with pytest.raises(ArmError) as failure:
        client.get(f"{first_vault(sim).resource_id}/backupJobs", api="list_jobs", params={"api-version": API_VERSION})
    assert failure.value.status == 403
    assert counted(telemetry, "list_jobs", "403") == 1


def test_timeout_is_retried(sim: Simulator) -> None:
    telemetry = ApiTelemetry()
    # The retry must answer within the timeout: 1 s is ample for a loopback request on a busy machine.
    client = client_for(sim, timeout=1.0, telemetry=telemetry)
    sim.add_fault(Fault(path="backupJobs", latency=3.0, times=1))
    client.get(f"{first_vault(sim).resource_id}/backupJobs", api="list_jobs", params={"api-version": API_VERSION})
    assert counted(telemetry, "list_jobs", "timeout") == 1
    assert counted(telemetry, "list_jobs", "200") == 1


def test_malformed_json_and_reset_are_retried_and_counted(sim: Simulator) -> None:
    telemetry = ApiTelemetry()
    client = client_for(sim, telemetry=telemetry)
    path = f"{first_vault(sim).resource_id}/backupJobs"
    sim.add_fault(Fault(path="backupJobs", body='{"value": [', times=1))
    client.get(path, api="list_jobs", params={"api-version": API_VERSION})
    assert telemetry.snapshot().parse_errors == {"response_body": 1}
    sim.add_fault(Fault(path="backupJobs", reset=True, times=1))
    client.get(path, api="list_jobs", params={"api-version": API_VERSION})
    assert counted(telemetry, "list_jobs", "connection_error") == 1


def test_next_link_loop_stops(sim: Simulator) -> None:
    vault = first_vault(sim)
    looping = json.dumps({"value": [], "nextLink": f"{sim.url}{vault.resource_id}/backupJobs?page=2"})
    sim.add_fault(Fault(path="backupJobs", body=looping, times=None))
    client = client_for(sim)
    with pytest.raises(ArmError, match="PagingLoop"):
        list(client.pages(f"{vault.resource_id}/backupJobs", api="list_jobs", api_version=API_VERSION))
    assert len([r for r in sim.requests() if r.api == "list_jobs"]) == 2


def test_next_link_never_leaves_the_arm_origin(sim: Simulator) -> None:
    vault = first_vault(sim)
    foreign = json.dumps({"value": [], "nextLink": f"https://attacker.example{vault.resource_id}/backupJobs?x=1"})
    sim.add_fault(Fault(path="backupJobs", body=foreign, times=1))
    pages = client_for(sim).pages(f"{vault.resource_id}/backupJobs", api="list_jobs", api_version=API_VERSION)
    assert next(pages) == []
    assert next(pages)  # the second page came from the simulator, not the foreign host
    listed = [r for r in sim.requests() if r.api == "list_jobs"]
    assert listed[1].query.get("x") == "1"
    assert listed[1].api_version == API_VERSION


def test_token_comes_from_managed_identity_endpoint_and_is_cached(sim: Simulator) -> None:
    telemetry = ApiTelemetry()
    client = client_for(sim, telemetry=telemetry)
    for _ in range(3):
        client.get("/subscriptions", api="list_subscriptions", params={"api-version": "2022-12-01"})
    assert len([r for r in sim.requests() if r.api == "token"]) == 1
    assert counted(telemetry, "token", "ok") == 1


def test_401_refreshes_the_token_once_and_retries(sim: Simulator) -> None:
    telemetry = ApiTelemetry()
    client = client_for(sim, telemetry=telemetry)
    client.get("/subscriptions", api="list_subscriptions", params={"api-version": "2022-12-01"})
    sim.revoke_tokens()
    client.get("/subscriptions", api="list_subscriptions", params={"api-version": "2022-12-01"})
    assert counted(telemetry, "list_subscriptions", "401") == 1
    assert counted(telemetry, "list_subscriptions", "200") == 2
    assert len([r for r in sim.requests() if r.api == "token"]) == 2


def test_401_without_claims_gets_a_token_from_a_fresh_credential(sim: Simulator) -> None:
    # ARM refused the token with no claims challenge (say, expired early by clock skew): the
    # library would hand back its cached copy, so a new credential asks the identity endpoint.
    telemetry = ApiTelemetry()
    renewed: list[int] = []

    def renew() -> ManagedIdentityCredential:
        renewed.append(1)
        return ManagedIdentityCredential()

    tokens = TokenSource(ManagedIdentityCredential(), SCOPE, telemetry, renew=renew)
    client = ArmClient(sim.url, tokens, telemetry, timeout=5.0, sleep=RecordingSleep(), backoff_base=0.01)
    client.get("/subscriptions", api="list_subscriptions", params={"api-version": "2022-12-01"})
    sim.add_fault(Fault(path="/subscriptions\\?", status=401, times=1))
    client.get("/subscriptions", api="list_subscriptions", params={"api-version": "2022-12-01"})
    statuses = [(r.api, r.status) for r in sim.requests()]
    assert statuses[2:] == [("list_subscriptions", 401), ("token", 200), ("list_subscriptions", 200)]
    assert renewed == [1]
    # A 401 no token cures, within a minute: no new credential again; it fails after one retry.
    sim.add_fault(Fault(path="/subscriptions\\?", status=401, times=None))
    with pytest.raises(ArmError):
        client.get("/subscriptions", api="list_subscriptions", params={"api-version": "2022-12-01"})
    assert renewed == [1]


def test_user_agent_names_the_exporter(sim: Simulator) -> None:
    client_for(sim).get("/subscriptions", api="list_subscriptions", params={"api-version": "2022-12-01"})
    assert sim.requests()[-1].user_agent.startswith("azure-backup-exporter/")
