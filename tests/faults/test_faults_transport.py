"""Fault suite, the wire: timeouts, connection resets, unreadable bodies, an unreachable ARM.

Each fault hits one vault's job list; the test checks the count the exporter publishes for it
(api_requests_total{code="timeout"|"connection_error"}, parse_errors_total{field="response_body"}),
the number of requests that reached the simulator, the vault's target_up, its neighbours, and that
the poll after the fault clears counts every job exactly once.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator

import pytest

from exporter.config.schema import parse_config
from exporter.simulator import EstateSpec, Fault, Simulator
from exporter.store.job_store import MAX_DETAIL_ATTEMPTS
from tests.fault_rig import FAST_RETRY, Rig, assert_recovers, build_rig, closed_port, list_path, refs, to_vault, truth
from tests.support import ManualClock, hourly_estate, sim_config

HOUR = 3600.0
DAY = 86400.0
ATTEMPTS: int = FAST_RETRY["max_attempts"]
# request_timeout of the timeout tests: short, yet far above what a healthy answer takes on a busy CI box.
TIMEOUT = 1.0


@pytest.fixture
def sim(start_simulator: Callable[..., Simulator], clock: ManualClock) -> Simulator:
    spec = hourly_estate(1, 2, page_size=200)
    return start_simulator(spec, clock=clock)


@pytest.fixture
def impatient_rig(sim: Simulator, clock: ManualClock) -> Iterator[Rig]:
    rig = build_rig(sim, sim_config(sim, lookback="1d", request_timeout=TIMEOUT), clock)
    yield rig
    rig.close()


def warm(rig: Rig, clock: ManualClock) -> float:
    """A cold start and a warm poll, then 15 minutes on: returns the cold start's time."""
    start = clock.now
    assert rig.poller.poll_once()
    clock.advance(900)
    assert rig.poller.poll_once()
    clock.advance(900)
    rig.sim.reset_requests()
    return start


def test_one_timeout_is_retried_within_the_poll(impatient_rig: Rig, sim: Simulator, clock: ManualClock) -> None:
    rig, slow = impatient_rig, refs(sim)[0]
    start = warm(rig, clock)
    sim.add_fault(Fault(path=list_path(slow.vault), latency=2 * TIMEOUT, times=1))
    assert rig.poller.poll_once()
    assert rig.requests_total("list_jobs", "timeout") == 1
    assert_recovers(rig, sim, clock, start)


def test_timeouts_on_every_attempt_fail_the_vault_in_bounded_time(
    impatient_rig: Rig, sim: Simulator, clock: ManualClock
) -> None:
    rig, (slow, fast) = impatient_rig, refs(sim)
    start = warm(rig, clock)
    # Far beyond the timeout: a client that waited for the answers would take 15 s, over twice the bound below.
    sim.add_fault(Fault(path=list_path(slow.vault), latency=5 * TIMEOUT, times=None))
    began = time.monotonic()
    assert not rig.poller.poll_once()
    # Each attempt ends at the timeout, not when the server answers; backoffs are small.
    assert time.monotonic() - began < ATTEMPTS * TIMEOUT + 3.0  # ~ATTEMPTS * TIMEOUT + 0.2 s on an idle machine
    assert rig.requests_total("list_jobs", "timeout") == ATTEMPTS
    assert (rig.target_up(slow), rig.target_up(fast)) == (0, 1)
    assert_recovers(rig, sim, clock, start)


def test_connection_resets_are_counted_and_retried(rig: Rig, sim: Simulator, clock: ManualClock) -> None:
    flaky, steady = refs(sim)
    start = warm(rig, clock)
    sim.add_fault(Fault(path=list_path(flaky.vault), reset=True, times=1))
    assert rig.poller.poll_once()
    assert rig.requests_total("list_jobs", "connection_error") == 1
    sim.add_fault(Fault(path=list_path(flaky.vault), reset=True, times=None))
    clock.advance(900)
    assert not rig.poller.poll_once()
    resets = [r for r in to_vault(sim.requests(), flaky) if r.status == 0]
    assert len(resets) == 1 + ATTEMPTS
    assert rig.requests_total("list_jobs", "connection_error") == 1 + ATTEMPTS
    assert (rig.target_up(flaky), rig.target_up(steady)) == (0, 1)
    assert_recovers(rig, sim, clock, start)


BAD_BODIES = {
    "truncated": '{"value": [{"id": "/subscriptions/x", "properties": {"status": "Compl',
    "html": "<html><body><h1>502 Bad Gateway</h1></body></html>",
    "empty": "",
    "not_a_page": '{"value": {"id": "not a list"}}',
    "array": "[]",
    "null": "null",
    "next_link_not_text": '{"value": [], "nextLink": 42}',
}


@pytest.mark.parametrize("body", BAD_BODIES.values(), ids=BAD_BODIES.keys())
def test_unreadable_list_body_is_counted_fails_the_vault_and_loses_nothing(
    rig: Rig, sim: Simulator, clock: ManualClock, body: str
) -> None:
    broken, healthy = refs(sim)
    start = warm(rig, clock)
    clock.advance(2 * HOUR)  # jobs start and finish in the window this poll reads
    sim.add_fault(Fault(path=list_path(broken.vault), body=body, times=None))
    assert not rig.poller.poll_once()
    assert len(to_vault(sim.requests(), broken)) == ATTEMPTS  # retried like a 5xx, bounded
    assert rig.parse_errors("response_body") == ATTEMPTS
    assert (rig.target_up(broken), rig.target_up(healthy)) == (0, 1)
    # The failed poll must not move the vault's watermark: the window it missed is read next time.
    assert_recovers(rig, sim, clock, start)


def test_unreadable_details_keep_the_job_pending_then_count_it_once(sim: Simulator, clock: ManualClock) -> None:
    # Every failed GET is retried in the client: keep its backoff tiny, there are many of them here.
    rig = build_rig(sim, sim_config(sim, lookback="1d"), clock, backoff_base=0.005)
    vault = refs(sim)[0]
    start = warm(rig, clock)
    clock.advance(2 * HOUR)  # jobs finish: each needs its details GET
    sim.add_fault(Fault(path=rf"/vaults/{vault.vault}/backupJobs/[^?/]+\?", body='{"properties": {', times=None))
    assert rig.poller.poll_once()  # a details GET that fails does not fail the poll
    failed_gets = to_vault(sim.requests(), vault, "get_job")
    assert rig.parse_errors("response_body") == len(failed_gets) == ATTEMPTS * len({r.path for r in failed_gets})
    pending = set(rig.store.vault(vault).pending_details)
    assert pending == {r.path.rsplit("/", 1)[-1] for r in failed_gets}
    assert not pending & set(rig.store.vault(vault).counted)  # not counted yet: waiting for details
    assert rig.target_up(vault) == 1
    for _ in range(MAX_DETAIL_ATTEMPTS - 1):  # details never come: the list entry is counted instead
        clock.advance(60)
        assert rig.poller.poll_once()
    assert pending <= set(rig.store.vault(vault).counted)
    assert_recovers(rig, sim, clock, start)
    rig.close()


def test_unreachable_arm_is_down_and_recovers_without_restart(
    start_simulator: Callable[..., Simulator], clock: ManualClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Poller.run renices its thread to 19: on a busy machine it then gets a sliver of a core (and
    # may hold the GIL meanwhile), so its rounds would run late for reasons this test is not about.
    monkeypatch.setattr("exporter.polling.job_poller.lower_thread_priority", lambda *_args, **_kwargs: True)
    spec = EstateSpec(subscriptions=1, vaults_per_subscription=2, items_per_vault=2, period_seconds=HOUR)
    identity = start_simulator(spec, clock=clock)  # the token endpoint; ARM is elsewhere
    port = closed_port()
    targets = [{"subscription_id": s, "resource_group": rg, "vault": v} for s, rg, v in identity.estate.vault_refs()]
    config = parse_config({
        "azure": {"auth": "managed_identity", "resource_manager_url": f"http://127.0.0.1:{port}"},
        "collection": {"interval": 0.2, "request_timeout": 1, "lookback": "1d"},
        "targets": targets,
    })
    rig = build_rig(identity, config, clock)
    stop = threading.Event()
    poller = threading.Thread(target=rig.poller.run, args=(stop,), name="test-poller")
    poller.start()
    arm: Simulator | None = None
    try:
        assert wait_for(lambda: rig.requests_total("list_jobs", "connection_error") >= 2 * ATTEMPTS * len(targets))
        assert poller.is_alive()
        assert [rig.target_up(ref) for ref in refs(identity)] == [0, 0]
        assert rig.publisher.current.ready  # /-/ready: polled, and saying so
        # ARM comes back on the same address; the running poller picks it up on its next round.
        arm = Simulator(spec, clock=clock, port=port)
        arm.tokens = identity.tokens  # one identity provider for both, as in Azure
        arm.start()
        assert wait_for(lambda: all(rig.target_up(ref) == 1 for ref in refs(identity)))
        assert rig.counted() == truth(identity, clock.now - DAY, clock.now)
    finally:
        stop.set()
        poller.join(timeout=5)
        rig.close()
        if arm is not None:
            arm.stop()
    assert not poller.is_alive()


def wait_for(condition: Callable[[], bool], timeout: float = 15.0) -> bool:
    """Poll `condition` until it holds; a second or two normally, the rest is for a loaded CI machine."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    return condition()
