"""Fault suite, paging: a nextLink that loops and a pager that never ends must stop, cost a bounded
number of requests, fail only their vault, and leave nothing half-counted."""

from __future__ import annotations

import json
import tracemalloc
from collections.abc import Callable

import pytest

from exporter.model import VaultRef
from exporter.simulator import Fault, Simulator
from exporter.simulator.faults import HIT_PLACEHOLDER
from tests.fault_rig import Rig, assert_recovers, build_rig, refs, to_vault
from tests.support import ManualClock, hourly_estate, sim_config

HOUR = 3600.0
DAY = 86400.0
MAX_PAGES = 25


@pytest.fixture
def sim(start_simulator: Callable[..., Simulator], clock: ManualClock) -> Simulator:
    spec = hourly_estate(1, 3, page_size=5)
    return start_simulator(spec, clock=clock)


def page_of_one_job(sim: Simulator, ref: VaultRef, next_link: str) -> str:
    """A page with a real job of the vault on it, so a half-read listing would have something to count."""
    job = sim.estate.jobs(*ref.labels, sim.clock() - DAY, sim.clock())[-1]
    return json.dumps({"value": [job], "nextLink": next_link})


def first_poll(rig: Rig, clock: ManualClock) -> float:
    start = clock.now
    assert rig.poller.poll_once()
    clock.advance(2 * HOUR)
    rig.sim.reset_requests()
    return start


def poll_with_broken_pager(rig: Rig, sim: Simulator, broken: VaultRef, body: str) -> None:
    # Only the second page of the broken vault's listing misbehaves (the first nextLink has a skiptoken).
    sim.add_fault(Fault(path=rf"/vaults/{broken.vault}/backupJobs\?.*skiptoken", body=body, times=None))
    counted_before = set(rig.store.vault(broken).counted)
    assert not rig.poller.poll_once()
    assert set(rig.store.vault(broken).counted) == counted_before  # the pages read were not folded in
    assert rig.target_up(broken) == 0
    assert all(rig.target_up(ref) == 1 for ref in refs(sim) if ref != broken)


def test_next_link_loop_stops_at_the_repeat(sim: Simulator, clock: ManualClock) -> None:
    rig = build_rig(sim, sim_config(sim, lookback="1d"), clock)
    broken = refs(sim)[1]
    loop = f"{sim.url}{broken.resource_id}/backupJobs?api-version=2025-08-01&%24skiptoken=again"
    start = first_poll(rig, clock)
    poll_with_broken_pager(rig, sim, broken, page_of_one_job(sim, broken, loop))
    listed = to_vault(sim.requests(), broken, "list_jobs")
    # The first page, the page that links to "again", "again" itself — which links to "again" once
    # more: a link already followed, so it stops there.
    assert len(listed) == 3
    assert listed[2].query["$skiptoken"] == "again"
    assert_recovers(rig, sim, clock, start)
    rig.close()


def test_endless_pager_is_bounded_by_max_pages(sim: Simulator, clock: ManualClock) -> None:
    rig = build_rig(sim, sim_config(sim, lookback="1d"), clock, max_pages=MAX_PAGES)
    broken = refs(sim)[0]
    endless = f"{sim.url}{broken.resource_id}/backupJobs?api-version=2025-08-01&%24skiptoken=p{HIT_PLACEHOLDER}"
    start = first_poll(rig, clock)
    body = page_of_one_job(sim, broken, endless)
    tracemalloc.start()
    try:
        poll_with_broken_pager(rig, sim, broken, body)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    listed = to_vault(sim.requests(), broken, "list_jobs")
    # MAX_PAGES pages read; the last one still links on, and that link is not followed.
    assert len(listed) == MAX_PAGES
    assert len({r.query["$skiptoken"] for r in listed[1:]}) == MAX_PAGES - 1  # a new link every time
    assert peak < 5 * 1024 * 1024  # what the bounded pager holds; an endless one would grow without end
    assert_recovers(rig, sim, clock, start)
    rig.close()


def test_hit_placeholder_numbers_each_answer_of_a_fault(sim: Simulator, clock: ManualClock) -> None:
    rig = build_rig(sim, sim_config(sim, lookback="1d"), clock)
    sim.add_fault(Fault(path="/subscriptions\\?", body='{"value": [], "hit": "{hit}"}', times=2))
    bodies = [rig.arm.get("/subscriptions", api="list_subscriptions", params={"api-version": "2022-12-01"})
              for _ in range(3)]
    assert [body.get("hit") for body in bodies] == ["1", "2", None]
    rig.close()
