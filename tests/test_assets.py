"""The monitoring assets: alert rules, Prometheus/Alertmanager examples, dashboard, image, compose.

Each check runs the real tool where one exists (promtool, amtool, hadolint); see tests/binaries.py
for what happens when it is missing.
"""

from __future__ import annotations

import json
import re
import shlex
import shutil
import socket
import subprocess
import sys
import sysconfig
import time
import tomllib
from collections import defaultdict
from dataclasses import dataclass, field
from importlib.util import find_spec
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.binaries import (
    dashboard_expressions,
    dashboard_panels,
    dashboard_variable_selectors,
    require_binary,
    rule_expressions,
)

ROOT = Path(__file__).resolve().parent.parent
PROMETHEUS_DIR = ROOT / "prometheus"
ALERTS = PROMETHEUS_DIR / "alerts.yml"
ALERT_TESTS = (
    PROMETHEUS_DIR / "alerts.test.yml",
    PROMETHEUS_DIR / "alerts.days.test.yml",
    PROMETHEUS_DIR / "alerts.policies.test.yml",
)
DASHBOARD = ROOT / "grafana" / "dashboards" / "azure-backup.json"
DOCS = ROOT / "docs" / "monitoring.md"
COMPOSE = ROOT / "deploy" / "compose.yml"
DOCKERFILE = ROOT / "Dockerfile"
RUNBOOK_BASE = "https://github.com/azure-backup-exporter/azure-backup-exporter/blob/main/docs/monitoring.md"
DATASOURCE = {"type": "prometheus", "uid": "${datasource}"}

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
}
REQUIRED_ROWS = {"Estate overview", "Freshness", "Jobs", "Durations", "Sizes", "Exporter health", "Inventory"}

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
    # issue 5: reloads and the state file (exporter/exposition/lifecycle_families.py)
    "azure_backup_exporter_discovery_up",
    "azure_backup_exporter_config_last_reload_successful",
    "azure_backup_exporter_state_writes_total",
    # issue 11: backup policies (exporter/exposition/policy_families.py)
    "azure_backup_policy_info",
    "azure_backup_item_expected_interval_seconds",
}


def run(*args: str | Path, cwd: Path = ROOT, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(a) for a in args], cwd=cwd, capture_output=True, text=True, timeout=timeout, check=False)


def assert_ok(result: subprocess.CompletedProcess[str]) -> None:
    assert result.returncode == 0, (
        f"{shlex.join(result.args)} exited {result.returncode}:\n{result.stdout}\n{result.stderr}"
    )


def load_yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def alert_rules() -> list[dict[str, Any]]:
    return [rule for group in load_yaml(ALERTS)["groups"] for rule in group["rules"] if "alert" in rule]


def markdown_anchors(text: str) -> set[str]:
    """GitHub's heading anchors: lower case, punctuation dropped, spaces to hyphens."""
    anchors = set()
    for heading in re.findall(r"^#{1,6}\s+(.+?)\s*$", text, re.MULTILINE):
        anchors.add(re.sub(r"[^\w\- ]", "", heading.lower()).replace(" ", "-"))
    return anchors


def check_rules(tmp_path: Path, expressions: list[tuple[str, str]]) -> subprocess.CompletedProcess[str]:
    """promtool's parser over expressions, as recording rules of a scratch rule file."""
    rules = [{"record": f"asset:expression_{i}", "expr": expr} for i, (_, expr) in enumerate(expressions)]
    path = tmp_path / "expressions.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "expressions", "rules": rules}]}), encoding="utf-8")
    return run(require_binary("promtool"), "check", "rules", path)


# ----------------------------------------------------------------------------------- alert rules


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


# ------------------------------------------------------------------ Prometheus and Alertmanager


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


# ------------------------------------------------------------------------------------ dashboard


def dashboard() -> dict[str, Any]:
    return json.loads(DASHBOARD.read_text(encoding="utf-8"))


def test_dashboard_identity() -> None:
    board = dashboard()
    assert board["uid"] == "azure-backup"
    assert board["schemaVersion"] >= 36
    assert board["title"]


def test_dashboard_has_a_prometheus_datasource_variable() -> None:
    variables = {variable["name"]: variable for variable in dashboard()["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"


def test_every_panel_and_variable_uses_the_datasource_variable() -> None:
    board = dashboard()
    for panel in dashboard_panels(board):
        if panel["type"] == "row":
            continue
        assert panel.get("datasource") == DATASOURCE, panel["title"]
        assert panel.get("targets"), f"{panel['title']} has no query"
        for target in panel["targets"]:
            assert target.get("datasource") == DATASOURCE, panel["title"]
    for variable in board["templating"]["list"]:
        if variable["type"] == "query":
            assert variable["datasource"] == DATASOURCE, variable["name"]


def test_item_variables_are_multi_select_with_all() -> None:
    variables = {variable["name"]: variable for variable in dashboard()["templating"]["list"]}
    for name in ("subscription", "vault", "item"):
        variable = variables[name]
        assert variable["type"] == "query"
        assert variable["multi"] is True
        assert variable["includeAll"] is True
        assert variable["allValue"] == ".*"
        assert variable["query"].startswith("label_values(")


def test_dashboard_variables_are_used_only_in_regex_matchers() -> None:
    texts = [target["expr"] for panel in dashboard_panels(dashboard()) for target in panel.get("targets", [])]
    texts += [variable["query"] for variable in dashboard()["templating"]["list"] if variable["type"] == "query"]
    for text in texts:
        uses = re.findall(r"\$\{?(?!__)(\w+)", text)
        safe = re.findall(r'[=!]~"\$(\w+)"', text)
        assert sorted(uses) == sorted(safe), f'a variable outside `=~"$var"` in {text!r}'


def test_dashboard_panel_ids_are_unique() -> None:
    ids = [panel["id"] for panel in dashboard_panels(dashboard())]
    assert len(ids) == len(set(ids))


def test_dashboard_has_the_required_rows() -> None:
    rows = {panel["title"] for panel in dashboard_panels(dashboard()) if panel["type"] == "row"}
    assert rows >= REQUIRED_ROWS


def test_every_panel_has_a_description() -> None:
    for panel in dashboard_panels(dashboard()):
        if panel["type"] != "row":
            assert len(panel.get("description", "")) > 20, panel["title"]


def test_dashboard_panels_fit_the_grid_without_overlapping() -> None:
    cells: dict[tuple[int, int], str] = {}
    for panel in dashboard_panels(dashboard()):
        grid = panel["gridPos"]
        assert grid["x"] + grid["w"] <= 24, panel["title"]
        for x in range(grid["x"], grid["x"] + grid["w"]):
            for y in range(grid["y"], grid["y"] + grid["h"]):
                assert (x, y) not in cells, f"{panel['title']} overlaps {cells[x, y]}"
                cells[x, y] = panel["title"]


def test_dashboard_expressions_parse(tmp_path: Path) -> None:
    expressions = dashboard_expressions(DASHBOARD) + dashboard_variable_selectors(DASHBOARD)
    assert len(expressions) > 20
    result = check_rules(tmp_path, expressions)
    assert_ok(result)


def test_expression_check_catches_a_broken_expression(tmp_path: Path) -> None:
    # The check above must be able to fail: an unclosed selector does not parse.
    result = check_rules(tmp_path, [("broken", 'sum(azure_backup_jobs_total{vault=~".*")')])
    assert result.returncode != 0


def test_duration_heatmap_reads_histogram_buckets() -> None:
    heatmaps = [panel for panel in dashboard_panels(dashboard()) if panel["type"] == "heatmap"]
    assert heatmaps
    for panel in heatmaps:
        for target in panel["targets"]:
            assert target["format"] == "heatmap"
            assert "azure_backup_job_duration_seconds_bucket" in target["expr"]
            assert "by (le)" in target["expr"]
        assert panel["options"]["calculate"] is False


def test_freshness_table_sorts_by_age_and_colours_at_24h_and_26h() -> None:
    (table,) = [
        panel for panel in dashboard_panels(dashboard()) if panel["title"] == "Time since last successful backup"
    ]
    (target,) = table["targets"]
    assert target["expr"].startswith("time() - ")
    assert "azure_backup_job_last_success_timestamp_seconds" in target["expr"]
    assert target["format"] == "table"
    assert target["instant"] is True
    sort = next(t for t in table["transformations"] if t["id"] == "sortBy")["options"]["sort"]
    assert sort == [{"field": "Value", "desc": True}]
    properties = {p["id"]: p["value"] for o in table["fieldConfig"]["overrides"] for p in o["properties"]}
    steps = [(step["color"], step["value"]) for step in properties["thresholds"]["steps"]]
    assert steps == [("green", None), ("orange", 86400), ("red", 93600)]


def test_grafana_provisioning_files_parse_and_point_at_the_dashboards() -> None:
    datasources = load_yaml(ROOT / "grafana" / "provisioning" / "datasources" / "prometheus.yml")
    assert [ds["type"] for ds in datasources["datasources"]] == ["prometheus"]
    providers = load_yaml(ROOT / "grafana" / "provisioning" / "dashboards" / "azure-backup.yml")["providers"]
    assert [provider["type"] for provider in providers] == ["file"]


# -------------------------------------------------------------------------------------- compose


@dataclass
class Mount:
    source: Path
    target: str


@dataclass
class ComposeService:
    name: str
    spec: dict[str, Any]
    mounts: list[Mount] = field(default_factory=list)

    def container_view(self, root: Path) -> Path:
        """Copy the service's bind mounts to where the container sees them, under `root`."""
        for mount in self.mounts:
            destination = root / mount.target.lstrip("/")
            destination.parent.mkdir(parents=True, exist_ok=True)
            if mount.source.is_dir():
                shutil.copytree(mount.source, destination)
            else:
                shutil.copy(mount.source, destination)
        return root

    def flag(self, name: str) -> str:
        (value,) = [arg.split("=", 1)[1] for arg in self.spec["command"] if arg.startswith(f"{name}=")]
        return str(value)


def compose_services() -> dict[str, ComposeService]:
    document = load_yaml(COMPOSE)
    services = {}
    for name, spec in document["services"].items():
        service = ComposeService(name, spec)
        for volume in spec.get("volumes", []):
            source, target = volume.split(":")[:2]
            if source.startswith((".", "/")):
                service.mounts.append(Mount((COMPOSE.parent / source).resolve(), target))
            else:
                assert source in document.get("volumes", {}), f"{name}: undeclared volume {source}"
        services[name] = service
    return services


def test_compose_bind_mounts_exist_and_their_configs_parse() -> None:
    mounted = [mount.source for service in compose_services().values() for mount in service.mounts]
    assert len(mounted) >= 5
    for source in mounted:
        assert source.exists(), f"{source} is mounted but does not exist"
        files = sorted(source.rglob("*")) if source.is_dir() else [source]
        for path in files:
            if path.suffix in {".yml", ".yaml"}:
                assert load_yaml(path) is not None, path
            elif path.suffix == ".json":
                json.loads(path.read_text(encoding="utf-8"))


def test_compose_prometheus_config_passes_promtool_as_mounted(tmp_path: Path) -> None:
    prometheus = compose_services()["prometheus"]
    view = prometheus.container_view(tmp_path)
    config = view / prometheus.flag("--config.file").lstrip("/")
    result = run(require_binary("promtool"), "check", "config", config)
    assert_ok(result)
    assert "1 rule files found" in result.stdout
    targets = [t for job in load_yaml(config)["scrape_configs"] for sc in job["static_configs"] for t in sc["targets"]]
    assert "exporter:9984" in targets
    assert "alertmanager:9093" in str(load_yaml(config)["alerting"])


def test_compose_alertmanager_config_passes_amtool_as_mounted(tmp_path: Path) -> None:
    alertmanager = compose_services()["alertmanager"]
    view = alertmanager.container_view(tmp_path)
    assert_ok(run(require_binary("amtool"), "check-config", view / alertmanager.flag("--config.file").lstrip("/")))


def test_compose_grafana_finds_the_dashboard_and_prometheus(tmp_path: Path) -> None:
    services = compose_services()
    grafana = services["grafana"]
    view = grafana.container_view(tmp_path)
    provisioning = view / "etc" / "grafana" / "provisioning"
    (provider,) = load_yaml(provisioning / "dashboards" / "azure-backup.yml")["providers"]
    assert (view / provider["options"]["path"].lstrip("/") / "azure-backup.json").is_file()
    home = grafana.spec["environment"]["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"]
    assert (view / home.lstrip("/")).is_file()
    (datasource,) = load_yaml(provisioning / "datasources" / "prometheus.yml")["datasources"]
    assert datasource["url"] == "http://prometheus:9090"
    assert "prometheus" in services
    assert grafana.spec["environment"]["GF_AUTH_ANONYMOUS_ENABLED"] == "true"
    assert grafana.spec["environment"]["GF_AUTH_ANONYMOUS_ORG_ROLE"] == "Viewer"


def test_compose_builds_the_exporter_from_this_repository_in_demo_mode() -> None:
    exporter = compose_services()["exporter"].spec
    context = (COMPOSE.parent / exporter["build"]["context"]).resolve()
    assert context == ROOT
    assert (context / exporter["build"]["dockerfile"]).is_file()
    assert exporter["command"] == ["--demo", "--web.listen-address=:9984"]


# ----------------------------------------------------------------------------------- Dockerfile


@dataclass
class Instruction:
    keyword: str
    arguments: str


def dockerfile_stages() -> list[list[Instruction]]:
    """The Dockerfile's instructions, split by FROM: comment lines dropped, then continuations joined."""
    lines = [line for line in DOCKERFILE.read_text(encoding="utf-8").splitlines() if not line.lstrip().startswith("#")]
    text = re.sub(r"\\\n", " ", "\n".join(lines))
    stages: list[list[Instruction]] = [[]]  # stage 0 holds the ARGs before the first FROM
    for line in text.splitlines():
        if not line.strip():
            continue
        keyword, _, arguments = line.strip().partition(" ")
        if keyword.upper() == "FROM":
            stages.append([])
        stages[-1].append(Instruction(keyword.upper(), " ".join(arguments.split())))
    return stages


def last(stage: list[Instruction], keyword: str) -> str:
    values = [instruction.arguments for instruction in stage if instruction.keyword == keyword]
    assert values, f"no {keyword} in the stage"
    return values[-1]


def test_dockerfile_is_multi_stage_from_python_slim() -> None:
    global_args, *stages = dockerfile_stages()
    assert len(stages) >= 2
    defaults = dict(arg.arguments.split("=", 1) for arg in global_args if "=" in arg.arguments)
    images = [re.sub(r"\$\{(\w+)\}", lambda m: defaults[m.group(1)], last(s, "FROM")).split()[0] for s in stages]
    assert images == ["python:3.12-slim"] * len(stages)
    assert last(stages[0], "FROM").endswith(" AS builder")
    assert "pip wheel" in " ".join(i.arguments for i in stages[0] if i.keyword == "RUN")
    assert any(i.arguments.startswith("--from=builder /opt/venv ") for i in stages[-1] if i.keyword == "COPY")


def test_dockerfile_runs_as_a_numeric_non_root_user() -> None:
    user = last(dockerfile_stages()[-1], "USER")
    assert re.fullmatch(r"\d+(:\d+)?", user), f"USER {user} is not numeric"
    assert all(int(part) != 0 for part in user.split(":"))


def test_dockerfile_entrypoint_is_the_console_script_in_exec_form() -> None:
    runtime = dockerfile_stages()[-1]
    assert json.loads(last(runtime, "ENTRYPOINT")) == ["azure-backup-exporter"]
    assert json.loads(last(runtime, "CMD")) == ["--config.file=/etc/azure-backup-exporter/config.yaml"]
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]["scripts"]
    assert "azure-backup-exporter" in scripts


def test_dockerfile_exposes_and_health_checks_the_default_port() -> None:
    runtime = dockerfile_stages()[-1]
    assert last(runtime, "EXPOSE") == "9984"
    healthcheck = last(runtime, "HEALTHCHECK")
    command = json.loads(healthcheck.split(" CMD ", 1)[1])
    assert command[:2] == ["python", "-c"]
    assert "urllib.request.urlopen('http://127.0.0.1:9984/-/healthy'" in command[2]


def test_dockerfile_has_oci_labels() -> None:
    labels = " ".join(i.arguments for i in dockerfile_stages()[-1] if i.keyword == "LABEL")
    for key in ("title", "description", "source", "licenses", "version", "revision"):
        assert f"org.opencontainers.image.{key}=" in labels


def test_dockerfile_passes_hadolint() -> None:
    result = run(require_binary("hadolint"), "--failure-threshold", "info", DOCKERFILE)
    assert_ok(result)


def dockerignore_regex(pattern: str) -> str:
    """A .dockerignore pattern (Go's filepath.Match plus `**`) as a regular expression."""

    def translate(match: re.Match[str]) -> str:
        token = match.group()
        wildcards = {"**/": "(.*/)?", "**": ".*", "*": "[^/]*", "?": "[^/]"}
        if token in wildcards:
            return wildcards[token]
        if token.startswith("["):
            return "[^" + token[2:] if token[1] == "!" else token
        return re.escape(token)

    return re.sub(r"\*\*/|\*\*|\*|\?|\[[^\]]*\]|[^*?\[]+", translate, pattern)


def dockerignored(path: str, patterns: list[str]) -> bool:
    """Docker's rule: the last pattern matching the path or one of its parents decides."""
    parts = path.split("/")
    candidates = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    ignored = False
    for line in patterns:
        negated = line.startswith("!")
        regex = dockerignore_regex(line.removeprefix("!").rstrip("/"))
        if any(re.fullmatch(regex, candidate) for candidate in candidates):
            ignored = not negated
    return ignored


def build_context() -> list[str]:
    """The repository files `docker build .` sends, after .dockerignore."""
    patterns = [
        line.strip()
        for line in (ROOT / ".dockerignore").read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.startswith("#")
    ]
    files = [p.relative_to(ROOT).as_posix() for p in ROOT.rglob("*") if p.is_file() and ".git" not in p.parts]
    return [f for f in files if not dockerignored(f, patterns)]


def test_dockerignore_matcher_follows_docker_rules() -> None:
    patterns = ["*", "!exporter/", "**/__pycache__"]
    assert dockerignored("tests/test_x.py", patterns)
    assert not dockerignored("exporter/cli.py", patterns)
    assert dockerignored("exporter/__pycache__/cli.cpython-312.pyc", patterns)
    assert dockerignored("exporter/cli.pyc", ["**/*.py[cod]"])
    assert not dockerignored("exporter/cli.py", ["**/*.py[cod]"])


def test_build_context_holds_what_the_builder_copies_and_no_more() -> None:
    context = build_context()
    builder = dockerfile_stages()[1]
    sources = [s for i in builder if i.keyword == "COPY" for s in i.arguments.split()[:-1]]
    assert sources == ["pyproject.toml", "README.md", "exporter"]
    for source in sources:
        assert any(f == source or f.startswith(f"{source}/") for f in context), f"{source} is not in the context"
    readme = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]["readme"]
    assert readme in sources, "pyproject's readme must be copied for the wheel's metadata"
    assert not [f for f in context if f.startswith(("tests/", ".git", "build/", "deploy/"))]
    assert not [f for f in context if "__pycache__" in f]


@pytest.fixture(scope="module")
def image_venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The builder stage replayed: the context copied, `pip wheel`, the wheel installed in a venv.

    Dependencies come from this interpreter's site-packages (a path in a .pth file) rather than
    PyPI, so that only the wheel build itself may reach the package index (for setuptools, unless
    setuptools and wheel are installed here already).
    """
    work = tmp_path_factory.mktemp("image")
    source = work / "src"
    for relative in build_context():
        (source / relative).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(ROOT / relative, source / relative)
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check"]
    isolation = ["--no-build-isolation"] if find_spec("setuptools") and find_spec("wheel") else []
    assert_ok(
        run(
            *pip,
            "wheel",
            "--no-cache-dir",
            "--no-deps",
            "--wheel-dir",
            work / "wheels",
            *isolation,
            source,
            timeout=120,
        )
    )
    (wheel,) = (work / "wheels").glob("*.whl")
    venv = work / "venv"
    assert_ok(run(sys.executable, "-m", "venv", "--without-pip", venv))
    python = venv / "bin" / "python"
    assert_ok(run(*pip, "--python", python, "install", "--no-deps", "--no-index", wheel, timeout=120))
    site_packages = run(python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])").stdout.strip()
    (Path(site_packages) / "host-dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    return venv


def test_image_venv_holds_the_whole_package_from_the_wheel(image_venv: Path) -> None:
    # cwd elsewhere than the repository: `python -c` puts the cwd first on sys.path.
    result = run(image_venv / "bin" / "python", "-c", "import exporter; print(exporter.__file__)", cwd=image_venv)
    assert_ok(result)
    installed = Path(result.stdout.strip()).parent
    assert installed.is_relative_to(image_venv), f"imported {installed}, not the wheel's copy"
    built_from = image_venv.parent / "src" / "exporter"
    source_modules = {p.relative_to(built_from) for p in built_from.rglob("*.py")}
    installed_modules = {p.relative_to(installed) for p in installed.rglob("*.py")}
    assert source_modules <= installed_modules, f"missing from the wheel: {sorted(source_modules - installed_modules)}"


def test_image_entrypoint_runs(image_venv: Path) -> None:
    script = image_venv / "bin" / json.loads(last(dockerfile_stages()[-1], "ENTRYPOINT"))[0]
    assert script.is_file(), "the ENTRYPOINT console script is not installed"
    result = run(script, "--version", cwd=image_venv)
    assert_ok(result)
    version = re.search(r'__version__ = "([^"]+)"', (ROOT / "exporter" / "__init__.py").read_text(encoding="utf-8"))
    assert version
    assert version.group(1) in result.stdout + result.stderr


def test_image_healthcheck_passes_against_the_demo_exporter(image_venv: Path) -> None:
    healthcheck = json.loads(last(dockerfile_stages()[-1], "HEALTHCHECK").split(" CMD ", 1)[1])
    with socket.socket() as probe:  # a free port instead of 9984, which `make demo` may hold
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    command = [arg.replace("127.0.0.1:9984", f"127.0.0.1:{port}") for arg in healthcheck]
    command[0] = str(image_venv / "bin" / command[0])
    exporter = subprocess.Popen(
        [image_venv / "bin" / "azure-backup-exporter", "--demo", f"--web.listen-address=127.0.0.1:{port}"],
        cwd=image_venv,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 20
        while (result := run(*command, cwd=image_venv)).returncode != 0:
            assert exporter.poll() is None, exporter.communicate()[1].decode()
            assert time.monotonic() < deadline, f"health check still failing: {result.stderr}"
            time.sleep(0.2)
    finally:
        # Graceful shutdown is the CLI tests' business; this test only needs the process gone.
        exporter.kill()
        exporter.wait(timeout=10)
