"""One client of the poll-pipeline bench, in a process of its own for a clean RSS:
`python -m bench.pipeline_client MODE URL SUB RG VAULT START END REPEAT`.

MODE: bare (requests + json.loads), exporter (RecoveryServicesSource.list_jobs + Store.apply),
sdk (azure-mgmt-recoveryservicesbackup backup_jobs.list, reading the fields the exporter reads).
Set-up (imports, token) is not timed. Before each timed listing it prints "ready" and waits for a
line on stdin, so the parent can read the simulator's CPU time around the listing alone. Ends
with one JSON line.
"""

from __future__ import annotations

import gc
import json
import os
import sys
import time
from collections import Counter
from collections.abc import Callable
from typing import Any, NamedTuple

from bench.common import peak_rss_mb, rss_mb

SCOPE = "https://management.azure.com/.default"


class Target(NamedTuple):
    url: str
    sub: str
    rg: str
    vault: str
    start: float
    end: float
API_VERSION = "2025-08-01"


def bare(target: Target) -> Callable[[], int]:
    url, sub, rg, vault, start, end = target
    import requests  # noqa: PLC0415

    from exporter.azure.backup import job_filter  # noqa: PLC0415 - a string helper, no client

    session = requests.Session()
    token = session.get(
        os.environ["IDENTITY_ENDPOINT"],
        params={"resource": "https://management.azure.com", "api-version": "2019-08-01"},
        headers={"X-IDENTITY-HEADER": os.environ["IDENTITY_HEADER"]},
        timeout=30,
    ).json()["access_token"]
    headers = {"Authorization": f"Bearer {token}"}
    path = (f"{url}/subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.RecoveryServices"
            f"/vaults/{vault}/backupJobs")
    params = {"api-version": API_VERSION, "$filter": job_filter(start, end)}

    def listing() -> int:
        count = 0
        body = json.loads(session.get(path, params=params, headers=headers, timeout=60).content)
        while True:
            count += len(body["value"])
            link = body.get("nextLink")
            if not link:
                return count
            body = json.loads(session.get(link, headers=headers, timeout=60).content)

    return listing


def exporter(target: Target) -> Callable[[], int]:
    url, sub, rg, vault, start, end = target
    from azure.identity import ManagedIdentityCredential  # noqa: PLC0415

    from exporter.azure.arm import ArmClient  # noqa: PLC0415
    from exporter.azure.backup import RecoveryServicesApi  # noqa: PLC0415
    from exporter.azure.credential import TokenSource  # noqa: PLC0415
    from exporter.azure.telemetry import ApiTelemetry  # noqa: PLC0415
    from exporter.model import VaultInfo, VaultRef  # noqa: PLC0415
    from exporter.polling.sources import RecoveryServicesSource  # noqa: PLC0415
    from exporter.store.job_store import Store  # noqa: PLC0415

    telemetry = ApiTelemetry()
    tokens = TokenSource(ManagedIdentityCredential(), SCOPE, telemetry)
    tokens.token()
    # No pacer: this bench measures the pipeline's own cost; pacing is a deliberate wait
    # (500 pages of one subscription would be spread over ~20 s against real ARM).
    arm = ArmClient(url, tokens, telemetry, timeout=60)
    source = RecoveryServicesSource(RecoveryServicesApi(arm, API_VERSION))
    ref = VaultRef(sub, rg, vault)

    def listing() -> int:
        store = Store(lookback=end - start, clock=lambda: end)
        store.set_vaults([VaultInfo(ref)], {})
        errors: Counter[str] = Counter()
        jobs = source.list_jobs(ref, start, end, errors)
        store.apply(ref, jobs)
        return len(jobs)

    return listing


def sdk(target: Target) -> Callable[[], int]:
    url, sub, rg, vault, start, end = target
    from azure.identity import ManagedIdentityCredential  # noqa: PLC0415
    from azure.mgmt.recoveryservicesbackup import RecoveryServicesBackupClient  # noqa: PLC0415

    from exporter.azure.backup import job_filter  # noqa: PLC0415

    client = RecoveryServicesBackupClient(ManagedIdentityCredential(), sub, base_url=url)
    flt = job_filter(start, end)

    def listing() -> int:
        read = []
        # The SDK's bearer policy refuses a token over plain http unless told otherwise per call.
        for job in client.backup_jobs.list(vault, rg, filter=flt, enforce_https=False):
            p = job.properties
            assert p is not None  # the SDK types it Optional; a listed job always has it
            errors = getattr(p, "error_details", None)
            read.append((job.name, p.entity_friendly_name, p.backup_management_type, p.operation, p.status,
                         p.start_time, p.end_time, getattr(p, "duration", None), errors))
        return len(read)

    return listing


def main() -> None:
    mode, url, sub, rg, vault, start, end, repeat = sys.argv[1:9]
    target = Target(url, sub, rg, vault, float(start), float(end))
    listing = {"bare": bare, "exporter": exporter, "sdk": sdk}[mode](target)
    before = rss_mb()
    walls, cpus, count = [], [], 0
    for _ in range(int(repeat)):
        gc.collect()
        print("ready", flush=True)
        sys.stdin.readline()
        wall, cpu = time.perf_counter(), time.process_time()
        count = listing()
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)
        print(json.dumps({"wall": walls[-1]}), flush=True)
    result: dict[str, Any] = {"mode": mode, "jobs": count, "walls": walls, "cpus": cpus,
                              "rss_before_mb": before, "peak_rss_mb": peak_rss_mb()}
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
