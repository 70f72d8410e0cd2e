"""The exporter process of the growth bench: `python -m bench.growth_proc ITEMS SECONDS`.

Builds a store of ITEMS protected items in 100 vaults (no Azure: the store is fed jobs directly),
renders it cold, then once per poll of one vault, and serves it beside a floor server (the same
bytes from memory, stdlib handler) while a plain-text client scrapes the exporter once a second.
Load runs of 8 gzip scrapers (bench/loadgen.py, a process of its own) alternate: the floor with no
render in flight, then the exporter while a thread polls (and re-renders) one vault every 0.25 s;
the best p99 of each. Prints one JSON line.

`python -m bench.growth_proc --plain-client PORT SECONDS` is that plain-text client.
"""

from __future__ import annotations

import gc
import gzip
import http.client
import json
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

from bench.common import ROOT, T0, child_env, peak_rss_mb, rss_mb

VAULTS = 100

REQUESTS = 4000  # gzip requests per run: seconds, with renders in flight all along
ROUNDS = 3
RENDER_EVERY = 0.25  # seconds: 4 vault polls a second, far more than production


def plain_client(port: int, seconds: float) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    buffer = bytearray(1 << 20)
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        conn.request("GET", "/metrics", headers={"Accept-Encoding": "identity"})
        response = conn.getresponse()
        while response.readinto(buffer):
            pass
        time.sleep(1.0)
    conn.close()


def build(items: int) -> tuple[Any, list[Any]]:
    from exporter.model import Job, VaultInfo, VaultRef  # noqa: PLC0415 - RSS is read before the imports
    from exporter.store.job_store import Store, VaultPoll  # noqa: PLC0415

    store = Store(lookback=7 * 86400, clock=lambda: T0)
    refs = [VaultRef(f"{n:08d}-0000-4000-8000-000000000000", f"rg-backup-{n % 7}", f"vault-{n:03d}")
            for n in range(VAULTS)]
    store.set_vaults([VaultInfo(ref, "westeurope", (("team", f"t{n % 5}"),)) for n, ref in enumerate(refs)], {})
    for v, ref in enumerate(refs):
        jobs = []
        for i in range(items // VAULTS):
            status = "Failed" if i % 17 == 0 else "Completed"
            start = T0 - 3600 - i * 13
            jobs.append(Job(f"job-{v}-{i}", f"vm-app-{v:03d}-{i:05d}", "AzureIaasVM", "Backup", status,
                            start_time=start, end_time=start + 1200 + i, duration_seconds=1200.0 + i,
                            size_bytes=float(i * 1048576 + v), error_code="400094" if status == "Failed" else None,
                            error_title="UserErrorVmNotFound" if status == "Failed" else None))
        store.record(VaultPoll(ref, ok=True, duration=1.0, window_end=T0, jobs=tuple(jobs)))
    return store, refs


def cpu(action: Any) -> tuple[float, Any]:
    gc.collect()
    began = time.process_time()
    result = action()
    return time.process_time() - began, result


def load(port: int) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, "-m", "bench.loadgen", "--port", str(port), "--requests", str(REQUESTS), "--gzip"],
        capture_output=True, text=True, timeout=600, env=child_env(), cwd=ROOT, check=True,
    )
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def serve(publisher: Any, poll_one: Callable[[], None]) -> tuple[list[dict[str, Any]], list[dict[str, Any]], float]:
    """The load runs: floor and exporter alternating; returns their results and the peak RSS."""
    from bench.scrape import FloorServer  # noqa: PLC0415
    from exporter.exposition.publisher import Exposition  # noqa: PLC0415
    from exporter.web.server import ExporterHTTPServer  # noqa: PLC0415

    server = ExporterHTTPServer(("127.0.0.1", 0), lambda: publisher.current)
    server.serve_in_thread()
    # The floor serves gzip only here: no plain copy of its own in this process's RSS.
    floor = FloorServer(Exposition(publisher.current.gzipped, 0, True, (), 0.0))
    threading.Thread(target=floor.serve_forever, daemon=True).start()
    stop = threading.Event()
    peak = [rss_mb()]
    rendering = threading.Event()

    def keep_polling() -> None:
        while not stop.wait(RENDER_EVERY):
            if rendering.is_set():
                poll_one()

    def sample() -> None:  # RSS while serving (VmHWM would count the cold render and this bench's own gzip)
        while not stop.wait(0.05):
            peak[0] = max(peak[0], rss_mb())

    poller = threading.Thread(target=keep_polling, daemon=True)
    poller.start()
    threading.Thread(target=sample, daemon=True).start()
    plain = subprocess.Popen([sys.executable, "-m", "bench.growth_proc", "--plain-client",
                              str(server.server_address[1]), "3600"], env=child_env(), cwd=ROOT)
    floor_runs, our_runs = [], []
    try:
        for _ in range(ROUNDS):  # alternating, best of the rounds: the machine is shared, noise only slows
            rendering.clear()
            floor_runs.append(load(floor.server_address[1]))
            rendering.set()
            our_runs.append(load(server.server_address[1]))
    finally:
        stop.set()
        plain.kill()
        plain.wait()
        poller.join()
    server.shutdown()
    floor.shutdown()
    return floor_runs, our_runs, peak[0]


def main() -> None:
    if sys.argv[1] == "--plain-client":
        plain_client(int(sys.argv[2]), float(sys.argv[3]))
        return
    items = int(sys.argv[1])
    from exporter.azure.telemetry import ApiTelemetry  # noqa: PLC0415
    from exporter.exposition.fragments import GZIP_LEVEL  # noqa: PLC0415
    from exporter.exposition.publisher import Publisher  # noqa: PLC0415
    from exporter.model import Job  # noqa: PLC0415
    from exporter.store.job_store import VaultPoll  # noqa: PLC0415
    from exporter.web.server import prefer_scrapes  # noqa: PLC0415

    prefer_scrapes()  # as the CLI does when it serves

    after_imports = rss_mb()
    store, refs = build(items)
    publisher = Publisher(ApiTelemetry(), ("team",))
    full_cpu, exposition = cpu(lambda: publisher.publish(store.snapshot()))
    whole_gzip_cpu, whole = cpu(lambda: gzip.compress(exposition.plain, GZIP_LEVEL, mtime=0))
    serial = [0]

    def poll_one() -> None:  # what a poll of one vault does to the store, then its publish
        serial[0] += 1
        vault = serial[0] % len(refs)
        item = f"vm-app-{vault:03d}-{serial[0] % max(1, items // VAULTS):05d}"  # an item it has: no new series
        ref = refs[vault]
        job = Job(f"new-{serial[0]}", item, "AzureIaasVM", "Backup", "Completed", start_time=T0 + serial[0],
                  end_time=T0 + serial[0] + 60, duration_seconds=60.0)
        store.record(VaultPoll(ref, ok=True, duration=1.0, window_end=T0 + serial[0], jobs=(job,)))
        publisher.publish(store.snapshot())

    incremental = sorted(cpu(poll_one)[0] for _ in range(5))[2]
    gc.collect()
    steady = rss_mb()
    floor_runs, our_runs, peak = serve(publisher, poll_one)
    current = publisher.current
    print(json.dumps({
        "items": len(store.snapshot().items), "vaults": len(refs), "rss_after_imports_mb": after_imports,
        "full_cpu": full_cpu, "incremental_cpu": incremental, "whole_gzip_cpu": whole_gzip_cpu,
        "plain_mb": current.plain_size / 2**20, "gzip_mb": len(current.gzipped) / 2**20,
        "whole_gzip_mb": len(whole) / 2**20, "steady_mb": steady, "peak_mb": peak, "hwm_mb": peak_rss_mb(),
        "renders": serial[0], "ours": min(our_runs, key=lambda r: r["p99_ms"]),
        "floor": min(floor_runs, key=lambda r: r["p99_ms"]),
    }))


if __name__ == "__main__":
    main()
