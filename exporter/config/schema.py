"""YAML → typed, frozen configuration; every problem is reported at once, each with its key path.

Each section is a table of key → converter (see `exporter.config.converters`), read by
`exporter.config.sections`. Defaults live on the
dataclasses only; rules that involve several keys live in the per-section functions. Adding a key is
one table row plus one dataclass field (plus its line in config.example.yaml, which a test checks).
Nothing here exits, prints or logs: the CLI turns a ConfigError into its message and exit code 2.
"""

from __future__ import annotations

import os
import re
from collections.abc import Hashable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any

import yaml

from exporter.config import converters as cv
from exporter.config.converters import DAY
from exporter.config.sections import Problems, nested, read_section
from exporter.model import BACKUP_VAULT, RECOVERY_SERVICES, VAULT_KINDS

__all__ = [
    "CLOUDS", "AzureConfig", "Cloud", "CollectionConfig", "Config", "ConfigError", "Target",
    "load_config", "parse_config", "vault_tag_label",
]

# Azure's backupJobs $filter accepts a startTime..endTime window of at most 30 days.
MAX_LOOKBACK = 30 * DAY
# Where jobs are read from: each vault's backupJobs list, or one Azure Resource Graph query.
JOB_SOURCES = ("jobs", "resource_graph")
# "Backup/Restore jobs that are up to 14 days old are available in ARG for query" (Azure Backup
# docs, "Query your backups using Azure Resource Graph").
RESOURCE_GRAPH_RETENTION = 14 * DAY
MAX_SHARDS = 10_000
AUTH_MODES = ("default", "managed_identity", "workload_identity", "client_secret", "client_certificate",
              "azure_cli")
_INLINE_HINT = "secrets are never accepted inline; use azure.client_secret_file or AZURE_CLIENT_SECRET"
_INLINE_CERT_HINT = "secrets are never accepted inline; use an unencrypted azure.client_certificate_file"
# Only consulted for keys a table does not know, so `client_secret_file` itself is fine.
_SECRET_KEY = re.compile(r"secret|passw|pwd|token|credential|private_?key|api_?key|connection_?string", re.I)


class ConfigError(Exception):
    """The configuration cannot be used; `problems` holds every reason, each "key.path: why"."""

    def __init__(self, problems: Iterable[str] | str) -> None:
        self.problems: tuple[str, ...] = (problems,) if isinstance(problems, str) else tuple(problems)
        super().__init__("\n".join(self.problems))

    def __reduce__(self) -> tuple[type[ConfigError], tuple[tuple[str, ...]]]:
        return ConfigError, (self.problems,)  # the default would rebuild it from the joined text


@dataclass(frozen=True, slots=True)
class Cloud:
    resource_manager_url: str
    audience: str
    authority_host: str


# ARM endpoints are `az cloud show`'s resourceManager; the audience is the ARM URL itself (the
# azure-mgmt SDKs ask for "<url>/.default"); authority hosts are azure-identity's AzureAuthorityHosts.
_PUBLIC, _CHINA, _USGOV = (
    "https://management.azure.com", "https://management.chinacloudapi.cn", "https://management.usgovcloudapi.net"
)
CLOUDS: Mapping[str, Cloud] = MappingProxyType({
    "public": Cloud(_PUBLIC, _PUBLIC, "login.microsoftonline.com"),
    "china": Cloud(_CHINA, _CHINA, "login.chinacloudapi.cn"),
    "usgov": Cloud(_USGOV, _USGOV, "login.microsoftonline.us"),
})


@dataclass(frozen=True, slots=True)
class AzureConfig:
    cloud: str = "public"
    resource_manager_url: str = _PUBLIC
    audience: str = _PUBLIC
    authority_host: str = "login.microsoftonline.com"
    auth: str = "default"
    tenant_id: str | None = None
    client_id: str | None = None
    client_secret_file: Path | None = None
    client_certificate_file: Path | None = None

    @property
    def scope(self) -> str:
        return f"{self.audience}/.default"


@dataclass(frozen=True, slots=True)
class CollectionConfig:
    interval: float = 300.0
    lookback: float = 7 * DAY
    job_details: bool = True
    concurrency: int = 8
    request_timeout: float = 30.0
    api_version: str = "2025-08-01"
    # Data Protection's api-version; why this one: exporter.azure.dataprotection.
    backup_vault_api_version: str = "2025-07-01"
    operations: tuple[str, ...] = ()
    vault_tags: tuple[str, ...] = ()
    discovery_interval: float = 3600.0
    source: str = "jobs"
    shard_index: int = 0
    shard_count: int = 1
    inventory_interval: float = 1800.0  # 0: off
    coverage: bool = False  # one Resource Graph query per inventory interval: resources no vault protects
    # Each poll of a vault with cross-region restore on also lists its CRR jobs from the paired region.
    cross_region_restore_jobs: bool = True


@dataclass(frozen=True, slots=True)
class Target:
    subscription_id: str
    resource_group: str | None = None
    vault: str | None = None
    vault_regex: str | None = None
    jobs: tuple[str, ...] = ()
    backup_vault: str | None = None
    vault_kind: str | None = None  # None: recovery_services for `vault`, every kind for discovery

    @property
    def is_discovery(self) -> bool:
        return self.vault is None and self.backup_vault is None

    @property
    def vault_name(self) -> str | None:
        """The named vault, whichever key names it; None for a discovery target."""
        return self.vault if self.vault is not None else self.backup_vault

    @property
    def kinds(self) -> tuple[str, ...]:
        """The vault kinds (model.VAULT_KINDS) this target monitors."""
        if self.backup_vault is not None:
            return (BACKUP_VAULT,)
        if self.vault_kind is not None:
            return (self.vault_kind,)
        return VAULT_KINDS if self.is_discovery else (RECOVERY_SERVICES,)

    def matches(self, vault_name: str) -> bool:
        return self.vault_regex is None or re.search(self.vault_regex, vault_name) is not None


@dataclass(frozen=True, slots=True)
class Config:
    azure: AzureConfig = AzureConfig()
    collection: CollectionConfig = CollectionConfig()
    state_file: Path | None = None
    targets: tuple[Target, ...] = ()


def vault_tag_label(tag: str) -> str:
    """The label name for a vault tag: Prometheus label names allow only ASCII letters, digits and _."""
    return "tag_" + re.sub(r"[^A-Za-z0-9_]", "_", tag)


_TOP: dict[str, cv.Converter] = {
    "azure": nested, "collection": nested, "state_file": cv.optional_path, "targets": nested,
}
_AZURE: dict[str, cv.Converter] = {
    "cloud": cv.choice(CLOUDS),
    "resource_manager_url": cv.http_url,
    "resource_manager_audience": cv.audience,
    "authority_host": cv.authority,
    "auth": cv.choice(AUTH_MODES),
    "tenant_id": cv.guid,
    "client_id": cv.guid,
    "client_secret_file": cv.path,
    "client_certificate_file": cv.path,
}
_COLLECTION: dict[str, cv.Converter] = {
    "interval": cv.duration(),
    "lookback": cv.duration(MAX_LOOKBACK, "at most 30d: Azure's job filter window is 30 days at most"),
    "job_details": cv.boolean,
    "concurrency": cv.integer(1, 64),
    "request_timeout": cv.duration(),
    "api_version": cv.api_version,
    "backup_vault_api_version": cv.api_version,
    "operations": cv.each(cv.string),
    "vault_tags": cv.each(cv.label_suffix, key=vault_tag_label),
    "discovery_interval": cv.duration(),
    "source": cv.choice(JOB_SOURCES),
    "shard_index": cv.integer(0, MAX_SHARDS - 1),
    "shard_count": cv.integer(1, MAX_SHARDS),
    "inventory_interval": cv.duration_or_off,
    "coverage": cv.boolean,
    "cross_region_restore_jobs": cv.boolean,
}
_TARGET: dict[str, cv.Converter] = {
    "subscription_id": cv.guid_or_star,
    "resource_group": cv.arm_name,
    "vault": cv.arm_name,
    "vault_regex": cv.regex,
    "jobs": cv.each(cv.guid, key=str.casefold),  # GUIDs: case does not make a different job
    "backup_vault": cv.arm_name,
    "vault_kind": cv.choice(VAULT_KINDS),
}
# Every section's table, by key-path prefix (tests check config.example.yaml documents each key).
SCHEMA: Mapping[str, Mapping[str, cv.Converter]] = MappingProxyType(
    {"": _TOP, "azure": _AZURE, "collection": _COLLECTION, "targets[]": _TARGET}
)


def _secret_hint(name: str) -> str | None:
    """An unknown key that looks like an inline secret: where secrets go instead (never its value)."""
    if _SECRET_KEY.search(name) and not name.endswith(("_file", "_path")):
        return _INLINE_CERT_HINT if "cert" in name.lower() else _INLINE_HINT
    return None


def _section(raw: object, path: str, schema: Mapping[str, cv.Converter], problems: Problems,
             required: tuple[str, ...] = ()) -> tuple[dict[str, Any], set[str]]:
    return read_section(raw, path, schema, problems, required=required, explain_unknown=_secret_hint)


def _azure(raw: object, environ: Mapping[str, str], base_dir: Path | None, problems: Problems) -> AzureConfig:
    values, given = _section(raw, "azure", _AZURE, problems)
    cloud = CLOUDS[values.get("cloud", "public")]
    auth = values.get("auth", "default")
    for key in ("client_secret_file", "client_certificate_file"):
        if key in values:
            values[key] = base_dir / values[key] if base_dir else values[key]
            if why := cv.file_problem(values[key], readable=True):
                problems.add(f"azure.{key}", f"{values[key]}: {why}")
    if "auth" in given and "auth" not in values:
        auth = None  # reported already; the rules of a mode nobody chose would only add noise
    _check_auth(auth, given, environ, problems)
    return AzureConfig(
        cloud=values.get("cloud", "public"),
        resource_manager_url=values.get("resource_manager_url", cloud.resource_manager_url),
        audience=values.get("resource_manager_audience", cloud.audience),
        authority_host=values.get("authority_host", cloud.authority_host),
        auth=auth or "default",
        tenant_id=values.get("tenant_id"),
        client_id=values.get("client_id"),
        client_secret_file=values.get("client_secret_file"),
        client_certificate_file=values.get("client_certificate_file"),
    )


def _check_auth(auth: str | None, given: set[str], environ: Mapping[str, str], problems: Problems) -> None:
    """The keys each auth mode needs, and the files only one mode reads."""
    for key in {"client_secret": ("tenant_id", "client_id"),
                "client_certificate": ("tenant_id", "client_id", "client_certificate_file")}.get(auth or "", ()):
        if key not in given:
            problems.add(f"azure.{key}", f"is required with auth: {auth}")
    if auth == "client_secret" and "client_secret_file" not in given and not environ.get("AZURE_CLIENT_SECRET"):
        problems.add("azure.client_secret_file", "auth: client_secret needs it, or AZURE_CLIENT_SECRET set")
    if auth == "workload_identity":
        # azure-identity falls back to these variables; the AKS workload identity webhook sets them.
        for key, env in (("tenant_id", "AZURE_TENANT_ID"), ("client_id", "AZURE_CLIENT_ID")):
            if key not in given and not environ.get(env):
                problems.add(f"azure.{key}", f"auth: workload_identity needs it, or {env} set")
        if not environ.get("AZURE_FEDERATED_TOKEN_FILE"):
            problems.add("azure.auth", "workload_identity needs AZURE_FEDERATED_TOKEN_FILE set (the AKS webhook does)")
    for key, mode in (("client_secret_file", "client_secret"), ("client_certificate_file", "client_certificate")):
        if key in given and auth not in (mode, None):
            problems.add(f"azure.{key}", f"is only used with auth: {mode} (auth is {auth})")


def _collection(raw: object, problems: Problems) -> CollectionConfig:
    values, _ = _section(raw, "collection", _COLLECTION, problems)
    if values.get("source") == "resource_graph" and values.get("lookback", 0.0) > RESOURCE_GRAPH_RETENTION:
        problems.add("collection.lookback",
                     "at most 14d with source: resource_graph (Resource Graph keeps 14 days of jobs)")
    index, count = values.get("shard_index", 0), values.get("shard_count", 1)
    if index >= count:
        problems.add("collection.shard_index", f"{index} must be less than collection.shard_count ({count}); "
                     "shards are numbered 0..count-1")
    return CollectionConfig(**values)


def _targets(raw: object, problems: Problems) -> tuple[Target, ...]:
    if not isinstance(raw, list | tuple) or not raw:
        problems.add("targets", f"needs a non-empty list of targets, each with a subscription_id; got {cv.kind(raw)}")
        return ()
    targets: list[Target] = []
    seen: dict[tuple[str, ...], int] = {}
    for index, item in enumerate(raw):
        where, before = f"targets[{index}]", len(problems)
        values, given = _section(item, where, _TARGET, problems, required=("subscription_id",))
        explicit = "vault" in given or "backup_vault" in given
        if ("resource_group" in given) != explicit:
            problems.add(f"{where}.{'vault' if not explicit else 'resource_group'}",
                         "resource_group and vault go together (or backup_vault): both for one vault, neither "
                         "to discover")
        if "vault" in given and "backup_vault" in given:
            problems.add(f"{where}.backup_vault", "names a vault as vault does; one vault per target")
        if "backup_vault" in given and values.get("vault_kind", BACKUP_VAULT) != BACKUP_VAULT:
            problems.add(f"{where}.vault_kind", "with backup_vault it can only be backup_vault (or left out)")
        if explicit and "vault_regex" in given:
            problems.add(f"{where}.vault_regex", "only applies to discovery targets (no vault, no backup_vault)")
        if explicit and values.get("subscription_id") == "*":
            problems.add(f"{where}.subscription_id", 'an explicit vault needs its subscription GUID, not "*"')
        if not explicit and "jobs" in given:
            problems.add(f"{where}.jobs", "tracked job ids need an explicit resource_group and vault")
        if len(problems) > before:
            continue
        target = Target(**values)
        # ARM names and GUIDs are case-insensitive; a regex is not.
        key = (target.subscription_id.lower(), target.vault_regex or "", *target.kinds) if target.is_discovery else (
            target.subscription_id.lower(), str(target.resource_group).lower(), str(target.vault_name).lower(),
            *target.kinds)
        if key in seen:
            same = "subscription and vault_regex" if target.is_discovery else "subscription, resource group, vault"
            problems.add(where, f"duplicate of targets[{seen[key]}] (same {same})")
        else:
            seen[key] = index
            targets.append(target)
    return tuple(targets)


def parse_config(data: object, *, environ: Mapping[str, str] | None = None,
                 base_dir: Path | None = None) -> Config:
    """Validates parsed YAML as a whole; raises ConfigError listing every problem.

    Relative file paths are taken against `base_dir` when given (load_config passes the config
    file's directory, as Prometheus does), else against the working directory.
    """
    if data is None:
        raise ConfigError(["(top level): the config is empty; it needs at least a targets: list"])
    if not isinstance(data, Mapping):
        raise ConfigError([f"(top level): expected a mapping with keys {', '.join(_TOP)}; got {cv.kind(data)}"])
    problems = Problems()
    values, _ = _section(data, "", _TOP, problems)
    azure = _azure(values.get("azure"), os.environ if environ is None else environ, base_dir, problems)
    collection = _collection(values.get("collection"), problems)
    state_file: Path | None = values.get("state_file")
    if state_file is not None:
        state_file = base_dir / state_file if base_dir else state_file
        if why := cv.file_problem(state_file, readable=False):
            problems.add("state_file", f"{state_file}: {why}")
    targets = _targets(values.get("targets"), problems)
    if problems:
        raise ConfigError(problems)
    return Config(azure=azure, collection=collection, state_file=state_file, targets=targets)


class _UniqueKeyLoader(yaml.SafeLoader):
    """SafeLoader that refuses duplicate keys: PyYAML silently keeps the last, so a second
    `targets:` block would quietly replace the first."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Hashable, Any]:
        seen: set[tuple[str, str]] = set()
        for key_node, _ in node.value:
            if isinstance(key_node, yaml.ScalarNode) and key_node.tag != "tag:yaml.org,2002:merge":
                if (key_node.tag, key_node.value) in seen:
                    raise yaml.constructor.ConstructorError(
                        None, None, f"duplicate key {cv.show(key_node.value)}", key_node.start_mark)
                seen.add((key_node.tag, key_node.value))
        return super().construct_mapping(node, deep=deep)


def read_yaml(path: Path, name: str | None = None) -> Any:
    """The YAML document in `path` (duplicate keys refused); every failure is a ConfigError. `name`
    is how the file is named when it cannot be read at all (default: its path)."""
    name = str(path) if name is None else name
    try:
        return yaml.load(path.read_bytes(), Loader=_UniqueKeyLoader)  # noqa: S506 - a SafeLoader subclass
    except FileNotFoundError:
        raise ConfigError([f"{name}: no such file"]) from None
    except OSError as err:
        raise ConfigError([f"{name}: cannot read: {err.strerror or err}"]) from None
    except yaml.MarkedYAMLError as err:
        # yaml's problem text only, never its snippet of the file: that line may hold a secret.
        mark = err.problem_mark
        where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark else str(path)
        context = f" ({err.context})" if err.context else ""
        raise ConfigError([f"{where}: invalid YAML: {err.problem}{context}"]) from None
    except (yaml.YAMLError, ValueError, RecursionError) as err:  # bad encoding, an int too long to convert
        raise ConfigError([f"{path}: invalid YAML: {err.__class__.__name__}"]) from None


def load_config(path: str | Path, *, environ: Mapping[str, str] | None = None) -> Config:
    """Reads and validates a YAML config file; every failure is a ConfigError naming the file."""
    path = Path(path)
    return parse_config(read_yaml(path), environ=environ, base_dir=path.parent)
