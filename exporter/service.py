"""Wiring: one validated Config → the client, stores, pollers and publisher that serve it (App),
and the running exporter around it: server, state file, reload and shutdown (Service)."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from exporter import __version__
from exporter.azure.arm import ArmClient
from exporter.azure.backup import RecoveryServicesApi
from exporter.azure.credential import TokenSource, build_credential
from exporter.azure.dataprotection import DataProtectionApi
from exporter.azure.pacing import Pacer
from exporter.azure.posture import PostureApi
from exporter.azure.resourcegraph import ResourceGraphApi
from exporter.azure.telemetry import ApiTelemetry
from exporter.config.schema import Config, ConfigError
from exporter.exposition.lifecycle_families import LifecycleCollector
from exporter.exposition.publisher import Publisher
from exporter.polling.crr_jobs import CrossRegionJobs
from exporter.polling.discovery import LatestVaults
from exporter.polling.graph_source import ResourceGraphSource
from exporter.polling.inventory_poller import InventoryPoller
from exporter.polling.job_poller import Poller
from exporter.polling.posture_poller import PosturePoller
from exporter.polling.sources import DataProtectionSource, JobSource, RecoveryServicesSource
from exporter.store.inventory_store import InventoryStore
from exporter.store.job_store import Snapshot, Store
from exporter.store.lifecycle import Lifecycle
from exporter.store.posture_store import PostureStore
from exporter.store.state_file import StateFile, StateFileBusy
from exporter.web.auth import WebSecurity, load_web_security
from exporter.web.server import ExporterHTTPServer

log = logging.getLogger(__name__)

# SIGTERM lets the response in flight finish, for at most this long.
DRAIN_SECONDS = 5.0


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
        self.telemetry = telemetry
        self.state = state
        collection = config.collection
        self.arm = arm or build_arm_client(config, telemetry, pacer=pacer or Pacer())
        self.store = store or Store(collection.lookback, clock)
        self.store.lookback = collection.lookback
        self.publisher = publisher or Publisher(telemetry, collection.vault_tags)
        self.publisher.set_vault_tags(collection.vault_tags)
        api = RecoveryServicesApi(self.arm, collection.api_version)
        backup_vaults = DataProtectionApi(self.arm, collection.backup_vault_api_version)
        # Discovery's latest VaultSet: the job poller writes it; the graph source and inventory read it.
        self.vaults = LatestVaults()
        self.poller = Poller(
            config, api, self._job_sources(api, backup_vaults), store=self.store, telemetry=telemetry,
            publish=self._publish, vaults=self.vaults, clock=clock, monotonic=monotonic,
            crr=CrossRegionJobs(api, collection.operations) if collection.cross_region_restore_jobs else None,
        )
        self.inventory, self.posture = self._inventory_pollers(api, backup_vaults, clock, monotonic)

    def _job_sources(self, api: RecoveryServicesApi, backup_vaults: DataProtectionApi) -> list[JobSource]:
        collection = self.config.collection
        vaults = self.vaults
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
        return [recovery_services, DataProtectionSource(backup_vaults, collection.operations)]

    def _inventory_pollers(
        self, api: RecoveryServicesApi, backup_vaults: DataProtectionApi, clock: Callable[[], float],
        monotonic: Callable[[], float],
    ) -> tuple[InventoryPoller | None, PosturePoller | None]:
        """The protected-item inventory and the vault posture, both on `inventory_interval` (0: off,
        and a reload that turned them off drops their series)."""
        collection = self.config.collection
        if collection.inventory_interval <= 0:
            self.publisher.publish_inventory(None)
            self.publisher.publish_posture(None)
            return None, None
        vaults = self.vaults
        inventory = InventoryPoller(
            api,
            InventoryStore(clock),
            interval=collection.inventory_interval,
            vaults=lambda: vaults.get().refs,  # the vaults of the job poller's latest discovery
            telemetry=self.telemetry,
            publish=self.publisher.publish_inventory,
            concurrency=collection.concurrency,
            monotonic=monotonic,
            dpp_api=backup_vaults,  # backup instances and backup-vault policies too
        )
        posture = PosturePoller(
            PostureApi(self.arm, collection.backup_vault_api_version),
            PostureStore(clock),
            interval=collection.inventory_interval,
            vaults=lambda: vaults.get().refs,  # the same discovery value as the inventory
            telemetry=self.telemetry,
            publish=self.publisher.publish_posture,
            concurrency=collection.concurrency,
            monotonic=monotonic,
            coverage=collection.coverage,
        )
        return inventory, posture

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


class Service:
    """The exporter while it serves: the App and its poller thread, the HTTP server, the state file.

    cli.py turns signals into `reload()` (SIGHUP) and `shutdown()` (SIGTERM, SIGINT)."""

    def __init__(
        self,
        app: App,
        server: ExporterHTTPServer,
        lifecycle: Lifecycle,
        *,
        reload_config: Callable[[], Config] | None,
        web_config_path: str | None,
    ) -> None:
        self.app = app
        self.server = server
        self._lifecycle = lifecycle
        self._reload_config = reload_config  # None: nothing to reload from (--demo)
        self._web_config_path = web_config_path
        self._telemetry = app.telemetry
        self._poll_stop = threading.Event()
        self._poll_thread: threading.Thread | None = None

    @classmethod
    def open(
        cls,
        config: Config,
        address: tuple[str, int],
        telemetry_path: str,
        *,
        web: WebSecurity,
        web_config_path: str | None,
        reload_config: Callable[[], Config] | None,
        lifecycle: Lifecycle,
    ) -> Service:
        """Restore the state file, listen and serve; polling waits for `start()`.

        Raises StateFileBusy (another process owns the state file) or OSError (cannot listen)."""
        state = open_state_file(config, lifecycle, None)
        app = App(config, ApiTelemetry(), state=state)
        app.publisher.registry.register(LifecycleCollector(lifecycle))
        if state is not None and state.load(app.store):
            # Serve the restored series at once; /-/ready still waits for the first poll.
            app.publisher.publish(app.store.snapshot())
        publisher = app.publisher
        try:
            server = ExporterHTTPServer(address, lambda: publisher.current, telemetry_path, tls=web.tls,
                                        authenticator=web.authenticator, response_headers=web.response_headers)
        except OSError:
            app.close()
            raise
        server.serve_in_thread()
        log.info("listening on %s (version %s)", server.url, __version__)
        if web_config_path is not None:
            log.info("web config %s: TLS %s, basic auth %s", web_config_path,
                     "on" if web.tls else "off", "on" if web.authenticator else "off")
        return cls(app, server, lifecycle, reload_config=reload_config, web_config_path=web_config_path)

    def start(self) -> None:
        """Start polling in a thread of its own."""
        self._poll_stop = threading.Event()
        self._poll_thread = threading.Thread(target=self.app.run, args=(self._poll_stop,), name="poller", daemon=True)
        self._poll_thread.start()

    def reload(self) -> bool:
        """Re-read the web config and the config file; True if a new config runs. A bad file
        changes nothing and is logged."""
        if self._web_config_path is not None:
            reload_web(self.server, self._web_config_path)
        if self._reload_config is None:
            log.info("SIGHUP ignored: --demo has no config file to reload")
            return False
        state = self.app.state
        try:
            config = self._reload_config()
            new_state = open_state_file(config, self._lifecycle, state)
        except (ConfigError, StateFileBusy) as exc:
            self._lifecycle.config_reloaded(ok=False)
            problems = exc.problems if isinstance(exc, ConfigError) else [str(exc)]
            log.error("config reload rejected, keeping the running config: %s", "; ".join(problems))  # noqa: TRY400
            return False
        self._stop_polling()
        self.app.close()
        if state is not None and new_state is not state:
            state.unlock()
        # A new App around the same store and publisher: the series carry on.
        self.app = App(config, self._telemetry, store=self.app.store, publisher=self.app.publisher, state=new_state)
        self.start()
        self._lifecycle.config_reloaded(ok=True)
        return True

    def shutdown(self) -> None:
        """Stop polling, let the responses in flight finish, write the state file a last time."""
        log.info("shutting down")
        self._poll_stop.set()
        self.app.close()  # aborts retries and backoffs in flight
        self.server.shutdown()  # no new connections; the responses in flight go on in their threads
        thread = self._poll_thread
        if thread is not None:
            thread.join(timeout=DRAIN_SECONDS)
        state = self.app.state
        if state is not None:
            if thread is not None and thread.is_alive():  # it still writes the store: the last per-poll write stands
                log.warning("poller did not stop in %.0f s; state file left as of the last poll", DRAIN_SECONDS)
            elif state.save(self.app.store, force=True):
                log.info("state written to %s", state.path)
        self.server.drain(DRAIN_SECONDS)
        self.server.server_close()

    def _stop_polling(self) -> None:
        self._poll_stop.set()
        if self._poll_thread is not None:
            self._poll_thread.join()


def open_state_file(config: Config, lifecycle: Lifecycle, current: StateFile | None) -> StateFile | None:
    """The state file of `config`, locked for this process; the current one if the path did not
    change (keeps its bookkeeping). StateFileBusy if another process owns it."""
    if config.state_file is None:
        return None
    if current is not None and current.path == config.state_file:
        return current
    state = StateFile(config.state_file, lifecycle)
    try:
        state.lock()
    except OSError as exc:  # a read-only directory: reading still works, writes will fail and be counted
        log.warning("cannot lock state file %s (%s): going on without the lock", state.path, exc.strerror or exc)
    return state


def reload_web(server: ExporterHTTPServer, path: str) -> None:
    """New certificates, users and headers apply to the next connection; a bad file changes nothing."""
    try:
        web = load_web_security(path)
    except ConfigError as exc:
        log.error("web config reload rejected, keeping the running one: %s", "; ".join(exc.problems))  # noqa: TRY400
        return
    if (web.tls is None) != (server.tls is None):
        log.error("web config reload rejected: TLS cannot be switched on or off while running; restart instead")
        return
    server.tls, server.authenticator, server.response_headers = web.tls, web.authenticator, web.response_headers
    log.info("web config reloaded from %s", path)
