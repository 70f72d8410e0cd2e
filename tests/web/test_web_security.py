"""HTTPS and basic auth on a real socket: certificates made per run, real TLS handshakes, bcrypt hashes."""

from __future__ import annotations

import base64
import http.client
import socket
import ssl
import threading
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager
from typing import Any

import pytest

from exporter.azure.telemetry import ApiTelemetry
from exporter.config.web import TLSServerConfig
from exporter.exposition.publisher import Publisher
from exporter.web import auth as webauth
from exporter.web.auth import BasicAuthenticator, parse_basic, server_context
from exporter.web.connections import TLS_HANDSHAKE_SECONDS
from exporter.web.server import ExporterHTTPServer
from tests.pki import Pki, bcrypt_hash, make_pki
from tests.serving import serving as serve_source

USERS = (("prometheus", bcrypt_hash("scrape-pw", cost=5)), ("grafana", bcrypt_hash("other-pw", cost=5)))


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return make_pki(tmp_path_factory.mktemp("pki"))


def serving(**kwargs: Any) -> AbstractContextManager[ExporterHTTPServer]:
    """An exporter with nothing published yet, `kwargs` (TLS, auth, limits) set."""
    publisher = Publisher(ApiTelemetry())
    return serve_source(lambda: publisher.current, **kwargs)


def tls_server(pki: Pki, client_auth_type: str = "NoClientCert") -> ssl.SSLContext:
    ca = pki.ca if client_auth_type != "NoClientCert" else None
    return server_context(TLSServerConfig(pki.server_cert, pki.server_key, client_auth_type, ca))


def tls_client(pki: Pki, cert: Any = None, key: Any = None, version: str = "TLSv1_3") -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=pki.ca)  # verifies the server's chain and its IP SAN
    context.maximum_version = getattr(ssl.TLSVersion, version)
    if cert is not None:
        context.load_cert_chain(cert, key)
    return context


def port_of(server: ExporterHTTPServer) -> int:
    return int(server.server_address[1])


def https_get(server: ExporterHTTPServer, path: str, context: ssl.SSLContext,
              headers: dict[str, str] | None = None) -> tuple[int, http.client.HTTPResponse, bytes]:
    conn = http.client.HTTPSConnection("127.0.0.1", port_of(server), context=context, timeout=5)
    try:
        conn.request("GET", path, headers=headers or {})
        response = conn.getresponse()
        return response.status, response, response.read()
    finally:
        conn.close()


def http_get(server: ExporterHTTPServer, path: str, headers: dict[str, str] | None = None,
             method: str = "GET") -> http.client.HTTPResponse:
    conn = http.client.HTTPConnection("127.0.0.1", port_of(server), timeout=5)
    conn.request(method, path, headers=headers or {})
    response = conn.getresponse()
    response.read()
    conn.close()
    return response


def basic(user: str, password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


def refusal(server: ExporterHTTPServer, context: ssl.SSLContext) -> str:
    """The reason a TLS client is refused. In TLS 1.3 the server judges the client certificate after
    the client's handshake is done, so the refusal may surface at the first read."""
    with pytest.raises((ssl.SSLError, ConnectionError, http.client.RemoteDisconnected)) as caught:
        https_get(server, "/metrics", context)
    return getattr(caught.value, "reason", None) or type(caught.value).__name__


# --- TLS ---------------------------------------------------------------------------------------


def test_https_serves_a_client_that_verifies_the_server_against_its_ca(pki: Pki) -> None:
    with serving(tls=tls_server(pki)) as server:
        assert server.url.startswith("https://127.0.0.1:")
        status, _, body = https_get(server, "/metrics", tls_client(pki))
        assert status == 200
        assert b"azure_backup_exporter_build_info" in body
        untrusting = ssl.create_default_context(cafile=pki.other_ca)
        assert refusal(server, untrusting) == "CERTIFICATE_VERIFY_FAILED"


@pytest.mark.filterwarnings("ignore:ssl.TLSVersion.TLSv1:DeprecationWarning")
@pytest.mark.parametrize("version", ["TLSv1", "TLSv1_1"])
def test_tls_1_1_and_older_are_refused_by_the_server(pki: Pki, version: str) -> None:
    old = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    old.load_verify_locations(pki.ca)
    old.minimum_version = old.maximum_version = getattr(ssl.TLSVersion, version)
    old.set_ciphers("DEFAULT:@SECLEVEL=0")  # so that the client can offer them at all
    with serving(tls=tls_server(pki)) as server:
        # The alert comes from the server: the client did offer the old version.
        assert refusal(server, old) == "TLSV1_ALERT_PROTOCOL_VERSION"


# With TLS 1.2 the server judges the client certificate inside the handshake, so its alert is exact;
# with TLS 1.3 the client may already be writing its request and see only the closed connection.
REFUSED_WITHOUT_CERT = {
    "TLSv1_2": {"SSLV3_ALERT_HANDSHAKE_FAILURE"},
    "TLSv1_3": {"TLSV13_ALERT_CERTIFICATE_REQUIRED", "SSLEOFError", "ConnectionResetError", "RemoteDisconnected"},
}


@pytest.mark.parametrize("version", ["TLSv1_2", "TLSv1_3"])
def test_require_and_verify_refuses_no_certificate_and_another_cas(pki: Pki, version: str) -> None:
    with serving(tls=tls_server(pki, "RequireAndVerifyClientCert")) as server:
        assert refusal(server, tls_client(pki, version=version)) in REFUSED_WITHOUT_CERT[version]
        rogue = tls_client(pki, pki.rogue_cert, pki.rogue_key, version=version)
        assert refusal(server, rogue) in {"TLSV1_ALERT_UNKNOWN_CA", "SSLEOFError", "ConnectionResetError"}
        if version == "TLSv1_2":
            assert refusal(server, rogue) == "TLSV1_ALERT_UNKNOWN_CA"
        status, _, _ = https_get(server, "/metrics", tls_client(pki, pki.client_cert, pki.client_key, version=version))
        assert status == 200


def test_verify_if_given_admits_no_certificate_but_not_another_cas(pki: Pki) -> None:
    with serving(tls=tls_server(pki, "VerifyClientCertIfGiven")) as server:
        assert https_get(server, "/metrics", tls_client(pki))[0] == 200
        assert https_get(server, "/metrics", tls_client(pki, pki.client_cert, pki.client_key))[0] == 200
        assert refusal(server, tls_client(pki, pki.rogue_cert, pki.rogue_key, "TLSv1_2")) == "TLSV1_ALERT_UNKNOWN_CA"


def test_silent_and_plain_http_clients_do_not_hold_up_https(pki: Pki) -> None:
    with serving(tls=tls_server(pki)) as server, socket.create_connection(("127.0.0.1", port_of(server))):
        # The silent connection above never sends a ClientHello: its handshake waits on its own thread.
        with socket.create_connection(("127.0.0.1", port_of(server)), timeout=5) as plain:
            plain.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
            try:
                reply = plain.recv(1024)
            except ConnectionResetError:
                reply = b""
            assert not reply.startswith(b"HTTP/")
        started = time.monotonic()
        assert https_get(server, "/-/healthy", tls_client(pki))[0] == 200
        # Well under the 10 s the silent client may hold its handshake: it did not wait on it.
        assert time.monotonic() - started < TLS_HANDSHAKE_SECONDS / 2


def test_basic_auth_over_tls_with_a_client_certificate(pki: Pki) -> None:
    with serving(tls=tls_server(pki, "RequireAndVerifyClientCert"), authenticator=BasicAuthenticator(USERS)) as server:
        client = tls_client(pki, pki.client_cert, pki.client_key)
        assert https_get(server, "/metrics", client)[0] == 401
        assert https_get(server, "/metrics", client, basic("prometheus", "scrape-pw"))[0] == 200


# --- basic auth --------------------------------------------------------------------------------


@pytest.fixture
def guarded() -> Iterator[ExporterHTTPServer]:
    with serving(authenticator=BasicAuthenticator(USERS), response_headers=(("X-Frame-Options", "deny"),)) as server:
        yield server


def test_right_password_gets_200_and_wrong_or_missing_gets_401_with_a_challenge(guarded: ExporterHTTPServer) -> None:
    assert http_get(guarded, "/metrics", basic("prometheus", "scrape-pw")).status == 200
    assert http_get(guarded, "/metrics", basic("grafana", "other-pw")).status == 200
    for headers in ({}, basic("prometheus", "wrong"), basic("grafana", "scrape-pw"), basic("nobody", "scrape-pw"),
                    {"Authorization": "Basic !!!"}, {"Authorization": "Bearer scrape-pw"}):
        refused = http_get(guarded, "/metrics", headers)
        assert refused.status == 401, headers
        assert refused.getheader("WWW-Authenticate") == 'Basic realm="azure-backup-exporter", charset="UTF-8"'


def test_every_path_but_healthy_needs_credentials(guarded: ExporterHTTPServer) -> None:
    healthy = http_get(guarded, "/-/healthy")
    assert healthy.status == 200
    assert healthy.getheader("Server", "").startswith("azure-backup-exporter/")
    assert "Python" not in healthy.getheader("Server", "")
    assert http_get(guarded, "/-/healthy", method="HEAD").status == 200
    for path in ("/", "/-/ready", "/metrics", "/nope", "/-/healthy/../metrics"):
        assert http_get(guarded, path).status == 401, path
        assert http_get(guarded, path, method="HEAD").status == 401, path
    assert http_get(guarded, "/", basic("prometheus", "scrape-pw")).status == 200


def test_configured_headers_are_on_every_response(guarded: ExporterHTTPServer) -> None:
    assert http_get(guarded, "/-/healthy").getheader("X-Frame-Options") == "deny"
    assert http_get(guarded, "/metrics").getheader("X-Frame-Options") == "deny"


@pytest.fixture
def bcrypt_calls(monkeypatch: pytest.MonkeyPatch) -> list[bytes]:
    calls: list[bytes] = []
    real = webauth._bcrypt

    def spy(password: bytes, hashed: bytes) -> bytes:
        calls.append(hashed)
        return real(password, hashed)

    monkeypatch.setattr(webauth, "_bcrypt", spy)
    return calls


def test_unknown_user_costs_one_bcrypt_at_the_users_cost(bcrypt_calls: list[bytes]) -> None:
    authenticate = BasicAuthenticator(USERS)
    assert not authenticate(basic("nobody", "scrape-pw")["Authorization"])
    assert not authenticate(basic("prometheus", "wrong")["Authorization"])
    unknown, known = bcrypt_calls
    assert unknown.startswith(b"$2b$05$")  # the dummy hash, at the cost of the configured users
    assert unknown not in {h.encode() for _, h in USERS}
    assert known == USERS[0][1].encode()


def test_successes_are_cached_and_failures_are_not(bcrypt_calls: list[bytes]) -> None:
    authenticate = BasicAuthenticator(USERS)
    right, wrong = basic("prometheus", "scrape-pw")["Authorization"], basic("prometheus", "nope")["Authorization"]
    assert all(authenticate(right) for _ in range(5))
    assert not any(authenticate(wrong) for _ in range(3))
    assert len(bcrypt_calls) == 1 + 3
    assert not BasicAuthenticator(USERS[1:])(right)  # a new config (a reload) does not inherit the cache


def test_password_beyond_72_bytes_is_refused_not_truncated() -> None:
    password = "p" * 72
    authenticate = BasicAuthenticator([("u", bcrypt_hash(password))])
    assert authenticate(basic("u", password)["Authorization"])
    assert not authenticate(basic("u", password + "anything")["Authorization"])


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("Basic dTpwOnc=", (b"u", b"p:w")),
        ("basic   dTpw  ", (b"u", b"p")),
        ("Basic dXNlcg==", None),  # no colon
        ("Basic ###", None),
        ("Basic é", None),
        ("Digest dTpw", None),
        ("", None),
        (None, None),
    ],
)
def test_parse_basic(header: str | None, expected: tuple[bytes, bytes] | None) -> None:
    assert parse_basic(header) == expected


# --- connection limit --------------------------------------------------------------------------


def test_connections_beyond_the_limit_wait_for_a_free_slot() -> None:
    with serving(max_connections=1) as server:
        first = http.client.HTTPConnection("127.0.0.1", port_of(server), timeout=5)
        first.request("GET", "/-/healthy")
        first.getresponse().read()  # kept alive: it holds the only slot
        results: list[int] = []

        def second() -> None:
            conn = http.client.HTTPConnection("127.0.0.1", port_of(server), timeout=10)
            conn.request("GET", "/-/healthy")
            results.append(conn.getresponse().status)
            conn.close()

        waiter = threading.Thread(target=second)
        waiter.start()
        time.sleep(0.5)
        assert results == []  # queued in the backlog, not refused
        first.close()
        waiter.join(timeout=10)
        assert results == [200]


def test_htpasswd_2y_hashes_work() -> None:
    """`htpasswd -nBC 10` writes $2y$ hashes: the same algorithm as bcrypt's $2b$."""
    hashed = "$2y$" + bcrypt_hash("pw")[4:]
    authenticate = BasicAuthenticator([("u", hashed)])
    assert authenticate(basic("u", "pw")["Authorization"])
    assert not authenticate(basic("u", "pW")["Authorization"])
