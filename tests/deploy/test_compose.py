"""deploy/compose.yml: its bind mounts exist, and Prometheus, Alertmanager and Grafana accept their configs
as each container sees them.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.assets import COMPOSE, ROOT, assert_ok, load_yaml, run
from tests.binaries import require_binary


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
