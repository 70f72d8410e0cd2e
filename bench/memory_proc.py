"""The exporter process of the memory bench: `python -m bench.memory_proc URL LOOKBACK_DAYS`.

Runs the production wiring (App) through a cold poll of the simulated estate, publishes once more
as the next poll would, and prints one JSON line: RSS at each step, the peak, and what the store
holds (deep size of its item states and of the counted job ids).
"""

from __future__ import annotations

import gc
import json
import sys
from dataclasses import fields, is_dataclass
from typing import Any

from bench.common import T0, peak_rss_mb, rss_mb


def deep_size(root: object, seen: set[int] | None = None) -> int:
    """Bytes of `root` and everything it references that was not counted yet (shared strings once)."""
    seen = set() if seen is None else seen
    total, stack = 0, [root]
    while stack:
        obj = stack.pop()
        if id(obj) in seen or obj is None or isinstance(obj, bool | type):
            continue
        seen.add(id(obj))
        total += sys.getsizeof(obj)
        if isinstance(obj, dict):
            stack.extend(obj.keys())
            stack.extend(obj.values())
        elif isinstance(obj, list | tuple | set | frozenset):
            stack.extend(obj)
        elif is_dataclass(obj):
            stack.extend(getattr(obj, f.name) for f in fields(obj))
    return total


def main() -> None:
    url, lookback_days = sys.argv[1], sys.argv[2]
    from exporter.azure.telemetry import ApiTelemetry  # noqa: PLC0415
    from exporter.config.schema import parse_config  # noqa: PLC0415
    from exporter.service import App  # noqa: PLC0415 - RSS is read before and after the imports

    after_imports = rss_mb()
    config = parse_config({
        "azure": {"auth": "managed_identity", "resource_manager_url": url},
        "collection": {"lookback": f"{lookback_days}d", "concurrency": 8, "request_timeout": "60s"},
        "targets": [{"subscription_id": "*"}],
    })
    app = App(config, ApiTelemetry(), clock=lambda: T0)
    app.poller.poll_once()
    gc.collect()
    after_cold = rss_mb()
    peak_cold = peak_rss_mb()
    store = app.store
    app.publisher.publish(store.snapshot())  # the next poll's render: old and new bytes side by side
    gc.collect()
    peak = peak_rss_mb()  # before the deep-size walk below, which allocates its own bookkeeping
    end = rss_mb()
    refs = store.vault_refs()
    seen: set[int] = set()
    counted = sum(deep_size(store.vault(ref).counted, seen) for ref in refs)
    items = deep_size(store._items, seen)
    rest = deep_size(store._vaults, seen) + deep_size(store._histograms, seen)
    exposition = app.publisher.current
    result: dict[str, Any] = {
        "items": len(store._items),
        "jobs": sum(len(store.vault(ref).counted) for ref in refs),
        "vaults": len(refs),
        "rss_after_imports_mb": after_imports,
        "rss_after_cold_mb": after_cold,
        "peak_cold_mb": peak_cold,
        "rss_end_mb": end,
        "peak_mb": peak,
        "counted_ids_mb": counted / 2**20,
        "item_states_mb": items / 2**20,
        "other_store_mb": rest / 2**20,
        "exposition_mb": len(exposition.gzipped) / 2**20,  # what is held between scrapes
        "plain_mb": exposition.plain_size / 2**20,  # held as fragments, streamed to plain clients
    }
    app.close()
    print(json.dumps(result))


if __name__ == "__main__":
    main()
