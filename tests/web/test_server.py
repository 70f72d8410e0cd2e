"""HTTP on a free loopback port: metrics (plain and gzip), landing page, health, readiness."""

from __future__ import annotations

import gzip
import http.client

import pytest

from exporter.exposition.publisher import Exposition, Publisher
from exporter.model import VaultInfo, VaultRef
from exporter.store.job_store import Store, VaultPoll
from exporter.web.server import ExporterHTTPServer, ListenAddressError, parse_listen_address
from exporter.web.status_page import DOCS_URL
from tests.serving import get, serving

VAULT = VaultRef("00000000-0000-0000-0000-000000000000", "rg", "<vault&\"x'>")


def publish_one_vault(publisher: Publisher, *, polled: bool) -> Exposition:
    store = Store(lookback=86400, clock=lambda: 1_763_700_000.0)
    store.set_vaults([VaultInfo(VAULT)], {})
    if polled:
        store.record(VaultPoll(VAULT, ok=False, duration=0.1))
    return publisher.publish(store.snapshot())


def test_ready_is_503_until_first_poll_then_200(server: ExporterHTTPServer, publisher: Publisher) -> None:
    assert get(server, "/-/ready").status == 503
    publish_one_vault(publisher, polled=False)
    assert get(server, "/-/ready").status == 503
    publish_one_vault(publisher, polled=True)
    assert get(server, "/-/ready").status == 200
    assert get(server, "/-/healthy").status == 200


def test_metrics_plain_and_gzip_are_the_published_bytes(server: ExporterHTTPServer, publisher: Publisher) -> None:
    exposition = publish_one_vault(publisher, polled=True)
    plain = get(server, "/metrics")
    assert plain.status == 200
    assert plain.getheader("Content-Type", "").startswith("text/plain; version=0.0.4")
    assert plain.read() == exposition.plain
    zipped = get(server, "/metrics", {"Accept-Encoding": "gzip, deflate"})
    assert zipped.getheader("Content-Encoding") == "gzip"
    assert gzip.decompress(zipped.read()) == exposition.plain
    assert b"azure_backup_exporter_target_up" in exposition.plain


def test_landing_page_escapes_what_it_shows(server: ExporterHTTPServer, publisher: Publisher) -> None:
    publish_one_vault(publisher, polled=True)
    page = get(server, "/").read().decode()
    assert "&lt;vault&amp;&quot;x&#x27;&gt;" in page
    assert "<vault&" not in page
    assert "failing" in page
    assert "href='/metrics'" in page


def test_unknown_path_is_404(server: ExporterHTTPServer) -> None:
    assert get(server, "/nope").status == 404


def test_keep_alive_serves_several_requests_on_one_connection(server: ExporterHTTPServer) -> None:
    host, port = server.server_address[:2]
    conn = http.client.HTTPConnection(str(host), int(port), timeout=5)
    for _ in range(3):
        conn.request("GET", "/metrics")
        response = conn.getresponse()
        assert response.status == 200
        response.read()


@pytest.mark.parametrize(
    ("text", "expected"),
    [(":9984", ("", 9984)), ("127.0.0.1:0", ("127.0.0.1", 0)), ("[::1]:9984", ("::1", 9984))],
)
def test_parse_listen_address(text: str, expected: tuple[str, int]) -> None:
    assert parse_listen_address(text) == expected


@pytest.mark.parametrize("text", ["9984", "host:", "host:99999", "a:b"])
def test_parse_listen_address_rejects(text: str) -> None:
    with pytest.raises(ListenAddressError):
        parse_listen_address(text)


def test_landing_page_escapes_every_value_it_shows(publisher: Publisher) -> None:
    """Every label of every vault and the telemetry path are escaped: the page has only its own tags."""
    from html.parser import HTMLParser  # noqa: PLC0415 - this test alone parses HTML

    hostile = VaultRef("<sub onclick='x'>", 'rg"><script>alert(1)</script>', "v&'\"<>")
    store = Store(lookback=86400, clock=lambda: 1_763_700_000.0)
    store.set_vaults([VaultInfo(hostile)], {})
    publisher.publish(store.snapshot())
    path = "/m'><img src=x onerror=alert(1)>"
    with serving(lambda: publisher.current, path) as srv:
        page = get(srv, "/").read().decode()

    class Tags(HTMLParser):
        def __init__(self) -> None:
            super().__init__()
            self.tags: set[str] = set()
            self.attributes: set[str] = set()
            self.hrefs: set[str | None] = set()
            self.text: list[str] = []

        def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
            self.tags.add(tag)
            self.attributes.update(name for name, _ in attrs)
            self.hrefs.update(value for name, value in attrs if name == "href")

        def handle_data(self, data: str) -> None:
            self.text.append(data)

    parsed = Tags()
    parsed.feed(page)
    assert parsed.tags == {"html", "head", "meta", "title", "style", "body", "h1", "p", "a", "h2", "table", "tr",
                           "th", "td", "strong"}
    assert parsed.attributes == {"lang", "charset", "name", "content", "href", "class"}
    assert parsed.hrefs == {path, "/-/healthy", "/-/ready", DOCS_URL}
    shown = "".join(parsed.text)
    for value in (*hostile.labels, "never polled"):
        assert value in shown  # shown as text, exactly
