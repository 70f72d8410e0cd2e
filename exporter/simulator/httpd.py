"""The socket side of the simulator: HTTP/1.1 keep-alive on a ThreadingHTTPServer, quiet, and
able to stop with no thread left behind. What to answer is the Simulator's business."""

from __future__ import annotations

import contextlib
import logging
import socket
import struct
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Protocol
from urllib.parse import parse_qsl, urlsplit

from exporter.simulator.routing import JSON_CONTENT_TYPE, RecordedRequest, Request, Response

log = logging.getLogger(__name__)


class Answerer(Protocol):
    def answer(self, request: Request) -> tuple[str, Response | None]: ...

    def record(self, entry: RecordedRequest) -> None: ...


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: requests.Session pools connections
    # Headers and body go out in two writes; with Nagle on, the body waits for the client's
    # delayed ACK of the headers: 40 ms on every keep-alive request.
    disable_nagle_algorithm = True
    timeout = 240  # idle keep-alive connections close after this, as behind an Azure load balancer
    server: SimulatorHTTPServer

    def setup(self) -> None:
        super().setup()
        self.server.track(self.connection, add=True)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.track(self.connection, add=False)

    def version_string(self) -> str:
        return "Microsoft-HTTPAPI/2.0"

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's name
        """Quiet: one line per request on stderr would drown test output."""

    def do_GET(self) -> None:
        self._serve("GET")

    def do_POST(self) -> None:
        self._serve("POST")

    def do_PUT(self) -> None:
        self._serve("PUT")

    def do_DELETE(self) -> None:
        self._serve("DELETE")

    def do_PATCH(self) -> None:
        self._serve("PATCH")

    def _serve(self, method: str) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length > 0 else b""
        parts = urlsplit(self.path)
        query = dict(reversed(parse_qsl(parts.query, keep_blank_values=True)))  # first value wins
        headers = {name.lower(): value for name, value in self.headers.items()}
        request = Request(method, self.path, parts.path, query, headers, body)
        simulator = self.server.simulator
        api, response = simulator.answer(request)
        # Recorded before answering: a client that has its answer always finds it recorded.
        status = 0 if response is None else response.status
        simulator.record(
            RecordedRequest(
                method, parts.path, query, api, status, time.time(), headers.get("user-agent", ""), self.path
            )
        )
        if response is None:
            self._reset()
        else:
            self._send(response)

    def _send(self, response: Response) -> None:
        self.send_response(response.status)
        headers = {"Content-Type": JSON_CONTENT_TYPE, "x-ms-request-id": str(uuid.uuid4()), **response.headers}
        headers["x-ms-correlation-request-id"] = headers["x-ms-request-id"]
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(response.body)))
        self.end_headers()
        self.wfile.write(response.body)

    def _reset(self) -> None:
        # SO_LINGER 0 makes close() send RST: the client sees "connection reset by peer".
        self.close_connection = True
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.rfile.close()
        self.connection.close()


class SimulatorHTTPServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], simulator: Answerer) -> None:
        self.simulator = simulator
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        super().__init__(address, Handler)

    def track(self, connection: socket.socket, *, add: bool) -> None:
        with self._connections_lock:
            if add:
                self._connections.add(connection)
            else:
                self._connections.discard(connection)

    def close_connections(self) -> None:
        """Wake handler threads parked on idle keep-alive connections, so stop() leaves none."""
        with self._connections_lock:
            connections = list(self._connections)
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)

    def handle_error(self, _request: Any, client_address: Any) -> None:
        # A client hanging up mid-response is routine here; never print tracebacks to stderr.
        # socketserver calls this from inside its except block, so exc_info is the error.
        log.debug("simulator: error serving %s", client_address, exc_info=True)  # noqa: LOG014
