"""What the last inventory of each vault found, and the immutable snapshots the scrape reads.

Kept apart from the job store (`exporter.store`): the inventory is polled on its own interval by its
own thread, and it replaces a vault's items wholesale each time instead of folding jobs in. One
writer (the inventory thread); readers get `InventorySnapshot`s. A failed inventory keeps the
vault's last good items and only marks the vault down.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from exporter.model import VaultRef
from exporter.parsing.policies import Policy
from exporter.parsing.protected_items import ProtectedItem

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class VaultInventory:
    ref: VaultRef
    polled: bool = False
    up: bool = False
    last_success: float | None = None
    items: tuple[ProtectedItem, ...] = ()  # one per (backup_management_type, item), sorted
    # Every listed item by protectionState, duplicates included: what the vault holds.
    counts: tuple[tuple[str, int], ...] = ()
    policies: tuple[Policy, ...] = ()  # the vault's backup policies, by name (backupPolicies)


@dataclass(frozen=True, slots=True)
class InventorySnapshot:
    taken_at: float
    vaults: tuple[VaultInventory, ...] = field(default_factory=tuple)


def _oldest_first(item: ProtectedItem) -> float:
    return item.last_recovery_point if item.last_recovery_point is not None else float("-inf")


def unique_items(ref: VaultRef, items: Iterable[ProtectedItem]) -> tuple[ProtectedItem, ...]:
    """One item per label set: two series with the same labels would break the scrape.

    Two items share labels when two VMs of the same name live in different resource groups (their
    jobs share `entityFriendlyName` too). The one with the older recovery point is kept, so that a
    stale twin still raises the freshness alert rather than hide behind a healthy one.
    """
    chosen: dict[tuple[str, str], ProtectedItem] = {}
    for item in items:
        key = (item.backup_management_type, item.item)
        known = chosen.get(key)
        if known is None:
            chosen[key] = item
            continue
        log.debug("vault %s lists two protected items named %s; exporting the staler one", ref, item.item)
        if _oldest_first(item) < _oldest_first(known):
            chosen[key] = item
    return tuple(chosen[key] for key in sorted(chosen))


class InventoryStore:
    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._vaults: dict[VaultRef, VaultInventory] = {}

    def set_vaults(self, refs: Iterable[VaultRef]) -> None:
        """Make the inventoried vaults exactly `refs`; a vault that left takes its series along."""
        wanted = set(refs)
        self._vaults = {ref: self._vaults.get(ref) or VaultInventory(ref) for ref in sorted(wanted)}

    def vault_refs(self) -> list[VaultRef]:
        return list(self._vaults)

    def record(self, ref: VaultRef, items: list[ProtectedItem] | None, policies: Iterable[Policy] = ()) -> None:
        """The outcome of one inventory of `ref`: its items and policies, or None when it failed
        (the vault then keeps its last good items and policies)."""
        known = self._vaults.get(ref)
        if known is None:  # forgotten while its inventory was in flight
            return
        if items is None:
            self._vaults[ref] = VaultInventory(
                ref, True, False, known.last_success, known.items, known.counts, known.policies
            )
            return
        counts = Counter(item.protection_state for item in items)
        self._vaults[ref] = VaultInventory(
            ref, True, True, self._clock(), unique_items(ref, items), tuple(sorted(counts.items())),
            tuple(sorted(policies)),
        )

    def snapshot(self) -> InventorySnapshot:
        return InventorySnapshot(self._clock(), tuple(self._vaults.values()))
