"""The exporter's HTTP server with 10,000 items published, in a process of its own (for tests/e2e/test_load.py).

`python -m tests.load_server [items]` builds a Store with that many protected items directly (no
Azure, no simulator), publishes it, serves it on 127.0.0.1:0 and prints one JSON line (url, sizes).
Meanwhile a publisher thread plays the poller: it changes one value and publishes a new snapshot,
again and again, so that scrapes run while the exposition is re-rendered and swapped; the JSON
line comes once a few of those publishes are done (the memory baseline is then the steady one). Closing
stdin stops it; it then prints a second JSON line (how many publishes) and exits.

A process of its own so that the test reads this server's threads and memory from
/proc/<pid>/status, undisturbed by the 200 client threads of the test itself.
"""

from __future__ import annotations

import json
import sys
import threading
import time

from exporter.azure.telemetry import ApiTelemetry
from exporter.exposition.publisher import Publisher
from exporter.model import Job, VaultInfo, VaultRef
from exporter.store.job_store import Store, VaultPoll
from exporter.web.server import ExporterHTTPServer

T0 = 1_795_000_000.0
VAULTS = 10
MAX_PUBLISHES = 1000  # bounded, whatever the test does
# The URL is announced only after this many re-renders: each holds the served exposition while the
# next one is built, so the process's memory reaches its steady high-water mark first, and the
# test's baseline is the publisher's own cost, not a moment between two renders.
WARM_PUBLISHES = 3
WARM_SECONDS = 60.0


def build_store(items: int) -> tuple[Store, list[VaultRef]]:
    store = Store(lookback=7 * 86400, clock=lambda: T0)
    refs = [VaultRef(f"{n:08d}-0000-4000-8000-000000000000", f"rg-backup-{n}", f"vault-{n}") for n in range(VAULTS)]
    store.set_vaults([VaultInfo(ref, "westeurope") for ref in refs], {})
    per_vault = items // VAULTS
    for v, ref in enumerate(refs):
        jobs = []
        for i in range(per_vault):
            status = "Failed" if i % 17 == 0 else "Completed"
            start = T0 - 3600 - i
            jobs.append(Job(f"job-{v}-{i}", f"vm-app-{v:02d}-{i:05d}", "AzureIaasVM", "Backup", status,
                            start_time=start, end_time=start + 1200, duration_seconds=1200.0,
                            size_bytes=float(i * 1048576), error_code="400094" if status == "Failed" else None,
                            error_title="UserErrorVmNotFound" if status == "Failed" else None))
        store.apply(ref, jobs)
        store.record(VaultPoll(ref, ok=True, duration=1.0, window_end=T0))
    return store, refs


def main() -> None:
    items = int(sys.argv[1]) if len(sys.argv) > 1 else 10_000
    store, refs = build_store(items)
    publisher = Publisher(ApiTelemetry())
    first = publisher.publish(store.snapshot())
    server = ExporterHTTPServer(("127.0.0.1", 0), lambda: publisher.current)
    server.serve_in_thread()
    stop, warm = threading.Event(), threading.Event()
    published = [1]

    def keep_publishing() -> None:
        for n in range(MAX_PUBLISHES):
            if stop.is_set():
                return
            store.record(VaultPoll(refs[0], ok=True, duration=2.0 + n, window_end=T0))  # a value every scrape sees
            publisher.publish(store.snapshot())
            published[0] += 1
            if n + 1 >= WARM_PUBLISHES:
                warm.set()

    poller = threading.Thread(target=keep_publishing, name="poller", daemon=True)
    poller.start()
    warm.wait(WARM_SECONDS)
    print(json.dumps({"url": server.url, "plain": first.plain_size, "gzip": len(first.gzipped)}), flush=True)
    sys.stdin.read()  # until the test closes our stdin
    stop.set()  # a render in progress is not waited for: the process ends with its daemon threads
    print(json.dumps({"published": published[0], "at": time.time()}), flush=True)
    server.shutdown()
    server.server_close()


if __name__ == "__main__":
    main()
