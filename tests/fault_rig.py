"""The exporter wired as App wires it, but with a fast retry policy, for the fault suite.

App builds its ArmClient from the config with production backoffs (seconds); the fault tests hand
it one with backoffs of tens of milliseconds instead. Metrics are read from the Publisher's
registry — what a scrape would see — and requests from the simulator's log.
"""

from __future__ import annotations

import socket
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from exporter.azure.arm import ArmClient
from exporter.azure.telemetry import ApiTelemetry
from exporter.config.schema import Config
from exporter.exposition.publisher import Publisher
from exporter.model import FINISHED_STATUSES, VaultRef
from exporter.polling.job_poller import Poller
from exporter.service import App, build_arm_client
from exporter.simulator import RecordedRequest, Simulator
from exporter.store.job_store import Store
from tests.support import ManualClock

# Fast but real: the same code paths as production, with backoffs a test can sit out.
FAST_RETRY: dict[str, Any] = {"max_attempts": 3, "backoff_base": 0.05, "backoff_cap": 0.5, "retry_after_cap": 5.0}


@dataclass
class Rig:
    sim: Simulator
    config: Config
    telemetry: ApiTelemetry
    arm: ArmClient
    store: Store
    publisher: Publisher
    poller: Poller
    app: App

    def close(self) -> None:
        self.app.close()

    # -- what a scrape sees ---------------------------------------------------------------------
    def sample(self, name: str, labels: dict[str, str]) -> float | None:
        return self.publisher.registry.get_sample_value(name, labels)

    def target_up(self, ref: VaultRef) -> float | None:
        return self.sample("azure_backup_exporter_target_up", vault_labels(ref))

    def last_success(self, ref: VaultRef) -> float | None:
        return self.sample("azure_backup_exporter_target_last_success_timestamp_seconds", vault_labels(ref))

    def requests_total(self, api: str, code: str) -> float:
        return self.sample("azure_backup_exporter_api_requests_total", {"api": api, "code": code}) or 0.0

    def parse_errors(self, field: str) -> float:
        return self.sample("azure_backup_exporter_parse_errors_total", {"field": field}) or 0.0

    def counted(self) -> Counter[str]:
        """Finished jobs by status over every item, as azure_backup_jobs_total shows them."""
        totals: Counter[str] = Counter()
        for family in self.publisher.registry.collect():
            if family.name == "azure_backup_jobs":
                for sample in family.samples:
                    if sample.name == "azure_backup_jobs_total":
                        totals[sample.labels["status"]] += int(sample.value)
        return +totals

    def counted_ids(self) -> int:
        return sum(len(self.store.vault(ref).counted) for ref in self.store.vault_refs())


def build_rig(sim: Simulator, config: Config, clock: Callable[[], float], **arm_options: Any) -> Rig:
    """The App for `config`, its ARM client on FAST_RETRY (overridden by `arm_options`)."""
    telemetry = ApiTelemetry()
    arm = build_arm_client(config, telemetry, **{**FAST_RETRY, **arm_options})
    app = App(config, telemetry, clock=clock, arm=arm)
    return Rig(sim, config, telemetry, arm, app.store, app.publisher, app.poller, app)


def vault_labels(ref: VaultRef) -> dict[str, str]:
    return {"subscription_id": ref.subscription_id, "resource_group": ref.resource_group, "vault": ref.vault}


def refs(sim: Simulator) -> list[VaultRef]:
    return [VaultRef(*ref) for ref in sim.estate.vault_refs()]


def truth(sim: Simulator, since: float, until: float) -> Counter[str]:
    """Finished jobs by status that started in [since, until], per the estate itself."""
    found: dict[str, str] = {}
    for ref in sim.estate.vault_refs():
        for job in sim.estate.jobs(*ref, since, until):
            status = job["properties"]["status"]
            if status in FINISHED_STATUSES:
                found[job["name"]] = status
    return Counter(found.values())


def to_vault(requests: Iterable[RecordedRequest], ref: VaultRef, api: str | None = None) -> list[RecordedRequest]:
    """The recorded requests that address `ref` (and are of `api`, when given)."""
    return [r for r in requests if f"/vaults/{ref.vault}/" in r.path + "/" and (api is None or r.api == api)]


def to_subscription(requests: Iterable[RecordedRequest], subscription_id: str) -> list[RecordedRequest]:
    return [r for r in requests if r.path.startswith(f"/subscriptions/{subscription_id}/")]


def closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


def list_path(vault: str) -> str:
    """A fault path that hits the vault's job list (query follows) but not its job details."""
    return rf"/vaults/{vault}/backupJobs\?"


def assert_counts_match_the_estate(rig: Rig, sim: Simulator, clock: Callable[[], float], start: float) -> None:
    """Every vault up, and the counters equal the estate's finished jobs since a day before `start`."""
    assert all(rig.target_up(ref) == 1 for ref in refs(sim))
    expected = truth(sim, start - 86400.0, clock())
    assert rig.counted() == expected  # nothing lost while a vault was down, nothing counted twice
    assert rig.counted_ids() == sum(expected.values())


def assert_recovers(rig: Rig, sim: Simulator, clock: ManualClock, start: float) -> None:
    """Faults cleared, 15 minutes on: one poll brings every vault back with the estate's counts."""
    sim.clear_faults()
    clock.advance(900)
    assert rig.poller.poll_once()
    assert_counts_match_the_estate(rig, sim, clock, start)
