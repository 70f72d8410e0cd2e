"""The simulator misbehaves on request (throttling, errors, latency, bad bodies, resets), takes
orders over its /_sim/ control plane, sends Azure's headers, and stops cleanly."""

from __future__ import annotations

import http.client
import json
import socket
import threading
import time
from collections.abc import Iterator

import pytest
import requests

from exporter.simulator import EstateSpec, Fault, Simulator

NOW = EstateSpec().epoch + 40 * 86400 + 3600.0
API = {"api-version": "2025-08-01"}
TIMEOUT = 10


@pytest.fixture
def sim() -> Iterator[Simulator]:
    with Simulator(EstateSpec(), clock=lambda: NOW) as simulator:
        yield simulator


@pytest.fixture
def session(sim: Simulator) -> Iterator[requests.Session]:
    with requests.Session() as s:
        token = s.get(
            sim.identity_endpoint,
            params={"api-version": "2019-08-01", "resource": "https://management.azure.com"},
            headers={"X-IDENTITY-HEADER": sim.identity_header},
            timeout=TIMEOUT,
        ).json()["access_token"]
        s.headers["Authorization"] = f"Bearer {token}"
        yield s


def subscriptions(sim: Simulator, session: requests.Session) -> requests.Response:
    return session.get(f"{sim.url}/subscriptions", params=API, timeout=TIMEOUT)


def vaults_url(sim: Simulator) -> str:
    return f"{sim.url}/subscriptions/{sim.estate.vault_refs()[0][0]}/providers/Microsoft.RecoveryServices/vaults"


def test_429_fault_sends_retry_after_once_then_serves_normally(sim, session):
    sim.add_fault(Fault(status=429, retry_after=7))
    throttled, served = subscriptions(sim, session), subscriptions(sim, session)
    assert (throttled.status_code, throttled.headers["Retry-After"]) == (429, "7")
    assert throttled.json()["error"]["code"] == "SubscriptionRequestsThrottled"
    assert served.status_code == 200
    assert [r.status for r in sim.requests() if r.api == "list_subscriptions"] == [429, 200]


def test_fault_hits_as_many_requests_as_its_times(sim, session):
    sim.add_fault(Fault(status=500, times=2))
    sim.add_fault(Fault(status=503, times=None, path="/vaults"))
    assert [subscriptions(sim, session).status_code for _ in range(3)] == [500, 500, 200]
    assert [session.get(vaults_url(sim), params=API).status_code for _ in range(3)] == [503, 503, 503]
    sim.clear_faults()
    assert session.get(vaults_url(sim), params=API).status_code == 200


def test_path_regex_picks_the_requests_it_hits(sim, session):
    sim.add_fault(Fault(path=r"/providers/Microsoft\.RecoveryServices/vaults\?", status=403))
    assert subscriptions(sim, session).status_code == 200
    refused = session.get(vaults_url(sim), params=API)
    assert (refused.status_code, refused.json()["error"]["code"]) == (403, "AuthorizationFailed")


def test_empty_path_spares_the_token_endpoint_but_a_matching_regex_hits_it(sim, session):
    sim.add_fault(Fault(status=500, times=None))
    params = {"api-version": "2019-08-01", "resource": "https://management.azure.com"}
    headers = {"X-IDENTITY-HEADER": sim.identity_header}
    assert requests.get(sim.identity_endpoint, params=params, headers=headers, timeout=TIMEOUT).status_code == 200
    sim.clear_faults()
    sim.add_fault(Fault(path="/msi/token", status=503))
    refused = requests.get(sim.identity_endpoint, params=params, headers=headers, timeout=TIMEOUT)
    assert (refused.status_code, refused.json()["statusCode"]) == (503, 503)


def test_latency_fault_and_global_latency_delay_the_answer(sim, session):
    sim.add_fault(Fault(latency=0.3))
    started = time.monotonic()
    assert subscriptions(sim, session).status_code == 200
    assert time.monotonic() - started >= 0.3
    sim.latency = 0.5
    started = time.monotonic()
    subscriptions(sim, session)
    assert time.monotonic() - started >= 0.5
    sim.latency = 0.0
    took = []
    for _ in range(3):  # the fastest of three: one request slowed by a busy machine proves nothing
        started = time.monotonic()
        subscriptions(sim, session)
        took.append(time.monotonic() - started)
    assert min(took) < 0.5


def test_malformed_body_fault_serves_truncated_json(sim, session):
    sim.add_fault(Fault(body='{"value": ['))
    response = subscriptions(sim, session)
    assert response.status_code == 200
    with pytest.raises(json.JSONDecodeError):
        response.json()


def test_reset_fault_drops_the_connection_and_the_next_request_works(sim, session):
    sim.add_fault(Fault(reset=True))
    with pytest.raises(requests.ConnectionError):
        subscriptions(sim, session)
    assert subscriptions(sim, session).status_code == 200
    assert [r.status for r in sim.requests() if r.api == "list_subscriptions"] == [0, 200]


def test_control_plane_over_http(sim, session):
    control = f"{sim.url}/_sim"
    faults = [{"path": r"/subscriptions\?", "status": 429, "retry_after": 1}, {"status": 500, "times": None}]
    assert requests.post(f"{control}/faults", json=faults, timeout=TIMEOUT).status_code == 200
    assert len(requests.get(f"{control}/faults", timeout=TIMEOUT).json()) == 2
    assert subscriptions(sim, session).status_code == 429
    assert subscriptions(sim, session).status_code == 500
    assert requests.delete(f"{control}/faults", timeout=TIMEOUT).status_code == 200
    assert subscriptions(sim, session).status_code == 200
    assert requests.post(f"{control}/faults", json={"colour": "red"}, timeout=TIMEOUT).status_code == 400
    assert requests.post(f"{control}/latency", json={"latency": 0.25}, timeout=TIMEOUT).status_code == 200
    assert sim.latency == 0.25
    recorded = requests.get(f"{control}/requests", timeout=TIMEOUT).json()
    assert [r["status"] for r in recorded if r["api"] == "list_subscriptions"] == [429, 500, 200]
    assert requests.post(f"{control}/tokens/revoke", timeout=TIMEOUT).status_code == 200
    assert subscriptions(sim, session).status_code == 401
    vaults = requests.get(f"{control}/vaults", timeout=TIMEOUT).json()
    assert [(v["subscription_id"], v["resource_group"], v["vault"]) for v in vaults] == sim.estate.vault_refs()


def test_requests_are_recorded_with_route_names_versions_and_user_agent(sim, session):
    session.headers["User-Agent"] = "azure-backup-exporter/test"
    sub, rg, vault = sim.estate.vault_refs()[0]
    base = f"{sim.url}/subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.RecoveryServices/vaults/{vault}"
    job = sim.estate.jobs(sub, rg, vault)[0]["name"]
    sim.reset_requests()
    subscriptions(sim, session)
    session.get(vaults_url(sim), params={"api-version": "2023-04-01"})
    session.get(f"{base}/backupJobs", params=API)
    session.get(f"{base}/backupJobs/{job}", params=API)
    session.get(f"{sim.url}/no/such/route", params=API)
    recorded = sim.requests()
    assert [r.api for r in recorded] == ["list_subscriptions", "list_vaults", "list_jobs", "get_job", "unknown"]
    assert [r.status for r in recorded] == [200, 200, 200, 200, 404]
    assert recorded[1].api_version == "2023-04-01"
    assert {r.user_agent for r in recorded} == {"azure-backup-exporter/test"}


def test_ratelimit_headers_count_down_per_subscription(sim, session):
    first = session.get(vaults_url(sim), params=API).headers
    second = session.get(vaults_url(sim), params=API).headers
    reads = "x-ms-ratelimit-remaining-subscription-reads"
    resource = "x-ms-ratelimit-remaining-subscription-resource-requests"
    assert int(second[reads]) < int(first[reads]) <= 12000
    assert int(second[resource]) < int(first[resource]) <= 300
    assert first["Content-Type"] == "application/json; charset=utf-8"
    assert first["x-ms-request-id"] != second["x-ms-request-id"]
    assert "x-ms-ratelimit-remaining-tenant-reads" in subscriptions(sim, session).headers


def test_keep_alive_serves_many_requests_on_one_connection(sim):
    host, port = sim.url.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=TIMEOUT)
    for _ in range(3):
        connection.request("GET", "/subscriptions?api-version=x")  # 401 without a token, still keep-alive
        response = connection.getresponse()
        assert response.status == 401
        assert int(response.headers["Content-Length"]) == len(response.read())
    connection.close()


def test_small_answers_on_a_kept_alive_connection_are_not_held_back_by_nagle(sim, session):
    subscriptions(sim, session)  # the connection is open and pooled
    took = []
    for _ in range(20):
        started = time.monotonic()
        assert subscriptions(sim, session).status_code == 200
        took.append(time.monotonic() - started)
    # With Nagle's algorithm on, every answer waited ~40 ms for the client's delayed ACK, so even
    # the fastest would; a busy machine slows some answers, not all twenty.
    assert min(took) < 0.025


def test_stop_closes_idle_connections_and_releases_the_port():
    # Threads by identity, not a count: a thread left by an earlier test may end meanwhile.
    before = set(threading.enumerate())
    sim = Simulator(EstateSpec()).start()
    host, port = sim.url.removeprefix("http://").split(":")
    idle = http.client.HTTPConnection(host, int(port), timeout=TIMEOUT)
    idle.request("GET", "/_sim/faults")
    idle.getresponse().read()
    sim.stop()
    deadline = time.monotonic() + 5
    while set(threading.enumerate()) - before and time.monotonic() < deadline:
        time.sleep(0.01)
    assert set(threading.enumerate()) - before == set()
    with pytest.raises(ConnectionRefusedError), socket.create_connection((host, int(port)), timeout=TIMEOUT):
        pass
    sim.stop()  # idempotent


def test_invalid_faults_are_refused_when_added():
    with pytest.raises(ValueError, match="times"):
        Fault(times=0)
    with pytest.raises(ValueError, match="unknown fault fields"):
        Fault.from_json({"path": "", "colour": "red"})


def test_a_route_that_fails_answers_500_and_the_server_keeps_serving(sim, session, monkeypatch):
    monkeypatch.setattr(sim.estate, "vaults_in", lambda _subscription: 1 / 0)
    failed = session.get(vaults_url(sim), params=API)
    assert (failed.status_code, failed.json()["error"]["code"]) == (500, "InternalServerError")
    assert subscriptions(sim, session).status_code == 200
