"""A cold start says how far it has come: vaults read, job-list pages, jobs and time left."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable

import pytest

from exporter.azure.telemetry import ApiTelemetry
from exporter.model import VaultRef
from exporter.polling.progress import PROGRESS_EVERY_SECONDS, Progress
from exporter.service import App
from exporter.simulator import EstateSpec, Simulator
from tests.support import ManualClock, sim_config

A, B, C = (VaultRef("s", "rg", name) for name in ("a", "b", "c"))


def progress_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "exporter.polling.progress"]


def test_progress_is_logged_at_most_every_few_seconds_with_an_eta(caplog: pytest.LogCaptureFixture) -> None:
    telemetry, monotonic = ApiTelemetry(), ManualClock(0.0)
    progress = Progress([A, B, C], telemetry, monotonic)
    with caplog.at_level(logging.INFO, logger="exporter.polling.progress"):
        monotonic.advance(1.0)
        telemetry.record("list_jobs", "200", 0.1)
        progress.vault_done(A, 10)
        assert progress_lines(caplog) == []  # too soon after the start
        monotonic.advance(PROGRESS_EVERY_SECONDS)
        telemetry.record("list_jobs", "200", 0.1)
        telemetry.record("get_job", "200", 0.1)  # a details GET is no page
        progress.vault_done(B, 5)
        progress.vault_done(A, 99)  # a vault's later polls are not its first
        monotonic.advance(1.0)
        progress.tick()  # too soon after the last line
        assert progress_lines(caplog) == ["cold start: 2 of 3 vaults read, 2 pages, 15 jobs, about 3 s left"]
        progress.vault_done(C, 1)
    assert progress_lines(caplog)[-1] == "cold start done: 3 vaults, 2 pages, 16 jobs in 7 s"
    assert progress.finished


def test_before_any_vault_is_read_the_time_left_is_unknown(caplog: pytest.LogCaptureFixture) -> None:
    monotonic = ManualClock(0.0)
    progress = Progress([A], ApiTelemetry(), monotonic)
    with caplog.at_level(logging.INFO, logger="exporter.polling.progress"):
        monotonic.advance(PROGRESS_EVERY_SECONDS)
        progress.tick()
    assert progress_lines(caplog) == ["cold start: 0 of 1 vaults read, 0 pages, 0 jobs, time left unknown"]


def test_the_poller_reports_its_cold_start_once(
    start_simulator: Callable[..., Simulator], caplog: pytest.LogCaptureFixture
) -> None:
    sim = start_simulator(EstateSpec(subscriptions=1, vaults_per_subscription=2, items_per_vault=3))
    clock = ManualClock()
    app = App(sim_config(sim, lookback="1d"), ApiTelemetry(), clock=clock)
    try:
        with caplog.at_level(logging.INFO, logger="exporter.polling.progress"):
            assert app.poller.poll_once()
            pages = len([r for r in sim.requests() if r.api == "list_jobs"])
            counted = sum(n for _, view in app.store.snapshot().items for _, n in view.counts)
            clock.advance(300)
            assert app.poller.poll_once()  # not a cold start: says nothing
    finally:
        app.close()
    lines = progress_lines(caplog)
    assert len(lines) == 1
    found = re.fullmatch(r"cold start done: 2 vaults, (\d+) pages, (\d+) jobs in \d+ s", lines[0])
    assert found is not None
    assert int(found[1]) == pages >= 2
    assert int(found[2]) >= counted > 0  # listed jobs: the finished ones counted, and any in progress
