"""The state file: round trip, atomic writes, and files that cannot be trusted set aside."""

from __future__ import annotations

import gzip
import json
import logging
import os
from collections.abc import Callable
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from exporter.exposition.lifecycle_families import LifecycleCollector
from exporter.model import TaskState, VaultInfo, VaultRef
from exporter.store.job_store import DURATION_BUCKETS, SEEN_ID_GRACE_SECONDS, Store, VaultPoll
from exporter.store.lifecycle import Lifecycle
from exporter.store.state_codec import FORMAT, JOB_FIELDS, VERSION, decode, encode
from exporter.store.state_file import StateFile, StateFileBusy
from tests.support import T0, ManualClock, job

VAULT = VaultRef("00000000-0000-0000-0000-000000000000", "rg-backup", "vault-prod")
OTHER = VaultRef("11111111-1111-1111-1111-111111111111", "rg-other", "vault-dev")
DAY = 86400.0


def rich_store(clock: ManualClock) -> Store:
    """A store with something in every field the file carries."""
    store = Store(lookback=7 * DAY, clock=clock)
    store.set_vaults(
        [VaultInfo(VAULT, "westeurope", (("team", "payments"), ("env", "prod"))), VaultInfo(OTHER)],
        {VAULT: ("tracked-1",)},
    )
    store.apply(VAULT, [
        job("a", size_bytes=1024.0**3, start=T0 - 7200),
        job("b", "Failed", error_code="UserErrorVmNotFound", error_title='VM "x" not found'),
        job("c", "InProgress", start=T0 - 60),
        job("d", "SomethingNew", start=T0 - 5000, end_time=T0 - 4000, item="db ünïcode", operation="Backup (Full)",
            backup_management_type="AzureWorkload"),
    ])
    store.apply(OTHER, [job("e", "CompletedWithWarnings", item="share-01", backup_management_type="AzureStorage",
                            duration_seconds=None)])
    tracked = job("tracked-1", "InProgress", progress_ratio=0.42, has_details=True,
                  tasks=(TaskState("Take Snapshot", "Completed"), TaskState("Transfer", "InProgress")))
    store.record(VaultPoll(VAULT, ok=True, duration=1.5, window_end=T0, tracked=(tracked,),
                           pending={"f": (job("f", "Cancelled"), 2)}, backfill=("a", "b")))
    store.record(VaultPoll(OTHER, ok=False, duration=0.5))
    return store


def cursor(store: Store, ref: VaultRef) -> tuple[object, ...]:
    v = store.vault(ref)
    return (v.info, v.tracked_ids, v.watermark, v.in_progress, v.counted, v.pending_details, v.backfill, v.tracked,
            v.last_success)


def test_round_trip_keeps_counters_latest_histograms_and_cursors(tmp_path: Path, clock: ManualClock) -> None:
    store = rich_store(clock)
    path = tmp_path / "state.json"
    assert StateFile(path, clock=clock).save(store)
    restored = Store(lookback=7 * DAY, clock=clock)
    assert StateFile(path, clock=clock).load(restored)
    before, after = store.snapshot(), restored.snapshot()
    assert after.items == before.items
    assert after.histograms == before.histograms
    assert sum(h.count for _, h in after.histograms) == 3  # a, b, d; e had no duration
    for ref in (VAULT, OTHER):
        assert cursor(restored, ref) == cursor(store, ref)
    # The tracked job keeps its tasks and progress, the pending job its tries.
    assert restored.vault(VAULT).tracked["tracked-1"].tasks[1] == TaskState("Transfer", "InProgress")
    assert restored.vault(VAULT).pending_details["f"][1] == 2


def test_a_restored_store_is_not_ready_until_its_vaults_are_polled_again(tmp_path: Path, clock: ManualClock) -> None:
    store = rich_store(clock)
    store.record(VaultPoll(OTHER, ok=True, duration=0.1, window_end=T0))
    assert store.ready
    path = tmp_path / "state.json"
    StateFile(path, clock=clock).save(store)
    restored = Store(lookback=7 * DAY, clock=clock)
    StateFile(path, clock=clock).load(restored)
    assert not restored.ready
    assert not any(view.polled for view in restored.snapshot().vaults)
    restored.record(VaultPoll(VAULT, ok=True, duration=0.1, window_end=T0 + 60))
    restored.record(VaultPoll(OTHER, ok=True, duration=0.1, window_end=T0 + 60))
    assert restored.ready


def test_counting_continues_after_a_restore_without_counting_twice(tmp_path: Path, clock: ManualClock) -> None:
    store = rich_store(clock)
    path = tmp_path / "state.json"
    StateFile(path, clock=clock).save(store)
    restored = Store(lookback=7 * DAY, clock=clock)
    StateFile(path, clock=clock).load(restored)
    # A window overlapping the last one lists "a" and "b" again, and "c" now finished.
    assert restored.apply(VAULT, [job("a"), job("b", "Failed"), job("c", "Completed", start=T0 - 60)]) == 1
    counts = {key[4]: dict(view.counts) for key, view in restored.snapshot().items if key[2] == VAULT.vault}
    assert counts["vm-app-01"] == {"Completed": 2, "Failed": 1}
    assert "c" not in restored.vault(VAULT).in_progress


def test_counted_ids_past_the_lookback_are_dropped_on_restore(tmp_path: Path, clock: ManualClock) -> None:
    store = Store(lookback=DAY, clock=clock)
    store.set_vaults([VaultInfo(VAULT)], {})
    store.apply(VAULT, [job("old", start=T0 - 1.5 * DAY), job("new", start=T0 - 3600)])
    path = tmp_path / "state.json"
    StateFile(path, clock=clock).save(store)
    clock.advance(SEEN_ID_GRACE_SECONDS)
    restored = Store(lookback=DAY, clock=clock)
    StateFile(path, clock=clock).load(restored)
    assert set(restored.vault(VAULT).counted) == {"new"}
    (_, view), = restored.snapshot().items
    assert dict(view.counts) == {"Completed": 2}  # the counter itself is kept


def test_save_writes_only_after_a_change_and_replaces_the_file_whole(tmp_path: Path, clock: ManualClock) -> None:
    store = rich_store(clock)
    path = tmp_path / "state.json"
    state = StateFile(path, clock=clock)
    assert state.save(store)
    assert not state.save(store)  # nothing happened since
    assert state.save(store, force=True)  # the shutdown flush
    store.record(VaultPoll(VAULT, ok=True, duration=0.1, window_end=T0 + 60))
    assert state.save(store)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["state.json"]  # no temp file left behind
    assert json.loads(path.read_bytes())["vaults"][0]["watermark"] == T0 + 60


def test_a_temp_file_left_by_a_kill_during_a_write_is_harmless(tmp_path: Path, clock: ManualClock) -> None:
    store = rich_store(clock)
    path = tmp_path / "state.json"
    StateFile(path, clock=clock).save(store)
    (tmp_path / "state.json.tmp").write_bytes(b'{"format": "azure-backup-exporter/st')  # killed mid-write
    restored = Store(lookback=7 * DAY, clock=clock)
    assert StateFile(path, clock=clock).load(restored)
    assert StateFile(path, clock=clock).save(restored, force=True)
    assert not (tmp_path / "state.json.tmp").exists()


def test_a_gz_path_is_written_gzipped_and_read_back(tmp_path: Path, clock: ManualClock) -> None:
    store = rich_store(clock)
    path = tmp_path / "state.json.gz"
    StateFile(path, clock=clock).save(store)
    assert path.read_bytes()[:2] == b"\x1f\x8b"
    assert json.loads(gzip.decompress(path.read_bytes()))["format"] == FORMAT
    restored = Store(lookback=7 * DAY, clock=clock)
    assert StateFile(path, clock=clock).load(restored)
    assert restored.snapshot().items == store.snapshot().items


def valid_document(clock: ManualClock) -> dict[str, object]:
    document: dict[str, object] = json.loads(encode(rich_store(clock).durable(), T0))
    return document


def mutate(document: dict[str, object], path: str, value: object) -> bytes:
    """Set `path` (dot-separated keys and list indexes) in the document to `value`."""
    *parents, last = path.split(".")
    node: object = document
    for part in parents:
        node = node[int(part)] if isinstance(node, list) else node[part]  # type: ignore[index]
    if isinstance(node, list):
        node[int(last)] = value
    else:
        node[last] = value  # type: ignore[index]
    return json.dumps(document).encode()


Damage = Callable[[dict[str, object], bytes], bytes]  # (the document, its bytes) -> what is on disk
# What a state file can turn into, and the words the log line must use to say why it was set aside.
UNTRUSTED: dict[str, tuple[Damage, str]] = {
    "empty": (lambda doc, data: b"", "not JSON"),
    "truncated": (lambda doc, data: data[: len(data) // 2], "not JSON"),
    "garbage": (lambda doc, data: b"\x00\xff garbage \x13", "not JSON"),
    "truncated gzip": (lambda doc, data: gzip.compress(data)[:200], "gzip"),
    "foreign json": (lambda doc, data: b'{"groups": [{"name": "prometheus"}]}', "not an azure-backup-exporter"),
    "foreign format": (lambda doc, data: mutate(doc, "format", "node_exporter/textfile"), "not an azure-backup"),
    "a json list": (lambda doc, data: b"[1, 2, 3]", "not an azure-backup-exporter"),
    "future version": (lambda doc, data: mutate(doc, "version", VERSION + 1), "newer exporter"),
    "bad version": (lambda doc, data: mutate(doc, "version", "1"), "version"),
    "counter not a count": (lambda doc, data: mutate(doc, "items.0.counts.Completed", "3"), "items[0].counts"),
    "negative counter": (lambda doc, data: mutate(doc, "items.0.counts.Completed", -1), "items[0].counts"),
    "watermark not a time": (lambda doc, data: mutate(doc, "vaults.0.watermark", "yesterday"), "watermark"),
    "counted not a map": (lambda doc, data: mutate(doc, "vaults.0.counted", ["a", "b"]), "counted"),
    "job row too short": (lambda doc, data: mutate(doc, "items.0.latest", ["a", "vm"]), "items[0].latest"),
    "job without id": (lambda doc, data: mutate(doc, "job_fields", ["x", *JOB_FIELDS[1:]]), "job_id missing"),
    "nan sum": (lambda doc, data: data.replace(b'"size_total":1073741824.0', b'"size_total":NaN', 1), "size_total"),
}


@pytest.mark.parametrize(("damage", "reason"), UNTRUSTED.values(), ids=UNTRUSTED.keys())
def test_an_untrusted_file_is_set_aside_logged_and_the_start_is_cold(
    tmp_path: Path, clock: ManualClock, caplog: pytest.LogCaptureFixture, damage: Damage, reason: str
) -> None:
    data = encode(rich_store(clock).durable(), T0)
    bad = damage(json.loads(data), data)
    path = tmp_path / "state.json"
    path.write_bytes(bad)
    store = Store(lookback=7 * DAY, clock=clock)
    with caplog.at_level(logging.ERROR, logger="exporter.store.state_file"):
        assert not StateFile(path, clock=clock).load(store)
    assert store.snapshot().items == ()
    assert store.vault_refs() == []
    assert not path.exists()
    (aside,) = tmp_path.iterdir()
    assert aside.name == "state.json.corrupt-20261118T110640Z"  # T0 in UTC
    assert aside.read_bytes() == bad  # kept as it was, for a post-mortem
    (record,) = caplog.records
    for part in (str(path), reason, aside.name):
        assert part in record.getMessage()


def test_two_bad_files_in_one_second_are_both_kept(tmp_path: Path, clock: ManualClock) -> None:
    path = tmp_path / "state.json"
    for text in (b"one", b"two"):
        path.write_bytes(text)
        StateFile(path, clock=clock).load(Store(lookback=DAY, clock=clock))
    assert sorted(p.read_bytes() for p in tmp_path.iterdir()) == [b"one", b"two"]


def test_a_bad_file_that_cannot_be_set_aside_is_never_overwritten(
    tmp_path: Path, clock: ManualClock, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "state.json"
    path.write_bytes(b"not json")

    def refuse(self: Path, target: Path) -> Path:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(Path, "rename", refuse)
    state = StateFile(path, clock=clock)
    with caplog.at_level(logging.ERROR):
        assert not state.load(Store(lookback=DAY, clock=clock))
    assert not state.save(rich_store(clock))
    assert path.read_bytes() == b"not json"
    assert "cannot be set aside" in caplog.text
    assert "not writing state" in caplog.text


def test_a_missing_file_is_a_quiet_cold_start(
    tmp_path: Path, clock: ManualClock, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="exporter.store.state_file"):
        assert not StateFile(tmp_path / "state.json", clock=clock).load(Store(lookback=DAY, clock=clock))
    assert [r.levelno for r in caplog.records] == [logging.INFO]
    assert list(tmp_path.iterdir()) == []


def test_changed_duration_buckets_restart_the_histograms_only(
    tmp_path: Path, clock: ManualClock, caplog: pytest.LogCaptureFixture
) -> None:
    store = rich_store(clock)
    path = tmp_path / "state.json"
    path.write_bytes(mutate(valid_document(clock), "duration_buckets", [60, 600]))
    restored = Store(lookback=7 * DAY, clock=clock)
    with caplog.at_level(logging.WARNING):
        assert StateFile(path, clock=clock).load(restored)
    assert restored.snapshot().histograms == ()
    assert restored.snapshot().items == store.snapshot().items
    assert "histograms restart" in caplog.text


def test_a_file_with_a_job_field_this_version_does_not_know_still_reads(clock: ManualClock) -> None:
    document = valid_document(clock)
    document["job_fields"] = [*JOB_FIELDS, "added_later"]
    for item in document["items"]:  # type: ignore[attr-defined]
        for key in ("latest", "latest_finished"):
            if item[key] is not None:
                item[key].append("some value")
    for vault in document["vaults"]:  # type: ignore[attr-defined]
        for row in vault["tracked"]:
            row.append(None)
        for row, _tries in vault["pending_details"]:
            row.append(None)
    state, written_at, warnings = decode(json.dumps(document).encode())
    assert written_at == T0
    assert warnings == []
    assert state.items == rich_store(clock).durable().items


def test_the_file_names_its_format_version_and_buckets(clock: ManualClock) -> None:
    document = valid_document(clock)
    assert document["format"] == "azure-backup-exporter/state"
    assert document["version"] == 1
    assert document["duration_buckets"] == list(DURATION_BUCKETS)
    assert document["job_fields"] == list(JOB_FIELDS)


def test_lifecycle_metrics_count_reloads_and_state_writes(tmp_path: Path, clock: ManualClock) -> None:
    lifecycle = Lifecycle(clock)
    registry = CollectorRegistry()
    registry.register(LifecycleCollector(lifecycle))

    def value(name: str, **labels: str) -> float | None:
        return registry.get_sample_value(name, labels)

    assert value("azure_backup_exporter_config_last_reload_successful") == 1.0
    assert value("azure_backup_exporter_config_reloads_total", result="failure") == 0.0
    assert value("azure_backup_exporter_state_last_write_duration_seconds") is None
    lifecycle.config_reloaded(ok=False)
    assert value("azure_backup_exporter_config_last_reload_successful") == 0.0
    assert value("azure_backup_exporter_config_last_reload_success_timestamp_seconds") == T0
    clock.advance(60)
    lifecycle.config_reloaded(ok=True)
    assert value("azure_backup_exporter_config_last_reload_successful") == 1.0
    assert value("azure_backup_exporter_config_last_reload_success_timestamp_seconds") == T0 + 60
    assert value("azure_backup_exporter_config_reloads_total", result="success") == 1.0
    assert value("azure_backup_exporter_config_reloads_total", result="failure") == 1.0
    StateFile(tmp_path / "state.json", lifecycle, clock).save(rich_store(clock))
    StateFile(tmp_path / "missing-dir" / "state.json", lifecycle, clock).save(rich_store(clock))
    assert value("azure_backup_exporter_state_writes_total", result="success") == 1.0
    assert value("azure_backup_exporter_state_writes_total", result="failure") == 1.0
    assert (value("azure_backup_exporter_state_last_write_duration_seconds") or 0) > 0


def test_one_process_at_a_time_owns_a_state_file(tmp_path: Path) -> None:
    owner, other = StateFile(tmp_path / "state.json"), StateFile(tmp_path / "state.json")
    owner.lock()
    owner.lock()  # again: already owned, a no-op
    assert owner.lock_path.read_text() == f"{os.getpid()}\n"
    with pytest.raises(StateFileBusy, match=rf"state\.json is in use by another process \(pid {os.getpid()}\)"):
        other.lock()
    owner.unlock()
    other.lock()  # released: taken over at once
    other.unlock()
