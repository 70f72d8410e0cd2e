"""A scrape load generator: `python -m bench.loadgen --port P --requests N --clients 8 [--gzip]`.

Each client is a thread with one keep-alive connection that sends a GET and reads the answer
into a buffer, with as little Python per request as possible so that the server, not the client,
is what is measured. Prints one JSON line: latency percentiles (ms), requests/s, bytes.
"""

from __future__ import annotations

import argparse
import itertools
import json
import socket
import threading
import time

from bench.common import percentile


class _Reader:
    """Reads one HTTP/1.1 response with a Content-Length into a reused buffer."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.view = memoryview(bytearray(1 << 20))

    def response(self) -> int:
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("server closed the connection")
            head += chunk
        header, _, rest = head.partition(b"\r\n\r\n")
        if not header.startswith(b"HTTP/1.1 200"):
            raise ConnectionError(header.split(b"\r\n", 1)[0].decode())
        length = next(
            int(line.split(b":", 1)[1]) for line in header.split(b"\r\n") if line.lower().startswith(b"content-length:")
        )
        if len(self.view) < length:
            self.view = memoryview(bytearray(length))
        got = len(rest)
        while got < length:
            n = self.sock.recv_into(self.view[got:length])
            if not n:
                raise ConnectionError("short body")
            got += n
        return length


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--path", default="/metrics")
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--gzip", action="store_true")
    parser.add_argument("--warmup", type=int, default=2, help="unmeasured requests per client first")
    args = parser.parse_args()
    encoding = b"Accept-Encoding: gzip\r\n" if args.gzip else b""
    request = (
        f"GET {args.path} HTTP/1.1\r\nHost: {args.host}:{args.port}\r\nUser-Agent: bench\r\n".encode()
        + encoding
        + b"Connection: keep-alive\r\n\r\n"
    )
    tickets = itertools.count()
    latencies: list[float] = []
    sizes: list[int] = []
    errors: list[str] = []
    lock = threading.Lock()
    ready = threading.Barrier(args.clients + 1)

    def client() -> None:
        sock = socket.create_connection((args.host, args.port))
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        reader = _Reader(sock)
        mine: list[float] = []
        size = 0
        try:
            for _ in range(args.warmup):
                sock.sendall(request)
                reader.response()
            ready.wait()
            while next(tickets) < args.requests:
                started = time.perf_counter()
                sock.sendall(request)
                size = reader.response()
                mine.append(time.perf_counter() - started)
        except (OSError, ConnectionError, StopIteration) as exc:
            with lock:
                errors.append(repr(exc))
        finally:
            sock.close()
        with lock:
            latencies.extend(mine)
            sizes.append(size)

    threads = [threading.Thread(target=client) for _ in range(args.clients)]
    for thread in threads:
        thread.start()
    ready.wait()
    started = time.perf_counter()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    print(json.dumps({
        "requests": len(latencies),
        "seconds": elapsed,
        "rps": len(latencies) / elapsed if elapsed else 0.0,
        "p50_ms": percentile(latencies, 0.50) * 1000,
        "p99_ms": percentile(latencies, 0.99) * 1000,
        "max_ms": max(latencies, default=float("nan")) * 1000,
        "bytes": max(sizes, default=0),
        "errors": errors[:3],
    }))


if __name__ == "__main__":
    main()
