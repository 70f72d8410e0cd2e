"""The small estate behind tests/golden/small_estate.prom, and the registry its collector renders it from."""

from __future__ import annotations

from pathlib import Path

from prometheus_client import CollectorRegistry

from exporter.azure.telemetry import ApiTelemetry
from exporter.exposition.job_families import BackupCollector, Published
from exporter.model import Job, TaskState, VaultInfo, VaultRef
from exporter.store.job_store import Store, VaultPoll

GOLDEN = Path(__file__).parent / "golden" / "small_estate.prom"
VAULT = VaultRef("00000000-0000-0000-0000-000000000000", "rg-backup", "vault-prod")
T0 = 1_763_700_000.0
MB = 1024.0**2


def small_estate() -> tuple[Store, ApiTelemetry]:
    store = Store(lookback=7 * 86400, clock=lambda: T0)
    tracked_id = "41f3e94b-ae6b-4a20-b422-65abfcaf03e5"
    store.set_vaults([VaultInfo(VAULT, "westeurope", (("env", "prod"), ("team", "payments")))], {VAULT: (tracked_id,)})
    base = {"backup_management_type": "AzureIaasVM", "operation": "Backup"}
    jobs = (
        Job("j1", "vm-app-01", status="Completed", start_time=T0 - 90000, end_time=T0 - 87000,
            duration_seconds=3000.0, size_bytes=2332 * MB, **base),
        Job("j2", "vm-app-01", status="Failed", start_time=T0 - 3600, end_time=T0 - 3000,
            duration_seconds=600.0, error_code="400094", error_title="UserErrorVmNotFound", **base),
        Job("j3", 'MSSQLSERVER/crm "eu" \\ledger', backup_management_type="AzureWorkload",
            operation="Backup (Full)", status="InProgress", start_time=T0 - 60),
    )
    tracked = Job(tracked_id, "vm-app-02", status="InProgress", start_time=T0 - 120, duration_seconds=120.0,
                  progress_ratio=0.42, has_details=True, **base,
                  tasks=(TaskState("Take Snapshot", "Completed"), TaskState("Transfer data to vault", "InProgress")))
    store.record(VaultPoll(VAULT, ok=True, duration=1.5, window_end=T0, jobs=jobs, tracked=(tracked,)))
    telemetry = ApiTelemetry()
    telemetry.record("list_jobs", "200", 0.2)
    telemetry.record("list_jobs", "429", 0.01)
    telemetry.record_ratelimit(VAULT.subscription_id, {"x-ms-ratelimit-remaining-subscription-reads": "11999"})
    telemetry.add_parse_errors({"duration": 1})
    return store, telemetry


def registry_for(store: Store, telemetry: ApiTelemetry) -> CollectorRegistry:
    published = Published(store.snapshot(), telemetry.snapshot())
    registry = CollectorRegistry(auto_describe=False)
    registry.register(BackupCollector(lambda: published, ("team", "env")))
    return registry
