"""Jobs through Azure Resource Graph: one paged query per poll, the same metrics as the jobs API."""

from __future__ import annotations

import math
import time
from collections import Counter
from collections.abc import Callable

import pytest

from exporter.azure.arm import ArmError
from exporter.azure.resourcegraph import API_VERSION, QUERY_PATH, jobs_query
from exporter.azure.telemetry import ApiTelemetry
from exporter.config.schema import ConfigError, parse_config
from exporter.model import VaultRef
from exporter.service import App
from exporter.simulator import EstateSpec, Fault, Simulator
from tests.arm_builders import RecordingSleep, client_for
from tests.support import ManualClock, by_api, counted, finished_jobs, sim_config

HOUR = 3600.0
DAY = 86400.0


def app_for(sim: Simulator, clock: ManualClock, **collection: object) -> App:
    return App(sim_config(sim, **collection), ApiTelemetry(), clock=clock)


@pytest.fixture
def sim(start_simulator: Callable[..., Simulator], clock: ManualClock) -> Simulator:
    # Jobs of up to two hours on an hourly schedule: some are always running, so the windows
    # reach back to jobs in progress.
    spec = EstateSpec(subscriptions=2, vaults_per_subscription=3, items_per_vault=4, period_seconds=HOUR,
                      duration_range=(300, 2 * HOUR), page_size=200)
    return start_simulator(spec, clock=clock)


def test_a_poll_costs_one_query_instead_of_one_list_per_vault(sim: Simulator, clock: ManualClock) -> None:
    vaults = len(sim.estate.vault_refs())
    app = app_for(sim, clock, lookback="1d", source="resource_graph")
    assert app.poller.poll_once()
    assert by_api(sim)["resource_graph"] == 1
    assert "list_jobs" not in by_api(sim)
    clock.advance(300)
    app.poller.poll_once()  # backfills the details of the cold start's latest jobs
    before = finished_jobs(sim, clock.now - DAY, clock.now)
    for _ in range(3):
        sim.reset_requests()
        clock.advance(1800)
        after = finished_jobs(sim, clock.now - DAY, clock.now)
        newly = set(after) - set(before)
        assert app.poller.poll_once()
        # Jobs still running reach back further than the last window: the batch covers them too.
        assert by_api(sim) == Counter({"resource_graph": 1, "get_job": len(newly)})
        before = after
    jobs_app = app_for(sim, clock, lookback="1d")
    jobs_app.poller.poll_once()
    sim.reset_requests()
    clock.advance(1800)
    jobs_app.poller.poll_once()
    assert by_api(sim)["list_jobs"] == vaults


def test_metrics_are_the_same_as_through_the_jobs_api(sim: Simulator, clock: ManualClock) -> None:
    start = clock.now
    through_jobs = app_for(sim, clock, lookback="1d")
    through_graph = app_for(sim, clock, lookback="1d", source="resource_graph")
    for _ in range(5):
        assert through_jobs.poller.poll_once()
        assert through_graph.poller.poll_once()
        clock.advance(1500)
    assert through_jobs.poller.poll_once()
    assert through_graph.poller.poll_once()
    jobs_snapshot, graph_snapshot = through_jobs.store.snapshot(), through_graph.store.snapshot()
    assert graph_snapshot.items == jobs_snapshot.items
    assert graph_snapshot.histograms == jobs_snapshot.histograms
    assert counted(through_graph) == counted(through_jobs)
    assert counted(through_graph) == Counter(finished_jobs(sim, start - DAY, clock.now).values())


def test_paging_follows_the_skip_token_across_more_than_1000_rows(
    start_simulator: Callable[..., Simulator], clock: ManualClock
) -> None:
    spec = EstateSpec(subscriptions=2, vaults_per_subscription=2, items_per_vault=30, period_seconds=HOUR,
                      duration_range=(60, 600), restore_ratio=0.0)
    sim = start_simulator(spec, clock=clock)
    rows = sum(len(sim.estate.jobs(*ref, clock.now - DAY - 60, clock.now)) for ref in sim.estate.vault_refs())
    assert rows > 2000
    app = app_for(sim, clock, lookback="1d", source="resource_graph", job_details=False)
    assert app.poller.poll_once()
    queries = [r for r in sim.requests() if r.api == "resource_graph"]
    assert len(queries) == math.ceil(rows / 1000)
    assert all(r.status == 200 for r in queries)
    assert counted(app) == Counter(finished_jobs(sim, clock.now - DAY, clock.now).values())


def test_lookback_beyond_14_days_is_a_config_error_with_resource_graph() -> None:
    target = [{"subscription_id": "*"}]
    with pytest.raises(ConfigError) as raised:
        parse_config({"collection": {"source": "resource_graph", "lookback": "15d"}, "targets": target}, environ={})
    assert [p for p in raised.value.problems if p.startswith("collection.lookback: ")]
    assert "14d" in str(raised.value)
    parse_config({"collection": {"source": "resource_graph", "lookback": "14d"}, "targets": target}, environ={})
    parse_config({"collection": {"lookback": "30d"}, "targets": target}, environ={})
    with pytest.raises(ConfigError, match=r"collection\.source: .* not one of jobs, resource_graph"):
        parse_config({"collection": {"source": "graph"}, "targets": target}, environ={})


def test_a_failed_query_downs_every_vault_with_one_request(sim: Simulator, clock: ManualClock) -> None:
    app = app_for(sim, clock, lookback="1d", source="resource_graph")
    sim.add_fault(Fault(path="ResourceGraph", status=403, times=None))
    assert not app.poller.poll_once()
    assert {view.up for view in app.store.snapshot().vaults} == {False}
    assert by_api(sim)["resource_graph"] == 1  # 403 is not retried, and the other vaults reuse it
    sim.clear_faults()
    clock.advance(600)
    assert app.poller.poll_once()


def test_simulator_answers_only_the_exporters_query_and_keeps_14_days(sim: Simulator, clock: ManualClock) -> None:
    refs = [VaultRef(*ref) for ref in sim.estate.vault_refs()]
    subscriptions = sorted({ref.subscription_id for ref in refs})
    client = client_for(sim)

    def ask(query: str, **options: object) -> dict[str, object]:
        body = {"subscriptions": subscriptions, "query": query, "options": {"resultFormat": "objectArray", **options}}
        answer: dict[str, object] = client.post(QUERY_PATH, body, api="resource_graph",
                                                 params={"api-version": API_VERSION})
        return answer

    answer = ask(jobs_query([refs[0].resource_id], clock.now - 20 * DAY), **{"$top": 5})
    rows = answer["data"]
    assert isinstance(rows, list)
    assert len(rows) == 5
    assert answer["$skipToken"]
    assert answer["resultTruncated"] == "false"
    assert set(rows[0]) == {"id", "name", "type", "subscriptionId", "resourceGroup", "properties"}
    assert rows[0]["type"] == "microsoft.recoveryservices/vaults/backupjobs"
    assert [row["id"] for row in rows] == sorted(row["id"] for row in rows)
    listed = {job["id"]: job for job in sim.estate.jobs(*refs[0].labels)}
    assert all(row["properties"] == listed[row["id"]]["properties"] for row in rows)
    assert rows[0]["subscriptionId"] == refs[0].subscription_id
    assert rows[0]["resourceGroup"] == refs[0].resource_group
    everything = sim.estate.jobs(*refs[0].labels)  # the simulator's 30 days of history
    assert answer["totalRecords"] == len(sim.estate.jobs(*refs[0].labels, clock.now - 14 * DAY, clock.now))
    assert answer["totalRecords"] < len(everything)
    with pytest.raises(ArmError, match="HTTP 400"):
        ask("Resources | project id, name")


def test_quota_headers_are_recorded_and_an_empty_quota_is_waited_out(sim: Simulator) -> None:
    sim.resource_graph.quota, sim.resource_graph.window = 1, 0.3
    waits: list[float] = []

    def sleep(seconds: float) -> None:
        waits.append(seconds)
        time.sleep(seconds)

    telemetry = ApiTelemetry()
    client = client_for(sim, sleep=sleep, telemetry=telemetry)
    body = {"subscriptions": [sim.estate.vault_refs()[0][0]],
            "query": jobs_query([VaultRef(*sim.estate.vault_refs()[0]).resource_id], time.time() - DAY)}
    client.post(QUERY_PATH, body, api="resource_graph", params={"api-version": API_VERSION})
    assert telemetry.snapshot().ratelimit_remaining[("", "user-quota")] == 0
    client.post(QUERY_PATH, body, api="resource_graph", params={"api-version": API_VERSION})
    # "00:00:01", the quota's resets-after, less the time between the two calls
    assert len(waits) == 1
    assert 0.5 < waits[0] <= 1.0
    assert [r.status for r in sim.requests() if r.api == "resource_graph"] == [200, 200]


def test_a_429_without_retry_after_waits_for_the_quota_to_reset(sim: Simulator) -> None:
    sim.resource_graph.quota, sim.resource_graph.window = 0, 5.0
    sleep = RecordingSleep()
    client = client_for(sim, sleep=sleep)
    body = {"subscriptions": [sim.estate.vault_refs()[0][0]],
            "query": jobs_query([VaultRef(*sim.estate.vault_refs()[0]).resource_id], time.time() - DAY)}
    with pytest.raises(ArmError, match="HTTP 429"):
        client.post(QUERY_PATH, body, api="resource_graph", params={"api-version": API_VERSION})
    # "x-ms-user-quota-resets-after: 00:00:05", not the client's 10 ms exponential backoff.
    assert len(sleep.calls) == 3
    assert all(4.0 < seconds <= 5.0 for seconds in sleep.calls)
