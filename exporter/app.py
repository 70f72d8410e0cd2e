"""Wiring: one validated Config → the client, store, poller and publisher that serve it."""

from __future__ import annotations

import time
from collections.abc import Callable

from exporter.azure.arm import ArmClient
from exporter.azure.backup import RecoveryServicesApi
from exporter.azure.credential import TokenSource, build_credential
from exporter.azure.pacing import Pacer
from exporter.azure.telemetry import ApiTelemetry
from exporter.config import Config
from exporter.poller import Poller
from exporter.rendering import Publisher
from exporter.sources import RecoveryServicesSource
from exporter.store import Store


class App:
    """Everything one configuration needs. A reload builds a new App around the same store."""

    def __init__(
        self,
        config: Config,
        telemetry: ApiTelemetry,
        *,
        store: Store | None = None,
        publisher: Publisher | None = None,
        clock: Callable[[], float] = time.time,
        pacer: Pacer | None = None,
    ) -> None:
        self.config = config
        collection = config.collection
        tokens = TokenSource(build_credential(config.azure), config.azure.scope, telemetry)
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
        sources = [RecoveryServicesSource(api, collection.operations)]
        self.poller = Poller(
            config, api, sources, store=self.store, telemetry=telemetry, publish=self.publisher.publish, clock=clock
        )

    def close(self) -> None:
        self.poller.close()
        self.arm.close()
