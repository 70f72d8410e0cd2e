"""Shared fixtures: a simulator on loopback and the environment azure-identity reads."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, settings

from exporter.simulator import EstateSpec, Simulator
from tests.fault_rig import Rig, build_rig
from tests.support import ManualClock, sim_config

# Property tests judge values, not speed: hypothesis' 200 ms deadline and its too-slow health
# check would fail them on a loaded CI machine for a stall that says nothing about the code.
settings.register_profile("timing-free", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("timing-free")


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def start_simulator(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., Simulator]]:
    """Start simulators whose token endpoint the process's azure-identity will use."""
    started: list[Simulator] = []

    def start(estate: EstateSpec | None = None, **kwargs: Any) -> Simulator:
        sim = Simulator(estate or EstateSpec(), **kwargs).start()
        for name, value in sim.identity_env().items():
            monkeypatch.setenv(name, value)
        started.append(sim)
        return sim

    yield start
    for sim in started:
        sim.stop()


@pytest.fixture
def rig(sim: Simulator, clock: ManualClock) -> Iterator[Rig]:
    """The fault suite's exporter (fast retries) over the `sim` fixture of the requesting module."""
    rig = build_rig(sim, sim_config(sim, lookback="1d"), clock)
    yield rig
    rig.close()
