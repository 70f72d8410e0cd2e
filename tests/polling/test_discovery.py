"""Discovery as a value: the VaultSet the job poller publishes and the inventory reads."""

from __future__ import annotations

from collections.abc import Callable

from exporter.azure.telemetry import ApiTelemetry
from exporter.model import VaultRef
from exporter.service import App
from exporter.simulator import EstateSpec, Fault, Simulator
from tests.support import ManualClock, sim_config


def test_each_discovery_publishes_one_vault_set_that_the_inventory_polls(
    start_simulator: Callable[..., Simulator], clock: ManualClock
) -> None:
    sim = start_simulator(EstateSpec(subscriptions=1, vaults_per_subscription=2, items_per_vault=2), clock=clock)
    refs = {VaultRef(*ref) for ref in sim.estate.vault_refs()}
    monotonic = ManualClock(0.0)
    app = App(sim_config(sim, targets=[{"subscription_id": "*"}], inventory_interval="1h"), ApiTelemetry(),
              clock=clock, monotonic=monotonic)
    try:
        assert app.vaults.get().ok is None  # before the first discovery
        assert app.poll_once()
        found = app.vaults.get()
        assert (found.ok, found.errors, found.refs) == (True, (), refs)
        listed = {r.path.split("/vaults/")[1].split("/")[0] for r in sim.requests() if r.api == "list_protected_items"}
        assert listed == {ref.vault for ref in refs}  # the inventory polled the discovered vaults
        # A failed listing: a new value says so, and keeps the vaults the last good one found.
        sim.add_fault(Fault(path="/providers/Microsoft.RecoveryServices/vaults\\?", status=403, times=1))
        monotonic.advance(app.config.collection.discovery_interval)
        assert not app.poll_once()
        failed = app.vaults.get()
        assert failed is not found
        assert failed.ok is False
        assert failed.refs == refs
        assert len(failed.errors) == 1
        assert "recovery_services vaults" in failed.errors[0]
    finally:
        app.close()
