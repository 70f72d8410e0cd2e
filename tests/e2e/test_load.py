"""Load: 200 concurrent scrapers against a 10,000-item exposition while the poller keeps publishing.

Bounded: 200 clients x 10 requests, a deadline on everything, the server in a process of its own
(tests/load_server.py) whose threads and memory are read from /proc/<pid>/status. The figures are
printed (`pytest -s tests/e2e/test_load.py`) for the README.
"""

from __future__ import annotations

import gzip
import http.client
import json
import subprocess
import sys
import threading
import time
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from exporter.web.connections import MAX_CONNECTIONS

pytestmark = pytest.mark.slow  # minutes of real processes: the lowest-bounds CI step leaves it out

CLIENTS = 200
REQUESTS_PER_CLIENT = 10
PLAIN_EVERY = 20  # one request in twenty asks for plain text (36 MB), the others for gzip (0.7 MB)
DEADLINE_SECONDS = 60.0
# After its first scrape each client keeps its connection idle this long, as Prometheus keeps
# its connection between scrapes: without a limit that would hold one server thread per client.
IDLE_AFTER_FIRST_SECONDS = 0.5
# The server process's own threads beside its connection threads: main, accept loop, publisher.
OWN_THREADS = 3


@dataclass
class Tally:
    latencies: list[float] = field(default_factory=list)
    connected: list[float] = field(default_factory=list)  # latencies of requests 2..n: no wait for a slot
    errors: list[str] = field(default_factory=list)
    gzip_crcs: set[int] = field(default_factory=set)
    lock: threading.Lock = field(default_factory=threading.Lock)


def proc_status(pid: int) -> dict[str, int]:
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, value = line.partition(":")
        if name in ("Threads", "VmRSS", "VmHWM"):
            fields[name] = int(value.split()[0])  # kB for the Vm* lines
    return fields


def scrape(conn: http.client.HTTPConnection, gzipped: bool, buffer: bytearray) -> tuple[int, int, int, str]:
    """One GET /metrics; the body is streamed, never held whole (200 clients x 37 MB would not fit).

    Gzip bodies get a CRC, to tell the published versions apart; plain ones are only counted."""
    conn.request("GET", "/metrics", headers={"Accept-Encoding": "gzip" if gzipped else "identity"})
    response = conn.getresponse()
    length, crc, view = 0, 0, memoryview(buffer)
    while n := response.readinto(buffer):
        length += n
        if gzipped:
            crc = zlib.crc32(view[:n], crc)
    headers = f"{response.getheader('Content-Length')} {response.getheader('Content-Encoding')}"
    return response.status, length, crc, headers


def client(host: str, port: int, number: int, start: threading.Barrier, tally: Tally) -> None:
    buffer = bytearray(1 << 20)
    conn = http.client.HTTPConnection(host, port, timeout=DEADLINE_SECONDS)
    start.wait()
    try:
        for i in range(REQUESTS_PER_CLIENT):
            gzipped = (number + i) % PLAIN_EVERY != 0
            began = time.perf_counter()
            status, length, crc, headers = scrape(conn, gzipped, buffer)
            elapsed = time.perf_counter() - began
            declared, encoding = headers.split()
            with tally.lock:
                tally.latencies.append(elapsed)
                if i > 0:
                    tally.connected.append(elapsed)
                if status != 200 or int(declared) != length or (encoding == "gzip") != gzipped:
                    tally.errors.append(f"client {number}: {status} {length} bytes, headers {headers}")
                elif gzipped:
                    tally.gzip_crcs.add(crc)
            if i == 0:
                time.sleep(IDLE_AFTER_FIRST_SECONDS)
    except Exception as exc:  # noqa: BLE001 - every failure is a counted error, not a crash of the thread
        with tally.lock:
            tally.errors.append(f"client {number}: {type(exc).__name__}: {exc}")
    finally:
        conn.close()


def test_200_concurrent_scrapers_of_10000_items_while_publishing() -> None:
    started = time.monotonic()
    server = subprocess.Popen([sys.executable, "-m", "tests.load_server", "10000"], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True)
    assert server.stdin is not None
    assert server.stdout is not None
    watchdog = threading.Timer(DEADLINE_SECONDS + 30, server.kill)  # nothing below may hang for good
    watchdog.start()
    try:
        hello = json.loads(server.stdout.readline())
        url = urlsplit(hello["url"])
        host, port = str(url.hostname), int(url.port or 0)
        before = proc_status(server.pid)
        first = http.client.HTTPConnection(host, port, timeout=30)
        first.request("GET", "/metrics", headers={"Accept-Encoding": "gzip"})
        sample = gzip.decompress(first.getresponse().read())
        first.close()
        assert sample.count(b"azure_backup_job_last_status{") >= 10_000 * 6

        tally, peak = Tally(), {"Threads": 0, "VmRSS": 0}
        done = threading.Event()

        def sample_proc() -> None:
            while not done.wait(0.02):
                for name, value in proc_status(server.pid).items():
                    if name in peak:
                        peak[name] = max(peak[name], value)

        sampler = threading.Thread(target=sample_proc, daemon=True)
        sampler.start()
        barrier = threading.Barrier(CLIENTS)
        threads = [threading.Thread(target=client, args=(host, port, n, barrier, tally), daemon=True)
                   for n in range(CLIENTS)]
        load_began = time.perf_counter()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=max(0.0, started + DEADLINE_SECONDS - time.monotonic()))
        load_seconds = time.perf_counter() - load_began
        done.set()
        sampler.join(timeout=5)
        assert not any(thread.is_alive() for thread in threads), "the load did not finish in time"

        after = proc_status(server.pid)
        # The publisher re-renders all along (a render of 10,000 items takes seconds): if none
        # finished during the load, one scraper goes on until the served bytes change.
        watcher = http.client.HTTPConnection(host, port, timeout=30)
        buffer = bytearray(1 << 20)
        while len(tally.gzip_crcs) < 2 and time.monotonic() < started + DEADLINE_SECONDS:
            status, _, crc, _ = scrape(watcher, True, buffer)
            assert status == 200
            tally.gzip_crcs.add(crc)
            time.sleep(0.2)
        watcher.close()
        server.stdin.close()
        published = json.loads(server.stdout.readline())["published"]
    finally:
        watchdog.cancel()
        if not server.stdin.closed:
            server.stdin.close()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait(timeout=10)

    latencies, connected = sorted(tally.latencies), sorted(tally.connected)
    p50, p99 = latencies[len(latencies) // 2], latencies[int(len(latencies) * 0.99) - 1]
    figures = {
        "requests": len(latencies), "errors": len(tally.errors), "seconds": round(load_seconds, 2),
        "req_per_s": round(len(latencies) / load_seconds, 1), "p50_ms": round(p50 * 1000, 1),
        "p99_ms": round(p99 * 1000, 1), "max_ms": round(latencies[-1] * 1000, 1),
        "p99_connected_ms": round(connected[int(len(connected) * 0.99) - 1] * 1000, 1),
        "threads_before": before["Threads"], "threads_max": peak["Threads"],
        "rss_before_mb": round(before["VmRSS"] / 1024), "hwm_before_mb": round(before["VmHWM"] / 1024),
        "rss_max_mb": round(peak["VmRSS"] / 1024), "hwm_after_mb": round(after["VmHWM"] / 1024),
        "plain_mb": round(hello["plain"] / 2**20, 1),
        "gzip_mb": round(hello["gzip"] / 2**20, 2), "published": published,
        "distinct_gzip_bodies": len(tally.gzip_crcs), "total_s": round(time.monotonic() - started, 1),
    }
    print("\nload:", json.dumps(figures))  # the figures the README quotes
    assert tally.errors == [], tally.errors[:5]
    assert len(latencies) == CLIENTS * REQUESTS_PER_CLIENT
    # Connection threads never exceed the limit, however many clients wait.
    # (+1: a connection's slot is freed just before its thread ends, so a 65th may overlap it.)
    assert peak["Threads"] <= MAX_CONNECTIONS + OWN_THREADS + 1
    # No copy of the exposition per connection: 200 clients add little to what publishing needs
    # (the high-water mark before the load is that of several renders, each made while the
    # previous exposition is still served: tests/load_server.py waits for them). Plain text is
    # kept gzipped until a client asks for it, then made once per rendering: the plain scrapers
    # add at most two texts (the served rendering's and the next one's), not one per connection.
    assert peak["VmRSS"] <= before["VmHWM"] + 2 * hello["plain"] // 1024 + 32 * 1024
    # The poller kept publishing while the scrapers read, and the served bytes changed.
    assert published >= 2
    assert len(tally.gzip_crcs) >= 2


PLAIN_SECONDS = 10.0
PLAIN_CLIENTS = 2


def test_plain_scrapes_while_rendering_hold_no_copy_of_the_text() -> None:
    """Plain-text scrapers back to back while the poller re-renders: the text is streamed from the
    published fragments, so memory stays where publishing alone put it (before, each rendering was
    decompressed into a 37 MB copy for plain clients, and the allocator kept those)."""
    server = subprocess.Popen([sys.executable, "-m", "tests.load_server", "10000"], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True)
    assert server.stdin is not None
    assert server.stdout is not None
    watchdog = threading.Timer(DEADLINE_SECONDS + 30, server.kill)
    watchdog.start()
    try:
        hello = json.loads(server.stdout.readline())
        url = urlsplit(hello["url"])
        host, port = str(url.hostname), int(url.port or 0)
        before = proc_status(server.pid)
        tally, stop, peak = Tally(), threading.Event(), [0]

        def plain_client() -> None:
            conn, buffer = http.client.HTTPConnection(host, port, timeout=DEADLINE_SECONDS), bytearray(1 << 20)
            try:
                while not stop.is_set():
                    status, length, _, headers = scrape(conn, False, buffer)
                    with tally.lock:
                        tally.latencies.append(length)
                        if status != 200 or int(headers.split()[0]) != length:
                            tally.errors.append(f"{status} {length} {headers}")
            finally:
                conn.close()

        threads = [threading.Thread(target=plain_client, daemon=True) for _ in range(PLAIN_CLIENTS)]
        for thread in threads:
            thread.start()
        deadline = time.monotonic() + PLAIN_SECONDS
        while time.monotonic() < deadline:
            peak[0] = max(peak[0], proc_status(server.pid)["VmRSS"])
            time.sleep(0.02)
        stop.set()
        for thread in threads:
            thread.join(timeout=DEADLINE_SECONDS)
        server.stdin.close()
        published = json.loads(server.stdout.readline())["published"]
    finally:
        watchdog.cancel()
        if not server.stdin.closed:
            server.stdin.close()
        server.wait(timeout=30)
    print("\nplain load:", json.dumps({"scrapes": len(tally.latencies), "published": published,
                                       "hwm_before_mb": before["VmHWM"] // 1024, "rss_max_mb": peak[0] // 1024,
                                       "plain_mb": round(hello["plain"] / 2**20, 1)}))
    assert tally.errors == [], tally.errors[:5]
    assert len(tally.latencies) >= PLAIN_CLIENTS  # each client got whole bodies
    assert published >= 2  # renders ran while the plain clients read
    # Not one copy of the text per scrape or per rendering: growth stays under half a text.
    assert peak[0] <= before["VmHWM"] + hello["plain"] // 2 // 1024
