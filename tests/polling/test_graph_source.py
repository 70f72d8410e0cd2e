"""ResourceGraphSource alone, with a fake Resource Graph: which queries a poll's vaults cause."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from typing import Any

import pytest

from exporter.azure.arm import ArmError
from exporter.model import VaultRef
from exporter.polling.graph_source import BATCH_SLACK, MAX_BATCH_AGE, ResourceGraphSource
from exporter.polling.sources import Window

SUB = "00000000-0000-0000-0000-00000000000a"
A, B = VaultRef(SUB, "rg", "vault-a"), VaultRef(SUB, "rg", "vault-b")
INTERVAL = 300.0
MAX_AGE = min(INTERVAL / 2, MAX_BATCH_AGE)  # well inside the poller's 10-minute overlap


def iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def row(vault: VaultRef, name: str, start: float, status: str = "Completed", operation: str = "Backup") -> dict:
    properties = {"entityFriendlyName": "vm1", "backupManagementType": "AzureIaasVM", "operation": operation,
                  "status": status, "startTime": iso(start), "duration": "PT5M"}
    if status != "InProgress":
        properties["endTime"] = iso(start + 300)
    return {"id": f"{vault.resource_id}/backupJobs/{name}", "name": name,
            "type": "microsoft.recoveryservices/vaults/backupjobs", "subscriptionId": vault.subscription_id,
            "resourceGroup": vault.resource_group, "properties": properties}


class FakeGraph:
    """Answers the exporter's query from `rows`, honouring its start time and vault list."""

    def __init__(self, rows: list[dict[str, Any]]) -> None:
        self.rows = rows
        self.queries: list[tuple[float, set[str]]] = []
        self.failure: ArmError | None = None

    def query(self, subscriptions: Sequence[str], query: str) -> Iterator[list[Any]]:
        moment = re.search(r"datetime\((\d[^)]*)\)", query)
        assert moment is not None
        since = datetime.fromisoformat(moment[1]).timestamp()
        vaults = set(re.findall(r"'(/subscriptions/[^']+)'", query))
        self.queries.append((since, vaults))
        if self.failure is not None:
            raise self.failure
        yield [r for r in self.rows if r["id"].lower().rsplit("/backupjobs/", 1)[0] in vaults
               and datetime.fromisoformat(r["properties"]["startTime"]).timestamp() >= self.queries[-1][0]]


def source_for(graph: FakeGraph, polled: Sequence[VaultRef] = (A, B), **kwargs: Any) -> ResourceGraphSource:
    return ResourceGraphSource(graph, None, lambda: polled, interval=INTERVAL, **kwargs)  # type: ignore[arg-type]


def names(jobs: list[Any]) -> list[str]:
    return [job.job_id for job in jobs]


def test_the_vaults_of_one_poll_share_one_query() -> None:
    graph = FakeGraph([row(A, "a1", 2000), row(B, "b1", 2100), row(B, "b0", 500)])
    source = source_for(graph)
    assert names(source.list_jobs(A, 1000, 5000, Counter())) == ["a1"]
    assert names(source.list_jobs(B, 1000, 5000, Counter())) == ["b1"]
    assert len(graph.queries) == 1
    since, vaults = graph.queries[0]
    assert since == 1000 - BATCH_SLACK
    assert vaults == {A.resource_id.lower(), B.resource_id.lower()}


def test_a_window_starting_before_the_batch_gets_a_query_of_its_own() -> None:
    graph = FakeGraph([row(A, "a1", 2000), row(B, "b1", 2100), row(B, "b0", 500)])
    source = source_for(graph)
    source.list_jobs(A, 1000, 5000, Counter())
    assert names(source.list_jobs(B, 400, 5000, Counter())) == ["b1", "b0"]  # newest first
    assert [(since, vaults) for since, vaults in graph.queries[1:]] == [(400, {B.resource_id.lower()})]


def test_a_batch_older_than_half_the_interval_is_queried_again() -> None:
    graph = FakeGraph([row(A, "a1", 2000)])
    source = source_for(graph)
    source.list_jobs(A, 1000, 5000, Counter())
    source.list_jobs(B, 1000, 5000 + MAX_AGE, Counter())
    assert len(graph.queries) == 1
    source.list_jobs(A, 4400, 5000 + MAX_AGE + 1, Counter())
    assert len(graph.queries) == 2


def test_the_batch_reaches_back_to_the_earliest_window_the_poller_prepared() -> None:
    graph = FakeGraph([row(A, "a1", 2000, status="InProgress"), row(B, "b1", 4000)])
    source = source_for(graph)
    source.list_jobs(A, 1000, 5000, Counter())
    source.list_jobs(B, 1000, 5000, Counter())
    # Next poll: A's window reaches back to its running job; B asks first, for its window only.
    source.prepare({A: Window(1999, 6000), B: Window(4400, 6000)})
    source.list_jobs(B, 4400, 6000, Counter())
    assert names(source.list_jobs(A, 1999, 6000, Counter())) == ["a1"]
    assert len(graph.queries) == 2
    assert graph.queries[1][0] <= 1999 - BATCH_SLACK


def test_jobs_outside_the_window_or_the_operations_are_left_out() -> None:
    graph = FakeGraph([row(A, "early", 900), row(A, "late", 5100), row(A, "restore", 2000, operation="Restore"),
                       row(A, "backup", 2000)])
    source = source_for(graph, operations=["Backup"])
    assert names(source.list_jobs(A, 1000, 5000, Counter())) == ["backup"]


def test_a_failed_query_fails_every_vault_of_the_batch_without_asking_again() -> None:
    graph = FakeGraph([])
    graph.failure = ArmError("resource_graph", 403, "AuthorizationFailed", "no access")
    source = source_for(graph)
    for vault in (A, B):
        with pytest.raises(ArmError, match="AuthorizationFailed"):
            source.list_jobs(vault, 1000, 5000, Counter())
    assert len(graph.queries) == 1


def test_parse_errors_of_a_batch_are_counted_once() -> None:
    bad = row(A, "a1", 2000)
    bad["properties"]["duration"] = "soon"
    source = source_for(FakeGraph([bad]))
    first, second = Counter[str](), Counter[str]()
    source.list_jobs(A, 1000, 5000, first)
    source.list_jobs(B, 1000, 5000, second)
    assert first + second == Counter({"duration": 1})


def test_a_vault_new_to_a_warm_poll_does_not_drag_every_vault_back_to_its_lookback() -> None:
    c = VaultRef(SUB, "rg", "vault-c")
    graph = FakeGraph([row(A, "a1", 4500), row(c, "c0", 100)])
    source = source_for(graph, polled=(A, B, c))
    source.list_jobs(A, 1000, 5000, Counter())
    source.list_jobs(B, 1000, 5000, Counter())
    # Next poll: vault-c was just discovered and asks first, for the whole lookback.
    source.prepare({A: Window(4400, 6000), B: Window(4400, 6000), c: Window(0, 6000, first=True)})
    assert names(source.list_jobs(c, 0, 6000, Counter())) == ["c0"]
    assert names(source.list_jobs(A, 4400, 6000, Counter())) == ["a1"]
    source.list_jobs(B, 4400, 6000, Counter())
    assert [since for since, _ in graph.queries] == [1000 - BATCH_SLACK, 4400 - BATCH_SLACK, 0]
    assert graph.queries[2][1] == {c.resource_id.lower()}


def test_a_cold_start_batch_covers_every_first_window() -> None:
    graph = FakeGraph([row(A, "a1", 2000), row(B, "b0", 100)])
    source = source_for(graph)
    source.prepare({A: Window(500, 5000, first=True), B: Window(0, 5000, first=True)})
    assert names(source.list_jobs(A, 500, 5000, Counter())) == ["a1"]
    assert names(source.list_jobs(B, 0, 5000, Counter())) == ["b0"]
    assert [since for since, _ in graph.queries] == [0 - BATCH_SLACK]
