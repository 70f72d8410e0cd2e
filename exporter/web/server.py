"""HTTP: /metrics (prerendered bytes), / (status page, exporter.web.status_page), /-/healthy, /-/ready.

No handler does I/O beyond its own socket or waits on a poll: each reads the one `Exposition`
the poller published last.

Optional, from `--web.config.file` (exporter.config.web): TLS (an `ssl.SSLContext`), basic auth (an
authenticator: Authorization header → allowed?) and extra response headers. Basic auth guards every
path except /-/healthy, which reveals nothing but "the process runs" and must answer probes that
hold no credentials (Docker's HEALTHCHECK, a kubelet liveness probe). Connection handling (a
bound on threads, idle timeout, TLS handshakes) is exporter.web.connections'.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import ssl
import sys
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from http.server import BaseHTTPRequestHandler
from typing import Protocol

from exporter import __version__
from exporter.exposition.publisher import CONTENT_TYPE, Exposition
from exporter.web import status_page
from exporter.web.connections import IDLE_TIMEOUT_SECONDS, MAX_CONNECTIONS, GuardedHTTPServer

log = logging.getLogger(__name__)
TEXT = "text/plain; charset=utf-8"
Authenticator = Callable[[str | None], bool]  # the Authorization header (or None) → allowed?
AUTH_CHALLENGE = 'Basic realm="azure-backup-exporter", charset="UTF-8"'
OPEN_PATHS = frozenset({"/-/healthy"})  # answered without credentials (see the module docstring)
# Plain /metrics: TLS writes are joined up to this size (little memory per client); plain sockets
# get up to SEND_PARTS fragments per sendmsg, no copy. Each write is a GIL round trip: few of them.
STREAM_CHUNK = 1024 * 1024
SEND_PARTS = 512  # below every platform's IOV_MAX (1024 on Linux)
# How long a thread keeps the GIL while another waits for it (Python's default: 5 ms). A scrape
# takes the GIL a few times (request read, headers, body sent) and, while a poll re-renders, waits
# up to one interval each time; at 1 ms the 8-scraper p99 under renders came down from ~2.1x to
# ~1.6x the floor's at 10,000 items (bench/growth_proc.py), and the render itself runs on.
SWITCH_INTERVAL_SECONDS = 0.001


def prefer_scrapes() -> None:
    """Make scrapes wait less on a render for the GIL: process-wide, so the serving command (the
    CLI) calls it once at startup, never an import."""
    sys.setswitchinterval(SWITCH_INTERVAL_SECONDS)


class ListenAddressError(ValueError):
    pass


def parse_listen_address(value: str) -> tuple[str, int]:
    """`:9984`, `127.0.0.1:0`, `[::1]:9984` → (host, port); an empty host means every interface."""
    host, sep, port_text = value.rpartition(":")
    if not sep or not port_text.isdigit() or int(port_text) > 65535:
        raise ListenAddressError(f"--web.listen-address: {value!r} is not host:port (e.g. :9984)")
    return host.strip("[]"), int(port_text)


class Route(Protocol):
    """A handler method, called on the request's handler with the exposition published last."""

    def __call__(self, handler: ExporterHandler, exposition: Exposition, /, *, head: bool) -> None: ...


class ExporterHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body go out in two writes; with Nagle on, a small (gzipped) body waits for the
    # scraper's delayed ACK of the headers: 40 ms on every keep-alive scrape (bench/RESULTS.md).
    disable_nagle_algorithm = True
    server_version = f"azure-backup-exporter/{__version__}"
    server: ExporterHTTPServer
    timeout = IDLE_TIMEOUT_SECONDS  # StreamRequestHandler sets it on the socket

    def do_GET(self) -> None:
        self._respond(head=False)

    def do_HEAD(self) -> None:
        self._respond(head=True)

    def _respond(self, *, head: bool) -> None:
        with self.server.in_flight():
            self._route(head=head)

    def _route(self, *, head: bool) -> None:
        path = self.path.split("?", 1)[0]
        authenticate = self.server.authenticator
        if authenticate is not None and path not in OPEN_PATHS and not authenticate(self.headers.get("Authorization")):
            self._send(401, TEXT, b"Unauthorized\n", head=head, headers={"WWW-Authenticate": AUTH_CHALLENGE})
            return
        handler = self.server.routes.get(path)
        if handler is None:
            self._send(404, TEXT, b"Not found\n", head=head)
            return
        handler(self, self.server.source(), head=head)

    def status(self, exposition: Exposition, *, head: bool) -> None:
        body = self.server.status_page.body(exposition)
        self._send(200, status_page.CONTENT_TYPE, body, head=head, headers=status_page.SECURITY_HEADERS)

    def healthy(self, _exposition: Exposition, *, head: bool) -> None:
        self._send(200, TEXT, b"Healthy\n", head=head)

    def ready(self, exposition: Exposition, *, head: bool) -> None:
        if exposition.ready:
            self._send(200, TEXT, b"Ready\n", head=head)
        else:
            self._send(503, TEXT, b"Not ready: first poll not finished\n", head=head)

    def metrics(self, exposition: Exposition, *, head: bool) -> None:
        if "gzip" in self.headers.get("Accept-Encoding", "").lower():
            self._send(200, CONTENT_TYPE, exposition.gzipped, head=head, gzipped=True)
            return
        # Plain text goes out part by part from the published fragments: no per-scrape copy of the
        # whole text (37 MB at 10,000 items), whatever the number of plain clients.
        self._send(200, CONTENT_TYPE, b"", head=True, length=exposition.plain_size)
        if head:
            return
        self.wfile.flush()
        if isinstance(self.connection, ssl.SSLSocket):  # TLS has no scatter-gather send
            for chunk in _batched(exposition.parts, STREAM_CHUNK):
                self.wfile.write(chunk)
        else:
            _send_parts(self.connection, exposition.parts)

    def _send(
        self, status: int, content_type: str, body: bytes, *, head: bool, gzipped: bool = False,
        headers: Mapping[str, str] | None = None, length: int | None = None,
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body) if length is None else length))
        if gzipped:
            self.send_header("Content-Encoding", "gzip")
        self.send_header("Vary", "Accept-Encoding")
        for name, value in (*self.server.response_headers, *(headers or {}).items()):
            self.send_header(name, value)
        self.end_headers()
        if not head:
            self.wfile.write(body)

    def version_string(self) -> str:
        # The stdlib adds the Python version; unauthenticated clients (a 401, /-/healthy) need neither.
        return self.server_version

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - the stdlib's name
        log.debug("%s %s", self.address_string(), format % args)


def _send_parts(sock: socket.socket, parts: Sequence[bytes]) -> None:
    """All of `parts` on `sock`, many per sendmsg (scatter-gather: the fragments are not joined)."""
    pending: list[bytes | memoryview] = []
    index = 0
    while pending or index < len(parts):
        if len(pending) < SEND_PARTS and index < len(parts):
            taken = parts[index:index + SEND_PARTS - len(pending)]
            pending.extend(taken)
            index += len(taken)
        sent = sock.sendmsg(pending)
        while pending and sent >= len(pending[0]):  # drop what went out whole, cut the one cut short
            sent -= len(pending.pop(0))
        if sent:
            pending[0] = memoryview(pending[0])[sent:]


def _batched(parts: Iterable[bytes], size: int) -> Iterator[bytes]:
    """Parts as writes of about `size` bytes: small parts (headers) joined, big ones as they are."""
    pending: list[bytes] = []
    pending_size = 0
    for part in parts:
        if pending_size + len(part) > size and pending:
            yield b"".join(pending)
            pending, pending_size = [], 0
        if len(part) >= size:
            yield part
            continue
        pending.append(part)
        pending_size += len(part)
    if pending:
        yield b"".join(pending)


class ExporterHTTPServer(GuardedHTTPServer):
    def __init__(
        self,
        address: tuple[str, int],
        source: Callable[[], Exposition],
        telemetry_path: str = "/metrics",
        *,
        tls: ssl.SSLContext | None = None,
        authenticator: Authenticator | None = None,
        response_headers: Iterable[tuple[str, str]] = (),
        max_connections: int = MAX_CONNECTIONS,
    ) -> None:
        self.source = source
        self.telemetry_path = telemetry_path
        # Path → handler: one table instead of a chain of ifs (the telemetry path is a flag).
        self.routes: dict[str, Route] = {
            telemetry_path: ExporterHandler.metrics,
            "/": ExporterHandler.status,
            "/-/healthy": ExporterHandler.healthy,
            "/-/ready": ExporterHandler.ready,
        }
        self.status_page = status_page.StatusPage(telemetry_path)
        # Read per request, so a reload may replace them while serving.
        self.authenticator = authenticator
        self.response_headers = tuple(response_headers)
        self._active = 0
        self._idle = threading.Condition()
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        super().__init__(address, ExporterHandler, tls=tls, max_connections=max_connections)

    @contextlib.contextmanager
    def in_flight(self) -> Iterator[None]:
        with self._idle:
            self._active += 1
        try:
            yield
        finally:
            with self._idle:
                self._active -= 1
                self._idle.notify_all()

    def drain(self, timeout: float) -> bool:
        """Wait until no response is being written (SIGTERM lets the one in flight finish)."""
        with self._idle:
            return self._idle.wait_for(lambda: self._active == 0, timeout)

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        shown = host if isinstance(host, str) and ":" not in host else f"[{host!s}]"
        return f"{self.scheme}://{shown}:{port}"

    def serve_in_thread(self) -> threading.Thread:
        thread = threading.Thread(target=self.serve_forever, name="http", daemon=True)
        thread.start()
        return thread
