"""End to end, all on 127.0.0.1: the simulator → the exporter (a real `python -m exporter`) → a real
Prometheus running the shipped alert rules → a real Alertmanager → a webhook receiver in this test.

What only this can show: the exposition passes `promtool check metrics`; every PromQL expression
of the dashboard and of the rules returns data from a real scrape (or is empty for a stated
reason, with each of its series selectors still matching); and the alerts a failed backup, a stale
item and a DeleteBackupData job raise reach the receiver with the labels a route would match on,
while the healthy items raise none. `promtool check rules` and `promtool test rules` of the shipped
files run in test_alert_rules.py; here Prometheus itself loads them.

The estate is designed so that exactly four things are wrong, all in the first vault: item 0
fails every backup of the last 3 days (AzureBackupJobFailed, and AzureBackupOverdue: its daily
policy allows 37h), the last item got a DeleteBackupData job (AzureBackupUnexpectedDeletion), and
item 4, a SQL database whose policy backs its log up every 15 minutes, shipped no log for 6 hours
while its full backups go on (AzureBackupOverdue{backup_type="Log"}). Failure and warning ratios are 0.
`EstateSpec.posture_cases` adds one case per vault posture alert: soft delete off in the first
vault (AzureBackupSoftDeleteDisabled), and in the second immutability off
(AzureBackupImmutabilityDisabled), Resource Health Degraded (AzureBackupVaultUnavailable) and a
soft-deleted VM two days from its purge (AzureBackupItemPurgeUpcoming); with `coverage` on, two
VMs no vault protects (AzureBackupResourceUnprotected). The second vault also has cross-region
restore on, and of its two CrossRegionRestore jobs, listed only from its paired region
(simulator.crr), one failed two hours ago (AzureBackupRestoreFailed).
"""

from __future__ import annotations

import math
import re
import subprocess
import time
from collections.abc import Iterator
from typing import Any

import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from exporter.simulator import EstateSpec
from exporter.simulator.catalog import VM_ERRORS
from exporter.simulator.crr import crr_jobs
from exporter.simulator.policies import item_policy
from exporter.simulator.posture import UNPROTECTED_GROUP, UNPROTECTED_VMS
from exporter.simulator.resources import ProtectedItem
from exporter.simulator.schedule import JobKind
from tests.binaries import dashboard_expressions, dashboard_variable_selectors, require_binary, rule_expressions
from tests.e2e_processes import wait_for
from tests.e2e_stack import HTTP_TIMEOUT, ROOT, Stack, labels_of, series_selectors, start_stack

pytestmark = pytest.mark.e2e

ALERTS = ROOT / "prometheus" / "alerts.yml"
DASHBOARD = ROOT / "grafana" / "dashboards" / "azure-backup.json"

# A backup a minute per item, lasting seconds, so that jobs finish while Prometheus watches
# (increase() and rate() then have something to show) and an item is rarely caught InProgress.
# History must reach past the failing item's 3 days of failures to its last success.
# Restores (failure_ratio 0: they all complete) give the restore selectors something to match.
# Pages of 1000 keep the cold start's ~70 list requests clear of the simulated rate limit,
# whose headroom below 100 would (rightly) raise AzureBackupExporterThrottled.
ESTATE = EstateSpec(
    subscriptions=1,
    vaults_per_subscription=2,
    items_per_vault=6,
    period_seconds=60.0,
    duration_range=(2.0, 6.0),
    failure_ratio=0.0,
    warning_ratio=0.0,
    restore_ratio=0.02,
    page_size=1000,
    failing_items=1,
    deletion_jobs=1,
    never_backed_up_items=1,
    history_seconds=3.25 * 86400,
    posture_cases=True,  # one case per vault posture alert, in the two vaults (simulator.posture)
    log_backup_minutes=15.0,  # item 4 of the first vault: SQL logs every 15 minutes...
    broken_log_chains=1,  # ...stopped 6 hours ago
)
FOR_DURATION = "2s"
NEVER_BACKED_UP = "vm-new-001"  # EstateSpec.never_backed_up_items: a protected VM with no job at all
PURGING = "vm-purge-001"  # EstateSpec.posture_cases: a soft-deleted VM two days from its purge
POLL_SECONDS = 2.0  # the exporter's collection.interval: Prometheus sees each job within seconds
STARTUP_SECONDS = 45.0  # from the start of the stack: every process up, the first data in Prometheus
DATA_SECONDS = 90.0  # from the start of the stack: every expression has data, the alerts arrived

# Expressions that return nothing for this estate, and why. Each of their series selectors must
# still match series (so a misspelt metric or label cannot hide here), unless ABSENT_SERIES says.
DASHBOARD_ALLOWED_EMPTY = {
    "Items with no successful backup on record [A]": "every item has a successful backup in the lookback window",
    "Throttled requests (429) [A]": 'the simulator throttles nothing, so no series has code="429"',
    "Parse errors [A]": "every value of the simulated estate parses",
}
RULE_ALLOWED_EMPTY = {
    "AzureBackupJobCompletedWithWarnings": "warning_ratio is 0",
    "AzureBackupTooOld{schedule=daily}": "every item with jobs has a readable policy: AzureBackupOverdue judges it",
    "AzureBackupTooOld{schedule=weekly}": "no vault is tagged backup_schedule=weekly",
    "AzureBackupTooOld{schedule=any}": "every item has a successful backup on record",
    "AzureBackupExporterTargetDown": "every poll succeeds",
    "AzureBackupExporterStale{cause=poll}": "the last successful poll is seconds old",
    "AzureBackupExporterStale{cause=scrape}": "the exporter is scraped fine",
    "AzureBackupExporterStale{cause=no_target}": "the azure-backup job has its target",
    "AzureBackupExporterThrottled{cause=http_429}": "the simulator throttles nothing",
    "AzureBackupExporterThrottled{cause=ratelimit_header}": "the rate-limit headroom stays above 100",
    "AzureBackupProtectionStopped": "the simulated stop happened before the exporter started: no change seen",
    "AzureBackupItemUnhealthy{cause=protection_state}": "only failing databases get ProtectionError; this one is a VM",
    "AzureBackupTooOld{schedule=daily,source=inventory}": "every item with a recovery point also has backup jobs",
    "AzureBackupTooOld{schedule=weekly,source=inventory}": "no vault is tagged backup_schedule=weekly",
    "AzureBackupExporterTargetDown{cause=inventory}": "every protected-item listing succeeds",
    "AzureBackupExporterTargetDown{cause=crr_jobs}": "every cross-region restore job list succeeds",
    "AzureBackupExporterTargetDown{cause=discovery}": "every subscription and vault listing succeeds",
    "AzureBackupExporterDegraded{cause=config_reload}": "no reload was asked for",
    "AzureBackupExporterDegraded{cause=state_write}": "no state file is configured: no write fails",
    "AzureBackupStorageGrowth": "Prometheus holds minutes of data, not the 7 days the rule compares",
}
ABSENT_SERIES = {
    'azure_backup_exporter_api_requests_total{code="429"}': "no request was throttled",
    'azure_backup_vault_info{tag_backup_schedule="weekly"}': "collection.vault_tags is empty: no tag labels",
    "azure_backup_exporter_parse_errors_total": "a field's series appears when a value of it fails to parse",
}


def shipped_rules() -> list[tuple[str, str]]:
    """(name, expr) of each rule; a variant of a shared alert name carries its labels: X{schedule=daily}."""
    document = yaml.safe_load(ALERTS.read_text(encoding="utf-8"))
    named = []
    for group in document["groups"]:
        for rule in group["rules"]:
            variant = sorted((k, v) for k, v in rule.get("labels", {}).items() if k != "severity")
            suffix = "{" + ",".join(f"{k}={v}" for k, v in variant) + "}" if variant else ""
            named.append(((rule.get("alert") or rule["record"]) + suffix, rule["expr"]))
    assert [expr for _, expr in named] == [expr for _, expr in rule_expressions(ALERTS)]
    return named


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with start_stack(
        ESTATE,
        tmp_path_factory.mktemp("e2e"),
        alerts=ALERTS,
        poll_seconds=POLL_SECONDS,
        lookback="4d",  # past the failing item's last success, 3 days ago
        for_duration=FOR_DURATION,
        startup_seconds=STARTUP_SECONDS,
        coverage=True,  # the posture cases' two unprotected VMs (AzureBackupResourceUnprotected)
    ) as stack:
        yield stack


# ------------------------------------------------------------------------------------ exporter


def test_exporter_exposition_passes_promtool_check_metrics(stack: Stack) -> None:
    exposition = stack.session.get(f"{stack.exporter_url}/metrics", timeout=HTTP_TIMEOUT).text
    assert "azure_backup_job_last_status{" in exposition
    result = subprocess.run(
        [require_binary("promtool"), "check", "metrics"],
        input=exposition, capture_output=True, text=True, timeout=30, check=False,
    )
    # The one name promtool's unit lint flags: days, as Azure counts them and as the contract (issue 12) names it.
    allowed = 'azure_backup_vault_soft_delete_retention_days use base unit "seconds" instead of "days"'
    problems = [line for line in (result.stdout + result.stderr).splitlines() if line.strip() and line != allowed]
    assert problems == [], "promtool check metrics found problems"


def test_prometheus_scrapes_the_exporter_under_the_shipped_job_name(stack: Stack) -> None:
    (target,) = stack.api("/api/v1/targets")["activeTargets"]
    assert target["labels"]["job"] == "azure-backup"

    def healthy() -> dict[str, Any] | None:
        (target,) = stack.api("/api/v1/targets")["activeTargets"]
        return target if (target["health"], target["lastError"]) == ("up", "") else None

    # The last scrape's health: one scrape slowed past its timeout on a loaded machine is not the
    # failure this looks for; a target that never scrapes fine is.
    wait_for("the azure-backup target to be up", healthy, stack.deadline(DATA_SECONDS), alive=stack.alive,
             detail=lambda: str(stack.api("/api/v1/targets")["activeTargets"]))
    assert {s["metric"]["vault"] for s in stack.query("azure_backup_exporter_target_up == 1")} == {
        vault for _, _, vault in stack.sim.estate.vault_refs()
    }


# ------------------------------------------------------------------------------------ the rules


def test_the_rules_copy_changes_only_for_durations(stack: Stack) -> None:
    original = yaml.safe_load(ALERTS.read_text(encoding="utf-8"))
    copy = yaml.safe_load(stack.rules_copy.read_text(encoding="utf-8"))
    assert rule_expressions(stack.rules_copy) == rule_expressions(ALERTS)
    waits = [rule.pop("for") for group in original["groups"] for rule in group["rules"] if "for" in rule]
    assert len(waits) >= 5
    assert [rule.pop("for") for group in copy["groups"] for rule in group["rules"] if "for" in rule] == [
        FOR_DURATION
    ] * len(waits)
    assert copy == original
    assert stack.rules_copy.read_text(encoding="utf-8").startswith("# End-to-end test copy")


def test_prometheus_loaded_every_shipped_rule_healthy(stack: Stack) -> None:
    groups = stack.api("/api/v1/rules")["groups"]
    shipped = yaml.safe_load(ALERTS.read_text(encoding="utf-8"))["groups"]
    # Prometheus lists groups by name; within a group, rules keep their order.
    assert {g["name"]: [r["name"] for r in g["rules"]] for g in groups} == {
        g["name"]: [r.get("alert") or r["record"] for r in g["rules"]] for g in shipped
    }
    unhealthy = {r["name"]: r.get("lastError") for g in groups for r in g["rules"] if r["health"] != "ok"}
    assert not unhealthy
    waits = {r["duration"] for g in groups for r in g["rules"] if r["type"] == "alerting" and r["duration"]}
    assert waits == {float(FOR_DURATION.removesuffix("s"))}, "Prometheus did not load the shortened copy"


# ------------------------------------------------------------------------------- the expressions


def has_value(result: list[dict[str, Any]]) -> bool:
    """At least one sample that is a number: 0/0 of two idle counters is NaN, not data."""
    return any(not math.isnan(float(sample["value"][1])) for sample in result)


def check_expression(stack: Stack, name: str, expr: str, empty_reason: str | None) -> None:
    if empty_reason is None:
        last: list[list[dict[str, Any]]] = [[]]

        def answered() -> bool | None:
            last[0] = stack.query(expr)
            return True if has_value(last[0]) else None

        wait_for(f"{name} to return data", answered, stack.deadline(DATA_SECONDS), alive=stack.alive,
                 detail=lambda: f"expr: {expr}\nlast result: {last[0]}")
        return
    result = stack.query(expr)
    assert result == [], f"{name} returns data although listed as empty ({empty_reason}): {result}"
    selectors = series_selectors(expr)
    assert selectors, f"no series selector found in {expr}"
    for selector in selectors:
        found = stack.query(selector)
        if selector in ABSENT_SERIES:
            assert found == [], f"{selector} exists now: drop it from ABSENT_SERIES ({ABSENT_SERIES[selector]})"
        else:
            assert found, f"{name} is empty because {selector} matches no series, not because {empty_reason}"


@pytest.mark.parametrize(("panel", "expr"), [pytest.param(p, e, id=p) for p, e in dashboard_expressions(DASHBOARD)])
def test_dashboard_expression_returns_data(stack: Stack, panel: str, expr: str) -> None:
    check_expression(stack, panel, expr, DASHBOARD_ALLOWED_EMPTY.get(panel))


def test_allowed_empty_panels_exist() -> None:
    panels = {panel for panel, _ in dashboard_expressions(DASHBOARD)}
    assert DASHBOARD_ALLOWED_EMPTY.keys() <= panels
    assert RULE_ALLOWED_EMPTY.keys() <= {name for name, _ in shipped_rules()}


@pytest.mark.parametrize(
    ("variable", "selector"), [pytest.param(v, s, id=v) for v, s in dashboard_variable_selectors(DASHBOARD)]
)
def test_dashboard_variable_has_values(stack: Stack, variable: str, selector: str) -> None:
    label = {"subscription": "subscription_id"}.get(variable, variable)
    values = {series["metric"].get(label) for series in stack.query(selector)}
    assert values - {None}, f"${variable}: {selector} has no {label} values"


@pytest.mark.parametrize(("rule", "expr"), [pytest.param(r, e, id=r) for r, e in shipped_rules()])
def test_rule_expression_returns_data(stack: Stack, rule: str, expr: str) -> None:
    check_expression(stack, rule, expr, RULE_ALLOWED_EMPTY.get(rule))


# ------------------------------------------------------------------------------------ the alerts


def item_labels(vault_index: int, item: ProtectedItem, stack: Stack) -> dict[str, str]:
    subscription_id, resource_group, vault = stack.sim.estate.vault_refs()[vault_index]
    return {
        "subscription_id": subscription_id,
        "resource_group": resource_group,
        "vault": vault,
        "backup_management_type": item.backup_management_type,
        "item": item.name,
    }


def designed_alerts(stack: Stack) -> dict[tuple[str, str], dict[str, str]]:
    """(alertname, item) → the exact labels each alert of the designed estate must carry."""
    estate = stack.sim.estate
    items = estate.items(estate.vaults[0])
    failing, deleted, database = items[0], items[-1], items[4]
    assert failing.always_fails_from is not None
    assert database.series_of(JobKind.LOG_BACKUP) is not None
    assert deleted.deleted_at is not None
    scrape = {"job": "azure-backup", "instance": stack.exporter_url.removeprefix("http://")}
    return {
        ("AzureBackupJobFailed", failing.name): {
            **item_labels(0, failing, stack), **scrape, "alertname": "AzureBackupJobFailed",
            "severity": "critical", "operation": failing.backup_operation, "status": "Failed",
        },
        # The recording rules' max by (item labels) drop job and instance; the policy comes along.
        ("AzureBackupOverdue", failing.name): {
            **item_labels(0, failing, stack), "alertname": "AzureBackupOverdue",
            "severity": "critical", "backup_type": "Backup", "policy": item_policy(estate, failing),
        },
        # A broken log chain alerts although the database's full backups succeed every minute.
        ("AzureBackupOverdue", database.name): {
            **item_labels(0, database, stack), "alertname": "AzureBackupOverdue",
            "severity": "critical", "backup_type": "Log", "policy": item_policy(estate, database),
        },
        ("AzureBackupUnexpectedDeletion", deleted.name): {
            **item_labels(0, deleted, stack), **scrape, "alertname": "AzureBackupUnexpectedDeletion",
            "severity": "critical", "operation": "DeleteBackupData",
        },
        # From the protected-item inventory: Azure rates the failing VM ActionRequired, and an
        # item that never produced a job is caught although no job metric knows it.
        ("AzureBackupItemUnhealthy", failing.name): {
            **item_labels(0, failing, stack), **scrape, "alertname": "AzureBackupItemUnhealthy",
            "severity": "warning", "cause": "health_status", "health_status": "ActionRequired",
        },
        ("AzureBackupTooOld", NEVER_BACKED_UP): {
            **item_labels(0, failing, stack), **scrape, "item": NEVER_BACKED_UP, "alertname": "AzureBackupTooOld",
            "severity": "critical", "schedule": "any", "source": "inventory", "protection_state": "IRPending",
            "backup_management_type": "AzureIaasVM",
        },
        **posture_alerts(stack, scrape),
        **restore_alerts(stack, scrape),
    }


def restore_alerts(stack: Stack, scrape: dict[str, str]) -> dict[tuple[str, str], dict[str, str]]:
    """The failed cross-region restore of the second vault: its only failed restore (failure_ratio is 0)."""
    vault = stack.sim.estate.vaults[1]
    (failed,) = [item for item, _, body in crr_jobs(stack.sim, vault) if body["properties"]["status"] == "Failed"]
    return {
        ("AzureBackupRestoreFailed", failed.name): {
            **item_labels(1, failed, stack), **scrape, "alertname": "AzureBackupRestoreFailed",
            "severity": "warning", "operation": "CrossRegionRestore", "status": "Failed",
        },
    }


def posture_alerts(stack: Stack, scrape: dict[str, str]) -> dict[tuple[str, str], dict[str, str]]:
    """The vault posture cases (simulator.posture): vault 0's soft delete, vault 1's other three."""
    weak, open_ = ({"subscription_id": s, "resource_group": rg, "vault": v, **scrape}
                   for s, rg, v in stack.sim.estate.vault_refs()[:2])
    return {
        ("AzureBackupSoftDeleteDisabled", ""): {
            **weak, "alertname": "AzureBackupSoftDeleteDisabled", "severity": "warning", "state": "Disabled",
        },
        ("AzureBackupImmutabilityDisabled", ""): {
            **open_, "alertname": "AzureBackupImmutabilityDisabled", "severity": "info", "state": "Disabled",
        },
        ("AzureBackupVaultUnavailable", ""): {
            **open_, "alertname": "AzureBackupVaultUnavailable", "severity": "warning", "state": "Degraded",
            "reason": "Unplanned",
        },
        ("AzureBackupItemPurgeUpcoming", PURGING): {
            **open_, "alertname": "AzureBackupItemPurgeUpcoming", "severity": "warning",
            "backup_management_type": "AzureIaasVM", "item": PURGING,
        },
        **{
            ("AzureBackupResourceUnprotected", vm): {
                **scrape, "alertname": "AzureBackupResourceUnprotected", "severity": "warning",
                "subscription_id": stack.sim.estate.subscriptions[0].subscription_id,
                "resource_group": UNPROTECTED_GROUP, "resource_type": "microsoft.compute/virtualmachines",
                "resource": vm,
            }
            for vm in UNPROTECTED_VMS
        },
    }


def identity(alert: dict[str, Any]) -> tuple[str, str]:
    labels = labels_of(alert)
    return labels["alertname"], labels.get("item", labels.get("resource", ""))


def delivered(stack: Stack) -> dict[tuple[str, str], dict[str, Any]]:
    """Wait until every designed alert reached the webhook; the latest firing notice of each."""
    expected = designed_alerts(stack)

    def all_arrived() -> dict[tuple[str, str], dict[str, Any]] | None:
        latest = {identity(alert): alert for alert in stack.webhook.alerts("firing")}
        return latest if expected.keys() <= latest.keys() else None

    return wait_for(
        "the designed alerts to reach the webhook", all_arrived, stack.deadline(DATA_SECONDS), alive=stack.alive,
        detail=lambda: f"expected {sorted(expected)}\nreceived {sorted({identity(a) for a in stack.webhook.alerts()})}"
        f"\nPrometheus: {[(identity(a), a['state']) for a in stack.alerts()]}\n{stack.logs()}",
    )


def test_designed_alerts_reach_the_webhook_with_their_labels(stack: Stack) -> None:
    received = delivered(stack)
    for key, labels in designed_alerts(stack).items():
        alert = received[key]
        assert labels_of(alert) == labels
        annotations = alert["annotations"]
        assert annotations["runbook_url"].endswith(f"/docs/monitoring.md#{key[0].lower()}")
        assert key[1] in annotations["summary"]
        assert annotations["description"].strip()


def test_no_other_alert_fires(stack: Stack) -> None:
    delivered(stack)
    # Every rule has seen the same data for as long as the designed alerts took to be delivered,
    # and waits the same `for:`, so any other alert would by now be firing, if not delivered too.
    # Pending ones are not counted: a single slow scrape makes AzureBackupExporterStale{cause=scrape}
    # pending for a moment, and a condition that does not last is what `for:` is there to ignore.
    expected = designed_alerts(stack).keys()
    at_webhook = {identity(alert) for alert in stack.webhook.alerts("firing")}
    active = stack.alerts()
    firing = {identity(alert) for alert in active if alert["state"] == "firing"}
    pending = sorted(identity(alert) for alert in active if alert["state"] != "firing")
    assert at_webhook == expected
    assert firing <= expected, f"unexpected alerts firing: {sorted(firing - expected)} (pending: {pending})"


def test_job_failed_description_quotes_the_azure_error(stack: Stack) -> None:
    # The description's template queries azure_backup_job_last_error_info, which carries Azure's
    # error once the exporter has fetched the failed job's details (the poll after it is listed).
    errors = {(str(error.code), error.title) for error in VM_ERRORS}

    def quoted() -> tuple[str, str] | None:
        for alert in stack.alerts():
            if alert["labels"]["alertname"] == "AzureBackupJobFailed":
                found = re.search(r"Error (\d+): (\w+)", alert["annotations"]["description"])
                if found:
                    return found.group(1), found.group(2)
        return None

    assert wait_for("AzureBackupJobFailed to quote an error", quoted, stack.deadline(DATA_SECONDS),
                    alive=stack.alive) in errors


def test_failed_job_error_stays_on_the_metrics_poll_after_poll(stack: Stack) -> None:
    # Each poll re-lists the jobs of the previous window's last minutes (the overlap), without
    # the details; those bare listings once replaced the details, and with them the error.
    failing = stack.sim.estate.items(stack.sim.estate.vaults[0])[0].name

    def error_codes() -> set[str]:
        text = stack.session.get(f"{stack.exporter_url}/metrics", timeout=HTTP_TIMEOUT).text
        return {
            sample.labels["error_code"]
            for family in text_string_to_metric_families(text)
            if family.name == "azure_backup_job_last_error_info"
            for sample in family.samples
            if sample.labels["item"] == failing
        }

    wait_for("the failed job's error code on the metrics", lambda: error_codes() - {"unknown"} or None,
             stack.deadline(DATA_SECONDS), alive=stack.alive)
    until = time.monotonic() + 3 * POLL_SECONDS
    while time.monotonic() < until:
        codes = error_codes()
        assert codes, f"{failing} has no error_info"
        assert "unknown" not in codes, f"{failing}'s error was lost by a later poll"
        time.sleep(POLL_SECONDS / 4)
