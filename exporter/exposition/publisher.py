"""Render the exposition once per poll, so that a scrape only copies bytes.

At 140,000 samples `generate_latest()` takes about two seconds (SPEC §12); doing that on every
scrape would make Prometheus wait on Python. The job poller calls `publish()`, the inventory poller
`publish_inventory()`; the HTTP server reads `current`, which is replaced whole, never modified.
The text is written by `exposition.render_text`'s writer: the same bytes as `generate_latest()`,
several times faster, and `exposition.fragments` re-renders only the vaults whose data changed
(bench/RESULTS.md).
"""

from __future__ import annotations

import gzip
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass

from prometheus_client import CollectorRegistry
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4
from prometheus_client.registry import Collector

from exporter.azure.telemetry import ApiTelemetry
from exporter.exposition.fragments import GZIP_LEVEL, FragmentRenderer
from exporter.exposition.inventory_families import InventoryCollector
from exporter.exposition.job_families import BackupCollector, Published
from exporter.exposition.posture_families import PostureCollector
from exporter.store.inventory_store import InventorySnapshot
from exporter.store.job_store import Snapshot, VaultView
from exporter.store.posture_store import PostureSnapshot

CONTENT_TYPE = CONTENT_TYPE_PLAIN_0_0_4


@dataclass(frozen=True, slots=True)
class Exposition:
    """One rendering: the plain text as parts (fragments shared with the renderer's cache, streamed
    to a plain client part by part, never joined) and one gzip member of the whole.

    A plain scrape thus allocates no copy of the text (37 MB at 10,000 items), however many clients
    ask at once, and a render keeps only what changed: the new exposition shares its unchanged
    fragments with the old.
    """

    gzipped: bytes
    plain_size: int
    ready: bool
    vaults: tuple[VaultView, ...]
    rendered_at: float
    # What the status page (exporter.web.status_page) is built from: the objects this rendering
    # was made of, shared, not copied.
    snapshot: Snapshot | None = None
    inventory: InventorySnapshot | None = None
    parts: tuple[bytes, ...] = ()

    @classmethod
    def from_plain(
        cls, plain: bytes, *, ready: bool, vaults: tuple[VaultView, ...] = (), rendered_at: float = 0.0,
        snapshot: Snapshot | None = None, inventory: InventorySnapshot | None = None,
    ) -> Exposition:
        return cls(gzip.compress(plain, GZIP_LEVEL, mtime=0), len(plain), ready, vaults, rendered_at,
                   snapshot, inventory, (plain,))

    @property
    def plain(self) -> bytes:
        """The whole text in one bytes object: a copy, for tests and `--dry-run`-like uses; the
        HTTP server streams `parts`."""
        return b"".join(self.parts)


class _Registry(CollectorRegistry):
    """A registry that shows its collectors in registration order, which is the exposition's order
    (`collect()` walks them so): the renderer asks partitioned collectors for their sections."""

    def __init__(self) -> None:
        super().__init__(auto_describe=False)
        self.collectors: list[Collector] = []

    def register(self, collector: Collector) -> None:
        super().register(collector)
        self.collectors.append(collector)

    def unregister(self, collector: Collector) -> None:
        super().unregister(collector)
        self.collectors.remove(collector)


class Publisher:
    def __init__(self, telemetry: ApiTelemetry, vault_tags: Sequence[str] = ()) -> None:
        self._telemetry = telemetry
        self._published: Published | None = None
        self.registry = _Registry()
        self._renderer = FragmentRenderer(GZIP_LEVEL)
        self._vault_tags = tuple(vault_tags)
        self._collector = BackupCollector(lambda: self._published, self._vault_tags)
        self.registry.register(self._collector)
        # The inventory has its own thread and interval; its snapshot is rendered beside the jobs'.
        self._inventory: InventorySnapshot | None = None
        # The vault posture: read on the inventory interval by a thread of its own.
        self._posture: PostureSnapshot | None = None
        posture = PostureCollector(lambda: self._posture, lambda: self._inventory)
        # Inventory items take the job series' spelling of their names (they join case-insensitively).
        self.registry.register(InventoryCollector(lambda: self._inventory, self._job_items, posture.up_rows))
        self.registry.register(posture)
        # Both pollers publish: one render at a time, so the newer never loses to the older.
        self._lock = threading.Lock()
        self.current = self._render(ready=False, vaults=())

    def _job_items(self) -> tuple[tuple[str, ...], ...]:
        published = self._published
        return () if published is None else tuple(key for key, _ in published.snapshot.items)

    def set_vault_tags(self, vault_tags: Sequence[str]) -> None:
        """A reloaded config may export other tags; takes effect at the next publish."""
        if tuple(vault_tags) == self._vault_tags:
            return
        self.registry.unregister(self._collector)
        self._vault_tags = tuple(vault_tags)
        self._collector = BackupCollector(lambda: self._published, self._vault_tags)
        self.registry.register(self._collector)

    def publish(self, snapshot: Snapshot) -> Exposition:
        with self._lock:
            self._published = Published(snapshot, self._telemetry.snapshot())
            self.current = self._render(ready=snapshot.ready, vaults=snapshot.vaults)
            return self.current

    def publish_inventory(self, snapshot: InventorySnapshot | None) -> Exposition:
        """The latest inventory; None drops the inventory families (inventory_interval: 0)."""
        with self._lock:
            self._inventory = snapshot
            if self._published is not None:  # the inventory's own requests and parse errors too
                self._published = Published(self._published.snapshot, self._telemetry.snapshot())
            current = self.current
            self.current = self._render(ready=current.ready, vaults=current.vaults)
            return self.current

    def publish_posture(self, snapshot: PostureSnapshot | None) -> Exposition:
        """The latest vault posture; None drops its families (inventory_interval: 0)."""
        with self._lock:
            self._posture = snapshot
            current = self.current
            self.current = self._render(ready=current.ready, vaults=current.vaults)
            return self.current

    def _render(self, *, ready: bool, vaults: tuple[VaultView, ...]) -> Exposition:
        rendered = self._renderer.render(list(self.registry.collectors))
        published = self._published
        return Exposition(rendered.gzipped, rendered.plain_size, ready, vaults, time.time(),
                          None if published is None else published.snapshot, self._inventory, rendered.plain)
