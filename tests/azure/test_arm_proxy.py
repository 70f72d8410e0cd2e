"""The ARM client reads the proxy environment once, and still honours HTTP(S)_PROXY and NO_PROXY."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from azure.core.credentials import AccessToken

from exporter.azure.arm import ArmClient
from exporter.azure.credential import TokenSource
from exporter.azure.telemetry import ApiTelemetry


class _Credential:
    def get_token(self, *scopes: str, **kwargs: object) -> AccessToken:
        return AccessToken("token", 4_000_000_000)


class _Recorder(BaseHTTPRequestHandler):
    """Answers every GET with one empty page and records the request target it was sent."""

    targets: list[str]

    def do_GET(self) -> None:
        self.targets.append(self.path)
        body = json.dumps({"value": []}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - the base class names it so
        pass


@pytest.fixture
def recorder() -> Iterator[tuple[str, list[str]]]:
    targets: list[str] = []
    handler = type("Handler", (_Recorder,), {"targets": targets})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", targets
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def _client(base_url: str) -> ArmClient:
    telemetry = ApiTelemetry()
    tokens = TokenSource(_Credential(), "https://management.azure.com/.default", telemetry)
    return ArmClient(base_url, tokens, telemetry, timeout=5.0, max_attempts=1)


def test_requests_go_through_the_proxy_of_the_environment(
    recorder: tuple[str, list[str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    proxy_url, targets = recorder
    monkeypatch.setenv("HTTP_PROXY", proxy_url)
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    client = _client("http://management.example.test")
    try:
        for _ in range(2):  # the settings read once serve every request
            assert list(client.pages("/subscriptions", api="list", api_version="2022-12-01")) == [[]]
    finally:
        client.close()
    # A forward proxy is sent the absolute URL.
    assert targets == ["http://management.example.test/subscriptions?api-version=2022-12-01"] * 2


def test_no_proxy_sends_straight_to_the_host(recorder: tuple[str, list[str]], monkeypatch: pytest.MonkeyPatch) -> None:
    server_url, targets = recorder
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")  # the discard port: nothing answers there
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    client = _client(server_url)
    try:
        assert list(client.pages("/subscriptions", api="list", api_version="2022-12-01")) == [[]]
    finally:
        client.close()
    assert targets == ["/subscriptions?api-version=2022-12-01"]
