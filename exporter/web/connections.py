"""The stdlib's threading HTTP server with a bound on threads, idle connections closed, and TLS off the accept loop.

`ThreadingHTTPServer` starts one thread per connection, without limit, and keeps an idle keep-alive
connection (and its thread) forever; an `SSLContext` wrapped around its listening socket would run
every handshake on the accept loop, where one silent client stalls everyone. `GuardedHTTPServer`
fixes all three, and nothing else: routes and responses are exporter.web.server's.
"""

from __future__ import annotations

import logging
import socket
import ssl
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

log = logging.getLogger(__name__)

# At most this many connections are served at once, each by one thread; more wait in the listen
# backlog until one ends. Without it a burst (or a flood) of clients could exhaust memory or a
# container's pids limit. Prometheus needs one connection per scraping replica; 64 leaves room for
# many replicas, people and probes. (Measured with 200 clients: tests/test_load.py.)
MAX_CONNECTIONS = 64
# A connection idle (or stalled mid-request) this long is closed so that it frees its slot;
# Prometheus simply opens a new one at its next scrape. Handlers set it as their `timeout`.
IDLE_TIMEOUT_SECONDS = 30.0
TLS_HANDSHAKE_SECONDS = 10.0
_Request = socket.socket | tuple[bytes, socket.socket]


class GuardedHTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    # A deep backlog lets a burst of clients beyond MAX_CONNECTIONS queue instead of being refused
    # (the kernel caps it at net.core.somaxconn).
    request_queue_size = 1024

    def __init__(
        self,
        address: tuple[str, int],
        handler: type[BaseHTTPRequestHandler],
        *,
        tls: ssl.SSLContext | None = None,
        max_connections: int = MAX_CONNECTIONS,
    ) -> None:
        self.tls = tls  # read per connection, so a reload may replace it
        self._slots = threading.BoundedSemaphore(max_connections)
        self._closing = threading.Event()
        super().__init__(address, handler)

    def process_request(self, request: _Request, client_address: Any) -> None:
        # Runs on the accept loop: waiting here for a free slot leaves new connections in the backlog.
        while not self._slots.acquire(timeout=0.2):
            if self._closing.is_set():
                self.shutdown_request(request)
                return
        try:
            super().process_request(request, client_address)
        except BaseException:
            self._slots.release()
            raise

    def process_request_thread(self, request: _Request, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._slots.release()

    def finish_request(self, request: _Request, client_address: Any) -> None:
        tls = self.tls
        if tls is None or not isinstance(request, socket.socket):
            super().finish_request(request, client_address)
            return
        # The handshake runs here, on the connection's own thread: a slow or silent client never
        # holds up the accept loop, and a failed handshake ends only its own connection.
        request.settimeout(TLS_HANDSHAKE_SECONDS)
        try:
            connection = tls.wrap_socket(request, server_side=True)
        except OSError as exc:  # ssl.SSLError included: no certificate, wrong CA, TLS 1.1, plain HTTP
            log.debug("TLS handshake with %s failed: %s", client_address[0], exc)
            return
        try:
            super().finish_request(connection, client_address)
        finally:
            self.shutdown_request(connection)

    def handle_error(self, _request: _Request, client_address: Any) -> None:
        # A client that went away mid-response is routine; the stdlib would print a traceback to stderr.
        error = sys.exc_info()[1]
        if isinstance(error, OSError):
            log.debug("connection from %s ended: %s", client_address[0], error)
        else:
            log.error("request from %s failed", client_address[0], exc_info=error)

    def shutdown(self) -> None:
        self._closing.set()  # releases an accept loop that waits for a slot
        super().shutdown()

    @property
    def scheme(self) -> str:
        return "https" if self.tls else "http"
