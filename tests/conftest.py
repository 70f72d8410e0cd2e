"""Shared fixtures: a simulator on loopback and the environment azure-identity reads."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from exporter.simulator import EstateSpec, Simulator
from tests.support import ManualClock


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
