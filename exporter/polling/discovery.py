"""Discovery: which vaults this replica polls, as one immutable `VaultSet` every reader shares.

The job poller runs discovery on its schedule and publishes the result into a `LatestVaults`;
the inventory poller and the Resource Graph source read the same value from there.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from concurrent.futures import Executor
from dataclasses import dataclass, field

from exporter.azure.arm import ArmError
from exporter.azure.backup import RecoveryServicesApi
from exporter.config.schema import Config, Target
from exporter.model import VAULT_KINDS, VaultInfo, VaultRef
from exporter.polling.sharding import owns
from exporter.polling.sources import JobSource

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class VaultSet:
    """The vaults to poll after one discovery, and whether every listing behind them answered."""

    vaults: tuple[VaultInfo, ...] = ()
    tracked: Mapping[VaultRef, tuple[str, ...]] = field(default_factory=dict)  # job ids to follow, by vault
    # Every listing a discovery target depends on answered (an empty set then means there is
    # nothing to poll); None before the first discovery.
    ok: bool | None = None
    errors: tuple[str, ...] = ()  # the listings that failed, as logged

    @property
    def refs(self) -> frozenset[VaultRef]:
        return frozenset(info.ref for info in self.vaults)

    def of_kind(self, kind: str) -> list[VaultRef]:
        return [info.ref for info in self.vaults if info.ref.kind == kind]


class LatestVaults:
    """The latest VaultSet: written by the job poller after each discovery, read by any thread.

    Replaced whole (one reference assignment), so a reader never sees half a discovery."""

    def __init__(self) -> None:
        self._current = VaultSet()

    def get(self) -> VaultSet:
        return self._current

    def publish(self, vaults: VaultSet) -> None:
        self._current = vaults


class Discoverer:
    """Lists the subscriptions and vaults the targets ask for; remembers the last good listings."""

    def __init__(
        self, config: Config, api: RecoveryServicesApi, sources: Mapping[str, JobSource], pool: Executor
    ) -> None:
        self._config = config
        self._api = api  # subscriptions are listed here; vaults come from the sources
        self._sources = sources
        self._pool = pool
        self._discovered: dict[str, list[VaultInfo]] = {}

    def discover(self) -> VaultSet:
        errors: list[str] = []
        self._list(errors)
        targets = self._config.targets
        infos: dict[VaultRef, VaultInfo] = {}
        tracked: dict[VaultRef, tuple[str, ...]] = {}
        for target in targets:
            for info in self._resolve(target):
                infos.setdefault(info.ref, info)
                if target.jobs:
                    tracked[info.ref] = tracked.get(info.ref, ()) + target.jobs
        infos = _one_per_label_set(infos)
        collection = self._config.collection
        index, count = collection.shard_index, collection.shard_count
        if count > 1:
            mine = {ref: info for ref, info in infos.items() if owns(ref, index, count)}
            log.info("shard %d of %d: polling %d of %d vaults", index, count, len(mine), len(infos))
            infos = mine
        complete = not errors
        if not infos and complete:
            log.warning("no vault to poll: no target matched a vault this replica owns")
        return VaultSet(tuple(infos.values()), tracked, complete, tuple(errors))

    def _list(self, errors: list[str]) -> None:
        """List subscriptions and vaults into `_discovered`; what failed (and matters) into `errors`."""
        targets = self._config.targets
        subscriptions = {t.subscription_id for t in targets if t.subscription_id != "*"}
        # An explicitly named vault is polled whether or not its subscription lists: only the
        # listings a discovery target depends on make the result incomplete.
        discovering = {t.subscription_id for t in targets if t.is_discovery}
        if "*" in discovering:
            try:
                subscriptions.update(self._api.list_subscriptions())
            except ArmError as exc:
                log.warning("listing subscriptions failed: %s", exc)
                subscriptions.update(self._discovered)
                errors.append(f"listing subscriptions: {exc}")
        # Only the kinds some target wants: an estate without backup vaults asks nothing of them.
        kinds: dict[str, set[str]] = {}
        for target in targets:
            for sub in subscriptions if target.subscription_id == "*" else (target.subscription_id,):
                kinds.setdefault(sub, set()).update(target.kinds)
        futures = {
            (sub, kind): self._pool.submit(source.list_vaults, sub)
            for sub in sorted(subscriptions)
            for kind, source in self._sources.items()
            if kind in kinds.get(sub, ())
        }
        found: dict[str, list[VaultInfo]] = {}
        for (sub, kind), future in futures.items():
            try:
                found.setdefault(sub, []).extend(future.result())
            except ArmError as exc:
                # Keep what the last good discovery found; an explicitly named vault is polled anyway.
                log.warning("listing %s vaults of subscription %s failed: %s", kind, sub, exc)
                if "*" in discovering or sub in discovering:
                    errors.append(f"listing {kind} vaults of subscription {sub}: {exc}")
                found.setdefault(sub, []).extend(i for i in self._discovered.get(sub, []) if i.ref.kind == kind)
        self._discovered.update(found)

    def _resolve(self, target: Target) -> list[VaultInfo]:
        if not target.is_discovery:
            ref = VaultRef(
                target.subscription_id, target.resource_group or "", target.vault_name or "", target.kinds[0]
            )
            known = {
                (i.ref.kind, i.ref.resource_group.lower(), i.ref.vault.lower()): i
                for i in self._discovered.get(target.subscription_id, [])
            }
            found = known.get((ref.kind, ref.resource_group.lower(), ref.vault.lower()))
            return [VaultInfo(ref, found.location, found.tags, found.cross_region_restore) if found else VaultInfo(ref)]
        subs = list(self._discovered) if target.subscription_id == "*" else [target.subscription_id]
        return [
            info
            for sub in subs
            for info in self._discovered.get(sub, [])
            if info.ref.kind in target.kinds and target.matches(info.ref.vault)
        ]


def _one_per_label_set(infos: dict[VaultRef, VaultInfo]) -> dict[VaultRef, VaultInfo]:
    """Series are labelled by subscription, resource group and vault name, not by kind, so of a
    Recovery Services vault and a backup vault of the same name in one resource group (ARM allows
    it: two resource types) only the first kind of VAULT_KINDS is monitored; two would emit
    duplicate series."""
    kept: dict[tuple[str, str, str], VaultRef] = {}
    for ref in sorted(infos, key=lambda r: VAULT_KINDS.index(r.kind)):
        first = kept.setdefault(ref.labels, ref)
        if first is not ref:
            log.warning("%s vault %s skipped: a %s vault has the same labels", ref.kind, ref, first.kind)
    return {ref: infos[ref] for ref in kept.values()}
