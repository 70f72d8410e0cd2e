"""The pacer spreads requests under ARM's token bucket and slows down when Azure's headroom runs low."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from azure.identity import ManagedIdentityCredential

from exporter.azure.arm import ArmClient
from exporter.azure.backup import RecoveryServicesApi
from exporter.azure.credential import TokenSource
from exporter.azure.pacing import Pacer
from exporter.azure.telemetry import ApiTelemetry
from exporter.model import VaultRef
from exporter.simulator import EstateSpec, Simulator
from tests.support import T0, ManualClock


def test_burst_passes_then_requests_are_spaced_at_the_rate() -> None:
    clock = ManualClock(0.0)
    pacer = Pacer(rate=10.0, burst=3.0, clock=clock)
    waits = [pacer.delay("sub") for _ in range(6)]
    assert waits == pytest.approx([0.0, 0.0, 0.0, 0.1, 0.2, 0.3])


def test_quiet_time_refills_the_bucket_up_to_the_burst_only() -> None:
    clock = ManualClock(0.0)
    pacer = Pacer(rate=10.0, burst=3.0, clock=clock)
    for _ in range(3):
        pacer.delay("sub")
    clock.advance(0.2)  # two tokens back
    assert [pacer.delay("sub") for _ in range(3)] == pytest.approx([0.0, 0.0, 0.1])
    clock.advance(3600.0)  # never more than the burst
    assert [pacer.delay("sub") for _ in range(4)] == pytest.approx([0.0, 0.0, 0.0, 0.1])


def test_subscriptions_have_buckets_of_their_own() -> None:
    pacer = Pacer(rate=1.0, burst=1.0, clock=ManualClock(0.0))
    assert pacer.delay("a") == 0.0
    assert pacer.delay("b") == 0.0
    assert pacer.delay("a") == pytest.approx(1.0)


def paced_rate(pacer: Pacer, scope: str) -> float:
    """The rate `scope` is paced at, read as the pacer's own spacing of two requests at one instant
    (past the burst: the bucket must be empty). Takes two tokens."""
    first, second = pacer.delay(scope), pacer.delay(scope)
    assert second > first > 0, "the bucket still holds a burst"
    return 1.0 / (second - first)


def test_low_remaining_headroom_slows_down_and_stops_bursts_until_it_recovers() -> None:
    clock = ManualClock(0.0)
    pacer = Pacer(rate=20.0, burst=100.0, low_water=50.0, min_rate=1.0, clock=clock)
    pacer.observe("sub", 25.0)  # half the low-water mark left: half the rate, no burst
    assert [pacer.delay("sub") for _ in range(2)] == pytest.approx([0.1, 0.2])
    assert paced_rate(pacer, "sub") == pytest.approx(10.0)
    pacer.observe("sub", 0.0)
    assert paced_rate(pacer, "sub") == pytest.approx(1.0)  # never stops entirely
    pacer.observe("sub", 240.0)
    assert paced_rate(pacer, "sub") == pytest.approx(20.0)
    assert pacer.delay("other") == 0.0  # another subscription keeps its burst


def test_invalid_settings_are_refused() -> None:
    with pytest.raises(ValueError, match="rate > 0"):
        Pacer(rate=0.0)
    with pytest.raises(ValueError, match="min_rate"):
        Pacer(rate=1.0, min_rate=2.0)


class RecordingSleep:
    def __init__(self) -> None:
        self.calls: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)


def test_arm_client_waits_what_the_pacer_says_and_feeds_back_the_headers(
    start_simulator: Callable[..., Simulator], clock: ManualClock
) -> None:
    sim = start_simulator(EstateSpec(subscriptions=1, vaults_per_subscription=1, items_per_vault=4,
                                     period_seconds=3600, page_size=5), clock=clock)
    pacer_clock = ManualClock(0.0)
    # The simulator reports ~300 resource-provider requests left: under this low-water mark, so
    # the first reply already slows the subscription down.
    pacer = Pacer(rate=10.0, burst=2.0, low_water=3000.0, min_rate=0.5, clock=pacer_clock)
    sleep = RecordingSleep()
    telemetry = ApiTelemetry()
    tokens = TokenSource(ManagedIdentityCredential(), "https://management.azure.com/.default", telemetry)
    arm = ArmClient(sim.url, tokens, telemetry, sleep=sleep, pacer=pacer)
    vault = VaultRef(*sim.estate.vault_refs()[0])
    pages = list(RecoveryServicesApi(arm, "2025-08-01").list_jobs(vault, T0 - 86400, T0))
    assert len(pages) >= 3
    assert sleep.calls, "requests past the burst must wait"
    assert all(wait > 0 for wait in sleep.calls)
    rate = paced_rate(pacer, vault.subscription_id)
    assert rate < 10.0
    remaining = telemetry.snapshot().ratelimit_remaining
    assert rate == pytest.approx(
        10.0 * min(v for (sub, _), v in remaining.items() if sub == vault.subscription_id) / 3000.0
    )
