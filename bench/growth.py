"""Bench 5: how rendering, gzip, memory and scrape latency grow with the estate (1,000 / 10,000 /
50,000 items in 100 vaults), each size in a fresh process (bench/growth_proc.py).

Every figure sits beside a floor from the same run: the incremental render (one vault polled)
against the full one, the joined gzip against one gzip of the whole text, RSS per 1,000 items,
and the exporter's scrape p99 (renders and a plain client in flight) against the floor server's
(the same bytes from memory, nothing in flight).
"""

from __future__ import annotations

from typing import Any

from bench.common import Table, run_child, verdict

FULL = (1_000, 10_000, 50_000)
QUICK = (200,)


def run(quick: bool = False) -> list[Table]:
    results = [run_child("bench.growth_proc", [str(items)], timeout=900) for items in (QUICK if quick else FULL)]
    return [_render_table(results), _serve_table(results)]


def _render_table(results: list[dict[str, Any]]) -> Table:
    table = Table(
        "Growth: rendering and gzip (100 vaults; a poll changes one vault)",
        ["items", "full render CPU s", "incremental CPU s", "vs full", "target",
         "plain MB", "gzip MB", "vs one gzip of the whole", "whole-gzip CPU s"],
    )
    for r in results:
        ratio = r["incremental_cpu"] / r["full_cpu"]
        target = f"≤ 0.1 s: {verdict(r['incremental_cpu'] <= 0.1)}" if r["items"] == 10_000 else ""
        table.add(f"{r['items']:,}", f"{r['full_cpu']:.2f}", f"{r['incremental_cpu']:.3f}", f"{ratio:.3f}x",
                  target, f"{r['plain_mb']:.1f}", f"{r['gzip_mb']:.2f}", f"{r['gzip_mb'] / r['whole_gzip_mb']:.2f}x",
                  f"{r['whole_gzip_cpu']:.2f}")
    table.notes.append(
        "Full: a cold render (new publisher) of the whole snapshot, gzip included. Incremental: the median of "
        "five publishes each after one vault's poll (Store.snapshot() included). The gzip member is joined "
        "from per-fragment deflate streams (exporter/exposition/fragments.py)."
    )
    return table


def _serve_table(results: list[dict[str, Any]]) -> Table:
    table = Table(
        "Growth: memory and scrapes (8 gzip scrapers; one vault re-rendered every 0.25 s; one plain client/s)",
        ["items", "RSS steady MB", "RSS peak MB serving", "peak MB per 1,000 items above imports", "target",
         "p99 ms", "floor p99 ms", "p99 vs floor", "target"],
    )
    for r in results:
        per_k = (r["peak_mb"] - r["rss_after_imports_mb"]) / (r["items"] / 1000)
        ratio = r["ours"]["p99_ms"] / r["floor"]["p99_ms"]
        memory = f"≤ 200 MB: {verdict(r['peak_mb'] <= 200)}" if r["items"] == 10_000 else ""
        table.add(f"{r['items']:,}", f"{r['steady_mb']:.0f}", f"{r['peak_mb']:.0f}", f"{per_k:.1f}", memory,
                  f"{r['ours']['p99_ms']:.1f}", f"{r['floor']['p99_ms']:.1f}", f"{ratio:.2f}x",
                  f"≤ 1.5x: {verdict(ratio <= 1.5)}")
    table.notes.append(
        "Growth no worse than linear: the MB per 1,000 items column does not rise with the size. RSS steady: "
        "after the cold render and five polls; peak: sampled every 50 ms while serving (the plain client "
        "all along, the renders during the exporter's runs). "
        f"Renders during the exporter's run: {', '.join(str(r['renders']) for r in results)}. The floor runs "
        "first with nothing in flight; the exporter's run has the renders and the plain client in flight."
    )
    return table
