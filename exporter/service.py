"""Wiring: one validated Config → the client, stores, pollers and publisher that serve it."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from exporter.azure.arm import ArmClient
from exporter.azure.backup import RecoveryServicesApi
from exporter.azure.credential import TokenSource, build_credential
from exporter.azure.dataprotection import DataProtectionApi
from exporter.azure.pacing import Pacer
from exporter.azure.posture import PostureApi
from exporter.azure.resourcegraph import ResourceGraphApi
from exporter.azure.telemetry import ApiTelemetry
from exporter.config.schema import Config
from exporter.exposition.publisher import Publisher
from exporter.polling.graph_source import ResourceGraphSource
from exporter.polling.inventory_poller import InventoryPoller
from exporter.polling.job_poller import Poller
from exporter.polling.posture_poller import PosturePoller
from exporter.polling.sources import DataProtectionSource, JobSource, RecoveryServicesSource
from exporter.store.inventory_store import InventoryStore
from exporter.store.job_store import Snapshot, Store
from exporter.store.posture_store import PostureStore
from exporter.store.state_file import StateFile


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
    ) -> None:
        self.config = config
        self.state = state
        collection = config.collection
        tokens = TokenSource(build_credential(config.azure), config.azure.scope, telemetry,
                             renew=lambda: build_credential(config.azure))
        self.arm = ArmClient(
            config.azure.resource_manager_url,
            tokens,
            telemetry,
            timeout=collection.request_timeout,
            max_in_flight=collection.concurrency,
            pacer=pacer or Pacer(),
        )
        self.store = store or Store(collection.lookback, clock)
        self.store.lookback = collection.lookback
        self.publisher = publisher or Publisher(telemetry, collection.vault_tags)
        self.publisher.set_vault_tags(collection.vault_tags)
        api = RecoveryServicesApi(self.arm, collection.api_version)
        recovery_services: JobSource = RecoveryServicesSource(api, collection.operations)
        if collection.source == "resource_graph":
            # Resource Graph reads Recovery Services jobs only; backup vaults keep their own API.
            recovery_services = ResourceGraphSource(
                ResourceGraphApi(self.arm),
                api,
                lambda: self.poller.polled_vaults,
                interval=collection.interval,
                operations=collection.operations,
            )
        backup_vaults = DataProtectionApi(self.arm, collection.backup_vault_api_version)
        sources: list[JobSource] = [recovery_services, DataProtectionSource(backup_vaults, collection.operations)]
        self.poller = Poller(
            config, api, sources, store=self.store, telemetry=telemetry, publish=self._publish, clock=clock,
            monotonic=monotonic,
        )
        self.inventory: InventoryPoller | None = None
        if collection.inventory_interval > 0:
            self.inventory = InventoryPoller(
                api,
                InventoryStore(clock),
                interval=collection.inventory_interval,
                # The vaults the job poller monitors, as it last published them (discovery stays there).
                vaults=lambda: [vault.info.ref for vault in self.publisher.current.vaults],
                telemetry=telemetry,
                publish=self.publisher.publish_inventory,
                concurrency=collection.concurrency,
                monotonic=monotonic,
                dpp_api=backup_vaults,  # backup instances and backup-vault policies too
            )
        else:
            self.publisher.publish_inventory(None)  # a reload that turned it off drops its series
        self.posture: PosturePoller | None = None
        if collection.inventory_interval > 0:  # the vault posture runs on the inventory interval
            self.posture = PosturePoller(
                PostureApi(self.arm, collection.backup_vault_api_version),
                PostureStore(clock),
                interval=collection.inventory_interval,
                vaults=lambda: [vault.info.ref for vault in self.publisher.current.vaults],  # as the inventory
                telemetry=telemetry,
                publish=self.publisher.publish_posture,
                concurrency=collection.concurrency,
                monotonic=monotonic,
                coverage=collection.coverage,
            )
        else:
            self.publisher.publish_posture(None)

    def poll_once(self) -> bool:
        """Poll every vault's jobs, then (when on) its inventory; True if every request succeeded."""
        ok = self.poller.poll_once()
        ok = (self.inventory.poll_once() if self.inventory is not None else True) and ok
        return (self.posture.poll_once() if self.posture is not None else True) and ok

    def run(self, stop: threading.Event) -> None:
        """Run the job poller here and the inventory in a thread of its own until `stop` is set."""
        threads = [
            threading.Thread(target=cycle.run, args=(stop,), name=name, daemon=True)
            for name, cycle in (("inventory", self.inventory), ("posture", self.posture)) if cycle is not None
        ]
        for thread in threads:
            thread.start()
        try:
            self.poller.run(stop)
        finally:
            for thread in threads:
                thread.join()

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
        if self.posture is not None:
            self.posture.close()
        self.arm.close()
