"""Backup vaults beside Recovery Services vaults, end to end: App + simulator, discovery of both
kinds, one exposition, counting once, the cost of a poll of an unfilterable list."""

from __future__ import annotations

import json
import logging
import math
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import UTC, datetime

import pytest
from prometheus_client.parser import text_string_to_metric_families

from exporter.azure import dataprotection
from exporter.azure.dataprotection import DataProtectionApi
from exporter.azure.telemetry import ApiTelemetry
from exporter.config.schema import Config
from exporter.model import BACKUP_VAULT, FINISHED_STATUSES, RECOVERY_SERVICES, VaultInfo, VaultRef
from exporter.parsing.dpp_jobs import normalise_status
from exporter.polling.discovery import _one_per_label_set
from exporter.polling.sources import DataProtectionSource
from exporter.service import App
from exporter.simulator import EstateSpec, Simulator
from tests.support import AZURE_FIXTURES, ManualClock, sim_config

HOUR = 3600.0
PAGE = 50


def app_for(config: Config, clock: ManualClock) -> App:
    return App(config, ApiTelemetry(), clock=clock)


def spec(**changes: object) -> EstateSpec:
    # One vault of each kind; the backup vault lists 5 instances x 48 hourly backups (+ restores)
    # in pages of 50.
    base: dict[str, object] = {
        "subscriptions": 1, "vaults_per_subscription": 1, "backup_vaults_per_subscription": 1,
        "items_per_vault": 5, "period_seconds": HOUR, "duration_range": (300, 2400), "page_size": PAGE,
        "history_seconds": 2 * 86400.0,
    }
    return EstateSpec(**{**base, **changes})  # type: ignore[arg-type]


def backup_vault(sim: Simulator) -> VaultRef:
    return VaultRef(*sim.estate.data_protection.vault_refs()[0], BACKUP_VAULT)


def backup_target(sim: Simulator) -> dict[str, str]:
    sub, rg, name = sim.estate.data_protection.vault_refs()[0]
    return {"subscription_id": sub, "resource_group": rg, "backup_vault": name}


def finished_backup_jobs(sim: Simulator, since: float, now: float) -> dict[str, str]:
    """Job id -> final status (in the exported vocabulary) of the backup vault's finished jobs."""
    sub, rg, name = sim.estate.data_protection.vault_refs()[0]
    found = {}
    for job in sim.estate.data_protection.jobs(sub, rg, name, start=since, end=now, as_of=now):
        status = normalise_status(job["properties"]["status"])
        if status in FINISHED_STATUSES:
            found[job["name"]] = status
    return found


def counted(app: App, vault: str) -> Counter[str]:
    totals: Counter[str] = Counter()
    for key, view in app.store.snapshot().items:
        if key[2] == vault:
            totals.update(dict(view.counts))
    return +totals


def by_api(sim: Simulator) -> Counter[str]:
    return Counter(r.api for r in sim.requests())


def list_pages(sim: Simulator, now: float) -> int:
    sub, rg, name = sim.estate.data_protection.vault_refs()[0]
    return math.ceil(len(sim.estate.data_protection.jobs(sub, rg, name, as_of=now)) / PAGE)


def test_resource_id_follows_the_vault_kind() -> None:
    assert VaultRef("s", "rg", "v").resource_id == (
        "/subscriptions/s/resourceGroups/rg/providers/Microsoft.RecoveryServices/vaults/v"
    )
    assert VaultRef("s", "rg", "v", BACKUP_VAULT).resource_id == (
        "/subscriptions/s/resourceGroups/rg/providers/Microsoft.DataProtection/backupVaults/v"
    )


def test_mixed_estate_shows_both_kinds_in_one_exposition(
    start_simulator: Callable[..., Simulator], clock: ManualClock
) -> None:
    sim = start_simulator(spec(), clock=clock)
    app = app_for(sim_config(sim, targets=[{"subscription_id": "*"}], lookback="1d", vault_tags=["team"]), clock)
    assert app.poller.poll_once()
    clock.advance(900)
    assert app.poller.poll_once()
    families = {f.name: f for f in text_string_to_metric_families(app.publisher.current.plain.decode())}
    info = {(s.labels["vault"], s.labels["kind"]) for s in families["azure_backup_vault_info"].samples}
    rsv_name = sim.estate.vault_refs()[0][2]
    bvault = backup_vault(sim)
    assert info == {(rsv_name, RECOVERY_SERVICES), (bvault.vault, BACKUP_VAULT)}
    types = {
        s.labels["vault"]: set() for s in families["azure_backup_job_last_status"].samples
    }
    for s in families["azure_backup_job_last_status"].samples:
        types[s.labels["vault"]].add(s.labels["backup_management_type"])
    assert types[bvault.vault] == {
        "AzureDisk", "AzureBlob", "AzureDatabaseForPostgreSQL", "AzureDatabaseForPostgreSQLFlexibleServer",
        "AzureKubernetesService",
    }
    assert types[rsv_name] <= {"AzureIaasVM", "AzureWorkload", "AzureStorage"}
    up = {s.labels["vault"]: s.value for s in families["azure_backup_exporter_target_up"].samples}
    assert up == {rsv_name: 1.0, bvault.vault: 1.0}
    sizes = [s for s in families["azure_backup_job_last_size_bytes"].samples if s.labels["vault"] == bvault.vault]
    assert sizes, "blob and PostgreSQL backups report dataTransferredInBytes"
    statuses = {s.labels["status"] for s in families["azure_backup_jobs"].samples if s.labels["vault"] == bvault.vault}
    assert statuses <= {"Completed", "CompletedWithWarnings", "Failed", "Cancelled"}  # no Succeeded, no Started


def test_backup_vault_counters_match_the_estate_and_never_double_count(
    start_simulator: Callable[..., Simulator], clock: ManualClock
) -> None:
    sim = start_simulator(spec(), clock=clock)
    start = clock.now
    app = app_for(sim_config(sim, targets=[backup_target(sim)], lookback="1d"), clock)
    for _ in range(5):
        assert app.poller.poll_once()
        clock.advance(1200)
    truth = finished_backup_jobs(sim, start - 86400, clock.now - 1200)
    assert counted(app, backup_vault(sim).vault) == Counter(truth.values())
    assert set(app.store.vault(backup_vault(sim)).counted) == set(truth)


def test_warm_poll_of_a_backup_vault_reads_the_whole_oldest_first_list(
    start_simulator: Callable[..., Simulator], clock: ManualClock
) -> None:
    sim = start_simulator(spec(), clock=clock)
    app = app_for(sim_config(sim, targets=[backup_target(sim)], lookback="1d"), clock)
    app.poller.poll_once()
    clock.advance(300)
    app.poller.poll_once()  # the first warm poll also backfills each item's latest details
    before = finished_backup_jobs(sim, clock.now - 86400, clock.now)
    sim.reset_requests()
    clock.advance(1800)
    newly = set(finished_backup_jobs(sim, clock.now - 86400, clock.now)) - set(before)
    assert newly, "the estate should finish some jobs in half an hour"
    assert app.poller.poll_once()
    # The newest jobs are on the last page: every page is read, and each new job fetched once.
    assert list_pages(sim, clock.now) > 1
    assert by_api(sim) == Counter({"list_backup_jobs": list_pages(sim, clock.now), "get_backup_job": len(newly)})
    assert {r.path.rsplit("/", 1)[-1] for r in sim.requests() if r.api == "get_backup_job"} == newly


def test_warm_poll_stops_paging_once_a_newest_first_list_passes_the_window(
    start_simulator: Callable[..., Simulator], clock: ManualClock
) -> None:
    sim = start_simulator(spec(backup_jobs_newest_first=True), clock=clock)
    start = clock.now
    app = app_for(sim_config(sim, targets=[backup_target(sim)], lookback="1d", job_details=False), clock)
    app.poller.poll_once()
    sim.reset_requests()
    clock.advance(900)
    assert app.poller.poll_once()
    assert list_pages(sim, clock.now) >= 4
    assert by_api(sim) == Counter({"list_backup_jobs": 1})  # a page holds ten hours; the window is minutes
    truth = finished_backup_jobs(sim, start - 86400, clock.now)
    assert counted(app, backup_vault(sim).vault) == Counter(truth.values())


def test_discovery_finds_both_kinds_and_vault_kind_narrows_it(
    start_simulator: Callable[..., Simulator], clock: ManualClock
) -> None:
    sim = start_simulator(spec(subscriptions=2, vaults_per_subscription=2, backup_vaults_per_subscription=2),
                          clock=clock)
    everything = app_for(sim_config(sim, targets=[{"subscription_id": "*"}]), clock)
    everything.poller.poll_once()
    kinds = Counter(ref.kind for ref in everything.store.vault_refs())
    assert kinds == Counter({RECOVERY_SERVICES: 4, BACKUP_VAULT: 4})
    assert {ref.vault for ref in everything.store.vault_refs() if ref.kind == BACKUP_VAULT} == {
        ref[2] for ref in sim.estate.data_protection.vault_refs()
    }
    info = next(v.info for v in everything.store.snapshot().vaults if v.info.ref.kind == BACKUP_VAULT)
    assert info.location
    assert dict(info.tags)["team"]

    sim.reset_requests()
    only_backup = app_for(sim_config(sim, targets=[{"subscription_id": "*", "vault_kind": "backup_vault"}]), clock)
    only_backup.poller.poll_once()
    assert {ref.kind for ref in only_backup.store.vault_refs()} == {BACKUP_VAULT}
    assert "list_vaults" not in by_api(sim)  # Recovery Services vaults are not even listed

    sim.reset_requests()
    named_rsv = app_for(sim_config(sim), clock)  # every Recovery Services vault by name
    named_rsv.poller.poll_once()
    assert {ref.kind for ref in named_rsv.store.vault_refs()} == {RECOVERY_SERVICES}
    assert "list_backup_vaults" not in by_api(sim)


def test_named_backup_vault_gets_location_and_tags_from_discovery(
    start_simulator: Callable[..., Simulator], clock: ManualClock
) -> None:
    sim = start_simulator(spec(), clock=clock)
    app = app_for(sim_config(sim, targets=[backup_target(sim)]), clock)
    assert app.poller.poll_once()
    (view,) = app.store.snapshot().vaults
    assert view.info.ref == backup_vault(sim)
    assert view.info.location == sim.estate.data_protection.vaults[0].location
    assert by_api(sim)["list_backup_vaults"] == 1


def test_a_backup_vault_list_past_the_page_cap_fails_the_vault_not_the_others(
    start_simulator: Callable[..., Simulator], clock: ManualClock, monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    sim = start_simulator(spec(), clock=clock)
    monkeypatch.setattr(dataprotection, "MAX_JOB_PAGES", 2)
    app = app_for(sim_config(sim, targets=[{"subscription_id": "*"}], lookback="1d"), clock)
    with caplog.at_level(logging.WARNING):
        assert not app.poller.poll_once()
    up = {v.info.ref.kind: v.up for v in app.store.snapshot().vaults}
    assert up == {RECOVERY_SERVICES: True, BACKUP_VAULT: False}
    assert "TooManyPages" in caplog.text
    # The cap is the number of requests: the third page's link is not followed.
    assert by_api(sim)["list_backup_jobs"] == 2 < list_pages(sim, clock.now)


def test_tracked_backup_vault_job_has_its_task(start_simulator: Callable[..., Simulator], clock: ManualClock) -> None:
    sim = start_simulator(spec(), clock=clock)
    sub, rg, name = sim.estate.data_protection.vault_refs()[0]
    newest = sim.estate.data_protection.jobs(sub, rg, name, as_of=clock.now)[-1]
    target = {**backup_target(sim), "jobs": [newest["name"]]}
    app = app_for(sim_config(sim, targets=[target]), clock)
    app.poller.poll_once()
    (tracked,) = app.store.snapshot().vaults[0].tracked
    assert tracked.job_id == newest["name"]
    assert tracked.has_details
    task = "Trigger Backup" if tracked.operation == "Backup" else "Trigger Restore"
    assert [t.name for t in tracked.tasks] == [task]


# --- the source and the API module without a server ---------------------------------------------

SAMPLE_VAULTS = AZURE_FIXTURES / "dpp_GetBackupVaultsInSubscription_2026-06-01.json"


class FakeArm:
    """ArmClient.pages over canned pages, counting the pages actually requested."""

    def __init__(self, pages: list[list[dict[str, object]]]) -> None:
        self._pages = pages
        self.requested = 0
        self.calls: list[tuple[str, dict[str, object]]] = []

    def pages(self, path: str, **options: object) -> Iterator[list[dict[str, object]]]:
        self.calls.append((path, options))
        for page in self._pages:
            self.requested += 1
            yield page


def job_at(start: float, name: str = "") -> dict[str, object]:
    stamp = datetime.fromtimestamp(start, UTC).isoformat().replace("+00:00", "Z")
    return {"name": name or f"job-{start:g}", "properties": {
        "backupInstanceFriendlyName": "disk-1", "dataSourceType": "Microsoft.Compute/disks",
        "operationCategory": "Backup", "operation": "Backup", "status": "Completed", "startTime": stamp,
        "endTime": stamp, "duration": "00:00:01"}}


def listed(pages: list[list[float]], start: float, end: float) -> tuple[list[float], int]:
    arm = FakeArm([[job_at(t) for t in page] for page in pages])
    source = DataProtectionSource(DataProtectionApi(arm, "2025-07-01"))  # type: ignore[arg-type]
    jobs = source.list_jobs(VaultRef("s", "rg", "v", BACKUP_VAULT), start, end, Counter())
    return [job.start_time for job in jobs if job.start_time is not None], arm.requested


T = 1_795_000_000.0


@pytest.mark.parametrize(("pages", "start", "found", "requested"), [
    # Azure's order, oldest first: the window's jobs are on the last page, every page is read.
    ([[1, 2], [3, 4], [5, 6]], 4.5, [5, 6], 3),
    # Newest first: once a page ends before the window, later pages cannot hold window jobs.
    ([[6, 5], [4, 3], [2, 1]], 3.5, [6, 5, 4], 2),
    ([[6, 5], [4, 3], [2, 1]], 0.5, [6, 5, 4, 3, 2, 1], 3),
    # A single job proves no order; an order broken anywhere means read on.
    ([[1], [6, 5], [4, 3]], 4.5, [6, 5], 3),
    ([[6, 5], [7, 1], [5.5]], 4.5, [6, 5, 7, 5.5], 3),
])
def test_backup_vault_listing_stops_early_only_when_proven_newest_first(
    pages: list[list[float]], start: float, found: list[float], requested: int
) -> None:
    starts, pages_read = listed([[T + t for t in page] for page in pages], T + start, T + 100)
    assert starts == [T + t for t in found]
    assert pages_read == requested


def test_vault_sample_becomes_backup_vaults_with_location_and_tags() -> None:
    body = json.loads(SAMPLE_VAULTS.read_text(encoding="utf-8"))["responses"]["200"]["body"]
    arm = FakeArm([body["value"]])
    sub = "0b352192-dcac-4cc7-992e-a96190ccc68c"
    infos = DataProtectionApi(arm, "2025-07-01").list_vaults(sub)  # type: ignore[arg-type]
    assert infos == [
        VaultInfo(VaultRef(sub, "SampleResourceGroup2", "ExampleVault1", BACKUP_VAULT), "WestUS", (("key1", "val1"),)),
        VaultInfo(VaultRef(sub, "SampleResourceGroup", "ExampleVault2", BACKUP_VAULT), "WestUS", (("key1", "val1"),)),
    ]
    ((path, options),) = arm.calls
    assert path == f"/subscriptions/{sub}/providers/Microsoft.DataProtection/backupVaults"
    assert options["api_version"] == "2025-07-01"
    assert options["api"] == "list_backup_vaults"


def test_same_named_vaults_of_both_kinds_keep_one_set_of_series(caplog: pytest.LogCaptureFixture) -> None:
    rsv, bvault, other = VaultRef("s", "rg", "x"), VaultRef("s", "rg", "x", BACKUP_VAULT), VaultRef("s", "rg", "y")
    infos = {ref: VaultInfo(ref) for ref in (bvault, rsv, other)}
    with caplog.at_level(logging.WARNING):
        kept = _one_per_label_set(infos)
    assert set(kept) == {rsv, other}
    assert "backup_vault vault s/rg/x skipped" in caplog.text


def test_only_jobs_in_the_window_are_parsed_and_counted_for_errors() -> None:
    old_and_broken = job_at(T + 1, "old")
    old_and_broken["properties"]["duration"] = "forever"  # type: ignore[index]
    new_and_broken = job_at(T + 10, "new")
    new_and_broken["properties"]["duration"] = "forever"  # type: ignore[index]
    unplaced = job_at(T + 11, "unplaced")
    unplaced["properties"]["startTime"] = "last week"  # type: ignore[index]
    arm = FakeArm([[old_and_broken, new_and_broken, unplaced]])
    errors: Counter[str] = Counter()
    jobs = DataProtectionSource(DataProtectionApi(arm, "2025-07-01")).list_jobs(  # type: ignore[arg-type]
        VaultRef("s", "rg", "v", BACKUP_VAULT), T + 5, T + 100, errors
    )
    assert [job.job_id for job in jobs] == ["new"]
    assert errors == Counter({"duration": 1, "startTime": 1})
