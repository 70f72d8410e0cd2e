"""Horizontal sharding: N replicas split the vaults among themselves with no coordination.

Replica `index` of `count` polls exactly the vaults whose stable hash lands on it. The hash is
SHA-256 of the vault's lowercase ARM resource id — not Python's `hash()`, which is salted per
process — so every replica, on every restart, computes the same split. Lowercase, because ARM
ids are case-insensitive and discovery and an explicit target may spell one vault differently.

Adding a replica moves about 1/count of the vaults (modulo, not consistent hashing): a moved
vault cold-starts on its new replica, which is cheap; counters are per replica anyway.
"""

from __future__ import annotations

import dataclasses
import hashlib

from exporter.config.schema import MAX_SHARDS, Config, ConfigError
from exporter.model import VaultRef


def shard_of(resource_id: str, count: int) -> int:
    """The shard in 0..count-1 that owns the resource id (case-insensitive)."""
    digest = hashlib.sha256(resource_id.lower().encode()).digest()
    return int.from_bytes(digest[:8], "big") % count


def owns(ref: VaultRef, index: int, count: int) -> bool:
    return count <= 1 or shard_of(ref.resource_id, count) == index


def apply_flags(config: Config, index: str | None, count: str | None) -> Config:
    """`--shard.index` / `--shard.count` override `collection.shard_index` / `shard_count`.

    Raises ConfigError naming the flags (and the config key a flag conflicts with)."""
    if index is None and count is None:
        return config
    collection = config.collection
    problems: list[str] = []
    new_index = _flag_int("--shard.index", index, 0, problems) if index is not None else collection.shard_index
    new_count = _flag_int("--shard.count", count, 1, problems) if count is not None else collection.shard_count
    if not problems and new_index >= new_count:
        where = "--shard.index" if index is not None else "collection.shard_index"
        of = "--shard.count" if count is not None else "collection.shard_count"
        problems.append(f"{where}: {new_index} must be less than {of} ({new_count}); shards are 0..count-1")
    if problems:
        raise ConfigError(problems)
    return dataclasses.replace(
        config, collection=dataclasses.replace(collection, shard_index=new_index, shard_count=new_count)
    )


def _flag_int(flag: str, text: str, low: int, problems: list[str]) -> int:
    try:
        value = int(text.strip())
    except ValueError:
        problems.append(f"{flag}: {text!r} is not an integer")
        return low
    high = MAX_SHARDS - 1 if low == 0 else MAX_SHARDS
    if not low <= value <= high:
        problems.append(f"{flag}: {value} is outside {low}..{high}")
    return value
