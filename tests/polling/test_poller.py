"""The poller against the simulator: incremental windows, request counts, counting, isolation."""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest

from exporter.azure.backup import FILTER_TIME_FORMAT
from exporter.azure.telemetry import ApiTelemetry
from exporter.config.schema import Config
from exporter.model import FINISHED_STATUSES, VaultRef
from exporter.polling.job_poller import CATCH_UP_DETAILS_LIMIT, STRAGGLER_AFTER_SECONDS
from exporter.service import App
from exporter.simulator import EstateSpec, Fault, Simulator
from tests.support import ManualClock, by_api, counted, finished_jobs, hourly_estate, sim_config

HOUR = 3600.0


def app_for(config: Config, clock: ManualClock) -> App:
    return App(config, ApiTelemetry(), clock=clock)


@pytest.fixture
def sim(start_simulator: Callable[..., Simulator], clock: ManualClock) -> Simulator:
    spec = hourly_estate(1, 2, page_size=200)
    return start_simulator(spec, clock=clock)


def test_warm_poll_costs_one_request_per_vault_plus_newly_finished_jobs(sim: Simulator, clock: ManualClock) -> None:
    app = app_for(sim_config(sim, lookback="1d"), clock)
    assert app.poller.poll_once()
    clock.advance(300)
    app.poller.poll_once()  # the first warm poll also backfills the latest job's details per item
    before = finished_jobs(sim, clock.now - 86400, clock.now)
    sim.reset_requests()
    clock.advance(1800)
    after = finished_jobs(sim, clock.now - 86400, clock.now)
    newly = set(after) - set(before)
    assert newly, "the estate should finish some jobs in half an hour"
    assert app.poller.poll_once()
    assert by_api(sim) == Counter({"list_jobs": 2, "get_job": len(newly)})
    assert {r.path.rsplit("/", 1)[-1] for r in sim.requests() if r.api == "get_job"} == newly


def test_counters_match_the_estate_and_never_double_count(sim: Simulator, clock: ManualClock) -> None:
    start = clock.now
    app = app_for(sim_config(sim, lookback="1d"), clock)
    for _ in range(6):
        app.poller.poll_once()
        clock.advance(900)
    truth = finished_jobs(sim, start - 86400, clock.now - 900)
    assert counted(app) == Counter(truth.values())
    assert sum(len(app.store.vault(VaultRef(*ref)).counted) for ref in sim.estate.vault_refs()) == len(truth)


def test_in_progress_job_finishing_in_a_later_poll_is_seen(
    start_simulator: Callable[..., Simulator], clock: ManualClock
) -> None:
    spec = EstateSpec(subscriptions=1, vaults_per_subscription=1, items_per_vault=4, period_seconds=6 * HOUR,
                      duration_range=(3 * HOUR, 5 * HOUR))
    sim = start_simulator(spec, clock=clock)
    app = app_for(sim_config(sim, lookback="2d"), clock)
    app.poller.poll_once()
    ref = VaultRef(*sim.estate.vault_refs()[0])
    running = dict(app.store.vault(ref).in_progress)
    assert running, "long jobs should be running at the cold start"
    for _ in range(6):  # an hour apart: far beyond the window overlap
        clock.advance(HOUR)
        app.poller.poll_once()
    vault = app.store.vault(ref)
    assert set(running) <= set(vault.counted)
    assert not set(running) & set(vault.in_progress)


def test_failing_vault_keeps_its_series_and_others_are_unaffected(
    sim: Simulator, clock: ManualClock, caplog: pytest.LogCaptureFixture
) -> None:
    app = app_for(sim_config(sim, lookback="1d"), clock)
    app.poller.poll_once()
    good, bad = (VaultRef(*ref) for ref in sim.estate.vault_refs())
    items_before = [key for key, _ in app.store.snapshot().items if key[2] == bad.vault]
    sim.add_fault(Fault(path=bad.vault, status=500, times=None))
    clock.advance(900)
    with caplog.at_level(logging.WARNING):
        assert not app.poller.poll_once()
    snapshot = app.store.snapshot()
    up = {v.info.ref: v.up for v in snapshot.vaults}
    assert up == {good: True, bad: False}
    assert [key for key, _ in snapshot.items if key[2] == bad.vault] == items_before
    message = " ".join(r.getMessage() for r in caplog.records)
    assert bad.vault in message
    assert "500" in message
    assert "Bearer" not in message
    sim.clear_faults()
    clock.advance(900)
    assert app.poller.poll_once()
    assert counted(app) == Counter(finished_jobs(sim, clock.now - 1800 - 86400, clock.now).values())


def test_forbidden_vault_is_down_without_retries(sim: Simulator, clock: ManualClock) -> None:
    app = app_for(sim_config(sim), clock)
    bad = VaultRef(*sim.estate.vault_refs()[1])
    sim.add_fault(Fault(path=f"{bad.vault}/backupJobs", status=403, times=None))
    assert not app.poller.poll_once()
    assert len([r for r in sim.requests() if r.api == "list_jobs" and bad.vault in r.path]) == 1
    assert app.publisher.current.ready


def test_a_named_vault_is_polled_and_discovery_is_up_when_its_subscription_cannot_be_listed(
    sim: Simulator, clock: ManualClock
) -> None:
    # Least privilege: Backup Reader on the vaults only, nothing to list at subscription level.
    sim.add_fault(Fault(path="/providers/Microsoft.RecoveryServices/vaults\\?", status=403, times=None))
    app = app_for(sim_config(sim), clock)  # every vault named
    assert app.poller.poll_once()
    assert app.store.discovery_ok is True
    assert app.publisher.registry.get_sample_value("azure_backup_exporter_discovery_up") == 1.0


def test_discovery_finds_vaults_by_regex_across_subscriptions(
    start_simulator: Callable[..., Simulator], clock: ManualClock
) -> None:
    sim = start_simulator(EstateSpec(subscriptions=2, vaults_per_subscription=2, items_per_vault=2), clock=clock)
    refs = [VaultRef(*ref) for ref in sim.estate.vault_refs()]
    wanted = refs[1].vault
    app = app_for(sim_config(sim, targets=[{"subscription_id": "*", "vault_regex": f"^{wanted}$"}]), clock)
    assert app.poller.poll_once()
    assert app.store.vault_refs() == [refs[1]]
    info = app.store.snapshot().vaults[0].info
    assert info.location
    assert dict(info.tags)


def test_operations_allow_list(sim: Simulator, clock: ManualClock) -> None:
    app = app_for(sim_config(sim, lookback="7d", operations=["Restore"]), clock)
    app.poller.poll_once()
    operations = {key[5] for key, _ in app.store.snapshot().items}
    assert operations <= {"Restore"}


def test_tracked_job_is_fetched_until_finished(
    start_simulator: Callable[..., Simulator], clock: ManualClock
) -> None:
    spec = EstateSpec(subscriptions=1, vaults_per_subscription=1, items_per_vault=2, period_seconds=6 * HOUR,
                      duration_range=(2 * HOUR, 2 * HOUR + 1))
    sim = start_simulator(spec, clock=clock)
    sub, rg, vault = sim.estate.vault_refs()[0]
    newest = sim.estate.jobs(sub, rg, vault, clock.now - 6 * HOUR, clock.now)[0]
    target = {"subscription_id": sub, "resource_group": rg, "vault": vault, "jobs": [newest["name"]]}
    app = app_for(sim_config(sim, targets=[target]), clock)
    for _ in range(4):
        app.poller.poll_once()
        clock.advance(HOUR)
    tracked = app.store.snapshot().vaults[0].tracked
    assert [job.job_id for job in tracked] == [newest["name"]]
    assert tracked[0].finished
    assert tracked[0].has_details
    gets = [r for r in sim.requests() if r.api == "get_job" and r.path.endswith(newest["name"])]
    assert len(gets) <= 4
    sim.reset_requests()
    app.poller.poll_once()
    assert not [r for r in sim.requests() if r.api == "get_job" and r.path.endswith(newest["name"])]


def test_a_poll_after_a_long_outage_counts_from_the_list_and_details_only_the_latest(
    sim: Simulator, clock: ManualClock
) -> None:
    start = clock.now
    app = app_for(sim_config(sim, lookback="3d"), clock)
    app.poller.poll_once()
    clock.advance(300)
    app.poller.poll_once()  # the cold start's backfill
    outage_began = clock.now
    clock.advance(2 * 86400)  # two days down: 48 jobs per item finished meanwhile
    sim.reset_requests()
    assert app.poller.poll_once()
    latest: dict[tuple[str, str, str], dict[str, Any]] = {}
    for ref in sim.estate.vault_refs():
        for job in sim.estate.jobs(*ref, outage_began - 600, clock.now):
            props = job["properties"]
            if props["status"] in FINISHED_STATUSES:
                key = (ref[2], props["entityFriendlyName"], props["operation"])
                if key not in latest or props["startTime"] > latest[key]["properties"]["startTime"]:
                    latest[key] = job
    fetched = [r.path.rsplit("/", 1)[-1] for r in sim.requests() if r.api == "get_job"]
    # Hundreds of jobs finished; one details GET for the latest of each item, not one per job.
    assert sorted(fetched) == sorted(job["name"] for job in latest.values())
    assert len(fetched) < CATCH_UP_DETAILS_LIMIT
    truth = finished_jobs(sim, start - 3 * 86400, clock.now)
    assert counted(app) == Counter(truth.values())
    # Each item's latest finished job is the detailed one (its size, its error), not the list entry.
    views = {(key[2], key[4], key[5]): view.latest_finished for key, view in app.store.snapshot().items}
    for key, job in latest.items():
        shown = views[key]
        assert shown is not None
        assert (shown.job_id, shown.has_details) == (job["name"], True)
    # Back to normal: the next poll GETs each newly finished job again.
    sim.reset_requests()
    clock.advance(1800)
    before = set(truth)
    after = set(finished_jobs(sim, start - 3 * 86400, clock.now))
    app.poller.poll_once()
    assert {r.path.rsplit("/", 1)[-1] for r in sim.requests() if r.api == "get_job"} == after - before


def test_a_job_running_for_a_day_is_read_by_id_instead_of_widening_every_window(
    start_simulator: Callable[..., Simulator], clock: ManualClock
) -> None:
    spec = EstateSpec(subscriptions=1, vaults_per_subscription=1, items_per_vault=2, period_seconds=24 * HOUR,
                      duration_range=(20 * HOUR, 22 * HOUR))
    sim = start_simulator(spec, clock=clock)
    start = clock.now
    app = app_for(sim_config(sim, lookback="3d"), clock)
    app.poller.poll_once()
    ref = VaultRef(*sim.estate.vault_refs()[0])
    windows: list[float] = []
    by_id: set[str] = set()
    for _ in range(48):
        clock.advance(HOUR)
        watermark = app.store.vault(ref).watermark
        assert watermark is not None
        sim.reset_requests()
        assert app.poller.poll_once()
        for request in sim.requests():
            if request.api == "list_jobs":
                since = request.query["$filter"].split("'")[1]
                windows.append(watermark - datetime.strptime(since, FILTER_TIME_FORMAT).replace(tzinfo=UTC).timestamp())
            elif request.api == "get_job":
                by_id.add(request.path.rsplit("/", 1)[-1])
    # The window reaches back at most the straggler age (6 h) past the overlap, never a day.
    assert max(windows) <= STRAGGLER_AFTER_SECONDS + 600 + 1
    long_runners = {job["name"] for job in sim.estate.jobs(*sim.estate.vault_refs()[0], start, clock.now - 23 * HOUR)
                    if job["properties"]["status"] in FINISHED_STATUSES}
    assert long_runners
    assert long_runners <= by_id  # each was read by id (its details), while it ran or when it ended
    truth = finished_jobs(sim, start - 3 * 86400, clock.now)
    assert counted(app) == Counter(truth.values())
    assert not set(app.store.vault(ref).in_progress) & set(truth)
