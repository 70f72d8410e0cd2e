"""prometheus/alerts.yml: promtool's check and unit tests, the annotations and runbooks every alert needs,
and the metric contract the rules and the dashboard keep to.
"""

from __future__ import annotations

import re
from collections import defaultdict
from typing import Any

import pytest

from tests.assets import ALERTS, DASHBOARD, PROMETHEUS_DIR, ROOT, alert_rules, assert_ok, load_yaml, run
from tests.binaries import dashboard_expressions, require_binary, rule_expressions

ALERT_TESTS = (PROMETHEUS_DIR / "alerts.test.yml", PROMETHEUS_DIR / "alerts.days.test.yml",
               PROMETHEUS_DIR / "alerts.posture.test.yml", PROMETHEUS_DIR / "alerts.policies.test.yml")
DOCS = ROOT / "docs" / "monitoring.md"
RUNBOOK_BASE = "https://github.com/azure-backup-exporter/azure-backup-exporter/blob/main/docs/monitoring.md"

REQUIRED_ALERTS = {
    "AzureBackupJobFailed",
    "AzureBackupJobCompletedWithWarnings",
    "AzureBackupRestoreFailed",
    "AzureBackupTooOld",
    "AzureBackupUnexpectedDeletion",
    "AzureBackupExporterTargetDown",
    "AzureBackupExporterStale",
    "AzureBackupExporterThrottled",
    "AzureBackupExporterDegraded",
    # issue 7: the protected-item inventory
    "AzureBackupProtectionStopped",
    "AzureBackupItemUnhealthy",
    # issue 11: policy-aware freshness
    "AzureBackupOverdue",
    # issue 12: vault posture
    "AzureBackupSoftDeleteDisabled",
    "AzureBackupImmutabilityDisabled",
    "AzureBackupItemPurgeUpcoming",
    "AzureBackupVaultUnavailable",
    "AzureBackupStorageGrowth",
    "AzureBackupResourceUnprotected",
}

# SPEC §6, the metric contract; histograms with their series suffixes.
CONTRACT_METRICS = {
    "azure_backup_job_last_status",
    "azure_backup_job_last_start_timestamp_seconds",
    "azure_backup_job_last_end_timestamp_seconds",
    "azure_backup_job_last_duration_seconds",
    "azure_backup_job_last_size_bytes",
    "azure_backup_job_last_success_timestamp_seconds",
    "azure_backup_job_last_error_info",
    "azure_backup_jobs_total",
    "azure_backup_job_size_bytes_total",
    *(f"azure_backup_job_duration_seconds{s}" for s in ("_bucket", "_sum", "_count")),
    "azure_backup_tracked_job_status",
    "azure_backup_tracked_job_duration_seconds",
    "azure_backup_tracked_job_size_bytes",
    "azure_backup_tracked_job_progress_ratio",
    "azure_backup_tracked_job_task_status",
    "azure_backup_vault_info",
    "azure_backup_exporter_target_up",
    "azure_backup_exporter_target_last_success_timestamp_seconds",
    "azure_backup_exporter_target_poll_duration_seconds",
    "azure_backup_exporter_target_source_up",  # issue 12: the cross-region restore job read
    "azure_backup_exporter_api_requests_total",
    *(f"azure_backup_exporter_api_request_duration_seconds{s}" for s in ("_bucket", "_sum", "_count")),
    "azure_backup_exporter_api_ratelimit_remaining",
    "azure_backup_exporter_parse_errors_total",
    "azure_backup_exporter_build_info",
    # issue 7: the protected-item inventory (exporter/exposition/inventory_families.py)
    "azure_backup_protected_item_info",
    "azure_backup_protected_item_last_backup_timestamp_seconds",
    "azure_backup_protected_item_last_recovery_point_timestamp_seconds",
    "azure_backup_protected_item_protection_state",
    "azure_backup_protected_item_health_status",
    "azure_backup_protected_items",
    "azure_backup_exporter_inventory_up",
    "azure_backup_exporter_inventory_last_success_timestamp_seconds",
    # issue 12: vault posture (exporter/exposition/posture_families.py)
    "azure_backup_vault_storage_bytes",
    "azure_backup_vault_protected_items_by_health",
    "azure_backup_vault_soft_delete_state",
    "azure_backup_vault_soft_delete_retention_days",
    "azure_backup_vault_immutability_state",
    "azure_backup_vault_security_info",
    "azure_backup_vault_available",
    "azure_backup_protected_item_purge_timestamp_seconds",
    "azure_backup_unprotected_resource_info",
    # issue 5: reloads and the state file (exporter/exposition/lifecycle_families.py)
    "azure_backup_exporter_discovery_up",
    "azure_backup_exporter_config_last_reload_successful",
    "azure_backup_exporter_state_writes_total",
    # issue 11: backup policies (exporter/exposition/policy_families.py)
    "azure_backup_policy_info",
    "azure_backup_item_expected_interval_seconds",
}



def markdown_anchors(text: str) -> set[str]:
    """GitHub's heading anchors: lower case, punctuation dropped, spaces to hyphens."""
    anchors = set()
    for heading in re.findall(r"^#{1,6}\s+(.+?)\s*$", text, re.MULTILINE):
        anchors.add(re.sub(r"[^\w\- ]", "", heading.lower()).replace(" ", "-"))
    return anchors



def test_alert_rules_pass_promtool_check() -> None:
    result = run(require_binary("promtool"), "check", "rules", ALERTS)
    assert_ok(result)
    assert "SUCCESS" in result.stdout


def test_alert_rules_pass_their_promtool_unit_tests() -> None:
    result = run(require_binary("promtool"), "test", "rules", *ALERT_TESTS, cwd=PROMETHEUS_DIR)
    assert_ok(result)
    assert result.stdout.count("SUCCESS") == len(ALERT_TESTS), result.stdout


def test_required_alerts_exist() -> None:
    assert {rule["alert"] for rule in alert_rules()} >= REQUIRED_ALERTS


@pytest.mark.parametrize("rule", alert_rules(), ids=lambda rule: rule["alert"])
def test_alert_has_severity_summary_description_and_runbook(rule: dict[str, Any]) -> None:
    assert rule.get("labels", {}).get("severity") in {"critical", "warning", "info"}
    annotations = rule.get("annotations", {})
    assert annotations.get("summary", "").strip()
    assert annotations.get("description", "").strip()
    assert annotations.get("runbook_url") == f"{RUNBOOK_BASE}#{rule['alert'].lower()}"


def test_runbook_anchors_and_internal_links_exist_in_docs() -> None:
    text = DOCS.read_text(encoding="utf-8")
    anchors = markdown_anchors(text)
    runbook_anchors = {rule["annotations"]["runbook_url"].split("#", 1)[1] for rule in alert_rules()}
    assert runbook_anchors <= anchors, f"no heading for {sorted(runbook_anchors - anchors)}"
    internal = set(re.findall(r"\]\(#([\w-]+)\)", text))
    assert internal <= anchors, f"broken links {sorted(internal - anchors)}"


def test_alert_names_are_unique_per_label_set() -> None:
    seen: set[tuple[str, tuple[tuple[str, str], ...]]] = set()
    for rule in alert_rules():
        key = (rule["alert"], tuple(sorted(rule.get("labels", {}).items())))
        assert key not in seen, f"two {rule['alert']} rules with the same labels cannot be told apart"
        seen.add(key)


def unit_test_cases() -> list[dict[str, Any]]:
    cases = []
    for path in ALERT_TESTS:
        document = load_yaml(path)
        assert document["rule_files"] == ["alerts.yml"], f"{path.name} must test alerts.yml"
        for test in document["tests"]:
            cases.extend(test.get("alert_rule_test", []))
    return cases


def test_every_alert_rule_is_unit_tested_firing_and_not_firing() -> None:
    firing: dict[str, list[dict[str, str]]] = defaultdict(list)
    quiet: set[str] = set()
    for case in unit_test_cases():
        if case.get("exp_alerts"):
            firing[case["alertname"]].extend(alert["exp_labels"] for alert in case["exp_alerts"])
        else:
            quiet.add(case["alertname"])
    for rule in alert_rules():
        name, labels = rule["alert"], rule.get("labels", {})
        assert name in quiet, f"no test shows {name} not firing"
        # Each variant of a name (schedule=…, cause=…) must be seen firing with its own labels.
        assert any(labels.items() <= expected.items() for expected in firing[name]), (
            f"no test shows {name} {labels} firing"
        )


def test_firing_expectations_pin_labels_and_annotations() -> None:
    for case in unit_test_cases():
        for alert in case.get("exp_alerts") or []:
            assert alert.get("exp_labels", {}).get("severity"), case
            assert {"summary", "description", "runbook_url"} <= alert.get("exp_annotations", {}).keys(), case


def test_rules_and_dashboard_use_only_contract_metrics() -> None:
    recorded = {name for name, _ in rule_expressions(ALERTS) if ":" in name}
    used: dict[str, set[str]] = {}
    for title, expr in rule_expressions(ALERTS) + dashboard_expressions(DASHBOARD):
        for metric in re.findall(r"[A-Za-z_:][\w:]*", expr):
            if "azure_backup_" in metric:
                used.setdefault(metric, set()).add(title)
    unknown = {metric: where for metric, where in used.items() if metric not in CONTRACT_METRICS | recorded}
    assert not unknown, f"metrics outside SPEC §6: {unknown}"
