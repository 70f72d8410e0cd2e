"""The configuration layer: YAML → frozen dataclasses, every problem reported with its key path."""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
import os
import pickle
import re
from pathlib import Path

import pytest
import yaml
from azure.identity import AzureAuthorityHosts
from hypothesis import given, settings
from hypothesis import strategies as st

from exporter.config.converters import parse_config_duration
from exporter.config.schema import (
    CLOUDS,
    SCHEMA,
    AzureConfig,
    CollectionConfig,
    Config,
    ConfigError,
    Target,
    load_config,
    parse_config,
    vault_tag_label,
)

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "config.example.yaml"
SUB = "00000000-0000-0000-0000-000000000000"
SUB2 = "11111111-1111-1111-1111-111111111111"
TENANT = "22222222-2222-2222-2222-222222222222"
CLIENT = "33333333-3333-3333-3333-333333333333"
JOB = "41f3e94b-ae6b-4a20-b422-65abfcaf03e5"
SECRET = "Sup3r-S3cret-Valu3~xyz"
ANY_TARGET = [{"subscription_id": "*"}]


def problems_of(data: object, environ: dict[str, str] | None = None, **kwargs: object) -> tuple[str, ...]:
    with pytest.raises(ConfigError) as caught:
        parse_config(data, environ={} if environ is None else environ, **kwargs)  # type: ignore[arg-type]
    assert str(caught.value) == "\n".join(caught.value.problems)
    return caught.value.problems


def snippet(text: str) -> dict[str, object]:
    """A YAML fragment, given a catch-all target when it names none."""
    data: dict[str, object] = yaml.safe_load(text)
    data.setdefault("targets", ANY_TARGET)
    return data


def has_problem(problems: tuple[str, ...], path: str, fragment: str) -> bool:
    return any(p.startswith(f"{path}: ") and fragment in p for p in problems)


# --- the example and the defaults ----------------------------------------------------------------


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


# --- durations -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        ("30s", 30), ("5m", 300), ("2h", 7200), ("7d", 604800), ("1w", 604800), ("1h30m", 5400),
        ("1d12h", 129600), ("500ms", 0.5), ("1.5h", 5400), (" 5m ", 300), ("300", 300), ("0.5", 0.5),
        (45, 45), (1.5, 1.5),
    ],
)
def test_parse_duration_accepts(value: object, seconds: float) -> None:
    assert parse_config_duration(value) == pytest.approx(seconds)


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("0s", '"0s" must be greater than 0'),
        (0, "0 must be greater than 0"),
        ("-5m", '"-5m" must be greater than 0'),
        (-1, "-1 must be greater than 0"),
        ("5x", '"5x" is not a duration (use 30s, 5m, 2h, 7d or seconds)'),
        ("5M", '"5M" is not a duration'),
        ("30s5m", '"30s5m" is not a duration'),
        ("m", '"m" is not a duration'),
        ("", '"" is not a duration'),
        ("1 h", '"1 h" is not a duration'),
        (True, "expected a duration (use 30s, 5m, 2h, 7d or seconds), got a boolean"),
        (None, "got null"),
        ([5], "got a list"),
        (math.nan, "nan is not a finite duration"),
        (math.inf, "inf is not a finite duration"),
        (10**400, "is not a finite duration"),
        ("9" * 400 + "d", "is not a finite duration"),
    ],
)
def test_parse_duration_rejects(value: object, reason: str) -> None:
    with pytest.raises(ValueError, match=re.escape(reason)):
        parse_config_duration(value)


@given(st.integers(1, 10**6), st.sampled_from([("s", 1), ("m", 60), ("h", 3600), ("d", 86400), ("w", 604800)]))
def test_parse_duration_scales_each_unit(number: int, unit: tuple[str, int]) -> None:
    assert parse_config_duration(f"{number}{unit[0]}") == number * unit[1]


# --- validation rules, one problem each --------------------------------------------------------------

RULES = [
    # unknown keys, at every level, with the allowed ones
    ("targetz: []", "targetz", "unknown key (did you mean targets?); allowed: azure"),
    ("azure: {clod: public}", "azure.clod", "unknown key (did you mean cloud?); allowed: cloud, resource_manager_url"),
    ("collection: {intervall: 5m}", "collection.intervall", "did you mean interval?"),
    ("targets: [{subscription_id: '*', vaults: x}]", "targets[0].vaults", "allowed: subscription_id, resource_group"),
    ("1: x", "1", "unknown key"),
    # wrong types; a boolean is not an integer
    ("collection: {concurrency: true}", "collection.concurrency", "expected an integer, got a boolean"),
    ("collection: {concurrency: '8'}", "collection.concurrency", "expected an integer, got a string"),
    ("collection: {concurrency: 8.0}", "collection.concurrency", "expected an integer, got a number"),
    ("collection: {job_details: 'yes'}", "collection.job_details", "expected true or false, got a string"),
    ("collection: {job_details: 1}", "collection.job_details", "expected true or false, got an integer"),
    ("collection: {operations: Backup}", "collection.operations", "expected a list such as [a, b], got a string"),
    ("collection: {operations: [Backup, '']}", "collection.operations[1]", "must not be empty"),
    ("collection: {operations: [Backup, 5]}", "collection.operations[1]", "expected a string, got an integer"),
    ("collection: {operations: [Backup, Backup]}", "collection.operations[1]", "duplicate of [0]"),
    ("collection: fast", "collection", "expected a mapping with keys interval, lookback"),
    ("azure: [public]", "azure", "expected a mapping with keys cloud"),
    ("azure: {tenant_id: 5}", "azure.tenant_id", "expected a string, got an integer"),
    # durations
    ("collection: {interval: 5x}", "collection.interval", '"5x" is not a duration (use 30s, 5m, 2h, 7d or seconds)'),
    ("collection: {interval: 0}", "collection.interval", "0 must be greater than 0"),
    ("collection: {request_timeout: -5s}", "collection.request_timeout", '"-5s" must be greater than 0'),
    ("collection: {discovery_interval: false}", "collection.discovery_interval", "got a boolean"),
    ("collection: {lookback: 31d}", "collection.lookback", "too long (at most 30d: Azure's job filter window"),
    ("collection: {lookback: 2592001}", "collection.lookback", "too long"),
    # ranges and formats
    ("collection: {concurrency: 0}", "collection.concurrency", "0 is outside 1..64"),
    ("collection: {concurrency: 65}", "collection.concurrency", "65 is outside 1..64"),
    ("collection: {api_version: latest}", "collection.api_version", '"latest" is not an api-version (YYYY-MM-DD'),
    ("collection: {api_version: 2025-8-1}", "collection.api_version", "is not an api-version"),
    ("collection: {vault_tags: ['']}", "collection.vault_tags[0]", "must not be empty"),
    ("collection: {vault_tags: [5]}", "collection.vault_tags[0]", "expected a string"),
    ("collection: {vault_tags: ['---']}", "collection.vault_tags[0]", "only letters, digits and _ are kept"),
    ("collection: {vault_tags: [cost_center, cost-center]}", "collection.vault_tags[1]",
     "duplicate of [0] (both become tag_cost_center)"),
    # azure
    ("azure: {cloud: mars}", "azure.cloud", '"mars" is not one of public, china, usgov'),
    ("azure: {auth: msi}", "azure.auth", '"msi" is not one of default, managed_identity, workload_identity'),
    ("azure: {resource_manager_url: ftp://example.com}", "azure.resource_manager_url", "is not an http(s) URL"),
    ("azure: {resource_manager_url: management.azure.com}", "azure.resource_manager_url", "is not an http(s) URL"),
    ("azure: {resource_manager_url: 'https://'}", "azure.resource_manager_url", "is not an http(s) URL"),
    ("azure: {resource_manager_url: 'https://h:99999'}", "azure.resource_manager_url", "is not an http(s) URL"),
    ("azure: {resource_manager_url: 'https://h/?x=1'}", "azure.resource_manager_url", "is not an http(s) URL"),
    ("azure: {authority_host: 'http://login.example'}", "azure.authority_host", "is not a host or https URL"),
    ("azure: {resource_manager_audience: 'a b'}", "azure.resource_manager_audience", "is not a token audience"),
    ("azure: {tenant_id: contoso}", "azure.tenant_id", '"contoso" is not a GUID'),
    ("azure: {client_id: 1234}", "azure.client_id", "expected a string, got an integer"),
    (f"azure: {{auth: client_secret, tenant_id: {TENANT}}}", "azure.client_id", "is required with auth: client_secret"),
    ("azure: {auth: client_certificate, client_id: " + CLIENT + ", client_certificate_file: '" + str(EXAMPLE) + "'}",
     "azure.tenant_id", "is required with auth: client_certificate"),
    # secrets inline
    ("azure: {client_secret: x}", "azure.client_secret",
     "secrets are never accepted inline; use azure.client_secret_file or AZURE_CLIENT_SECRET"),
    ("azure: {client_certificate_password: x}", "azure.client_certificate_password",
     "secrets are never accepted inline; use an unencrypted azure.client_certificate_file"),
    ("azure: {password: x}", "azure.password", "secrets are never accepted inline"),
    ("collection: {api_key: x}", "collection.api_key", "secrets are never accepted inline"),
    ("client_secret: x", "client_secret", "secrets are never accepted inline"),
    # targets
    ("targets: []", "targets", "needs a non-empty list of targets"),
    ("targets: {subscription_id: '*'}", "targets", "each with a subscription_id; got a mapping"),
    ("targets:", "targets", "needs a non-empty list of targets"),
    ("targets: [5]", "targets[0]", "expected a mapping with keys subscription_id"),
    ("targets: [{vault_regex: x}]", "targets[0].subscription_id", "is required"),
    ("targets: [{subscription_id: abc}]", "targets[0].subscription_id", '"abc" is not a GUID or "*"'),
    (f"targets: [{{subscription_id: {SUB}, resource_group: rg}}]", "targets[0].vault", "and vault go together"),
    (f"targets: [{{subscription_id: {SUB}, vault: v}}]", "targets[0].resource_group", "go together"),
    (f"targets: [{{subscription_id: {SUB}, resource_group: rg, vault: v, vault_regex: x}}]",
     "targets[0].vault_regex", "only applies to discovery targets"),
    ("targets: [{subscription_id: '*', resource_group: rg, vault: v}]", "targets[0].subscription_id",
     'needs its subscription GUID, not "*"'),
    ("targets: [{subscription_id: '*', vault_regex: '(prod'}]", "targets[0].vault_regex", "invalid regex: missing )"),
    ("targets: [{subscription_id: '*', vault_regex: 'a{99999999999}'}]", "targets[0].vault_regex", "invalid regex"),
    (f"targets: [{{subscription_id: '*', jobs: [{JOB}]}}]", "targets[0].jobs", "need an explicit resource_group"),
    (f"targets: [{{subscription_id: {SUB}, resource_group: rg, vault: v, jobs: [abc]}}]", "targets[0].jobs[0]",
     '"abc" is not a GUID'),
    (f"targets: [{{subscription_id: {SUB}, resource_group: rg, vault: v, jobs: [{JOB}, {JOB.upper()}]}}]",
     "targets[0].jobs[1]", "duplicate of [0]"),
    (f"targets: [{{subscription_id: {SUB}, resource_group: rg, vault: a/b}}]", "targets[0].vault",
     "is not a valid Azure resource name"),
    ((f"targets: [{{subscription_id: {SUB}, resource_group: rg, vault: v}}, "
      f"{{subscription_id: {SUB.upper()}, resource_group: RG, vault: V}}]"),
     "targets[1]", "duplicate of targets[0] (same subscription, resource group, vault)"),
    ("targets: [{subscription_id: '*'}, {subscription_id: '*'}]", "targets[1]", "duplicate of targets[0]"),
    ((f"targets: [{{subscription_id: {SUB}, vault_regex: '^p'}}, {{subscription_id: {SUB2}}}, "
      f"{{subscription_id: {SUB}, vault_regex: '^p'}}]"),
     "targets[2]", "duplicate of targets[0] (same subscription and vault_regex)"),
    # state_file
    ("state_file: 5", "state_file", "expected a path string, got an integer"),
    ("state_file: /nonexistent-dir/state.json", "state_file", "directory /nonexistent-dir does not exist"),
    ("state_file: /", "state_file", "is a directory"),
    ("state_file: ~no-such-user-here/state.json", "state_file", "cannot expand ~ (no such user"),
]


@pytest.mark.parametrize(("text", "path", "fragment"), RULES, ids=[f"{r[1]}:{r[2][:30]}" for r in RULES])
def test_each_rule_reports_one_problem_with_its_key_path(text: str, path: str, fragment: str) -> None:
    problems = problems_of(snippet(text), environ={"AZURE_CLIENT_SECRET": "from-the-environment"})
    assert has_problem(problems, path, fragment), problems
    assert len(problems) == 1, problems


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # Distinct discovery scopes and different vaults are not duplicates.
        ((f"targets: [{{subscription_id: {SUB}}}, {{subscription_id: {SUB}, vault_regex: '^p'}}, "
         "{subscription_id: '*'}]"), 3),
        ((f"targets: [{{subscription_id: {SUB}, resource_group: rg, vault: a}}, "
         f"{{subscription_id: {SUB}, resource_group: rg, vault: b}}]"), 2),
    ],
)
def test_targets_that_differ_are_kept(text: str, expected: int) -> None:
    assert len(parse_config(snippet(text), environ={}).targets) == expected


@pytest.mark.parametrize(
    "text",
    [
        "collection: {concurrency: 1, lookback: 30d, api_version: 2021-12-01-preview}",
        "collection: {concurrency: 64, lookback: 2592000, vault_tags: [Team, cost-center, env]}",
        "azure: {resource_manager_url: 'http://127.0.0.1:8080/', resource_manager_audience: 'api://x/'}",
        "state_file: ./state.json",
    ],
)
def test_boundary_values_are_accepted(text: str) -> None:
    assert isinstance(parse_config(snippet(text), environ={}), Config)


def test_top_level_that_is_no_mapping_is_one_clear_problem() -> None:
    assert problems_of(None) == ("(top level): the config is empty; it needs at least a targets: list",)
    (problem,) = problems_of([1, 2])
    assert problem.startswith("(top level): expected a mapping with keys azure, collection")
    assert "a list" in problem
    (problem,) = problems_of("targets")
    assert problem.endswith("got a string")


def test_many_problems_are_reported_together() -> None:
    data = snippet(f"""
azure: {{cloud: mars, auth: msi, tenant_id: nope, client_secret: x}}
collection: {{interval: 5x, lookback: 45d, concurrency: true, api_version: latest, colour: blue}}
state_file: 5
targets:
  - {{subscription_id: abc}}
  - {{subscription_id: {SUB}, resource_group: rg}}
  - 7
""")
    problems = problems_of(data)
    expected = [
        ("azure.cloud", "mars"), ("azure.auth", "msi"), ("azure.tenant_id", "not a GUID"),
        ("azure.client_secret", "never accepted inline"), ("collection.interval", "5x"),
        ("collection.lookback", "too long"), ("collection.concurrency", "boolean"),
        ("collection.api_version", "latest"), ("collection.colour", "unknown key"), ("state_file", "path string"),
        ("targets[0].subscription_id", "abc"), ("targets[1].vault", "go together"), ("targets[2]", "a mapping"),
    ]
    for path, fragment in expected:
        assert has_problem(problems, path, fragment), (path, problems)
    assert len(problems) == len(expected), problems


# --- secrets ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        f"azure: {{client_secret: '{SECRET}'}}",
        f"azure: {{auth: client_secret, client_secret: '{SECRET}'}}",
        f"azure: {{client_certificate_password: '{SECRET}'}}",
        f"collection: {{token: '{SECRET}'}}",
        f"password: '{SECRET}'",
        f"targets: [{{subscription_id: '*', client_secret: '{SECRET}'}}]",
        f"azure: {{client_secret: {{value: '{SECRET}'}}}}",
        f"azure: {{client_secret: ['{SECRET}']}}",
        f"azure: '{SECRET}'",
        f"targets: '{SECRET}'",
        f"collection: ['{SECRET}']",
    ],
)
def test_a_secret_value_never_appears_in_the_error(text: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config(snippet(text), environ={})
    assert caught.value.problems
    assert SECRET not in str(caught.value)
    assert SECRET not in repr(caught.value)
    assert all(SECRET not in problem for problem in caught.value.problems)


@pytest.mark.parametrize(
    "text",
    [
        f'azure:\n  client_secret: "{SECRET}\n',  # unterminated string
        f"azure:\n  client_secret: {SECRET}\n  client_secret: {SECRET}\n",  # duplicate key
        f"azure:\n  client_secret: {SECRET}\n   x: [\n",
        f"azure: {{client_secret: {SECRET}}}\ntargets: [{{subscription_id: '*'}}]\n",
    ],
)
def test_a_secret_in_a_file_never_appears_in_the_error(tmp_path: Path, text: str) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as caught:
        load_config(path, environ={})
    assert caught.value.problems
    assert SECRET not in str(caught.value)


# --- azure: clouds, overrides, auth modes, files -----------------------------------------------------


@pytest.mark.parametrize(
    ("cloud", "arm", "authority"),
    [
        ("public", "https://management.azure.com", AzureAuthorityHosts.AZURE_PUBLIC_CLOUD),
        ("china", "https://management.chinacloudapi.cn", AzureAuthorityHosts.AZURE_CHINA),
        ("usgov", "https://management.usgovcloudapi.net", AzureAuthorityHosts.AZURE_GOVERNMENT),
    ],
)
def test_cloud_sets_endpoint_audience_and_authority(cloud: str, arm: str, authority: str) -> None:
    azure = parse_config(snippet(f"azure: {{cloud: {cloud}}}"), environ={}).azure
    assert (azure.cloud, azure.resource_manager_url, azure.audience, azure.authority_host) == (
        cloud, arm, arm, authority,
    )
    assert azure.scope == f"{arm}/.default"
    assert CLOUDS[cloud].resource_manager_url == arm


def test_overrides_win_over_the_cloud_and_lose_their_trailing_slash() -> None:
    azure = parse_config(snippet(
        "azure: {cloud: china, resource_manager_url: 'http://127.0.0.1:8080/',"
        " resource_manager_audience: 'https://management.core.windows.net/', authority_host: login.example.com}"
    ), environ={}).azure
    assert azure.resource_manager_url == "http://127.0.0.1:8080"
    assert azure.audience == "https://management.core.windows.net"
    assert azure.scope == "https://management.core.windows.net/.default"
    assert azure.authority_host == "login.example.com"
    assert azure.cloud == "china"


def test_resource_manager_url_override_keeps_the_cloud_audience() -> None:
    azure = parse_config(snippet("azure: {cloud: usgov, resource_manager_url: 'https://arm.local'}"), environ={}).azure
    assert (azure.resource_manager_url, azure.audience) == ("https://arm.local", "https://management.usgovcloudapi.net")


def secret_file(tmp_path: Path, content: str = "not-inline\n") -> Path:
    path = tmp_path / "secret"
    path.write_text(content)
    return path


def test_client_secret_auth_with_a_file(tmp_path: Path) -> None:
    path = secret_file(tmp_path)
    azure = parse_config(snippet(
        f"azure: {{auth: client_secret, tenant_id: {TENANT}, client_id: {CLIENT}, client_secret_file: '{path}'}}"
    ), environ={}).azure
    assert (azure.auth, azure.tenant_id, azure.client_id, azure.client_secret_file) == (
        "client_secret", TENANT, CLIENT, path,
    )


def test_client_secret_auth_with_the_environment_variable() -> None:
    data = snippet(f"azure: {{auth: client_secret, tenant_id: {TENANT}, client_id: {CLIENT}}}")
    assert parse_config(data, environ={"AZURE_CLIENT_SECRET": "x"}).azure.client_secret_file is None
    assert has_problem(problems_of(data, environ={"AZURE_CLIENT_SECRET": ""}), "azure.client_secret_file",
                       "auth: client_secret needs it, or AZURE_CLIENT_SECRET set")


def test_client_secret_auth_without_anything_lists_each_missing_piece() -> None:
    problems = problems_of(snippet("azure: {auth: client_secret}"))
    assert set(problems) == {
        "azure.tenant_id: is required with auth: client_secret",
        "azure.client_id: is required with auth: client_secret",
        "azure.client_secret_file: auth: client_secret needs it, or AZURE_CLIENT_SECRET set",
    }


def test_client_certificate_auth(tmp_path: Path) -> None:
    pem = secret_file(tmp_path, "-----BEGIN CERTIFICATE-----\n")
    azure = parse_config(snippet(
        f"azure: {{auth: client_certificate, tenant_id: {TENANT}, client_id: {CLIENT},"
        f" client_certificate_file: '{pem}'}}"
    ), environ={}).azure
    assert azure.client_certificate_file == pem
    problems = problems_of(snippet(f"azure: {{auth: client_certificate, tenant_id: {TENANT}, client_id: {CLIENT}}}"))
    assert problems == ("azure.client_certificate_file: is required with auth: client_certificate",)


@pytest.mark.parametrize(
    ("make", "reason"),
    [
        (lambda tmp: tmp / "missing", "no such file"),
        (lambda tmp: tmp, "not a regular file"),
        (lambda tmp: secret_file(tmp, ""), "is empty"),
        (lambda tmp: Path(f"{tmp}/a\0b"), "no such file"),
    ],
)
def test_a_given_file_must_be_a_readable_non_empty_file(tmp_path: Path, make: object, reason: str) -> None:
    path = make(tmp_path)  # type: ignore[operator]
    data = snippet(f"azure: {{auth: client_secret, tenant_id: {TENANT}, client_id: {CLIENT}}}")
    data["azure"]["client_secret_file"] = str(path)  # type: ignore[index]
    assert problems_of(data) == (f"azure.client_secret_file: {path}: {reason}",)


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads any file")
def test_an_unreadable_file_is_reported(tmp_path: Path) -> None:
    path = secret_file(tmp_path)
    path.chmod(0)
    data = snippet(f"azure: {{auth: client_secret, tenant_id: {TENANT}, client_id: {CLIENT}}}")
    data["azure"]["client_secret_file"] = str(path)  # type: ignore[index]
    assert problems_of(data) == (f"azure.client_secret_file: {path}: not readable",)


def test_a_file_for_another_auth_mode_is_reported(tmp_path: Path) -> None:
    path = secret_file(tmp_path)
    problems = problems_of(snippet(f"azure: {{auth: default, client_secret_file: '{path}'}}"))
    assert problems == ("azure.client_secret_file: is only used with auth: client_secret (auth is default)",)


def test_an_invalid_auth_mode_adds_no_follow_up_noise(tmp_path: Path) -> None:
    problems = problems_of(snippet(f"azure: {{auth: clientsecret, client_secret_file: '{secret_file(tmp_path)}'}}"))
    assert len(problems) == 1
    assert problems[0].startswith("azure.auth: ")


@pytest.mark.parametrize(
    ("environ", "config_ids", "missing"),
    [
        ({"AZURE_FEDERATED_TOKEN_FILE": "/t", "AZURE_TENANT_ID": TENANT, "AZURE_CLIENT_ID": CLIENT}, "", set()),
        ({"AZURE_FEDERATED_TOKEN_FILE": "/t"}, f", tenant_id: {TENANT}, client_id: {CLIENT}", set()),
        ({"AZURE_FEDERATED_TOKEN_FILE": "/t"}, "", {"azure.tenant_id", "azure.client_id"}),
        ({"AZURE_TENANT_ID": TENANT, "AZURE_CLIENT_ID": CLIENT}, "", {"azure.auth"}),
    ],
)
def test_workload_identity_needs_its_environment(environ: dict[str, str], config_ids: str, missing: set[str]) -> None:
    data = snippet(f"azure: {{auth: workload_identity{config_ids}}}")
    if not missing:
        assert parse_config(data, environ=environ).azure.auth == "workload_identity"
    else:
        assert {p.split(":")[0] for p in problems_of(data, environ=environ)} == missing


@pytest.mark.parametrize("auth", ["default", "managed_identity", "azure_cli"])
def test_modes_without_requirements_accept_an_optional_client_id(auth: str) -> None:
    azure = parse_config(snippet(f"azure: {{auth: {auth}, client_id: {CLIENT}}}"), environ={}).azure
    assert (azure.auth, azure.client_id) == (auth, CLIENT)


def test_environ_defaults_to_the_process_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    data = snippet(f"azure: {{auth: client_secret, tenant_id: {TENANT}, client_id: {CLIENT}}}")
    monkeypatch.setenv("AZURE_CLIENT_SECRET", "from-the-environment")
    assert parse_config(data).azure.auth == "client_secret"
    monkeypatch.delenv("AZURE_CLIENT_SECRET")
    with pytest.raises(ConfigError):
        parse_config(data)


# --- targets ----------------------------------------------------------------------------------------


def test_target_kinds_and_vault_matching() -> None:
    explicit = Target(SUB, resource_group="rg", vault="v", jobs=(JOB,))
    regex = Target(SUB, vault_regex="^prod-")
    everything = Target("*")
    assert not explicit.is_discovery
    assert regex.is_discovery
    assert everything.is_discovery
    assert regex.matches("prod-weu")
    assert not regex.matches("dev-prod-weu")
    assert Target(SUB, vault_regex="weu").matches("prod-weu-1")  # searched, not anchored
    assert everything.matches("anything")


@pytest.mark.parametrize(
    ("tag", "label"),
    [("team", "tag_team"), ("cost-center", "tag_cost_center"), ("Env", "tag_Env"), ("a.b c", "tag_a_b_c"),
     ("café", "tag_caf_")],
)
def test_vault_tag_label(tag: str, label: str) -> None:
    assert vault_tag_label(tag) == label
    assert re.fullmatch(r"[a-zA-Z_][a-zA-Z0-9_]*", vault_tag_label(tag))


# --- load_config --------------------------------------------------------------------------------------


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


# --- robustness ---------------------------------------------------------------------------------------

KEYS = sorted({key for table in SCHEMA.values() for key in table} | {"client_secret", "password", "x"})
SCALARS = (
    st.none() | st.booleans() | st.integers(-(10**30), 10**30) | st.floats() | st.text(max_size=20)
    | st.sampled_from(["5m", "30d", "31d", "*", SUB, JOB, "public", "client_secret", "workload_identity",
                       "(", "2025-08-01", "", "/", "/nonexistent/x", "a\0b"])
    | st.dates()
)
DATA = st.recursive(
    SCALARS,
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(st.sampled_from(KEYS) | st.text(max_size=8) | st.integers(), children, max_size=6),
    max_leaves=30,
)


def outcome(data: object) -> Config | ConfigError:
    """parse_config's result or its ConfigError; any other exception fails the test."""
    try:
        return parse_config(data, environ={})
    except ConfigError as err:
        return err


def assert_sound(result: Config | ConfigError) -> None:
    if isinstance(result, ConfigError):
        assert result.problems
        assert all(isinstance(p, str) and ": " in p for p in result.problems)
    else:
        assert result.targets
        assert all(isinstance(t, Target) for t in result.targets)


@settings(max_examples=400, deadline=None)
@given(DATA)
def test_arbitrary_data_raises_only_config_error(data: object) -> None:
    assert_sound(outcome(data))


@settings(max_examples=300, deadline=None)
@given(st.fixed_dictionaries(
    {"targets": st.lists(st.dictionaries(st.sampled_from(sorted(SCHEMA["targets[]"])), SCALARS), max_size=3)},
    optional={
        "azure": st.dictionaries(st.sampled_from(sorted(SCHEMA["azure"])), SCALARS),
        "collection": st.dictionaries(st.sampled_from(sorted(SCHEMA["collection"])), SCALARS | st.lists(SCALARS)),
        "state_file": SCALARS,
    },
))
def test_well_shaped_data_with_arbitrary_values_raises_only_config_error(data: dict[str, object]) -> None:
    assert_sound(outcome(data))


YAML_PIECES = st.sampled_from([
    *"ab:-[]{}&*!|>'\"#%@`,?\n \t0129.~<=\\", "targets", "subscription_id", "'*'", "!!binary",
    "!!python/name:os.system", "---", "<<", "collection:", "  interval: ",
])


@settings(max_examples=200, deadline=None)
@given(st.lists(YAML_PIECES, max_size=40).map("".join) | st.binary(max_size=30))
def test_any_file_content_raises_only_config_error(
    tmp_path_factory: pytest.TempPathFactory, text: str | bytes
) -> None:
    path = tmp_path_factory.mktemp("fuzz") / "config.yaml"
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    try:
        result: Config | ConfigError = load_config(path, environ={})
    except ConfigError as err:
        result = err
    assert_sound(result)


def test_dates_in_durations_are_type_errors_not_crashes() -> None:
    problems = problems_of({"collection": {"interval": dt.date(2025, 1, 1)}, "targets": ANY_TARGET})
    assert problems == ("collection.interval: expected a duration (use 30s, 5m, 2h, 7d or seconds), got a date",)


def test_config_error_joins_its_problems_and_survives_pickling() -> None:
    err = ConfigError(["azure.cloud: bad", "targets: needs a list"])
    assert str(err) == "azure.cloud: bad\ntargets: needs a list"
    assert pickle.loads(pickle.dumps(err)).problems == err.problems  # noqa: S301 - our own bytes
    assert ConfigError("--config.file: one problem").problems == ("--config.file: one problem",)
