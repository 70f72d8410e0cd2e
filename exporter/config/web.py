"""`--web.config.file`: the Prometheus exporter-toolkit web configuration, validated as a whole.

Format: https://github.com/prometheus/exporter-toolkit/blob/master/docs/web-configuration.md

```yaml
tls_server_config:
  cert_file: server.crt            # relative paths are taken against this file's directory
  key_file: server.key
  client_auth_type: RequireAndVerifyClientCert
  client_ca_file: clients-ca.crt
  min_version: TLS12               # TLS12 (default) or TLS13
basic_auth_users:
  prometheus: $2y$10$...           # bcrypt hash, e.g. from `htpasswd -nBC 10 "" | tr -d ':\\n'`
```

What this exporter cannot do the way the toolkit does is refused with its reason, never ignored:
TLS below 1.2; `RequireAnyClientCert` (Python's ssl module cannot accept a client certificate
without verifying it); inline `cert`/`key`/`client_ca`; `cipher_suites`, `curve_preferences`,
`client_allowed_sans` and `rate_limit`. `RequestClientCert` is served as `NoClientCert`: the
toolkit requests the certificate but neither verifies nor uses it, so both admit the same clients.
`http_server_config.http2` is accepted and has no effect (this server speaks HTTP/1.1).

Like `exporter.config`, nothing here exits, prints or logs: problems are a ConfigError, each
"key.path: why", all at once.
"""

from __future__ import annotations

import re
import ssl
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from exporter.config import converters as cv
from exporter.config.schema import (
    ConfigError,
    read_yaml,  # one YAML reader for both files
)
from exporter.config.sections import Problems, nested, read_section

TLS_VERSIONS: Mapping[str, ssl.TLSVersion] = {"TLS12": ssl.TLSVersion.TLSv1_2, "TLS13": ssl.TLSVersion.TLSv1_3}
CLIENT_AUTH_TYPES = (
    "NoClientCert", "RequestClientCert", "RequireAnyClientCert", "VerifyClientCertIfGiven",
    "RequireAndVerifyClientCert",
)
_VERIFY_MODES = {"VerifyClientCertIfGiven": ssl.CERT_OPTIONAL, "RequireAndVerifyClientCert": ssl.CERT_REQUIRED}
# The response headers the toolkit lets a web config set, with their allowed values (None: any).
HEADERS: Mapping[str, tuple[str, ...] | None] = {
    "Strict-Transport-Security": None, "X-Content-Type-Options": ("nosniff",),
    "X-Frame-Options": ("deny", "sameorigin"), "X-XSS-Protection": None, "Content-Security-Policy": None,
}
# $2a$, $2b$ and $2y$ (htpasswd) are the same algorithm for our purpose; cost 04..31.
_BCRYPT_HASH = re.compile(r"\$2[aby]\$(0[4-9]|[12][0-9]|3[01])\$[./A-Za-z0-9]{53}")
_TOP = ("tls_server_config", "http_server_config", "basic_auth_users")
_UNSUPPORTED = {
    "rate_limit": "not supported by this exporter; put a reverse proxy in front if scrapers need limiting",
    "tls_server_config.cert": "inline certificates are not supported; use cert_file",
    "tls_server_config.key": "secrets are never accepted inline; use key_file",
    "tls_server_config.client_ca": "inline CA certificates are not supported; use client_ca_file",
    "tls_server_config.cipher_suites": (
        "not supported: Go cipher suite names do not map onto Python's ssl module, which offers only "
        "forward-secret ECDHE/DHE suites with AES-GCM, ChaCha20 or AES-SHA2 for TLS 1.2, and every TLS 1.3 suite"
    ),
    "tls_server_config.curve_preferences": "not supported: OpenSSL's default groups (X25519, P-256, P-384, ...) apply",
    "tls_server_config.client_allowed_sans": (
        "not supported: use client_auth_type: RequireAndVerifyClientCert with a CA that signs only allowed clients"
    ),
}


@dataclass(frozen=True, slots=True)
class TLSServerConfig:
    cert_file: Path
    key_file: Path
    client_auth_type: str = "NoClientCert"
    client_ca_file: Path | None = None
    min_version: str = "TLS12"
    max_version: str = "TLS13"
    prefer_server_cipher_suites: bool = True


@dataclass(frozen=True, slots=True)
class WebConfig:
    tls: TLSServerConfig | None = None
    basic_auth_users: tuple[tuple[str, str], ...] = ()  # (user, bcrypt hash); empty: no auth
    headers: tuple[tuple[str, str], ...] = ()  # extra response headers (http_server_config.headers)


def _tls_version(value: object) -> str:
    text = cv.string(value)
    if text in ("TLS10", "TLS11"):
        raise ValueError(f"{text} is not accepted: this exporter serves TLS 1.2 or newer only")
    if text not in TLS_VERSIONS:
        raise ValueError(f"{cv.show(value)} is not a TLS version; use TLS12 or TLS13")
    return text


_TLS: dict[str, Callable[[Any], Any]] = {
    "cert_file": cv.path, "key_file": cv.path, "client_ca_file": cv.path,
    "client_auth_type": cv.choice(CLIENT_AUTH_TYPES), "min_version": _tls_version, "max_version": _tls_version,
    "prefer_server_cipher_suites": cv.boolean,
}
_HTTP: dict[str, Callable[[Any], Any]] = {"http2": cv.boolean, "headers": nested}


def _tls(raw: object, base_dir: Path | None, problems: Problems) -> TLSServerConfig | None:
    before = len(problems)
    values, given = read_section(raw, "tls_server_config", _TLS, problems, unsupported=_UNSUPPORTED)
    if not given:
        return None  # no section, or an empty one: plain HTTP, as with the toolkit
    for key in ("cert_file", "key_file"):
        if key not in given:
            problems.add(f"tls_server_config.{key}", "is required to serve TLS")
    for key in ("cert_file", "key_file", "client_ca_file"):
        if key in values:
            values[key] = base_dir / values[key] if base_dir else values[key]
            if why := cv.file_problem(values[key], readable=True):
                problems.add(f"tls_server_config.{key}", f"{values[key]}: {why}")
    auth = values.get("client_auth_type", None if "client_auth_type" in given else "NoClientCert")
    if auth == "RequireAnyClientCert":
        problems.add("tls_server_config.client_auth_type", (
            "RequireAnyClientCert is not supported: Python's ssl module cannot accept a client certificate "
            "without verifying it; use RequireAndVerifyClientCert with client_ca_file (the toolkit's docs "
            "call the unverified modes insecure)"))
    if auth in _VERIFY_MODES and "client_ca_file" not in given:
        problems.add("tls_server_config.client_ca_file", f"is required with client_auth_type: {auth}")
    if "client_ca_file" in given and auth in ("NoClientCert", "RequestClientCert"):
        problems.add("tls_server_config.client_auth_type", (
            f"{auth} never verifies client certificates, so client_ca_file would be ignored; "
            "use VerifyClientCertIfGiven or RequireAndVerifyClientCert"))
    low, high = values.get("min_version", "TLS12"), values.get("max_version", "TLS13")
    if TLS_VERSIONS[low] > TLS_VERSIONS[high]:
        problems.add("tls_server_config.max_version", f"{high} is below min_version {low}")
    if len(problems) > before:
        return None
    tls = TLSServerConfig(**values)
    try:
        server_context(tls)  # loads the files: a key that does not fit its certificate is a problem too
    except ConfigError as err:
        problems.extend(err.problems)
    return tls


def _headers(raw: object, problems: Problems) -> tuple[tuple[str, str], ...]:
    given, _ = read_section(raw, "http_server_config.headers", dict.fromkeys(HEADERS, nested), problems)
    headers: list[tuple[str, str]] = []
    for name, value in given.items():
        where = f"http_server_config.headers.{name}"
        allowed = HEADERS[name]
        if not isinstance(value, str) or "\n" in value or "\r" in value:
            problems.add(where, f"expected a one-line string, got {cv.kind(value)}")
        elif allowed is not None and value not in allowed:
            problems.add(where, f"{cv.show(value)} is not one of {', '.join(allowed)}")
        elif value:  # blank: unset, as in the toolkit
            headers.append((name, value))
    return tuple(headers)


def _users(raw: object, problems: Problems) -> tuple[tuple[str, str], ...]:
    if raw is None:
        return ()
    if not isinstance(raw, Mapping):
        problems.add("basic_auth_users", f"expected a mapping of user: bcrypt hash; got {cv.kind(raw)}")
        return ()
    users: list[tuple[str, str]] = []
    for user, hashed in raw.items():
        where = f"basic_auth_users.{user}"
        if not isinstance(user, str) or not user or ":" in user:
            problems.add(where, "a user name is a non-empty string without ':' (RFC 7617)")
        # The value is never echoed: it may be a plain-text password put there by mistake.
        elif not isinstance(hashed, str) or not _BCRYPT_HASH.fullmatch(hashed.strip()):
            problems.add(where, 'is not a bcrypt hash ($2y$10$ and 53 characters; e.g. htpasswd -nBC 10 "")')
        else:
            users.append((user, hashed.strip()))
    return tuple(users)


def parse_web_config(data: object, *, base_dir: Path | None = None) -> WebConfig:
    """Validates a parsed web config as a whole; raises ConfigError listing every problem."""
    if data is None:
        return WebConfig()  # an empty file: plain HTTP and no auth, as with the toolkit
    problems = Problems()
    top, _ = read_section(data, "", dict.fromkeys(_TOP, nested), problems, unsupported=_UNSUPPORTED)
    tls = _tls(top.get("tls_server_config"), base_dir, problems)
    http, _ = read_section(top.get("http_server_config"), "http_server_config", _HTTP, problems,
                           unsupported=_UNSUPPORTED)
    headers = _headers(http.get("headers"), problems)
    users = _users(top.get("basic_auth_users"), problems)
    if problems:
        raise ConfigError(problems)
    return WebConfig(tls=tls, basic_auth_users=users, headers=headers)


def server_context(tls: TLSServerConfig) -> ssl.SSLContext:
    """The SSLContext that serves `tls`; a certificate, key or CA that cannot be loaded is a ConfigError."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = TLS_VERSIONS[tls.min_version]
    context.maximum_version = TLS_VERSIONS[tls.max_version]
    if not tls.prefer_server_cipher_suites:
        context.options &= ~ssl.OP_CIPHER_SERVER_PREFERENCE
    problems: list[str] = []
    try:
        # A password callback, so that an encrypted key fails here instead of OpenSSL asking on a tty.
        context.load_cert_chain(tls.cert_file, tls.key_file, password=lambda: b"")
    except ssl.SSLError as err:
        why = ("the key does not belong to the certificate" if err.reason == "KEY_VALUES_MISMATCH"
               else f"{err.reason or err.__class__.__name__} (both must be PEM, the key unencrypted)")
        problems.append(f"tls_server_config.cert_file: {tls.cert_file} with key_file {tls.key_file}: {why}")
    except OSError as err:
        problems.append(f"tls_server_config.cert_file: cannot be read: {err.strerror or err.__class__.__name__}")
    context.verify_mode = _VERIFY_MODES.get(tls.client_auth_type, ssl.CERT_NONE)
    if tls.client_ca_file is not None:
        try:
            context.load_verify_locations(cafile=tls.client_ca_file)
        except (ssl.SSLError, OSError) as err:
            why = err.reason if isinstance(err, ssl.SSLError) and err.reason else err.__class__.__name__
            problems.append(f"tls_server_config.client_ca_file: {tls.client_ca_file}: no usable CA certificate ({why})")
    if problems:
        raise ConfigError(problems)
    return context


def read_web_config(path: str | Path) -> WebConfig:
    """Reads and validates a web config file, loading its TLS files to check that they fit."""
    path = Path(path)
    data = read_yaml(path, f"--web.config.file: {path}")
    return parse_web_config(data, base_dir=path.parent)
