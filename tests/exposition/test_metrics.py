"""Collector and rendering: values via get_sample_value, one golden exposition, escaping round-trip."""

from __future__ import annotations

import gzip
import os

from prometheus_client.parser import text_string_to_metric_families

from exporter.exposition.publisher import Publisher
from tests.golden_estate import GOLDEN, MB, T0, VAULT, registry_for, small_estate

ITEM = {"subscription_id": VAULT.subscription_id, "resource_group": "rg-backup", "vault": "vault-prod",
        "backup_management_type": "AzureIaasVM", "item": "vm-app-01", "operation": "Backup"}


def test_state_set_has_every_known_status() -> None:
    registry = registry_for(*small_estate())
    values = {s: registry.get_sample_value("azure_backup_job_last_status", {**ITEM, "status": s})
              for s in ("InProgress", "Completed", "CompletedWithWarnings", "Failed", "Cancelled", "Cancelling")}
    assert values == {"InProgress": 0, "Completed": 0, "CompletedWithWarnings": 0, "Failed": 1,
                      "Cancelled": 0, "Cancelling": 0}


def test_item_values() -> None:
    registry = registry_for(*small_estate())
    get = registry.get_sample_value
    assert get("azure_backup_job_last_success_timestamp_seconds", ITEM) == T0 - 87000
    assert get("azure_backup_job_last_end_timestamp_seconds", ITEM) == T0 - 3000
    assert get("azure_backup_job_last_duration_seconds", ITEM) == 600.0
    assert get("azure_backup_job_last_size_bytes", ITEM) == 2332 * MB
    assert get("azure_backup_jobs_total", {**ITEM, "status": "Failed"}) == 1
    assert get("azure_backup_jobs_total", {**ITEM, "status": "Cancelled"}) == 0  # zero, not absent
    assert get("azure_backup_job_size_bytes_total", ITEM) == 2332 * MB
    assert get("azure_backup_job_last_error_info",
               {**ITEM, "error_code": "400094", "error_title": "UserErrorVmNotFound"}) == 1
    hist = {k: v for k, v in ITEM.items() if k != "item"}
    assert get("azure_backup_job_duration_seconds_bucket", {**hist, "le": "900.0"}) == 1
    assert get("azure_backup_job_duration_seconds_count", hist) == 2


def test_tracked_vault_and_self_metrics() -> None:
    registry = registry_for(*small_estate())
    get = registry.get_sample_value
    vault = dict(zip(("subscription_id", "resource_group", "vault"), VAULT.labels, strict=True))
    tracked = {**vault, "job_id": "41f3e94b-ae6b-4a20-b422-65abfcaf03e5"}
    assert get("azure_backup_tracked_job_progress_ratio", tracked) == 0.42
    assert get("azure_backup_tracked_job_task_status",
               {**tracked, "task": "Transfer data to vault", "status": "InProgress"}) == 1
    assert get("azure_backup_tracked_job_status",
               {**tracked, "item": "vm-app-02", "operation": "Backup", "status": "InProgress"}) == 1
    assert get("azure_backup_vault_info",
               {**vault, "location": "westeurope", "kind": "recovery_services", "tag_team": "payments",
                "tag_env": "prod"}) == 1
    assert get("azure_backup_exporter_target_up", vault) == 1
    assert get("azure_backup_exporter_api_requests_total", {"api": "list_jobs", "code": "429"}) == 1
    assert get("azure_backup_exporter_api_ratelimit_remaining",
               {"subscription_id": VAULT.subscription_id, "scope": "subscription-reads"}) == 11999
    assert get("azure_backup_exporter_parse_errors_total", {"field": "duration"}) == 1


def test_no_job_id_label_outside_tracked_family() -> None:
    publisher = Publisher(small_estate()[1], ("team",))
    publisher.publish(small_estate()[0].snapshot())
    for family in text_string_to_metric_families(publisher.current.plain.decode()):
        for sample in family.samples:
            assert "job_id" not in sample.labels or family.name.startswith("azure_backup_tracked_job")


def test_label_values_round_trip_through_the_parser() -> None:
    store, telemetry = small_estate()
    publisher = Publisher(telemetry)
    publisher.publish(store.snapshot())
    items = {s.labels.get("item") for f in text_string_to_metric_families(publisher.current.plain.decode())
             for s in f.samples}
    assert 'MSSQLSERVER/crm "eu" \\ledger' in items


def test_gzip_is_the_same_exposition() -> None:
    store, telemetry = small_estate()
    exposition = Publisher(telemetry).publish(store.snapshot())
    assert gzip.decompress(exposition.gzipped) == exposition.plain
    assert exposition.ready


def test_golden_exposition() -> None:
    store, telemetry = small_estate()
    text = Publisher(telemetry, ("team", "env")).publish(store.snapshot()).plain.decode()
    # Build info carries the interpreter's version; pin it so the file is the same everywhere.
    text = "\n".join(line for line in text.splitlines() if "build_info{" not in line) + "\n"
    if os.environ.get("UPDATE_GOLDEN") == "1":
        GOLDEN.parent.mkdir(exist_ok=True)
        GOLDEN.write_text(text)
    assert text == GOLDEN.read_text()
