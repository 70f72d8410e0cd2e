"""The azure: section: clouds and endpoint overrides, auth modes and what each requires, secret and
certificate files, the process environment."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from azure.identity import AzureAuthorityHosts

from exporter.config.schema import CLOUDS, ConfigError, parse_config
from tests.config_builders import CLIENT, TENANT, has_problem, problems_of, secret_file, snippet


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
