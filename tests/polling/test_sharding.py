"""Horizontal sharding: replicas split the vaults exactly, by a hash every process agrees on."""

from __future__ import annotations

import os
import subprocess
import sys
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from exporter.azure.telemetry import ApiTelemetry
from exporter.config.schema import ConfigError, parse_config
from exporter.model import VaultRef
from exporter.polling.sharding import apply_flags, owns, shard_of
from exporter.service import App
from exporter.simulator import EstateSpec, Fault, Simulator
from tests.support import ManualClock, sim_config

# A few hundred vault ids of the shapes people use: GUID subscriptions, mixed case, digits.
VAULTS = [
    VaultRef(f"{s:08x}-0000-4000-8000-{s * 7919:012x}", f"rg-backup-{g:02d}", f"RSV-{team}-{v:03d}")
    for s in range(5)
    for g in range(4)
    for team, v in (("payments", 1), ("identity", 2), ("data", 3), ("platform", 4), ("web", 5), ("ml", 6),
                    ("ops", 7), ("search", 8), ("Prod", 9), ("dev", 10), ("qa", 11), ("dr", 12), ("x", 13),
                    ("y", 14), ("z", 15))
]


@pytest.mark.parametrize("count", range(1, 8))
def test_every_vault_is_in_exactly_one_shard(count: int) -> None:
    assert len(set(VAULTS)) == 300
    owners = {ref: [index for index in range(count) if owns(ref, index, count)] for ref in VAULTS}
    assert all(len(found) == 1 for found in owners.values())
    sizes = Counter(found[0] for found in owners.values())
    assert set(sizes) == set(range(count))  # 300 vaults leave no shard empty
    assert max(sizes.values()) <= 2 * 300 / count  # and none carries twice its share


def test_the_split_is_stable_and_ignores_case() -> None:
    ref = VaultRef("00000000-0000-0000-0000-000000000000", "rg-backup", "vault-prod")
    # SHA-256 of the lowercase id, not Python's per-process salted hash(): pinned, so a change
    # that reshuffles every StatefulSet's vaults cannot slip in unnoticed.
    assert [shard_of(ref.resource_id, count) for count in (2, 3, 5, 7)] == [1, 0, 1, 6]
    upper = VaultRef(ref.subscription_id.upper(), "RG-Backup", "Vault-Prod")
    assert all(shard_of(upper.resource_id, n) == shard_of(ref.resource_id, n) for n in range(1, 8))
    program = f"from exporter.polling.sharding import shard_of; print(shard_of({ref.resource_id!r}, 7))"
    child = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, check=True, timeout=30,
                           env={**os.environ, "PYTHONHASHSEED": "123"})
    assert child.stdout.strip() == "6"


def test_a_poll_of_shard_1_of_3_reads_only_its_vaults(
    start_simulator: Callable[..., Simulator], clock: ManualClock
) -> None:
    sim = start_simulator(EstateSpec(subscriptions=2, vaults_per_subscription=6, items_per_vault=2), clock=clock)
    refs = [VaultRef(*ref) for ref in sim.estate.vault_refs()]
    mine = {ref for ref in refs if shard_of(ref.resource_id, 3) == 1}
    assert 0 < len(mine) < len(refs)
    app = App(sim_config(sim, targets=[{"subscription_id": "*"}], shard_index=1, shard_count=3), ApiTelemetry(),
              clock=clock)
    assert app.poller.poll_once()
    assert set(app.store.vault_refs()) == mine
    listed = {r.path.split("/vaults/")[1].split("/")[0] for r in sim.requests() if r.api == "list_jobs"}
    assert listed == {ref.vault for ref in mine}
    assert {view.info.ref for view in app.store.snapshot().vaults} == mine


def test_shard_index_must_be_below_the_count() -> None:
    target = [{"subscription_id": "*"}]
    with pytest.raises(ConfigError) as raised:
        parse_config({"collection": {"shard_index": 3, "shard_count": 3}, "targets": target}, environ={})
    assert raised.value.problems == (
        "collection.shard_index: 3 must be less than collection.shard_count (3); shards are numbered 0..count-1",)
    with pytest.raises(ConfigError, match=r"collection\.shard_count: 0 is outside 1\.\.10000"):
        parse_config({"collection": {"shard_count": 0}, "targets": target}, environ={})
    config = parse_config({"collection": {"shard_index": 2, "shard_count": 3}, "targets": target}, environ={})
    assert (config.collection.shard_index, config.collection.shard_count) == (2, 3)


def test_flags_override_the_config_and_are_checked_against_it() -> None:
    config = parse_config({"collection": {"shard_count": 4}, "targets": [{"subscription_id": "*"}]}, environ={})
    assert apply_flags(config, "3", None).collection.shard_index == 3
    assert apply_flags(config, None, None) is config
    moved = apply_flags(config, "1", "2").collection
    assert (moved.shard_index, moved.shard_count) == (1, 2)
    for index, count, message in (
        ("4", None, "--shard.index: 4 must be less than collection.shard_count (4)"),
        ("-1", "2", "--shard.index: -1 is outside 0..9999"),
        ("one", "2", "--shard.index: 'one' is not an integer"),
        ("0", "0", "--shard.count: 0 is outside 1..10000"),
    ):
        with pytest.raises(ConfigError) as raised:
            apply_flags(config, index, count)
        assert any(problem.startswith(message) for problem in raised.value.problems), raised.value.problems


def test_cli_shard_flags_split_a_once_run_and_bad_ones_exit_2(
    start_simulator: Callable[..., Simulator], tmp_path: Path
) -> None:
    sim = start_simulator(EstateSpec(subscriptions=1, vaults_per_subscription=4, items_per_vault=2))
    config = tmp_path / "c.yaml"
    config.write_text(yaml.safe_dump({
        "azure": {"auth": "managed_identity", "resource_manager_url": sim.url},
        "collection": {"lookback": "1d", "source": "resource_graph"},
        "targets": [{"subscription_id": "*"}],
    }))
    env = {**os.environ, **sim.identity_env()}
    run = [sys.executable, "-m", "exporter", f"--config.file={config}"]
    done = subprocess.run([*run, "--once", "--shard.index=1", "--shard.count=2"], env=env, capture_output=True,
                          text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    mine = {ref[2] for ref in sim.estate.vault_refs() if shard_of(VaultRef(*ref).resource_id, 2) == 1}
    up = {line.split('vault="')[1].split('"')[0] for line in done.stdout.splitlines()
          if line.startswith("azure_backup_exporter_target_up{")}
    assert up == mine
    assert [r.api for r in sim.requests()].count("resource_graph") == 1
    bad = subprocess.run([*run, "--shard.index=2", "--shard.count=2"], capture_output=True, text=True, timeout=30,
                         check=False)
    assert bad.returncode == 2
    assert "--shard.index: 2 must be less than --shard.count (2)" in bad.stderr
    assert "Traceback" not in bad.stderr


def test_a_replica_with_no_share_is_ready_but_not_while_its_listing_fails(
    start_simulator: Callable[..., Simulator], clock: ManualClock
) -> None:
    sim = start_simulator(EstateSpec(subscriptions=1, vaults_per_subscription=1, items_per_vault=2), clock=clock)
    (ref,) = [VaultRef(*ref) for ref in sim.estate.vault_refs()]
    idle = 1 - shard_of(ref.resource_id, 2)  # the replica that owns nothing
    sim.add_fault(Fault(path="/providers/Microsoft.RecoveryServices/vaults\\?", status=403, times=1))
    app = App(sim_config(sim, targets=[{"subscription_id": "*"}], shard_index=idle, shard_count=2), ApiTelemetry(),
              clock=clock, monotonic=clock)
    assert not app.poller.poll_once()  # a failed discovery fails the poll (and `--once`)
    assert app.store.vault_refs() == []
    assert not app.publisher.current.ready  # the vault listing failed: a share may be missing
    assert app.publisher.registry.get_sample_value("azure_backup_exporter_discovery_up") == 0.0
    clock.advance(app.config.collection.interval)  # retried at the poll interval, not the discovery's
    assert app.poller.poll_once()
    assert app.store.vault_refs() == []
    assert app.publisher.current.ready  # listed, and nothing of it is this replica's
    assert app.publisher.registry.get_sample_value("azure_backup_exporter_discovery_up") == 1.0
