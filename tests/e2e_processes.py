"""Processes and servers of the end-to-end tests: bounded waits, child processes that log to a file
(no pipe to fill up) and stop with terminate-then-kill, and a webhook receiver standing in for a
pager. Every server binds 127.0.0.1.
"""

from __future__ import annotations

import contextlib
import json
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, TypeVar

import pytest

T = TypeVar("T")
STOP_SECONDS = 10.0


def free_port() -> int:
    """A port free right now on 127.0.0.1, for the servers that cannot report a port-0 bind."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def wait_for(
    what: str,
    probe: Callable[[], T | None],
    deadline: float,
    *,
    alive: Callable[[], None] = lambda: None,
    detail: Callable[[], str] = lambda: "",
    interval: float = 0.25,
) -> T:
    """Call `probe` until it returns something other than None; fail with `what` at `deadline`
    (a time.monotonic() value). `alive` fails early when a process the wait depends on died."""
    last_error = ""
    while True:
        alive()
        try:
            value = probe()
        except (OSError, ValueError) as exc:  # connection refused, bad JSON while starting up
            value, last_error = None, f" (last error: {exc!r})"
        if value is not None:
            return value
        if time.monotonic() >= deadline:
            pytest.fail(f"timed out waiting for {what}{last_error}\n{detail()}", pytrace=False)
        time.sleep(interval)


class ManagedProcess:
    """A child process with its output in a log file; `stop()` is idempotent."""

    def __init__(self, name: str, args: list[str], log_path: Path, **popen: Any) -> None:
        self.name = name
        self.log_path = log_path
        self._log = log_path.open("wb")
        try:
            self.proc = subprocess.Popen(args, stdout=self._log, stderr=subprocess.STDOUT, **popen)
        except OSError:
            self._log.close()
            raise

    def log_tail(self, lines: int = 40) -> str:
        text = self.log_path.read_text(encoding="utf-8", errors="replace")
        return f"--- last {lines} lines of {self.name}'s log ({self.log_path}):\n" + "\n".join(
            text.splitlines()[-lines:]
        )

    def check_alive(self) -> None:
        if self.proc.poll() is not None:
            pytest.fail(f"{self.name} exited with code {self.proc.returncode}\n{self.log_tail()}", pytrace=False)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=STOP_SECONDS)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=STOP_SECONDS)
        self._log.close()


class WebhookReceiver:
    """Alertmanager's webhook target: keeps every notification POSTed to it."""

    def __init__(self) -> None:
        self._notifications: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                with receiver._lock:
                    receiver._notifications.append(json.loads(body))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's name
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}/alerts"

    @contextlib.contextmanager
    def running(self) -> Iterator[WebhookReceiver]:
        self._thread.start()
        try:
            yield self
        finally:
            self._server.shutdown()
            self._server.server_close()
            self._thread.join(timeout=STOP_SECONDS)

    def alerts(self, status: str = "firing") -> list[dict[str, Any]]:
        """Every alert of every notification with this status, in arrival order."""
        with self._lock:
            notifications = list(self._notifications)
        return [alert for n in notifications for alert in n.get("alerts", []) if alert.get("status") == status]
