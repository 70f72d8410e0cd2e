"""kill -9 at random moments, mid-poll included, against a slow simulator: counters never go
backwards, no job is counted twice or lost, and the first poll after each restart is incremental."""

from __future__ import annotations

import json
import logging
import random
import re
import time
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest

from exporter.model import FINISHED_STATUSES
from exporter.simulator import EstateSpec, Fault, RecordedRequest, Simulator
from tests.exporter_process import ExporterProcess, SeriesKey, samples, write_config

pytestmark = pytest.mark.slow  # minutes of real processes: the lowest-bounds CI step leaves it out

log = logging.getLogger(__name__)

SEED = 20261118
KILLS = 4
# Kills aimed at a poll are repeated (up to this many kills in all) until two landed mid-poll.
MAX_KILLS = 6
MID_POLL_KILLS = 2
LATENCY = 0.15  # seconds per ARM request: a poll is on the wire long enough to be killed in
INTERVAL = 3.0
LOOKBACK = 3600.0
# Three vaults, 8 items each, a job per item a minute: ~550 jobs a vault in the lookback (three
# pages of 200 at a cold start), ~100 in a warm window (one page).
ESTATE = EstateSpec(subscriptions=1, vaults_per_subscription=3, items_per_vault=8, period_seconds=60.0,
                    duration_range=(5.0, 40.0), page_size=200)
VAULTS = 3
MONOTONIC = ("azure_backup_jobs_total", "azure_backup_job_size_bytes_total", "azure_backup_job_duration_seconds_count")
_FILTER_START = re.compile(r"startTime eq '([^']+)'")


class FreezableClock:
    """Wall time until frozen; the estate's jobs then stop starting and finishing."""

    def __init__(self) -> None:
        self.frozen: float | None = None

    def __call__(self) -> float:
        return time.time() if self.frozen is None else self.frozen

    def freeze(self) -> float:
        self.frozen = time.time()
        return self.frozen


def window_start(request: RecordedRequest) -> float:
    found = _FILTER_START.search(request.query["$filter"])
    assert found, request.query
    return datetime.strptime(found[1], "%Y-%m-%d %I:%M:%S %p").replace(tzinfo=UTC).timestamp()


def vault_of(request: RecordedRequest) -> str:
    return request.path.split("/vaults/")[1].split("/")[0]


def wait_for_a_list_request(sim: Simulator, seconds: float) -> None:
    """Return as soon as a job list request reaches `sim` (it is then on the wire for LATENCY)."""
    # A fault with no effect, consumed by the next list request: the simulator says when one arrives,
    # however late the exporter's round runs on a loaded machine.
    tripwire = Fault(path=r"/backupJobs\?", times=1)
    sim.add_fault(tripwire)
    deadline = time.monotonic() + seconds
    while any(fault is tripwire for fault in sim.faults.active()) and time.monotonic() < deadline:
        time.sleep(0.002)
    sim.clear_faults()


class CounterWatch:
    """Every counter series, as scraped; fails when one goes back or disappears."""

    def __init__(self) -> None:
        self.seen: dict[SeriesKey, float] = {}
        self.scrapes = 0

    def check(self, series: dict[SeriesKey, float]) -> None:
        self.scrapes += 1
        for key, before in self.seen.items():
            assert key in series, f"{key} disappeared"
            assert series[key] >= before, f"{key} went back from {before} to {series[key]}"
        self.seen.update((key, value) for key, value in series.items() if key[0] in MONOTONIC)


def truth(sim: Simulator, cold_start: dict[str, float], as_of: float) -> tuple[Counter[tuple[str, ...]], set[str]]:
    """Finished jobs per (vault, type, item, operation, status) since each vault's cold-start window began."""
    counts: Counter[tuple[str, ...]] = Counter()
    ids: set[str] = set()
    for sub, rg, vault in sim.estate.vault_refs():
        for job in sim.estate.jobs(sub, rg, vault, cold_start[vault], as_of, as_of=as_of):
            p = job["properties"]
            if p["status"] in FINISHED_STATUSES:
                counts[(vault, p["backupManagementType"], p["entityFriendlyName"], p["operation"], p["status"])] += 1
                ids.add(job["name"])
    return counts, ids


def counted(series: dict[SeriesKey, float]) -> Counter[tuple[str, ...]]:
    found: Counter[tuple[str, ...]] = Counter()
    for labels, value in samples(series, "azure_backup_jobs_total"):
        if value:
            key = (labels["vault"], labels["backup_management_type"], labels["item"], labels["operation"])
            found[(*key, labels["status"])] = int(value)
    return found


def test_kill_9_at_random_moments_loses_nothing_and_counts_nothing_twice(
    start_simulator: Callable[..., Simulator], tmp_path: Path
) -> None:
    began = time.monotonic()
    rng = random.Random(SEED)
    clock = FreezableClock()
    sim = start_simulator(ESTATE, clock=clock, latency=LATENCY)
    state_file = tmp_path / "state.json"
    config = write_config(tmp_path / "config.yaml", sim, state_file=state_file,
                          collection={"interval": f"{INTERVAL:g}s", "lookback": f"{LOOKBACK:g}s"})
    log_file = tmp_path / "exporter.log"
    watch = CounterWatch()

    exporter = ExporterProcess(config, sim, log_file)
    exporter.wait_ready()
    cold_lists = [r for r in sim.requests() if r.api == "list_jobs"]
    cold_start = {vault_of(r): window_start(r) for r in reversed(cold_lists)}  # each vault's first window
    assert len(cold_start) == VAULTS
    assert len(cold_lists) == 3 * VAULTS  # a cold start pages through the whole lookback

    restarts: list[dict[str, object]] = []
    n = 0
    # KILLS kills, random and aimed in turn; then aimed ones until MID_POLL_KILLS landed mid-poll.
    while n < KILLS or (sum(1 for r in restarts if r["in flight at kill"]) < MID_POLL_KILLS and n < MAX_KILLS):
        watch.check(exporter.scrape())
        if n % 2 or n >= KILLS:
            # Aim inside a round of polls: somewhere in the flight of a list request.
            wait_for_a_list_request(sim, 2 * INTERVAL + 10.0)
            time.sleep(rng.uniform(0.0, LATENCY / 2))
        else:
            time.sleep(rng.uniform(0.0, INTERVAL))
        killed_at = time.time()
        exporter.kill()
        n += 1
        time.sleep(LATENCY + 0.1)  # what the dead process had on the wire is normally answered by now

        exporter = ExporterProcess(config, sim, log_file)
        watch.check(exporter.scrape())  # the restored counters, served before the first poll
        ready_at = exporter.wait_ready()
        # The new process's requests begin with its one token request (the dead one's token was
        # still valid): the dead process's last answers, however late, come before it.
        restarted_at = min(r.time for r in sim.requests() if r.api == "token" and r.time > killed_at)
        on_the_wire = [r.api for r in sim.requests() if killed_at < r.time < restarted_at]
        since = [r for r in sim.requests() if restarted_at <= r.time <= ready_at]
        # The first poll: up to ready, and before any vault's second poll (one interval after the first).
        first_list = min(r.time for r in since if r.api == "list_jobs")
        first_poll = [r for r in since if r.time < first_list + INTERVAL - LATENCY]
        calls = Counter(r.api for r in first_poll)
        lists = [r for r in first_poll if r.api == "list_jobs"]
        restarts.append({"in flight at kill": on_the_wire, "first poll": dict(calls)})
        # Incremental: one list request per vault, from near the last watermark, not the lookback.
        assert calls["list_jobs"] == VAULTS, calls
        assert {vault_of(r) for r in lists} == set(cold_start)
        assert all(window_start(r) > cold_start[vault_of(r)] + LOOKBACK - 900 for r in lists)
        watch.check(exporter.scrape())

    # Stop the estate's clock: from here on the truth no longer moves, and the exporter must reach it.
    frozen = clock.freeze()
    expected, expected_ids = truth(sim, cold_start, frozen)
    deadline = time.monotonic() + 30.0  # a few intervals normally; left as soon as the counts match
    while True:
        series = exporter.scrape()
        watch.check(series)
        if counted(series) == expected or time.monotonic() > deadline:
            break
        time.sleep(0.25)
    assert counted(series) == expected
    assert exporter.terminate() == 0
    document = json.loads(state_file.read_bytes())
    ids = [job_id for vault in document["vaults"] for job_id in vault["counted"]]
    assert sorted(ids) == sorted(expected_ids)  # each finished job counted, none twice
    assert sum(expected.values()) == len(expected_ids)
    assert log_file.read_text().count("state restored from") == n == len(restarts)
    kills_mid_poll = sum(1 for r in restarts if r["in flight at kill"])
    assert kills_mid_poll >= MID_POLL_KILLS, restarts
    runtime = time.monotonic() - began
    log.warning(
        "kill -9 x%d in %.1f s (%d mid-poll, %d scrapes): %d jobs counted as in the estate; cold start %d list "
        "requests; first poll after each restart: %s",
        n, runtime, kills_mid_poll, watch.scrapes, len(expected_ids), len(cold_lists),
        [r["first poll"] for r in restarts],
    )
    assert runtime < 180  # about 30 s normally; bounded even on a loaded CI machine
