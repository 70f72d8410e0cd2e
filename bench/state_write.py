"""State file cost at SPEC §12's scale: 10,000 items, 100,000 counted job ids (100 vaults).

    python -m bench.state_write          # from the repository root

Prints, for a plain and a gzipped file, the size, the time of one save (encode, write, fsync,
rename) and of one load, as CPU time of this thread (robust on a busy machine) and wall time.
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from exporter.model import Job, VaultInfo, VaultRef
from exporter.store.job_store import Store, VaultPoll
from exporter.store.state_file import StateFile

NOW = 1_795_000_000.0
VAULTS, ITEMS_PER_VAULT, JOBS_PER_ITEM = 100, 100, 10
RUNS = 5


def build_store() -> Store:
    store = Store(7 * 86400.0, lambda: NOW)
    refs = [VaultRef(f"{v // 10:08d}-0000-4000-8000-000000000000", f"rg-{v}", f"vault-{v:03d}") for v in range(VAULTS)]
    store.set_vaults([VaultInfo(ref, "westeurope", (("team", "payments"),)) for ref in refs], {})
    n = 0
    for v, ref in enumerate(refs):
        jobs = []
        for i in range(ITEMS_PER_VAULT):
            for k in range(JOBS_PER_ITEM):
                start = NOW - 6 * 86400 + k * 43200 + i
                failed = k % 7 == 0
                jobs.append(Job(
                    f"{v:04x}{i:04x}-{k:04x}-4000-8000-{n:012x}", f"vm-app-{i:03d}", "AzureIaasVM", "Backup",
                    "Failed" if failed else "Completed", start, start + 1800.0, 1800.0,
                    None if k % 3 == 0 else 1.5e9, "UserErrorVmNotFound" if failed else None,
                    "The VM was not found" if failed else None, None, (), k == JOBS_PER_ITEM - 1,
                ))
                n += 1
        store.apply(ref, jobs)
        store.record(VaultPoll(ref, ok=True, duration=1.0, window_end=NOW))
    return store


def measure(action: Callable[[], object]) -> tuple[float, float]:
    """(median CPU seconds of this thread, median wall seconds) over RUNS runs."""
    cpu, wall = [], []
    for _ in range(RUNS):
        c, w = time.thread_time(), time.perf_counter()
        action()
        cpu.append(time.thread_time() - c)
        wall.append(time.perf_counter() - w)
    return statistics.median(cpu), statistics.median(wall)


def saver(store: Store, state: StateFile) -> Callable[[], None]:
    def save() -> None:
        store.revision += 1  # a poll changed something
        assert state.save(store)

    return save


def loader(path: Path) -> Callable[[], None]:
    def load() -> None:
        assert StateFile(path, clock=lambda: NOW).load(Store(7 * 86400.0, lambda: NOW))

    return load


def main() -> int:
    store = build_store()
    durable = store.durable()
    counted = sum(len(v.counted) for v in durable.vaults.values())
    print(f"{len(durable.items)} items, {counted} counted job ids, {len(durable.vaults)} vaults")
    for name in ("state.json", "state.json.gz"):
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / name
            save_cpu, save_wall = measure(saver(store, StateFile(path, clock=lambda: NOW)))
            load_cpu, load_wall = measure(loader(path))
            print(
                f"{name:14} {path.stat().st_size / 1e6:5.1f} MB  save {save_cpu * 1e3:4.0f} ms CPU "
                f"({save_wall * 1e3:4.0f} ms wall)  load {load_cpu * 1e3:4.0f} ms CPU ({load_wall * 1e3:4.0f} ms wall)"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
