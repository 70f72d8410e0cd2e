"""Helpers the tests share (importable as `tests.support`; fixtures live in conftest.py)."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

from exporter.config.schema import Config, parse_config
from exporter.model import FINISHED_STATUSES, Job, VaultRef
from exporter.service import App
from exporter.simulator import EstateSpec, Simulator

# Tests live in one folder per layer (tests/parsing/, tests/polling/, ...); these name the shared places.
REPO_ROOT = Path(__file__).resolve().parent.parent
AZURE_FIXTURES = REPO_ROOT / "tests" / "fixtures" / "azure"  # real Azure bodies, sources in its README

DAY = 86400.0
T0 = 1_795_000_000.0  # 2026-11-18, a fixed "now" for simulated estates driven by a manual clock

# A Recovery Services vault for tests that build a store without a simulator.
VAULT = VaultRef("00000000-0000-0000-0000-000000000000", "rg-backup", "vault-prod")


class ManualClock:
    """A wall clock that moves only when a test says so."""

    def __init__(self, now: float = T0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def sim_config(sim: Simulator, *, targets: list[dict[str, Any]] | None = None, **collection: Any) -> Config:
    """A config that monitors `sim` with a managed identity, every vault unless `targets` says."""
    if targets is None:
        targets = [{"subscription_id": s, "resource_group": rg, "vault": v} for s, rg, v in sim.estate.vault_refs()]
    return parse_config(
        {
            "azure": {"auth": "managed_identity", "resource_manager_url": sim.url},
            "collection": {"request_timeout": "5s", **collection},
            "targets": targets,
        }
    )


def job(job_id: str, status: str = "Completed", start: float = T0 - 3600, **kw: object) -> Job:
    """A Recovery Services VM backup job of item vm-app-01, ten minutes long; `kw` overrides fields."""
    fields: dict[str, object] = {
        "job_id": job_id,
        "item": "vm-app-01",
        "backup_management_type": "AzureIaasVM",
        "operation": "Backup",
        "status": status,
        "start_time": start,
        "end_time": None if status == "InProgress" else start + 600,
        "duration_seconds": 600.0,
    }
    fields.update(kw)
    return Job(**fields)  # type: ignore[arg-type]


def hourly_estate(subscriptions: int = 1, vaults: int = 3, *, page_size: int = 50) -> EstateSpec:
    """Three VMs a vault, each backed up every hour for 5 to 40 minutes: a small estate in which
    any half hour brings new and finished jobs (the poller's and the fault suite's tests)."""
    return EstateSpec(subscriptions=subscriptions, vaults_per_subscription=vaults, items_per_vault=3,
                      period_seconds=3600.0, duration_range=(300, 2400), page_size=page_size)


def finished_jobs(sim: Simulator, since: float, now: float) -> dict[str, str]:
    """Job id -> final status of every finished job that started in [since, now], per the estate."""
    found: dict[str, str] = {}
    for ref in sim.estate.vault_refs():
        for job in sim.estate.jobs(*ref, since, now):
            status = job["properties"]["status"]
            if status in FINISHED_STATUSES:
                found[job["name"]] = status
    return found


def counted(app: App) -> Counter[str]:
    totals: Counter[str] = Counter()
    for _, view in app.store.snapshot().items:
        totals.update(dict(view.counts))
    return +totals


def by_api(sim: Simulator) -> Counter[str]:
    return Counter(r.api for r in sim.requests())
