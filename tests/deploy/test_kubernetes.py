"""deploy/kubernetes: the manifests are valid, consistent with each other and with the exporter.

The kustomizations are built by tests/kustomize_lite.py, so these tests need no kustomize binary;
one test checks that build against `kubectl kustomize` (skipped without kubectl, a failure in CI).
Kubernetes objects are validated offline, strictly (unknown fields are errors), against the schemas
kubernetes-validate bundles; the ServiceMonitor and PrometheusRule against the Prometheus Operator's
CRD schemas vendored in tests/fixtures/kubernetes/.
"""

from __future__ import annotations

import copy
import importlib.util
import re
import subprocess
import time
from collections import Counter
from pathlib import Path
from types import ModuleType
from typing import Any

import jsonschema  # type: ignore[import-untyped]  # (mypy checks exporter/ only; no stubs needed)
import kubernetes_validate  # type: ignore[import-untyped]
import pytest
import yaml

from exporter.config.schema import ConfigError, parse_config
from exporter.demo import DEMO_ESTATE
from exporter.model import BACKUP_VAULT, RECOVERY_SERVICES, VaultRef

# Being moved to exporter.polling.sharding: the import follows it at merge.
from exporter.polling.sharding import apply_flags, owns
from exporter.simulator import EstateSpec
from exporter.simulator.estate import Estate
from tests.binaries import require_binary
from tests.kustomize_lite import Manifest, UnsupportedKustomizationError, build, strip_name_hashes
from tests.support import REPO_ROOT

ROOT = REPO_ROOT
KUBERNETES = ROOT / "deploy" / "kubernetes"
BASE = KUBERNETES / "base"
SINGLE = KUBERNETES / "overlays" / "single"
VARIANTS = {"default": KUBERNETES, "single": SINGLE}
CRDS = ROOT / "tests" / "fixtures" / "kubernetes"
CUSTOM_KINDS = {"ServiceMonitor": "servicemonitors", "PrometheusRule": "prometheusrules"}
NAME = "azure-backup-exporter"
CONFIG_MAP = f"{NAME}-config"
# The oldest Kubernetes the StatefulSet works on (the apps.kubernetes.io/pod-index label), and the
# newest whose schemas the installed kubernetes-validate has.
KUBERNETES_VERSIONS = ("1.28", kubernetes_validate.latest_version())
# What the AKS workload identity webhook puts into a pod labelled azure.workload.identity/use.
WEBHOOK_ENV = {
    "AZURE_CLIENT_ID": "00000000-0000-0000-0000-000000000000",
    "AZURE_TENANT_ID": "11111111-1111-1111-1111-111111111111",
    "AZURE_FEDERATED_TOKEN_FILE": "/var/run/secrets/azure/tokens/azure-identity-token",
    "AZURE_AUTHORITY_HOST": "https://login.microsoftonline.com/",
}


def load_generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("k8s_generate", KUBERNETES / "generate.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def one(objects: list[Manifest], kind: str, name: str = NAME) -> Manifest:
    found = [obj for obj in objects if obj["kind"] == kind and obj["metadata"]["name"] == name]
    assert len(found) == 1, f"{kind}/{name}: {len(found)} objects"
    return found[0]


def exporter_container(objects: list[Manifest]) -> Manifest:
    containers: list[Manifest] = one(objects, "StatefulSet")["spec"]["template"]["spec"]["containers"]
    assert [c["name"] for c in containers] == ["exporter"]
    return containers[0]


def flag(args: list[str], name: str) -> str:
    values = [arg.split("=", 1)[1] for arg in args if arg.startswith(f"{name}=")]
    assert len(values) == 1, f"{name} given {len(values)} times in {args}"
    return values[0]


def mebibytes(quantity: str) -> int:
    assert quantity.endswith("Mi"), quantity
    return int(quantity.removesuffix("Mi"))


def crd_schema(kind: str) -> dict[str, Any]:
    """The v1 openAPIV3Schema of the vendored CRD, made strict as `kubectl apply --validate=strict`
    is: a field the schema does not list is an error, not silently pruned."""
    crd = yaml.safe_load((CRDS / f"monitoring.coreos.com_{CUSTOM_KINDS[kind]}.yaml").read_text(encoding="utf-8"))
    assert crd["spec"]["names"]["kind"] == kind
    (version,) = [v for v in crd["spec"]["versions"] if v["name"] == "v1"]
    schema = copy.deepcopy(version["schema"]["openAPIV3Schema"])
    assert isinstance(schema, dict)

    def close(node: Any) -> None:
        if isinstance(node, dict):
            if "properties" in node and "additionalProperties" not in node:
                node["additionalProperties"] = False
            for child in node.values():
                close(child)
        elif isinstance(node, list):
            for child in node:
                close(child)

    close(schema)
    return schema


def validate_custom_resource(obj: Manifest) -> None:
    assert obj["apiVersion"] == "monitoring.coreos.com/v1"
    jsonschema.Draft202012Validator(crd_schema(obj["kind"])).validate(obj)


@pytest.fixture(scope="module", params=sorted(VARIANTS))
def variant(request: pytest.FixtureRequest) -> tuple[str, list[Manifest]]:
    return request.param, build(VARIANTS[request.param])


# --- one source of truth ---------------------------------------------------------------------


def test_committed_copies_are_what_the_generator_writes() -> None:
    stale = [str(path.relative_to(ROOT)) for path, content in load_generator().generated().items()
             if not path.is_file() or path.read_bytes() != content]
    assert not stale, f"out of date, run `make k8s`: {stale}"


def test_prometheus_rule_groups_are_the_groups_of_alerts_yml() -> None:
    alerts = yaml.safe_load((ROOT / "prometheus" / "alerts.yml").read_text(encoding="utf-8"))
    rule = one(build(KUBERNETES), "PrometheusRule")
    assert rule["spec"]["groups"] == alerts["groups"]
    assert len(rule["spec"]["groups"]) >= 1


def test_dashboard_config_map_holds_the_dashboard_for_grafanas_sidecar() -> None:
    dashboard = one(build(KUBERNETES), "ConfigMap", f"{NAME}-dashboard")
    assert dashboard["metadata"]["labels"] == {"grafana_dashboard": "1"}
    original = (ROOT / "grafana" / "dashboards" / "azure-backup.json").read_text(encoding="utf-8")
    assert dashboard["data"] == {"azure-backup.json": original}


# --- the build --------------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(VARIANTS))
def test_the_python_build_is_what_kubectl_kustomize_prints(name: str) -> None:
    kubectl = require_binary("kubectl")
    printed = subprocess.run([kubectl, "kustomize", str(VARIANTS[name])], capture_output=True, text=True,
                             check=True, timeout=120).stdout
    real = strip_name_hashes([doc for doc in yaml.safe_load_all(printed) if doc], {CONFIG_MAP})

    def by_name(objects: list[Manifest]) -> dict[tuple[str, str], Manifest]:
        return {(obj["kind"], obj["metadata"]["name"]): obj for obj in objects}

    assert by_name(build(VARIANTS[name])) == by_name(real)
    assert len(real) >= 8


def test_the_builder_refuses_what_it_does_not_implement(tmp_path: Path) -> None:
    (tmp_path / "kustomization.yaml").write_text("resources: []\ncommonLabels: {team: x}\n")
    with pytest.raises(UnsupportedKustomizationError, match="commonLabels"):
        build(tmp_path)


def test_the_single_overlay_is_one_replica_with_one_shard_and_no_disruption_budget() -> None:
    objects = build(SINGLE)
    assert one(objects, "StatefulSet")["spec"]["replicas"] == 1
    assert flag(exporter_container(objects)["args"], "--shard.count") == "1"
    assert not [obj for obj in objects if obj["kind"] == "PodDisruptionBudget"]
    assert one(build(KUBERNETES), "PodDisruptionBudget")["spec"]["maxUnavailable"] == 1


# --- schemas ----------------------------------------------------------------------------------


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
def test_every_object_validates_against_the_kubernetes_schemas(variant: tuple[str, list[Manifest]],
                                                                 version: str) -> None:
    _, objects = variant
    builtin = [obj for obj in objects if obj["kind"] not in CUSTOM_KINDS]
    for obj in builtin:
        kubernetes_validate.validate(obj, version, strict=True)
    assert {obj["kind"] for obj in builtin} >= {
        "ServiceAccount", "ConfigMap", "Service", "StatefulSet", "NetworkPolicy"}


def test_every_custom_resource_validates_against_the_operator_crds(variant: tuple[str, list[Manifest]]) -> None:
    _, objects = variant
    custom = [obj for obj in objects if obj["kind"] in CUSTOM_KINDS]
    for obj in custom:
        validate_custom_resource(obj)
    assert sorted(obj["kind"] for obj in custom) == sorted(CUSTOM_KINDS)


def test_the_validation_catches_a_misspelt_field() -> None:
    objects = build(KUBERNETES)
    statefulset = copy.deepcopy(one(objects, "StatefulSet"))
    statefulset["spec"]["template"]["spec"]["containers"][0]["securityContext"]["runAsNonroot"] = True
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(statefulset, KUBERNETES_VERSIONS[0], strict=True)
    monitor = copy.deepcopy(one(objects, "ServiceMonitor"))
    monitor["spec"]["endpoints"][0]["scrapeIntervall"] = "60s"
    with pytest.raises(jsonschema.ValidationError, match="scrapeIntervall"):
        validate_custom_resource(monitor)
    monitor = copy.deepcopy(one(objects, "ServiceMonitor"))
    monitor["spec"]["endpoints"][0]["interval"] = "1 minute"
    with pytest.raises(jsonschema.ValidationError, match="1 minute"):
        validate_custom_resource(monitor)
    rule = copy.deepcopy(one(objects, "PrometheusRule"))
    del rule["spec"]["groups"][0]["rules"][0]["expr"]
    with pytest.raises(jsonschema.ValidationError, match="expr"):
        validate_custom_resource(rule)


# --- the pod ----------------------------------------------------------------------------------


def test_the_container_is_locked_down() -> None:
    objects = build(KUBERNETES)
    pod = one(objects, "StatefulSet")["spec"]["template"]["spec"]
    container = exporter_container(objects)
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] == 10001  # the Dockerfile's USER
    assert "USER 10001:10001" in (ROOT / "Dockerfile").read_text(encoding="utf-8")
    assert pod["securityContext"]["fsGroup"] == 10001
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    assert pod["automountServiceAccountToken"] is False
    context = container["securityContext"]
    assert context["runAsNonRoot"] is True
    assert context["runAsUser"] == 10001
    assert context["readOnlyRootFilesystem"] is True
    assert context["allowPrivilegeEscalation"] is False
    assert context["capabilities"] == {"drop": ["ALL"]}
    assert context["seccompProfile"] == {"type": "RuntimeDefault"}


def test_the_probes_ask_the_exporters_health_and_readiness_endpoints() -> None:
    container = exporter_container(build(KUBERNETES))
    assert container["ports"] == [{"name": "metrics", "containerPort": 9984, "protocol": "TCP"}]
    assert flag(container["args"], "--web.listen-address") == ":9984"
    assert container["livenessProbe"]["httpGet"] == {"path": "/-/healthy", "port": "metrics"}
    assert container["readinessProbe"]["httpGet"] == {"path": "/-/ready", "port": "metrics"}
    assert container["startupProbe"]["httpGet"] == {"path": "/-/healthy", "port": "metrics"}
    # The exporter serves these paths (exporter/web/server.py).
    server = (ROOT / "exporter" / "web" / "server.py").read_text(encoding="utf-8")
    assert '"/-/healthy"' in server
    assert '"/-/ready"' in server


def test_resources_cover_the_benchmarked_memory() -> None:
    resources = exporter_container(build(KUBERNETES))["resources"]
    assert resources["requests"] == {"cpu": "50m", "memory": "160Mi"}
    assert resources["limits"] == {"cpu": "1", "memory": "256Mi"}
    # bench/RESULTS.md ("Memory", ~11,500 items): the request is above the steady RSS, the limit
    # above every peak.
    results = (ROOT / "bench" / "RESULTS.md").read_text(encoding="utf-8")
    steady = re.search(r"^\| RSS after the cold poll \(steady\) \| (\d+) \|", results, re.MULTILINE)
    peaks = [int(mib) for mib in re.findall(r"^\| peak RSS [^|]*\| (\d+) \|", results, re.MULTILINE)]
    assert steady is not None
    assert len(peaks) >= 2
    assert int(steady[1]) < mebibytes(resources["requests"]["memory"])
    assert max(peaks) < mebibytes(resources["limits"]["memory"])


def test_the_state_file_lives_on_each_replicas_own_volume() -> None:
    objects = build(KUBERNETES)
    statefulset = one(objects, "StatefulSet")
    mounts = {m["name"]: m for m in exporter_container(objects)["volumeMounts"]}
    (claim,) = statefulset["spec"]["volumeClaimTemplates"]
    assert claim["metadata"]["name"] == "state"
    assert claim["spec"]["accessModes"] == ["ReadWriteOnce"]
    assert "readOnly" not in mounts["state"]
    config = yaml.safe_load(one(objects, "ConfigMap", CONFIG_MAP)["data"]["config.yaml"])
    assert Path(config["state_file"]).parent == Path(mounts["state"]["mountPath"])
    # The Dockerfile creates and owns this directory for the runtime user.
    assert mounts["state"]["mountPath"] == "/var/lib/azure-backup-exporter"


def test_workload_identity_is_wired_from_service_account_to_config() -> None:
    objects = build(KUBERNETES)
    account = one(objects, "ServiceAccount")
    assert "azure.workload.identity/client-id" in account["metadata"]["annotations"]
    template = one(objects, "StatefulSet")["spec"]["template"]
    assert template["metadata"]["labels"]["azure.workload.identity/use"] == "true"
    assert template["spec"]["serviceAccountName"] == account["metadata"]["name"]


# --- the configuration ------------------------------------------------------------------------


def test_the_shipped_config_is_accepted_by_the_exporters_parser(tmp_path: Path) -> None:
    objects = build(KUBERNETES)
    config_map = one(objects, "ConfigMap", CONFIG_MAP)
    container = exporter_container(objects)
    (mount,) = [m for m in container["volumeMounts"] if m["name"] == "config"]
    (volume,) = [v for v in one(objects, "StatefulSet")["spec"]["template"]["spec"]["volumes"] if v["name"] == "config"]
    assert volume["configMap"]["name"] == CONFIG_MAP
    assert Path(flag(container["args"], "--config.file")) == Path(mount["mountPath"]) / "config.yaml"
    raw = yaml.safe_load(config_map["data"]["config.yaml"])
    raw["state_file"] = str(tmp_path / "state.json")  # its directory is the pod's volume, absent here
    config = parse_config(raw, environ=WEBHOOK_ENV)
    assert config.azure.auth == "workload_identity"
    assert [t.subscription_id for t in config.targets] == ["*"]
    assert (config.collection.shard_index, config.collection.shard_count) == (0, 1)  # the flags set them


def test_the_shipped_config_needs_the_workload_identity_webhook(tmp_path: Path) -> None:
    raw = yaml.safe_load(one(build(KUBERNETES), "ConfigMap", CONFIG_MAP)["data"]["config.yaml"])
    raw["state_file"] = str(tmp_path / "state.json")
    with pytest.raises(ConfigError, match="AZURE_FEDERATED_TOKEN_FILE"):
        parse_config(raw, environ={})


# --- sharding ---------------------------------------------------------------------------------


def estate_vaults() -> list[VaultRef]:
    """The demo's vaults and a few hundred more, both kinds, as the simulator names them (the two
    estates share a seed, hence some of the same vaults: counted once)."""
    refs: dict[str, VaultRef] = {}
    for spec in (DEMO_ESTATE, EstateSpec(subscriptions=12, vaults_per_subscription=25,
                                         backup_vaults_per_subscription=4)):
        estate = Estate(spec, time.time)
        for kind, listed in ((RECOVERY_SERVICES, estate.vault_refs()),
                             (BACKUP_VAULT, estate.data_protection.vault_refs())):
            refs.update((ref.resource_id.lower(), ref) for ref in (VaultRef(*names, kind=kind) for names in listed))
    assert len(refs) > 300
    return list(refs.values())


def scaled_to(replicas: int, tmp_path: Path) -> list[Manifest]:
    """The base built through an overlay like overlays/single, with `replicas` instead of 1: the
    scaling procedure the README gives."""
    single = yaml.safe_load((SINGLE / "kustomization.yaml").read_text(encoding="utf-8"))
    single["resources"] = [str(BASE)]
    single["replicas"][0]["count"] = replicas
    single["patches"][0]["patch"] = single["patches"][0]["patch"].replace(
        "value: --shard.count=1", f"value: --shard.count={replicas}")
    overlay = tmp_path / f"replicas-{replicas}"
    overlay.mkdir()
    (overlay / "kustomization.yaml").write_text(yaml.safe_dump(single), encoding="utf-8")
    return build(overlay)


def pod_shard_flags(statefulset: Manifest, ordinal: int) -> tuple[str, str]:
    """--shard.index and --shard.count as the pod with `ordinal` receives them: the kubelet expands
    $(POD_INDEX) from the env var, which the downward API fills from the pod-index label."""
    container = statefulset["spec"]["template"]["spec"]["containers"][0]
    (env,) = [e for e in container["env"] if e["name"] == "POD_INDEX"]
    assert env["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.labels['apps.kubernetes.io/pod-index']"
    args = [arg.replace("$(POD_INDEX)", str(ordinal)) for arg in container["args"]]
    return flag(args, "--shard.index"), flag(args, "--shard.count")


def owners(statefulset: Manifest, vaults: list[VaultRef], tmp_path: Path) -> Counter[VaultRef]:
    """How many pods of the StatefulSet poll each vault, each pod configured as the exporter's CLI
    would configure it (shipped config, then the flags)."""
    raw = yaml.safe_load((BASE / "config.yaml").read_text(encoding="utf-8"))
    raw["state_file"] = str(tmp_path / "state.json")
    config = parse_config(raw, environ=WEBHOOK_ENV)
    polled: Counter[VaultRef] = Counter()
    for ordinal in range(statefulset["spec"]["replicas"]):
        collection = apply_flags(config, *pod_shard_flags(statefulset, ordinal)).collection
        assert collection.shard_count == statefulset["spec"]["replicas"]
        mine = [ref for ref in vaults if owns(ref, collection.shard_index, collection.shard_count)]
        assert mine or statefulset["spec"]["replicas"] > len(vaults), f"pod {ordinal} polls nothing"
        polled.update(mine)
    return polled


@pytest.mark.parametrize("replicas", [1, 2, 3, 4, 5])
def test_every_vault_is_polled_by_exactly_one_pod(replicas: int, tmp_path: Path) -> None:
    vaults = estate_vaults()
    statefulset = one(scaled_to(replicas, tmp_path), "StatefulSet")
    assert statefulset["spec"]["replicas"] == replicas
    polled = owners(statefulset, vaults, tmp_path)
    assert set(polled) == set(vaults)
    assert set(polled.values()) == {1}


def test_the_shipped_variants_split_the_vaults_exactly(variant: tuple[str, list[Manifest]], tmp_path: Path) -> None:
    _, objects = variant
    vaults = estate_vaults()
    polled = owners(one(objects, "StatefulSet"), vaults, tmp_path)
    assert set(polled) == set(vaults)
    assert set(polled.values()) == {1}


def test_a_pod_beyond_the_shard_count_refuses_to_start(tmp_path: Path) -> None:
    """`kubectl scale` up without --shard.count: the extra pod's flags are rejected (exit 2)."""
    statefulset = one(build(KUBERNETES), "StatefulSet")
    raw = yaml.safe_load((BASE / "config.yaml").read_text(encoding="utf-8"))
    raw["state_file"] = str(tmp_path / "state.json")
    config = parse_config(raw, environ=WEBHOOK_ENV)
    extra = statefulset["spec"]["replicas"]
    with pytest.raises(ConfigError, match=r"--shard\.index"):
        apply_flags(config, *pod_shard_flags(statefulset, extra))


# --- traffic ----------------------------------------------------------------------------------


def test_the_service_monitor_scrapes_every_pod_as_the_job_the_alerts_watch() -> None:
    objects = build(KUBERNETES)
    service = one(objects, "Service")
    monitor = one(objects, "ServiceMonitor")
    statefulset = one(objects, "StatefulSet")
    assert service["spec"]["clusterIP"] == "None"  # headless: endpoints are the pods themselves
    assert statefulset["spec"]["serviceName"] == service["metadata"]["name"]
    pod_labels = statefulset["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["selector"].items() <= pod_labels.items()
    assert monitor["spec"]["selector"]["matchLabels"].items() <= service["metadata"]["labels"].items()
    (endpoint,) = monitor["spec"]["endpoints"]
    assert endpoint["port"] in {port["name"] for port in service["spec"]["ports"]}
    (relabel,) = endpoint["relabelings"]
    assert (relabel["targetLabel"], relabel["replacement"]) == ("job", "azure-backup")
    assert 'up{job="azure-backup"}' in (ROOT / "prometheus" / "alerts.yml").read_text(encoding="utf-8")


def test_the_network_policy_admits_only_the_metrics_port() -> None:
    objects = build(KUBERNETES)
    policy = one(objects, "NetworkPolicy")
    pod_labels = one(objects, "StatefulSet")["spec"]["template"]["metadata"]["labels"]
    assert policy["spec"]["podSelector"]["matchLabels"].items() <= pod_labels.items()
    assert policy["spec"]["policyTypes"] == ["Ingress"]  # egress open: see networkpolicy.yaml
    (rule,) = policy["spec"]["ingress"]
    assert rule["ports"] == [{"port": "metrics", "protocol": "TCP"}]
    assert "metrics" in {port["name"] for port in exporter_container(objects)["ports"]}
