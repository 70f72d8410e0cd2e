"""Validation: each rule reports one problem with its key path, boundary values pass, and many
problems are reported together."""

from __future__ import annotations

import pytest

from exporter.config.schema import Config, parse_config
from tests.config_builders import CLIENT, EXAMPLE, JOB, SUB, SUB2, TENANT, has_problem, problems_of, snippet

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
