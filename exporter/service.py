"""Wiring: one validated Config → the client, stores, pollers and publisher that serve it."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from exporter.azure.arm import ArmClient
from exporter.azure.backup import RecoveryServicesApi
from exporter.azure.credential import TokenSource, build_credential
from exporter.azure.dataprotection import DataProtectionApi
from exporter.azure.pacing import Pacer
from exporter.azure.resourcegraph import ResourceGraphApi
from exporter.azure.telemetry import ApiTelemetry
from exporter.config.schema import Config
from exporter.exposition.publisher import Publisher
from exporter.polling.discovery import LatestVaults
from exporter.polling.graph_source import ResourceGraphSource
from exporter.polling.inventory_poller import InventoryPoller
from exporter.polling.job_poller import Poller
from exporter.polling.sources import DataProtectionSource, JobSource, RecoveryServicesSource
from exporter.store.inventory_store import InventoryStore
from exporter.store.job_store import Snapshot, Store
from exporter.store.state_file import StateFile


def build_arm_client(config: Config, telemetry: ApiTelemetry, **options: Any) -> ArmClient:
    """The ARM client `config` asks for; `options` go to ArmClient (retry policy, pacer, ...)."""
    collection = config.collection
    tokens = TokenSource(build_credential(config.azure), config.azure.scope, telemetry,
                         renew=lambda: build_credential(config.azure))
    return ArmClient(
        config.azure.resource_manager_url,
        tokens,
        telemetry,
        timeout=collection.request_timeout,
        max_in_flight=collection.concurrency,
        **options,
    )


class App:
    """Everything one configuration needs. A reload builds a new App around the same store."""

    def __init__(
        self,
        config: Config,
        telemetry: ApiTelemetry,
        *,
        store: Store | None = None,
        publisher: Publisher | None = None,
        state: StateFile | None = None,
        clock: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
        pacer: Pacer | None = None,
        arm: ArmClient | None = None,
    ) -> None:
        """`arm`: the ARM client to use (with its retry policy); by default one built from the
        config with production backoffs and `pacer`. The App closes it."""
        self.config = config
        self.state = state
        collection = config.collection
        self.arm = arm or build_arm_client(config, telemetry, pacer=pacer or Pacer())
        self.store = store or Store(collection.lookback, clock)
        self.store.lookback = collection.lookback
        self.publisher = publisher or Publisher(telemetry, collection.vault_tags)
        self.publisher.set_vault_tags(collection.vault_tags)
        api = RecoveryServicesApi(self.arm, collection.api_version)
        # Discovery's latest VaultSet: the job poller writes it; the graph source and inventory read it.
        vaults = LatestVaults()
        recovery_services: JobSource = RecoveryServicesSource(api, collection.operations)
        if collection.source == "resource_graph":
            # Resource Graph reads Recovery Services jobs only; backup vaults keep their own API.
            recovery_services = ResourceGraphSource(
                ResourceGraphApi(self.arm),
                api,
                lambda: vaults.get().refs,
                interval=collection.interval,
                operations=collection.operations,
            )
        backup_vaults = DataProtectionApi(self.arm, collection.backup_vault_api_version)
        sources: list[JobSource] = [recovery_services, DataProtectionSource(backup_vaults, collection.operations)]
        self.poller = Poller(
            config, api, sources, store=self.store, telemetry=telemetry, publish=self._publish, vaults=vaults,
            clock=clock, monotonic=monotonic,
        )
        self.inventory: InventoryPoller | None = None
        if collection.inventory_interval > 0:
            self.inventory = InventoryPoller(
                api,
                InventoryStore(clock),
                interval=collection.inventory_interval,
                vaults=lambda: vaults.get().refs,  # the vaults of the job poller's latest discovery
                telemetry=telemetry,
                publish=self.publisher.publish_inventory,
                concurrency=collection.concurrency,
                monotonic=monotonic,
            )
        else:
            self.publisher.publish_inventory(None)  # a reload that turned it off drops its series

    def poll_once(self) -> bool:
        """Poll every vault's jobs, then (when on) its inventory; True if every request succeeded."""
        ok = self.poller.poll_once()
        return (self.inventory.poll_once() if self.inventory is not None else True) and ok

    def run(self, stop: threading.Event) -> None:
        """Run the job poller here and the inventory in a thread of its own until `stop` is set."""
        inventory = None
        if self.inventory is not None:
            inventory = threading.Thread(target=self.inventory.run, args=(stop,), name="inventory", daemon=True)
            inventory.start()
        try:
            self.poller.run(stop)
        finally:
            if inventory is not None:
                inventory.join()

    def _publish(self, snapshot: Snapshot) -> None:
        # Saved before it is shown: a scraper never sees a count that a kill -9 could take back.
        # On the poller's thread, the store's one writer, so the file gets one consistent cut.
        if self.state is not None:
            self.state.save(self.store)
        self.publisher.publish(snapshot)

    def close(self) -> None:
        self.poller.close()
        if self.inventory is not None:
            self.inventory.close()
        self.arm.close()
