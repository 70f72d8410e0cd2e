"""Bench 3: requests per warm poll of 1,000 vaults (= vaults + newly finished jobs), and the cold
start of 1,000 vaults x ~100 jobs with the simulator answering in 50 ms, concurrency 8, paced.

The simulator runs in this process on a manual clock shared with the exporter, so that "a few
new jobs" is exact and the expected request count can be computed from the estate itself.
"""

from __future__ import annotations

import os
import time
from collections import Counter
from dataclasses import dataclass

from bench.common import T0, Table, verdict
from exporter.azure.pacing import Pacer
from exporter.azure.telemetry import ApiTelemetry
from exporter.config.schema import parse_config
from exporter.parsing.jobs import parse_job
from exporter.service import App
from exporter.simulator import EstateSpec, Simulator

INTERVAL = 300.0
LOOKBACK = 7 * 86400.0


@dataclass(frozen=True)
class Sizes:
    subscriptions: int
    vaults_per_subscription: int


FULL = Sizes(10, 100)
QUICK = Sizes(2, 5)
# Two items with a backup every 3.4 h: 2 x 50 = 100 jobs a week per vault (and a details backfill
# of two or three jobs per vault after the cold start, so that reaching the steady state is quick).
SPEC = {"items_per_vault": 2, "period_seconds": 7 * 86400.0 / 50, "page_size": 200}


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def _finished_ids(sim: Simulator, ref: tuple[str, str, str], start: float, as_of: float) -> set[str]:
    errors: Counter[str] = Counter()
    jobs = (parse_job(raw, errors) for raw in sim.estate.jobs(*ref, start, as_of, as_of=as_of))
    return {job.job_id for job in jobs if job is not None and job.finished}


def run(quick: bool = False) -> list[Table]:
    sizes = QUICK if quick else FULL
    clock = Clock(T0)
    spec = EstateSpec(subscriptions=sizes.subscriptions, vaults_per_subscription=sizes.vaults_per_subscription,
                      **SPEC)  # type: ignore[arg-type]
    with Simulator(spec, clock=clock, latency=0.05) as sim:
        os.environ.update(sim.identity_env())
        config = parse_config({
            "azure": {"auth": "managed_identity", "resource_manager_url": sim.url},
            "collection": {"lookback": "7d", "interval": "5m", "concurrency": 8, "request_timeout": "30s"},
            "targets": [{"subscription_id": "*"}],
        })
        pacer = Pacer()  # the production default
        app = App(config, ApiTelemetry(), clock=clock, pacer=pacer)
        try:
            started = time.perf_counter()
            ok = app.poller.poll_once()
            cold = time.perf_counter() - started
            cold_requests = Counter(r.api for r in sim.requests())
            vaults = len(app.store.vault_refs())
            jobs = sum(len(app.store.vault(ref).counted) for ref in app.store.vault_refs())
            # Set-up for the warm poll, not measured: drain the details backfill of the cold start
            # quickly (no latency, pacing lifted: the simulator's rate-limit buckets refill in real
            # time, which a manual clock does not move).
            sim.latency, pacer.rate, pacer.burst, pacer.low_water = 0.0, 1e9, 1e9, 0.0
            backfill_polls, backfill_gets = 0, 0
            while any(app.store.vault(ref).backfill or app.store.vault(ref).pending_details
                      for ref in app.store.vault_refs()) and backfill_polls < 10:
                sim.reset_requests()
                clock.now += INTERVAL
                app.poller.poll_once()
                backfill_polls += 1
                backfill_gets += sum(1 for r in sim.requests() if r.api == "get_job")
            previous = clock.now
            clock.now += INTERVAL
            sim.latency = 0.05
            sim.reset_requests()
            started = time.perf_counter()
            app.poller.poll_once()
            warm = time.perf_counter() - started
            served = sim.requests()
        finally:
            app.close()
        expected_details = 0
        for ref in sim.estate.vault_refs():
            since = previous - 86400.0  # jobs last at most an hour here: older ones cannot change
            before = _finished_ids(sim, ref, since, previous)
            expected_details += len(_finished_ids(sim, ref, since, clock.now) - before)
    by_api = Counter(r.api for r in served)
    targets = Counter((r.path, tuple(sorted(r.query.items()))) for r in served)
    repeated = sum(n - 1 for n in targets.values() if n > 1)
    expected = vaults + expected_details
    total = len(served)
    table = Table(
        f"Requests and cold start: {vaults:,} vaults in {sizes.subscriptions} subscriptions",
        ["measure", "value", "target"],
    )
    table.add("cold start (discovery + every vault's lookback listed), simulator latency 50 ms, concurrency 8, "
              "paced 20/s per subscription", f"{cold:.1f} s", f"≤ 60 s: {verdict(ok and cold <= 60)}")
    table.add("cold start requests", ", ".join(f"{api} {n}" for api, n in sorted(cold_requests.items())), "")
    table.add("jobs counted at cold start", f"{jobs:,}", "")
    table.add("details backfill after the cold start (latest finished job per item, 20 per vault and poll)",
              f"{backfill_gets:,} GETs over {backfill_polls} poll(s)", "")
    table.add("warm poll: requests", f"{total:,} ({', '.join(f'{a} {n}' for a, n in sorted(by_api.items()))})",
              f"= vaults + newly finished jobs = {vaults:,} + {expected_details} = {expected:,}: "
              f"{verdict(total == expected)}")
    table.add("warm poll: repeated requests", str(repeated), f"0: {verdict(repeated == 0)}")
    table.add("warm poll: wall time (latency 50 ms)", f"{warm:.1f} s", "")
    table.notes.append(
        "Newly finished jobs are computed from the simulated estate itself (finished at the poll's instant "
        f"and not {INTERVAL / 60:.0f} minutes earlier), independently of the exporter."
    )
    return [table]
