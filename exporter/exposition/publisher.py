"""Render the exposition once per poll, so that a scrape only copies bytes.

At 140,000 samples `generate_latest()` takes about two seconds (SPEC §12); doing that on every
scrape would make Prometheus wait on Python. The job poller calls `publish()`, the inventory poller
`publish_inventory()`; the HTTP server reads `current`, which is replaced whole, never modified.
The text is written by `exposition.render_text`: the same bytes as `generate_latest()`, several
times faster (bench/RESULTS.md).
"""

from __future__ import annotations

import gzip
import threading
import time
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4

from exporter.azure.telemetry import ApiTelemetry
from exporter.exposition.inventory_families import InventoryCollector
from exporter.exposition.job_families import BackupCollector, Published
from exporter.exposition.posture_families import PostureCollector
from exporter.exposition.text import render_text
from exporter.store.inventory_store import InventorySnapshot
from exporter.store.job_store import Snapshot, VaultView
from exporter.store.posture_store import PostureSnapshot

CONTENT_TYPE = CONTENT_TYPE_PLAIN_0_0_4
# Level 6 is gzip's default: a third of level 9's cost for nearly its ratio (SPEC §12 figures).
GZIP_LEVEL = 6


@dataclass(frozen=True, slots=True)
class Exposition:
    """One rendering, kept gzipped: Prometheus asks for gzip, and the plain text (37 MB at 10,000
    items, 33x the gzip) is made from it only when a client asks for plain, once per rendering.
    So a render's old and new texts are not held side by side, and the memory peak drops by one text.
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
    _plain: list[bytes] = field(default_factory=list, repr=False, compare=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    @classmethod
    def from_plain(
        cls, plain: bytes, *, ready: bool, vaults: tuple[VaultView, ...] = (), rendered_at: float = 0.0,
        snapshot: Snapshot | None = None, inventory: InventorySnapshot | None = None,
    ) -> Exposition:
        return cls(gzip.compress(plain, GZIP_LEVEL, mtime=0), len(plain), ready, vaults, rendered_at,
                   snapshot, inventory)

    @property
    def plain(self) -> bytes:
        with self._lock:  # concurrent plain scrapers: one decompression, the others wait for it
            if not self._plain:
                # wbits 31: the gzip format; the known size lets zlib fill one buffer, no regrowth.
                self._plain.append(zlib.decompress(self.gzipped, 31, max(self.plain_size, 1)))
            return self._plain[0]


class Publisher:
    def __init__(self, telemetry: ApiTelemetry, vault_tags: Sequence[str] = ()) -> None:
        self._telemetry = telemetry
        self._published: Published | None = None
        self.registry = CollectorRegistry(auto_describe=False)
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
        plain = render_text(self.registry.collect())
        published = self._published
        return Exposition.from_plain(plain, ready=ready, vaults=vaults, rendered_at=time.time(),
                                     snapshot=None if published is None else published.snapshot,
                                     inventory=self._inventory)
