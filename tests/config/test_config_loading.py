"""load_config: missing, unreadable, empty and invalid YAML files reported with line and column, and
paths resolved against the config's directory."""

from __future__ import annotations

from pathlib import Path

import pytest

from exporter.config.schema import ConfigError, load_config
from tests.config_builders import CLIENT, SUB, TENANT, secret_file


def test_load_config_of_a_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "nope.yaml"
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert caught.value.problems == (f"{path}: no such file",)


def test_load_config_of_a_directory(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(tmp_path)
    (problem,) = caught.value.problems
    assert problem.startswith(f"{tmp_path}: cannot read: ")
    assert "Traceback" not in problem


@pytest.mark.parametrize(
    ("text", "where", "fragment"),
    [
        ("collection:\n  interval: 5m\n   lookback: 7d\n", ":3:12:", "invalid YAML: mapping values are not allowed"),
        ("targets: [\n", ":2:1:", "invalid YAML: expected the node content"),
        ("collection: {}\ncollection: {}\ntargets: []\n", ":2:1:", 'invalid YAML: duplicate key "collection"'),
        ("targets:\n  - {subscription_id: '*', vault_regex: a, vault_regex: b}\n", ":2:44:", 'duplicate key "vault_'),
        ("a: 1\n---\nb: 2\n", ":2:1:", "expected a single document"),
        ("targets: [*x]\n", ":1:11:", "found undefined alias"),
        ("x: !!python/object:os.system ls\n", ":1:4:", "could not determine a constructor"),
    ],
)
def test_load_config_reports_yaml_errors_with_line_and_column(
    tmp_path: Path, text: str, where: str, fragment: str
) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as caught:
        load_config(path, environ={})
    (problem,) = caught.value.problems
    assert problem.startswith(f"{path}{where} "), problem
    assert fragment in problem


@pytest.mark.parametrize(("content", "problem"), [
    (b"", "(top level): the config is empty; it needs at least a targets: list"),
    (b"# only a comment\n", "(top level): the config is empty; it needs at least a targets: list"),
    (b"\xff\xfe\x00garbage\x80", "invalid YAML"),
    (b"x: " + b"9" * 5000 + b"\n", "invalid YAML: ValueError"),
])
def test_load_config_of_an_empty_or_undecodable_file(tmp_path: Path, content: bytes, problem: str) -> None:
    path = tmp_path / "config.yaml"
    path.write_bytes(content)
    with pytest.raises(ConfigError) as caught:
        load_config(path, environ={})
    assert len(caught.value.problems) == 1
    assert problem in caught.value.problems[0]


def test_load_config_resolves_relative_paths_against_its_directory(tmp_path: Path) -> None:
    (tmp_path / "secrets").mkdir()
    secret_file(tmp_path / "secrets")
    path = tmp_path / "config.yaml"
    path.write_text(
        f"azure: {{auth: client_secret, tenant_id: {TENANT}, client_id: {CLIENT},\n"
        "         client_secret_file: secrets/secret}\n"
        "state_file: state.json\ntargets: [{subscription_id: '*'}]\n"
    )
    config = load_config(path, environ={})
    assert config.azure.client_secret_file == tmp_path / "secrets" / "secret"
    assert config.state_file == tmp_path / "state.json"


def test_load_config_merge_keys_are_not_duplicates(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(
        f"targets:\n  - &a {{subscription_id: {SUB}, resource_group: rg, vault: a}}\n"
        "  - {<<: *a, vault: b}\n"
    )
    targets = load_config(path, environ={}).targets
    assert [t.vault for t in targets] == ["a", "b"]
