"""config.example.yaml and the defaults: the example parses, documents every key with its default,
and an empty or minimal config takes the defaults as frozen, typed objects."""

from __future__ import annotations

import dataclasses
import re

import pytest

from exporter.config.schema import SCHEMA, AzureConfig, CollectionConfig, Config, Target, load_config, parse_config
from tests.config_builders import ANY_TARGET, EXAMPLE, JOB, SUB, SUB2, snippet


def test_example_parses_into_the_expected_objects() -> None:
    assert load_config(EXAMPLE, environ={}) == Config(
        azure=AzureConfig(),
        collection=CollectionConfig(),
        state_file=None,
        targets=(
            Target(SUB, resource_group="rg-backup", vault="vault-prod", jobs=(JOB,)),
            Target(SUB, resource_group="rg-backup", backup_vault="bvault-prod"),
            Target(SUB2, vault_regex="^prod-"),
            Target("*"),
        ),
    )


def test_example_documents_every_key() -> None:
    text = EXAMPLE.read_text()
    for section, table in SCHEMA.items():
        for key in table:
            # Set or commented out, as a key of a mapping or the first key of a list item.
            assert re.search(rf"^\s*(?:#\s*)?(?:-\s+)?{key}:", text, re.MULTILINE), f"{section}.{key} undocumented"


def comment_above(lines: list[str], key: str) -> str:
    """The comment block that documents `key` in the example, up to the previous key."""
    index = next(i for i, line in enumerate(lines) if re.match(rf"\s*(?:#\s*)?{key}:", line))
    block = []
    for line in reversed(lines[:index]):
        if not line.lstrip().startswith("#") or re.match(r"\s*#\s*[a-z_]+:\s", line):
            break
        block.append(line)
    return "\n".join(block)


@pytest.mark.parametrize("key", [*SCHEMA["azure"], *SCHEMA["collection"], "state_file"])
def test_example_states_each_default(key: str) -> None:
    assert "Default" in comment_above(EXAMPLE.read_text().splitlines(), key)


def test_example_names_the_role_to_grant() -> None:
    assert "Backup Reader" in EXAMPLE.read_text().split("\n\n")[0]


def test_minimal_config_takes_every_default() -> None:
    config = parse_config({"targets": ANY_TARGET}, environ={})
    assert config == Config(targets=(Target("*"),))
    assert config.azure.scope == "https://management.azure.com/.default"
    assert config.azure.auth == "default"
    assert config.collection == CollectionConfig(
        interval=300.0, lookback=604800.0, job_details=True, concurrency=8, request_timeout=30.0,
        api_version="2025-08-01", operations=(), vault_tags=(), discovery_interval=3600.0,
    )
    assert config.state_file is None


def test_empty_keys_and_sections_take_their_defaults() -> None:
    config = parse_config(snippet("azure:\ncollection:\n  interval:\n  vault_tags:\nstate_file: ''\n"), environ={})
    assert config == Config(targets=(Target("*"),))


def test_config_objects_are_frozen() -> None:
    config = parse_config({"targets": ANY_TARGET}, environ={})
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.collection.interval = 1  # type: ignore[misc]
    assert isinstance(config.targets, tuple)


def test_values_are_converted_to_their_types() -> None:
    config = parse_config(snippet(
        "collection: {interval: 90, lookback: 30d, request_timeout: 1.5, concurrency: 64,"
        " api_version: 2025-08-01, operations: [Backup, 'Backup (Full)'], job_details: false}"
    ), environ={})
    assert config.collection == CollectionConfig(
        interval=90.0, lookback=30 * 86400.0, request_timeout=1.5, concurrency=64,
        operations=("Backup", "Backup (Full)"), job_details=False,
    )
    # Unquoted, YAML reads the api-version as a date; it is taken as the string meant.
    assert config.collection.api_version == "2025-08-01"
