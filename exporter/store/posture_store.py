"""What the last posture cycle learnt of each vault — security settings, usages, deleted backup
instances, Resource Health — and the immutable snapshots the scrape reads.

One writer (the posture thread). Each source of a vault is recorded on its own: a read that fails
(a 403 under a least-privilege role, a timeout) keeps that source's last good value and marks only
that source down, so the other reads of the vault keep their series.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace

from exporter.model import VaultRef
from exporter.parsing.vault_posture import (
    Availability,
    DeletedInstance,
    UnprotectedResource,
    VaultSecurity,
    VaultUsage,
)

# The `source` label of azure_backup_exporter_inventory_up for each posture read.
VAULT = "vault"
USAGES = "usages"
DELETED_INSTANCES = "deleted_instances"
RESOURCE_HEALTH = "resource_health"
COVERAGE = "coverage"  # the Resource Graph query of unprotected resources (collection.coverage)
POSTURE_SOURCES = (VAULT, USAGES, DELETED_INSTANCES, RESOURCE_HEALTH)
# The VaultPosture field each source fills.
_FIELDS = {VAULT: "security", USAGES: "usage", DELETED_INSTANCES: "deleted", RESOURCE_HEALTH: "availability"}


class Failed:
    """The outcome of a read that failed: keep the last good value."""


FAILED = Failed()
Outcome = VaultSecurity | VaultUsage | tuple[DeletedInstance, ...] | Availability | None | Failed


@dataclass(frozen=True, slots=True)
class VaultPosture:
    ref: VaultRef
    security: VaultSecurity | None = None
    usage: VaultUsage | None = None
    deleted: tuple[DeletedInstance, ...] = ()
    availability: Availability | None = None
    # (source, last read succeeded) for each source read at least once, in POSTURE_SOURCES order.
    up: tuple[tuple[str, bool], ...] = ()


@dataclass(frozen=True, slots=True)
class Coverage:
    """The last answer of the coverage query: None before the first, kept when a query fails."""

    up: bool
    subscriptions: tuple[str, ...]  # the subscriptions it covered
    unprotected: tuple[UnprotectedResource, ...] | None = None


@dataclass(frozen=True, slots=True)
class PostureSnapshot:
    taken_at: float
    vaults: tuple[VaultPosture, ...] = field(default_factory=tuple)
    coverage: Coverage | None = None  # None: collection.coverage is off


class PostureStore:
    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._vaults: dict[VaultRef, VaultPosture] = {}
        self._coverage: Coverage | None = None

    def set_vaults(self, refs: Iterable[VaultRef]) -> None:
        """Make the watched vaults exactly `refs`; a vault that left takes its series along."""
        self._vaults = {ref: self._vaults.get(ref) or VaultPosture(ref) for ref in sorted(set(refs))}

    def record(self, ref: VaultRef, source: str, outcome: Outcome) -> None:
        """One read of one vault: its parsed value (None: Azure answered nothing readable) or FAILED."""
        known = self._vaults.get(ref)
        if known is None:  # forgotten while its read was in flight
            return
        ok = not isinstance(outcome, Failed)
        up = dict(known.up)
        up[source] = ok
        ordered = tuple((s, up[s]) for s in POSTURE_SOURCES if s in up)
        changes: dict[str, object] = {"up": ordered}
        if ok:
            changes[_FIELDS[source]] = () if outcome is None and source == DELETED_INSTANCES else outcome
        self._vaults[ref] = replace(known, **changes)  # type: ignore[arg-type]

    def record_coverage(self, subscriptions: tuple[str, ...], found: tuple[UnprotectedResource, ...] | None) -> None:
        """One coverage query over `subscriptions`: what it found, or None when it failed."""
        if found is None:
            last = self._coverage.unprotected if self._coverage is not None else None
            self._coverage = Coverage(False, subscriptions, last)
        else:
            self._coverage = Coverage(True, subscriptions, found)

    def snapshot(self) -> PostureSnapshot:
        return PostureSnapshot(self._clock(), tuple(self._vaults.values()), self._coverage)
