"""Store.snapshot rebuilds only the vaults that changed: after any sequence of polls, discoveries and
restores it equals a full rebuild of the store's state, and reuses unchanged vaults' parts."""

from __future__ import annotations

from itertools import groupby
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from exporter.model import Job, VaultInfo, VaultRef
from exporter.store.job_store import Histogram, ItemView, Snapshot, Store, VaultPoll, VaultView
from tests.support import DAY, T0, ManualClock, job

REFS = (
    VaultRef("00000000-0000-0000-0000-000000000000", "rg-backup", "vault-a"),
    VaultRef("00000000-0000-0000-0000-000000000000", "rg-backup", "vault-b"),
    VaultRef("11111111-1111-1111-1111-111111111111", "rg-other", "vault-c"),
    # A backup vault sharing vault-a's labels: its items join vault-a's.
    VaultRef("00000000-0000-0000-0000-000000000000", "rg-backup", "vault-a", kind="backup_vaults"),
)


def full_rebuild(store: Store, taken_at: float) -> Snapshot:
    """What Store.snapshot returned before it was incremental: everything rebuilt from the state."""
    state = store.durable()
    items = tuple(
        (key, ItemView(s.latest, s.latest_finished, s.latest_size, s.last_success,
                       tuple(sorted(s.counts.items())), s.size_total))
        for key, s in sorted(state.items.items())
    )
    histograms = tuple(
        (key, Histogram(tuple(int(c) for c in h[:-2]), h[-2], int(h[-1])))
        for key, h in sorted(state.histograms.items())
    )
    vaults = tuple(
        VaultView(v.info, v.polled, v.up, v.last_success, v.poll_duration,
                  tuple(v.tracked[j] for j in v.tracked_ids if j in v.tracked),
                  v.last_error, v.last_poll, tuple(sorted(v.sources.items())))
        for _, v in sorted(state.vaults.items())
    )
    return Snapshot(taken_at, items, histograms, vaults, store.ready, store.discovery_ok)


def assert_consistent(snapshot: Snapshot) -> None:
    """`by_vault` cuts `items` and `histograms` exactly, in their order."""
    assert snapshot.by_vault is not None
    assert tuple(x for s in snapshot.by_vault for x in s.items) == snapshot.items
    assert tuple(x for s in snapshot.by_vault for x in s.histograms) == snapshot.histograms
    for part in snapshot.by_vault:
        assert all(key[:3] == part.labels for key, _ in (*part.items, *part.histograms))
    assert [s.labels for s in snapshot.by_vault] == [k for k, _ in groupby(
        sorted({key[:3] for key, _ in (*snapshot.items, *snapshot.histograms)}))]


def a_job(n: int, item: int, status: str, *, duration: bool) -> Job:
    return job(f"job-{n}", status=status, start=T0 - 3600 + n, item=f"vm-{item}",
               duration_seconds=600.0 + n if duration else None, size_bytes=float(n) if n % 3 else None)


Step = st.SearchStrategy[tuple[Any, ...]]
poll: Step = st.tuples(
    st.just("poll"), st.sampled_from(REFS), st.booleans(),
    st.lists(st.tuples(st.integers(0, 30), st.integers(0, 4), st.sampled_from(["Completed", "Failed", "InProgress"]),
                       st.booleans()), max_size=5),
)
discover: Step = st.tuples(st.just("discover"), st.sets(st.sampled_from(REFS), min_size=1), st.booleans(), st.just([]))
restore: Step = st.tuples(st.just("restore"), st.just(REFS[0]), st.just(True), st.just([]))
snapshot_now: Step = st.tuples(st.just("snapshot"), st.just(REFS[0]), st.just(True), st.just([]))


@settings(max_examples=150, deadline=None)
@given(st.lists(st.one_of(poll, poll, discover, restore, snapshot_now), max_size=25))
def test_snapshot_equals_full_rebuild_after_any_sequence(steps: list) -> None:  # type: ignore[type-arg]
    clock = ManualClock()
    store = Store(lookback=7 * DAY, clock=clock)
    store.set_vaults([VaultInfo(ref, "westeurope") for ref in REFS], {})
    for action, ref, flag, jobs in steps:
        clock.now += 60
        if action == "poll" and ref in store.vault_refs():
            listed = tuple(a_job(n, item, status, duration=d) for n, item, status, d in jobs)
            store.record(VaultPoll(ref, ok=flag, duration=1.0, window_end=clock.now, jobs=listed,
                                   error=None if flag else "timeout"))
        elif action == "discover":
            store.set_vaults([VaultInfo(r, "westeurope", (("team", "t"),) if flag else ()) for r in ref_set(ref)],
                             {}, complete=flag)
        elif action == "restore":
            store.restore(store.durable())
        snapshot = store.snapshot()
        assert snapshot == full_rebuild(store, clock.now)
        assert_consistent(snapshot)


def ref_set(value: object) -> list[VaultRef]:
    assert isinstance(value, (set, frozenset))
    return sorted(value)


def test_unchanged_vaults_parts_are_reused() -> None:
    clock = ManualClock()
    store = Store(lookback=7 * DAY, clock=clock)
    store.set_vaults([VaultInfo(ref) for ref in REFS[:3]], {})
    for n, ref in enumerate(REFS[:3]):
        store.record(VaultPoll(ref, ok=True, duration=1.0, jobs=(a_job(n, n, "Completed", duration=True),)))
    before = store.snapshot()
    store.record(VaultPoll(REFS[1], ok=True, duration=2.0, jobs=(a_job(9, 1, "Failed", duration=True),)))
    after = store.snapshot()
    assert before.by_vault is not None
    assert after.by_vault is not None
    same = [a is b for a, b in zip(before.by_vault, after.by_vault, strict=True)]
    assert same == [True, False, True]
    assert [a is b for a, b in zip(before.vaults, after.vaults, strict=True)] == [True, False, True]
    assert after == full_rebuild(store, clock.now)
