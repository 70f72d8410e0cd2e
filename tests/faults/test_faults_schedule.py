"""Fault suite, scheduling: one slow vault must not hold back the others, in the real poll loop."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from itertools import pairwise

import pytest

from exporter.simulator import EstateSpec, Fault, Simulator
from tests.fault_rig import build_rig, refs, to_vault
from tests.support import sim_config

INTERVAL = 0.4
LATENCY = 3.0
# A serial poller would leave the fast vaults unpolled for LATENCY; a concurrent one every INTERVAL.
# Half of LATENCY tells the two apart with room for a loaded CI machine's scheduling delays.
MAX_GAP = LATENCY / 2


def test_slow_vault_does_not_delay_the_others(
    start_simulator: Callable[..., Simulator], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Poller.run renices its thread to 19: on a busy machine it then gets a sliver of a core (and
    # may hold the GIL meanwhile), so its rounds would run late for reasons this test is not about.
    monkeypatch.setattr("exporter.polling.job_poller.lower_thread_priority", lambda *_args, **_kwargs: True)
    sim = start_simulator(EstateSpec(subscriptions=1, vaults_per_subscription=3, items_per_vault=2,
                                     period_seconds=3600.0))  # on the wall clock: Poller.run is real time
    slow, *fast = refs(sim)
    config = sim_config(sim, lookback="1d", interval=INTERVAL, request_timeout=10)
    rig = build_rig(sim, config, time.time)
    sim.add_fault(Fault(path=rf"/vaults/{slow.vault}/backupJobs\?", latency=LATENCY, times=1))
    stop = threading.Event()
    loop = threading.Thread(target=rig.poller.run, args=(stop,), name="test-poller")
    began = time.time()
    loop.start()
    try:
        deadline = time.monotonic() + LATENCY + 3.0
        while rig.target_up(slow) != 1 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert rig.target_up(slow) == 1
        slow_done = time.time()
        published = {ref: rig.last_success(ref) for ref in fast}
    finally:
        stop.set()
        loop.join(timeout=5)
        rig.close()
    assert not loop.is_alive()

    recorded = sim.requests()
    slow_listing = to_vault(recorded, slow, "list_jobs")[0]
    assert slow_listing.time - began >= LATENCY  # it was in flight for LATENCY seconds
    assert len([r for r in to_vault(recorded, slow, "list_jobs") if r.time <= slow_listing.time]) == 1  # not twice
    for ref in fast:
        # Polled again and again while the slow vault was in flight, up to its end ...
        during = [r.time for r in to_vault(recorded, ref, "list_jobs") if r.time <= slow_listing.time]
        assert len(during) >= 2, during
        assert max(b - a for a, b in pairwise([*during, slow_listing.time])) < MAX_GAP, during
        # ... and the exposition published when it finished shows them fresh, not stuck at its start.
        last_success = published[ref]
        assert last_success is not None
        assert last_success > slow_done - MAX_GAP
