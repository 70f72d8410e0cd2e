"""Fault suite, throttling and server errors: 429 with Retry-After, 5xx bursts and storms.

Each test polls a healthy estate, injects the fault, checks what a scrape shows and what reached
the simulator (counts and timestamps), clears the fault and checks that the next poll recovers
with every job counted exactly once.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from itertools import pairwise

import pytest

from exporter.simulator import Fault, Simulator
from tests.fault_rig import (
    FAST_RETRY,
    Rig,
    assert_recovers,
    build_rig,
    list_path,
    refs,
    to_subscription,
    to_vault,
    vault_labels,
)
from tests.support import ManualClock, hourly_estate, sim_config

ATTEMPTS: int = FAST_RETRY["max_attempts"]
# A request already on the wire when the 429 arrived may land just after it (later on a loaded
# CI machine); nothing else may.
IN_FLIGHT_SLACK = 0.5
# Timestamps are taken on both sides of a socket: allow a little clock slop.
EPSILON = 0.05


@pytest.fixture
def sim(start_simulator: Callable[..., Simulator], clock: ManualClock) -> Simulator:
    # Two subscriptions of two vaults: a throttled vault, its neighbour in the same subscription,
    # and a subscription that Azure does not throttle at all.
    spec = hourly_estate(2, 2, page_size=200)
    return start_simulator(spec, clock=clock)


def test_429_storm_holds_the_subscription_for_retry_after_then_recovers(
    rig: Rig, sim: Simulator, clock: ManualClock
) -> None:
    retry_after = 2.0  # long enough that the checks below leave a loaded machine a second or more
    throttled, neighbour, *elsewhere = refs(sim)
    assert throttled.subscription_id == neighbour.subscription_id
    start = clock.now
    assert rig.poller.poll_once()
    clock.advance(900)
    sim.reset_requests()
    sim.add_fault(Fault(path=list_path(throttled.vault), status=429, retry_after=retry_after, times=None))
    assert not rig.poller.poll_once()
    recorded = sim.requests()

    hits = [r for r in to_vault(recorded, throttled) if r.status == 429]
    assert len(hits) == len(to_vault(recorded, throttled)) == ATTEMPTS  # bounded: no retry storm
    assert rig.requests_total("list_jobs", "429") == ATTEMPTS
    for first, second in pairwise(hits):
        assert second.time - first.time >= retry_after - EPSILON
    same_subscription = to_subscription(recorded, throttled.subscription_id)
    assert to_vault(same_subscription, neighbour), "the neighbour is polled too, after the wait"
    for hit in hits:
        window = (hit.time + IN_FLIGHT_SLACK, hit.time + retry_after - EPSILON)
        inside = [r for r in same_subscription if window[0] < r.time < window[1]]
        assert not inside, f"requests inside the Retry-After window of the 429 at {hit.time}"
    for ref in elsewhere:  # another subscription is not held back
        assert to_vault(recorded, ref)
        assert all(r.time < hits[0].time + retry_after - EPSILON for r in to_vault(recorded, ref))
    assert rig.target_up(throttled) == 0
    assert [rig.target_up(ref) for ref in (neighbour, *elsewhere)] == [1, 1, 1]
    assert_recovers(rig, sim, clock, start)


def test_429_beyond_the_retry_after_cap_fails_fast_and_sends_nothing_until_then(
    start_simulator: Callable[..., Simulator], clock: ManualClock
) -> None:
    retry_after, cap = 3.0, 0.5  # a poll that sat it out would take 3 s; one that did not, milliseconds
    sim = start_simulator(hourly_estate(2, 1), clock=clock)
    rig = build_rig(sim, sim_config(sim, lookback="1d"), clock, retry_after_cap=cap)
    throttled, other = refs(sim)
    start = clock.now
    assert rig.poller.poll_once()
    sim.add_fault(Fault(path=list_path(throttled.vault), status=429, retry_after=retry_after, times=None))
    clock.advance(900)
    assert not rig.poller.poll_once()
    took = rig.sample("azure_backup_exporter_target_poll_duration_seconds", vault_labels(throttled))
    assert took is not None
    assert took < retry_after / 2  # no thread sat out the 3 s
    throttled_at = [r.time for r in to_vault(sim.requests(), throttled) if r.status == 429]
    assert len(throttled_at) == 1
    assert (rig.target_up(throttled), rig.target_up(other)) == (0, 1)

    # Still inside Retry-After: the next poll fails at once without asking Azure again.
    sim.reset_requests()
    clock.advance(900)
    assert not rig.poller.poll_once()
    assert to_subscription(sim.requests(), throttled.subscription_id) == []
    assert to_vault(sim.requests(), other)
    assert (rig.target_up(throttled), rig.target_up(other)) == (0, 1)

    time.sleep(max(0.0, throttled_at[0] + retry_after - time.time()))
    assert_recovers(rig, sim, clock, start)
    rig.close()


def test_5xx_burst_is_retried_with_backoff_and_the_poll_succeeds(
    start_simulator: Callable[..., Simulator], clock: ManualClock
) -> None:
    backoff_base, retry_after = 0.2, 0.5
    sim = start_simulator(hourly_estate(1, 2), clock=clock)
    rig = build_rig(sim, sim_config(sim, lookback="1d"), clock, backoff_base=backoff_base, max_attempts=4)
    bursty = refs(sim)[0]
    start = clock.now
    assert rig.poller.poll_once()
    clock.advance(900)
    sim.reset_requests()
    sim.add_fault(Fault(path=list_path(bursty.vault), status=500, times=1))
    sim.add_fault(Fault(path=list_path(bursty.vault), status=502, times=1))
    sim.add_fault(Fault(path=list_path(bursty.vault), status=503, retry_after=retry_after, times=1))
    assert rig.poller.poll_once()
    listed = to_vault(sim.requests(), bursty, "list_jobs")
    assert [r.status for r in listed] == [500, 502, 503, 200]
    gaps = [b.time - a.time for a, b in pairwise(listed)]
    # Full jitter in [ceiling/2, ceiling], the ceiling doubling: 0.1-0.2 s, then 0.2-0.4 s;
    # a 503 with Retry-After waits what it says.
    assert gaps[0] >= backoff_base / 2 - EPSILON
    assert gaps[1] >= backoff_base - EPSILON
    assert gaps[2] >= retry_after - EPSILON
    assert [rig.requests_total("list_jobs", code) for code in ("500", "502", "503")] == [1, 1, 1]
    assert all(rig.target_up(ref) == 1 for ref in refs(sim))
    assert_recovers(rig, sim, clock, start)
    rig.close()


@pytest.mark.parametrize("status", [500, 503])
def test_5xx_storm_gives_up_after_bounded_attempts_keeps_series_and_recovers(
    rig: Rig, sim: Simulator, clock: ManualClock, status: int
) -> None:
    failing, *healthy = refs(sim)
    start = clock.now
    assert rig.poller.poll_once()
    series_before = [key for key, _ in rig.store.snapshot().items if key[2] == failing.vault]
    last_success = rig.last_success(failing)
    clock.advance(900)
    sim.reset_requests()
    sim.add_fault(Fault(path=list_path(failing.vault), status=status, times=None))
    assert not rig.poller.poll_once()
    assert len(to_vault(sim.requests(), failing)) == ATTEMPTS
    assert rig.requests_total("list_jobs", str(status)) == ATTEMPTS
    assert rig.target_up(failing) == 0
    assert rig.last_success(failing) == last_success  # stale, not advanced, not blanked
    assert [key for key, _ in rig.store.snapshot().items if key[2] == failing.vault] == series_before
    assert all(rig.target_up(ref) == 1 for ref in healthy)
    assert_recovers(rig, sim, clock, start)
