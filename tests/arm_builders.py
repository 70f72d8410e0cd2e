"""The ARM client pointed at a simulator, as the Azure-layer tests build it, with a sleep that records."""

from __future__ import annotations

from collections.abc import Callable

from azure.identity import ManagedIdentityCredential

from exporter.azure.arm import ArmClient
from exporter.azure.credential import TokenSource
from exporter.azure.telemetry import ApiTelemetry
from exporter.model import VaultRef
from exporter.simulator import Simulator

API_VERSION = "2025-08-01"
SCOPE = "https://management.azure.com/.default"


class RecordingSleep:
    def __init__(self) -> None:
        self.calls: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)


def client_for(sim: Simulator, *, timeout: float = 5.0, sleep: Callable[[float], None] | None = None,
               telemetry: ApiTelemetry | None = None) -> ArmClient:
    telemetry = telemetry or ApiTelemetry()
    tokens = TokenSource(ManagedIdentityCredential(), SCOPE, telemetry)
    return ArmClient(sim.url, tokens, telemetry, timeout=timeout, sleep=sleep or RecordingSleep(), backoff_base=0.01)


def first_vault(sim: Simulator) -> VaultRef:
    return VaultRef(*sim.estate.vault_refs()[0])


def counted(telemetry: ApiTelemetry, api: str, code: str) -> int:
    """Requests of `api` answered `code`, as the exposition reads them (the telemetry snapshot)."""
    return telemetry.snapshot().requests.get((api, code), 0)
