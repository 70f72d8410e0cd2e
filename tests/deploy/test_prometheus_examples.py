"""The example Prometheus and Alertmanager configs: promtool and amtool accept them, the scrape job is the
one the rules name, and Alertmanager routes and inhibits by alerts that exist.
"""

from __future__ import annotations

import re

import pytest

from tests.assets import ALERTS, PROMETHEUS_DIR, ROOT, alert_rules, assert_ok, load_yaml, run
from tests.binaries import require_binary


def test_scrape_job_name_matches_the_rules() -> None:
    rule_jobs = set(re.findall(r'\bjob="([^"]+)"', ALERTS.read_text(encoding="utf-8")))
    assert rule_jobs == {"azure-backup"}
    for config in (PROMETHEUS_DIR / "prometheus.yml", ROOT / "deploy" / "prometheus.yml"):
        jobs = {job["job_name"]: job for job in load_yaml(config)["scrape_configs"]}
        assert rule_jobs <= jobs.keys(), config
        job = jobs["azure-backup"]
        assert job["scrape_interval"] == "60s"
        assert job["scrape_timeout"] == "30s"
        assert load_yaml(config)["rule_files"] == ["alerts.yml"]



def test_example_prometheus_config_passes_promtool() -> None:
    # Run from elsewhere: rule_files must resolve relative to the config file, not the cwd.
    result = run(require_binary("promtool"), "check", "config", PROMETHEUS_DIR / "prometheus.yml", cwd=ROOT / "docs")
    assert_ok(result)
    assert "1 rule files found" in result.stdout


def test_example_alertmanager_config_passes_amtool() -> None:
    assert_ok(run(require_binary("amtool"), "check-config", PROMETHEUS_DIR / "alertmanager.yml"))


@pytest.mark.parametrize(
    ("labels", "receiver"),
    [
        ("severity=critical alertname=AzureBackupJobFailed vault=v", "oncall-pager"),
        ("severity=warning alertname=AzureBackupExporterThrottled", "backup-team-email"),
        ("alertname=SomethingElse", "backup-team-email"),
    ],
)
def test_alertmanager_routes_by_severity(labels: str, receiver: str) -> None:
    result = run(
        require_binary("amtool"),
        "config",
        "routes",
        "test",
        f"--config.file={PROMETHEUS_DIR / 'alertmanager.yml'}",
        *labels.split(),
    )
    assert_ok(result)
    assert result.stdout.strip() == receiver


def test_alertmanager_names_only_alerts_that_exist() -> None:
    names = {rule["alert"] for rule in alert_rules()}
    text = (PROMETHEUS_DIR / "alertmanager.yml").read_text(encoding="utf-8")
    referenced = set()
    for pattern in re.findall(r'alertname=~?"([^"]+)"', text):
        referenced.update(pattern.split("|"))
    assert referenced, "the inhibition rule should name alerts"
    assert referenced <= names
