"""Bench 4: RSS of the exporter with 10,000 items and 100,000 jobs in the lookback (cold poll of a
simulated estate, exporter and simulator in processes of their own)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from bench.common import T0, SimProcess, Table, run_child, verdict


@dataclass(frozen=True)
class Sizes:
    spec: dict[str, Any]
    lookback_days: int


FULL = Sizes({"subscriptions": 4, "vaults_per_subscription": 25, "items_per_vault": 91}, 10)
QUICK = Sizes({"subscriptions": 1, "vaults_per_subscription": 2, "items_per_vault": 10}, 10)


def run(quick: bool = False) -> list[Table]:
    sizes = QUICK if quick else FULL
    with SimProcess(sizes.spec, clock=T0) as sim:
        r = run_child("bench.memory_proc", [sim.url, str(sizes.lookback_days)], env=sim.identity_env(), timeout=600)
    table = Table(
        f"Memory: {r['items']:,} items, {r['jobs']:,} jobs in a {sizes.lookback_days}-day lookback, "
        f"{r['vaults']} vaults",
        ["measure", "MiB", "target"],
    )
    peak = r["peak_mb"]
    table.add("RSS after imports", f"{r['rss_after_imports_mb']:.0f}", "")
    table.add("RSS after the cold poll (steady)", f"{r['rss_after_cold_mb']:.0f}",
              f"≤ 200: {verdict(r['rss_after_cold_mb'] <= 200)}")
    table.add("peak RSS during the cold poll (parsing 100,000 jobs, first render)", f"{r['peak_cold_mb']:.0f}",
              f"≤ 200: {verdict(r['peak_cold_mb'] <= 200)}")
    table.add("peak RSS after one more render (unchanged fragments shared with the old exposition)", f"{peak:.0f}",
              f"≤ 200: {verdict(peak <= 200)}")
    table.add("store: counted job ids", f"{r['counted_ids_mb']:.1f}", "")
    table.add("store: item states (latest jobs, counters)", f"{r['item_states_mb']:.1f}", "")
    table.add("store: the rest (vault cursors, histograms)", f"{r['other_store_mb']:.1f}", "")
    table.add("published exposition, gzipped (one gzip member joined from fragments)", f"{r['exposition_mb']:.1f}", "")
    table.add("its plain text, held as per-vault fragments (streamed to plain clients, never copied)",
              f"{r['plain_mb']:.1f}", "")
    return [table]
