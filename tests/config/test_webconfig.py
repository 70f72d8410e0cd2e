"""--web.config.file parsing: the exporter-toolkit format into frozen dataclasses, every problem with its key path."""

from __future__ import annotations

import ssl
from pathlib import Path

import pytest
import yaml
from cryptography.hazmat.primitives import serialization

from exporter.config.schema import ConfigError
from exporter.config.web import (
    TLSServerConfig,
    WebConfig,
    parse_web_config,
    read_web_config,
    server_context,
)
from exporter.web.auth import load_web_security
from tests.pki import Pki, bcrypt_hash, make_pki

HASH = bcrypt_hash("right")


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return make_pki(tmp_path_factory.mktemp("pki"))


def problems_of(data: object, base_dir: Path | None = None) -> tuple[str, ...]:
    with pytest.raises(ConfigError) as caught:
        parse_web_config(data, base_dir=base_dir)
    return caught.value.problems


def test_empty_file_means_plain_http_and_no_auth() -> None:
    assert parse_web_config(None) == WebConfig()
    assert parse_web_config({"tls_server_config": {}, "basic_auth_users": {}}) == WebConfig()


def test_full_config_parses_into_frozen_dataclasses(pki: Pki) -> None:
    config = parse_web_config({
        "tls_server_config": {
            "cert_file": "server.crt", "key_file": "server.key", "client_ca_file": "ca.crt",
            "client_auth_type": "RequireAndVerifyClientCert", "min_version": "TLS13",
            "cipher_suites": [],  # the toolkit's sample leaves it empty: harmless
        },
        "http_server_config": {"http2": False, "headers": {"X-Frame-Options": "deny", "X-XSS-Protection": ""}},
        "basic_auth_users": {"prometheus": HASH},
    }, base_dir=pki.ca.parent)
    assert config.tls == TLSServerConfig(
        cert_file=pki.server_cert, key_file=pki.server_key, client_ca_file=pki.ca,
        client_auth_type="RequireAndVerifyClientCert", min_version="TLS13",
    )
    assert config.basic_auth_users == (("prometheus", HASH),)
    assert config.headers == (("X-Frame-Options", "deny"),)
    with pytest.raises(AttributeError):
        config.tls.min_version = "TLS12"  # type: ignore[misc,union-attr]


def test_every_problem_is_listed_with_its_key_path(tmp_path: Path) -> None:
    problems = problems_of({
        "tls_server_config": {
            "cert_file": "missing.crt", "client_auth_type": "RequireAnyClientCert", "min_version": "TLS11",
            "max_version": "TLS14", "cipher_suites": ["TLS_RSA_WITH_RC4_128_SHA"], "key": "inline",
        },
        "http_server_config": {"http2": "yes", "headers": {"X-Frame-Options": "allow", "Server": "x"}},
        "basic_auth_users": {"alice": "plain-text-pw-1234", "bo:b": HASH},
        "rate_limit": {"interval": "1s", "burst": 5},
        "tls_config": {},
    }, base_dir=tmp_path)
    text = "\n".join(problems)
    for path in (
        "tls_server_config.cert_file: ", "tls_server_config.key_file: is required",
        "tls_server_config.client_auth_type: RequireAnyClientCert is not supported",
        "tls_server_config.min_version: TLS11 is not accepted", "tls_server_config.max_version: ",
        "tls_server_config.cipher_suites: not supported", "tls_server_config.key: secrets are never accepted inline",
        "http_server_config.http2: ", "http_server_config.headers.X-Frame-Options: ",
        "http_server_config.headers.Server: unknown key", "basic_auth_users.alice: is not a bcrypt hash",
        "basic_auth_users.bo:b: ", "rate_limit: not supported",
        "tls_config: unknown key (did you mean tls_server_config?)",
    ):
        assert path in text, path
    assert f"{tmp_path / 'missing.crt'}: no such file" in text
    assert "plain-text-pw-1234" not in text  # a password put where a hash belongs is never echoed


def test_client_ca_and_client_auth_type_must_agree(pki: Pki) -> None:
    base = {"cert_file": str(pki.server_cert), "key_file": str(pki.server_key)}
    assert problems_of({"tls_server_config": {**base, "client_auth_type": "RequireAndVerifyClientCert"}}) == (
        "tls_server_config.client_ca_file: is required with client_auth_type: RequireAndVerifyClientCert",)
    assert problems_of({"tls_server_config": {**base, "client_ca_file": str(pki.ca)}})[0].startswith(
        "tls_server_config.client_auth_type: NoClientCert never verifies client certificates")


def test_request_client_cert_is_served_as_no_client_cert(pki: Pki) -> None:
    tls = parse_web_config({"tls_server_config": {"cert_file": str(pki.server_cert), "key_file": str(pki.server_key),
                                                  "client_auth_type": "RequestClientCert"}}).tls
    assert tls is not None
    assert server_context(tls).verify_mode == ssl.CERT_NONE


def test_server_context_is_tls12_minimum_and_verifies_clients_as_configured(pki: Pki) -> None:
    tls = TLSServerConfig(pki.server_cert, pki.server_key, "VerifyClientCertIfGiven", pki.ca)
    context = server_context(tls)
    assert context.minimum_version == ssl.TLSVersion.TLSv1_2
    assert context.verify_mode == ssl.CERT_OPTIONAL


def test_mismatched_key_and_unusable_ca_are_config_errors(pki: Pki) -> None:
    with pytest.raises(ConfigError) as caught:
        server_context(TLSServerConfig(pki.server_cert, pki.client_key, "RequireAndVerifyClientCert", pki.client_key))
    text = "\n".join(caught.value.problems)
    assert "tls_server_config.cert_file: " in text
    assert "the key does not belong to the certificate" in text
    assert "tls_server_config.client_ca_file: " in text


def test_encrypted_key_fails_instead_of_prompting(pki: Pki, tmp_path: Path) -> None:
    key = serialization.load_pem_private_key(pki.server_key.read_bytes(), password=None)
    encrypted = tmp_path / "encrypted.key"
    encrypted.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                            serialization.BestAvailableEncryption(b"passphrase")))
    with pytest.raises(ConfigError, match=r"tls_server_config\.cert_file"):
        server_context(TLSServerConfig(pki.server_cert, encrypted))


def test_relative_paths_are_taken_against_the_web_config_file(pki: Pki) -> None:
    path = pki.ca.parent / "web.yml"
    path.write_text(yaml.safe_dump({"tls_server_config": {"cert_file": "server.crt", "key_file": "server.key"},
                                    "basic_auth_users": {"prometheus": HASH}}))
    config = read_web_config(path)
    assert config.tls is not None
    assert config.tls.cert_file == pki.server_cert
    security = load_web_security(path)
    assert security.tls is not None
    assert security.authenticator is not None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("basic_auth_users:\n  a: x\n  a: y\n", "duplicate key"),
        ("tls_server_config: [1, 2]\n", "tls_server_config: expected a mapping"),
        ("- just\n- a list\n", "(top level): expected a mapping"),
        ("basic_auth_users: {a: [\n", "invalid YAML"),
    ],
)
def test_malformed_files_are_config_errors(tmp_path: Path, text: str, expected: str) -> None:
    path = tmp_path / "web.yml"
    path.write_text(text)
    with pytest.raises(ConfigError) as caught:
        read_web_config(path)
    assert expected in "\n".join(caught.value.problems)


def test_missing_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no such file"):
        read_web_config(tmp_path / "nope.yml")


def test_a_key_that_does_not_fit_is_listed_with_the_other_problems(pki: Pki) -> None:
    problems = problems_of({"tls_server_config": {"cert_file": str(pki.server_cert), "key_file": str(pki.client_key)},
                            "basic_auth_users": {"prometheus": "not-a-hash"}})
    mismatch = f"{pki.server_cert} with key_file {pki.client_key}: the key does not belong to the certificate"
    assert problems == (
        f"tls_server_config.cert_file: {mismatch}",
        'basic_auth_users.prometheus: is not a bcrypt hash ($2y$10$ and 53 characters; e.g. htpasswd -nBC 10 "")',
    )
