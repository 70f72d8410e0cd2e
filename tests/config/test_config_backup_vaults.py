"""Targets naming Data Protection backup vaults: `backup_vault:`, `vault_kind:`, the kinds each
target covers, and every misuse reported once with its key path."""

from __future__ import annotations

import pytest
import yaml

from exporter.config.schema import CollectionConfig, ConfigError, Target, parse_config
from exporter.model import BACKUP_VAULT, RECOVERY_SERVICES

SUB = "00000000-0000-0000-0000-000000000000"
JOB = "41f3e94b-ae6b-4a20-b422-65abfcaf03e5"
BOTH = (RECOVERY_SERVICES, BACKUP_VAULT)


def targets(text: str) -> tuple[Target, ...]:
    return parse_config({"targets": yaml.safe_load(text)}, environ={}).targets


def problems(text: str) -> tuple[str, ...]:
    with pytest.raises(ConfigError) as caught:
        targets(text)
    return caught.value.problems


@pytest.mark.parametrize(("text", "name", "kinds"), [
    (f"[{{subscription_id: {SUB}, resource_group: rg, backup_vault: bv, jobs: [{JOB}]}}]", "bv", (BACKUP_VAULT,)),
    (f"[{{subscription_id: {SUB}, resource_group: rg, backup_vault: bv, vault_kind: backup_vault}}]", "bv",
     (BACKUP_VAULT,)),
    (f"[{{subscription_id: {SUB}, resource_group: rg, vault: bv, vault_kind: backup_vault}}]", "bv", (BACKUP_VAULT,)),
    (f"[{{subscription_id: {SUB}, resource_group: rg, vault: v}}]", "v", (RECOVERY_SERVICES,)),
    (f"[{{subscription_id: {SUB}, resource_group: rg, vault: v, vault_kind: recovery_services}}]", "v",
     (RECOVERY_SERVICES,)),
    ("[{subscription_id: '*'}]", None, BOTH),
    (f"[{{subscription_id: {SUB}, vault_regex: '^prod', vault_kind: backup_vault}}]", None, (BACKUP_VAULT,)),
    ("[{subscription_id: '*', vault_kind: recovery_services}]", None, (RECOVERY_SERVICES,)),
])
def test_target_names_its_vault_and_kinds(text: str, name: str | None, kinds: tuple[str, ...]) -> None:
    (target,) = targets(text)
    assert target.vault_name == name
    assert target.is_discovery == (name is None)
    assert target.kinds == kinds


@pytest.mark.parametrize(("text", "path", "fragment"), [
    (f"[{{subscription_id: {SUB}, backup_vault: bv}}]", "targets[0].resource_group", "go together"),
    (f"[{{subscription_id: {SUB}, resource_group: rg, vault: v, backup_vault: bv}}]", "targets[0].backup_vault",
     "one vault per target"),
    (f"[{{subscription_id: {SUB}, resource_group: rg, backup_vault: bv, vault_kind: recovery_services}}]",
     "targets[0].vault_kind", "can only be backup_vault"),
    ("[{subscription_id: '*', vault_kind: backupvault}]", "targets[0].vault_kind",
     '"backupvault" is not one of recovery_services, backup_vault'),
    (f"[{{subscription_id: {SUB}, resource_group: rg, backup_vault: bv, vault_regex: x}}]",
     "targets[0].vault_regex", "only applies to discovery targets"),
    ("[{subscription_id: '*', resource_group: rg, backup_vault: bv}]", "targets[0].subscription_id",
     'needs its subscription GUID, not "*"'),
    (f"[{{subscription_id: {SUB}, resource_group: rg, backup_vault: 'a/b'}}]", "targets[0].backup_vault",
     "is not a valid Azure resource name"),
    ((f"[{{subscription_id: {SUB}, resource_group: rg, backup_vault: bv}}, "
     f"{{subscription_id: {SUB}, resource_group: RG, vault: BV, vault_kind: backup_vault}}]"),
     "targets[1]", "duplicate of targets[0]"),
    (f"[{{subscription_id: {SUB}, vault_kind: backup_vault}}, {{subscription_id: {SUB}, vault_kind: backup_vault}}]",
     "targets[1]", "duplicate of targets[0]"),
])
def test_each_misuse_is_one_problem_with_its_key_path(text: str, path: str, fragment: str) -> None:
    found = problems(text)
    assert len(found) == 1, found
    assert found[0].startswith(f"{path}: ")
    assert fragment in found[0]


@pytest.mark.parametrize("text", [
    # Same name, other kind: two resources (Microsoft.RecoveryServices/vaults, Microsoft.DataProtection/backupVaults).
    (f"[{{subscription_id: {SUB}, resource_group: rg, vault: x}}, {{subscription_id: {SUB}, resource_group: rg, "
    "backup_vault: x}]"),
    f"[{{subscription_id: {SUB}}}, {{subscription_id: {SUB}, vault_kind: backup_vault}}]",
])
def test_same_name_or_scope_of_another_kind_is_not_a_duplicate(text: str) -> None:
    assert len(targets(text)) == 2


def test_backup_vault_api_version_defaults_and_is_checked() -> None:
    assert CollectionConfig().backup_vault_api_version == "2025-07-01"
    everything = [{"subscription_id": "*"}]
    config = parse_config({"collection": {"backup_vault_api_version": "2026-06-01"}, "targets": everything}, environ={})
    assert config.collection.backup_vault_api_version == "2026-06-01"
    with pytest.raises(ConfigError) as caught:
        parse_config({"collection": {"backup_vault_api_version": "latest"}, "targets": everything}, environ={})
    assert caught.value.problems[0].startswith("collection.backup_vault_api_version: ")
