"""The Grafana dashboard and its provisioning: datasource, variables, grid, rows, and every expression
parsed by promtool.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import yaml

from tests.assets import DASHBOARD, ROOT, assert_ok, dashboard, load_yaml, run
from tests.binaries import dashboard_expressions, dashboard_panels, dashboard_variable_selectors, require_binary

DATASOURCE = {"type": "prometheus", "uid": "${datasource}"}
REQUIRED_ROWS = {"Estate overview", "Freshness", "Jobs", "Durations", "Sizes", "Exporter health", "Inventory",
                 "Vault posture"}


def check_rules(tmp_path: Path, expressions: list[tuple[str, str]]) -> subprocess.CompletedProcess[str]:
    """promtool's parser over expressions, as recording rules of a scratch rule file."""
    rules = [{"record": f"asset:expression_{i}", "expr": expr} for i, (_, expr) in enumerate(expressions)]
    path = tmp_path / "expressions.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "expressions", "rules": rules}]}), encoding="utf-8")
    return run(require_binary("promtool"), "check", "rules", path)



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
