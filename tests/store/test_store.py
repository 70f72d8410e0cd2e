"""Store: latest-per-item, counters counted once, cursors, pruning — with an injected clock."""

from __future__ import annotations

import pytest

from exporter.model import VaultInfo, VaultRef
from exporter.store.job_store import DURATION_BUCKETS, SEEN_ID_GRACE_SECONDS, Store, VaultPoll
from tests.support import DAY, T0, VAULT, ManualClock, job

OTHER = VaultRef("11111111-1111-1111-1111-111111111111", "rg-other", "vault-dev")


def make_store(clock: ManualClock | None = None) -> Store:
    store = Store(lookback=7 * DAY, clock=clock or ManualClock())
    store.set_vaults([VaultInfo(VAULT, "westeurope"), VaultInfo(OTHER)], {})
    return store


def only_item(store: Store):  # type: ignore[no-untyped-def]
    (_, view), = store.snapshot().items
    return view


def test_job_listed_in_two_polls_counts_once() -> None:
    store = make_store()
    first = job("a", size_bytes=100.0)
    assert store.apply(VAULT, [first]) == 1
    assert store.apply(VAULT, [first]) == 0
    view = only_item(store)
    assert dict(view.counts) == {"Completed": 1}
    assert view.size_total == 100.0


def test_in_progress_job_is_counted_when_it_finishes() -> None:
    store = make_store()
    running = job("a", status="InProgress")
    store.apply(VAULT, [running])
    assert store.vault(VAULT).in_progress == {"a": running.start_time}
    assert dict(only_item(store).counts) == {}
    store.apply(VAULT, [running._replace(status="Failed", end_time=T0)])
    view = only_item(store)
    assert dict(view.counts) == {"Failed": 1}
    assert store.vault(VAULT).in_progress == {}
    assert view.latest is not None
    assert view.latest.status == "Failed"


def test_latest_is_by_start_time_whatever_the_order() -> None:
    store = make_store()
    newer = job("new", status="Failed", start=T0 - 100)
    older = job("old", status="Completed", start=T0 - 5000, size_bytes=7.0)
    store.apply(VAULT, [newer, older])
    view = only_item(store)
    assert view.latest == newer
    assert view.latest_finished == newer
    assert view.latest_size == 7.0  # the newest job that reported a size
    assert view.last_success == older.end_time


def test_last_success_survives_later_failures() -> None:
    store = make_store()
    store.apply(VAULT, [job("ok", start=T0 - 3 * DAY)])
    store.apply(VAULT, [job(f"f{i}", status="Failed", start=T0 - i * 3600) for i in range(1, 5)])
    view = only_item(store)
    assert view.last_success == T0 - 3 * DAY + 600
    assert dict(view.counts) == {"Completed": 1, "Failed": 4}


def test_operations_are_separate_items() -> None:
    store = make_store()
    store.apply(VAULT, [job("b"), job("r", operation="Restore", status="Failed")])
    keys = [key for key, _ in store.snapshot().items]
    assert [k[5] for k in keys] == ["Backup", "Restore"]


def test_unknown_status_passes_through_and_counts() -> None:
    store = make_store()
    store.apply(VAULT, [job("x", status="Throttled", end_time=T0)])
    assert dict(only_item(store).counts) == {"Throttled": 1}


def test_histogram_buckets_each_counted_job_once() -> None:
    store = make_store()
    jobs = [job("a", duration_seconds=60.0), job("b", duration_seconds=61.0), job("c", duration_seconds=1e6)]
    store.apply(VAULT, jobs)
    store.apply(VAULT, jobs)
    (_, hist), = store.snapshot().histograms
    assert hist.count == 3
    assert hist.total == pytest.approx(60 + 61 + 1e6)
    assert hist.bucket_counts[0] == 1  # le=60 includes 60
    assert hist.bucket_counts[1] == 1  # 61 goes to le=300
    assert hist.bucket_counts[len(DURATION_BUCKETS)] == 1  # +Inf


def test_failed_poll_keeps_series_and_sets_down() -> None:
    clock = ManualClock()
    store = make_store(clock)
    store.apply(VAULT, [job("a")])
    store.record(VaultPoll(VAULT, ok=True, duration=1.0, window_end=T0))
    clock.now += 300
    store.record(VaultPoll(VAULT, ok=False, duration=2.0))
    snap = store.snapshot()
    assert len(snap.items) == 1
    vault = next(v for v in snap.vaults if v.info.ref == VAULT)
    assert (vault.up, vault.last_success, vault.poll_duration) == (False, T0, 2.0)
    assert store.vault(VAULT).watermark == T0  # a failed window is read again


def test_counted_ids_are_pruned_after_the_lookback() -> None:
    clock = ManualClock()
    store = make_store(clock)
    store.apply(VAULT, [job("old", start=T0 - 6 * DAY), job("new", start=T0 - DAY)])
    clock.now = T0 + DAY + SEEN_ID_GRACE_SECONDS + 1
    store.record(VaultPoll(VAULT, ok=True, duration=0.1, window_end=clock.now))
    assert set(store.vault(VAULT).counted) == {"new"}
    assert dict(only_item(store).counts) == {"Completed": 2}  # counters are kept


def test_vault_removed_by_discovery_takes_its_series() -> None:
    store = make_store()
    store.apply(VAULT, [job("a")])
    store.apply(OTHER, [job("b")])
    store.set_vaults([VaultInfo(OTHER)], {})
    snap = store.snapshot()
    assert [key[2] for key, _ in snap.items] == ["vault-dev"]
    assert [v.info.ref for v in snap.vaults] == [OTHER]


def test_ready_once_every_vault_was_polled() -> None:
    store = make_store()
    store.record(VaultPoll(VAULT, ok=True, duration=0.1, window_end=T0))
    assert not store.snapshot().ready
    store.record(VaultPoll(OTHER, ok=False, duration=0.1))
    assert store.snapshot().ready


def test_no_vault_is_ready_only_after_a_complete_listing() -> None:
    store = Store(lookback=7 * DAY, clock=ManualClock())
    assert not store.snapshot().ready  # nothing listed yet
    store.set_vaults([], {}, complete=False)
    assert not store.snapshot().ready  # a listing failed: vaults may be missing, not absent
    store.set_vaults([], {})
    assert store.snapshot().ready  # listed everything, nothing to poll: the start is over


def test_ready_stays_once_the_start_is_over() -> None:
    store = make_store()
    store.record(VaultPoll(VAULT, ok=True, duration=0.1, window_end=T0))
    store.record(VaultPoll(OTHER, ok=True, duration=0.1, window_end=T0))
    assert store.snapshot().ready
    # Discovery (or a reload) adds a vault: it is polled soon, and the replica keeps serving.
    third = VaultRef("22222222-2222-2222-2222-222222222222", "rg-new", "vault-new")
    store.set_vaults([VaultInfo(VAULT), VaultInfo(OTHER), VaultInfo(third)], {})
    assert not store.vault(third).polled
    assert store.snapshot().ready
