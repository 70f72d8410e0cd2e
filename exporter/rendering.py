"""Render the exposition once per poll, so that a scrape only copies bytes.

At 140,000 samples `generate_latest()` takes about two seconds (SPEC §12); doing that on every
scrape would make Prometheus wait on Python. The poller calls `publish()`; the HTTP server reads
`current`, which is replaced whole, never modified. The text is written by `exposition.render_text`:
the same bytes as `generate_latest()`, several times faster (bench/RESULTS.md).
"""

from __future__ import annotations

import gzip
import time
from collections.abc import Sequence
from dataclasses import dataclass

from prometheus_client import CollectorRegistry
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4

from exporter.azure.telemetry import ApiTelemetry
from exporter.exposition import render_text
from exporter.metrics import BackupCollector, Published
from exporter.store import Snapshot, VaultView

CONTENT_TYPE = CONTENT_TYPE_PLAIN_0_0_4
# Level 6 is gzip's default: a third of level 9's cost for nearly its ratio (SPEC §12 figures).
GZIP_LEVEL = 6


@dataclass(frozen=True, slots=True)
class Exposition:
    plain: bytes
    gzipped: bytes
    ready: bool
    vaults: tuple[VaultView, ...]
    rendered_at: float


class Publisher:
    def __init__(self, telemetry: ApiTelemetry, vault_tags: Sequence[str] = ()) -> None:
        self._telemetry = telemetry
        self._published: Published | None = None
        self.registry = CollectorRegistry(auto_describe=False)
        self._vault_tags = tuple(vault_tags)
        self._collector = BackupCollector(lambda: self._published, self._vault_tags)
        self.registry.register(self._collector)
        self.current = self._render(ready=False, vaults=())

    def set_vault_tags(self, vault_tags: Sequence[str]) -> None:
        """A reloaded config may export other tags; takes effect at the next publish."""
        if tuple(vault_tags) == self._vault_tags:
            return
        self.registry.unregister(self._collector)
        self._vault_tags = tuple(vault_tags)
        self._collector = BackupCollector(lambda: self._published, self._vault_tags)
        self.registry.register(self._collector)

    def publish(self, snapshot: Snapshot) -> Exposition:
        self._published = Published(snapshot, self._telemetry.snapshot())
        self.current = self._render(ready=snapshot.ready, vaults=snapshot.vaults)
        return self.current

    def _render(self, *, ready: bool, vaults: tuple[VaultView, ...]) -> Exposition:
        plain = render_text(self.registry.collect())
        return Exposition(plain, gzip.compress(plain, GZIP_LEVEL, mtime=0), ready, vaults, time.time())
