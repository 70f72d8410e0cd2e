"""`python -m bench [--quick] [--only scrape,pipeline,polls,memory,growth] [--no-write]`: run the SPEC §12
benches, print each table, and write them all to bench/RESULTS.md."""

from __future__ import annotations

import argparse
import logging
import os
import platform
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from bench import growth, memory, pipeline, polls, scrape
from bench.common import Table

BENCHES: dict[str, Callable[[bool], list[Table]]] = {
    "scrape": scrape.run,
    "pipeline": pipeline.run,
    "polls": polls.run,
    "memory": memory.run,
    "growth": growth.run,
}
RESULTS = Path(__file__).resolve().parent / "RESULTS.md"


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench")
    parser.add_argument("--quick", action="store_true", help="tiny sizes: a smoke run, not a measurement")
    parser.add_argument("--only", default=",".join(BENCHES), help="comma-separated subset of " + ", ".join(BENCHES))
    parser.add_argument("--no-write", action="store_true", help="do not write bench/RESULTS.md")
    args = parser.parse_args()
    chosen = [name.strip() for name in args.only.split(",") if name.strip()]
    unknown = sorted(set(chosen) - set(BENCHES))
    if unknown:
        parser.error(f"unknown bench(es): {', '.join(unknown)}")
    # The benches stop pollers with polls in flight on purpose; their warnings are not results.
    logging.basicConfig(level=logging.ERROR)
    started = time.perf_counter()
    sections: list[str] = []
    for name in chosen:
        began = time.perf_counter()
        for table in BENCHES[name](args.quick):
            text = table.markdown()
            print(text, flush=True)
            sections.append(text)
        print(f"({name}: {time.perf_counter() - began:.0f} s)\n", flush=True)
    total = time.perf_counter() - started
    load = Path("/proc/loadavg").read_text().split()[:3] if Path("/proc/loadavg").exists() else []
    header = (
        "# Benchmark results (SPEC §12)\n\n"
        f"`make bench` on {datetime.now(UTC):%Y-%m-%d %H:%M} UTC: Python {platform.python_version()}, "
        f"{platform.machine()}, {len(os.sched_getaffinity(0))} cores, load average at the end "
        f"{' '.join(load)}; {total:.0f} s in all.\n\n"
    )
    if not args.no_write and not args.quick:
        RESULTS.write_text(header + "\n".join(sections))
        print(f"written to {RESULTS}")


if __name__ == "__main__":
    main()
