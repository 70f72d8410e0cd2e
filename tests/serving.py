"""An exporter HTTP server on a free loopback port for the tests, and a one-request client."""

from __future__ import annotations

import http.client
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from exporter.exposition.publisher import Exposition
from exporter.web.server import ExporterHTTPServer


@contextmanager
def serving(source: Callable[[], Exposition], path: str = "/metrics", **kwargs: Any) -> Iterator[ExporterHTTPServer]:
    """Serve `source` on 127.0.0.1 (a free port) until the block ends; `kwargs` go to the server."""
    server = ExporterHTTPServer(("127.0.0.1", 0), source, path, **kwargs)
    # A short poll interval: shutdown() waits for the accept loop's next look (0.5 s by default).
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, name="http", daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def get(server: ExporterHTTPServer, path: str, headers: dict[str, str] | None = None) -> http.client.HTTPResponse:
    """One plain-HTTP GET of `path`, the response unread."""
    host, port = server.server_address[:2]
    conn = http.client.HTTPConnection(str(host), int(port), timeout=5)
    conn.request("GET", path, headers=headers or {})
    return conn.getresponse()
