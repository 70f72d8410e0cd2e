"""Fault suite, identity: revoked tokens, a 401 a new token does not cure, a token endpoint that fails."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

import pytest

from exporter.simulator import Fault, Simulator
from tests.fault_rig import Rig, assert_counts_match_the_estate, refs, to_vault
from tests.support import ManualClock, hourly_estate


@pytest.fixture
def sim(start_simulator: Callable[..., Simulator], clock: ManualClock) -> Simulator:
    spec = hourly_estate(1, 3)
    return start_simulator(spec, clock=clock)


def test_revoked_token_is_refreshed_once_for_every_vault(rig: Rig, sim: Simulator, clock: ManualClock) -> None:
    start = clock.now
    assert rig.poller.poll_once()
    sim.revoke_tokens()
    clock.advance(900)
    sim.reset_requests()
    assert rig.poller.poll_once()
    recorded = sim.requests()
    assert len([r for r in recorded if r.api == "token"]) == 1  # one refresh, shared by the poll threads
    refused = [r for r in recorded if r.status == 401]
    assert 1 <= len(refused) <= len(refs(sim))  # at most the requests already sent with the old token
    assert rig.requests_total("list_jobs", "401") == len(refused)
    for denial in refused:  # each retried once, with the new token
        assert [r.status for r in recorded if r.path == denial.path and r.time > denial.time][:1] == [200]
    assert_counts_match_the_estate(rig, sim, clock, start)


def test_401_that_a_new_token_does_not_cure_fails_only_its_vault(
    rig: Rig, sim: Simulator, clock: ManualClock
) -> None:
    start = clock.now
    assert rig.poller.poll_once()
    denied, *others = refs(sim)
    sim.add_fault(Fault(path=rf"/vaults/{denied.vault}/backupJobs\?", status=401, times=None))
    clock.advance(900)
    sim.reset_requests()
    assert not rig.poller.poll_once()
    assert [r.status for r in to_vault(sim.requests(), denied)] == [401, 401]  # one refresh, one retry
    assert rig.target_up(denied) == 0
    assert all(rig.target_up(ref) == 1 for ref in others)
    sim.clear_faults()
    clock.advance(900)
    assert rig.poller.poll_once()
    assert_counts_match_the_estate(rig, sim, clock, start)


def test_failing_token_endpoint_downs_every_vault_without_a_storm_and_heals(
    rig: Rig, sim: Simulator, clock: ManualClock, caplog: pytest.LogCaptureFixture
) -> None:
    sim.add_fault(Fault(path="/msi/token", status=500, times=None))
    with caplog.at_level(logging.WARNING):
        assert not rig.poller.poll_once()
    # One fetch, which azure-identity retries itself (4 requests, ~5 s), and no ARM request at all;
    # the vaults behind it fail at once: MSAL keeps a 5xx from a managed-identity endpoint for 5 s.
    assert_one_failed_fetch(rig, sim)
    assert rig.publisher.current.ready  # polled: /-/ready says so, and the exposition says why
    failures = [r.getMessage() for r in caplog.records if "polling vault" in r.getMessage()]
    assert len(failures) == len(refs(sim))
    assert all("could not get an Azure token" in m and "500" in m for m in failures)
    assert not any(sim.identity_header in r.getMessage() for r in caplog.records)

    sim.reset_requests()
    clock.advance(900)
    assert not rig.poller.poll_once()  # still down: again at most one fetch, no storm
    assert_one_failed_fetch(rig, sim, at_most=True)

    sim.clear_faults()
    assert wait_for(rig.poller.poll_once, timeout=10.0)  # once MSAL's 5 s hold on the 500 is over
    assert rig.requests_total("token", "ok") == 1
    assert_counts_match_the_estate(rig, sim, clock, clock.now)  # its first good poll was a cold start now


def assert_one_failed_fetch(rig: Rig, sim: Simulator, *, at_most: bool = False) -> None:
    recorded = sim.requests()
    token_requests = [r for r in recorded if r.api == "token"]
    assert len(token_requests) <= 4
    assert at_most or token_requests
    assert all(r.status == 500 for r in token_requests)
    assert [r for r in recorded if r.api != "token"] == []
    assert [rig.target_up(ref) for ref in refs(sim)] == [0, 0, 0]


def wait_for(condition: Callable[[], bool], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.25)
    return condition()
