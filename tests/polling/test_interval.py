"""The per-vault interval schedule the inventory and posture pollers share, on an injected monotonic clock."""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence

import pytest

from exporter.model import BACKUP_VAULT, VaultRef
from exporter.polling.interval import IntervalSchedule, run_until
from tests.support import ManualClock

SUB = "00000000-0000-0000-0000-000000000000"
A, B, C = (VaultRef(SUB, "rg", name) for name in ("vault-a", "vault-b", "vault-c"))
BV = VaultRef(SUB, "rg", "bv", BACKUP_VAULT)
FAILING = VaultRef(SUB, "rg", "vault-failing")


class Reader:
    """What a poller reads, records and publishes, in the order the schedule asked."""

    def __init__(self) -> None:
        self.recorded: list[tuple[VaultRef, str]] = []
        self.publishes = 0

    @staticmethod
    def read(ref: VaultRef) -> str:
        return "failed" if ref == FAILING else f"read {ref.vault}"  # a poller's read catches Azure's errors

    def record(self, ref: VaultRef, result: str) -> None:
        self.recorded.append((ref, result))

    def publish(self) -> None:
        self.publishes += 1

    def poll(self, schedule: IntervalSchedule[str], refs: Sequence[VaultRef]) -> list[VaultRef]:
        """One look for due vaults; the vaults read, in order."""
        self.recorded.clear()
        count = schedule.start(refs).finish(None, self.record, self.publish)
        assert count == len(self.recorded)
        return [ref for ref, _ in self.recorded]


@pytest.fixture
def monotonic() -> ManualClock:
    return ManualClock(1000.0)


@pytest.fixture
def reader() -> Reader:
    return Reader()


def make(reader: Reader, monotonic: ManualClock, interval: float = 60.0) -> IntervalSchedule[str]:
    return IntervalSchedule(reader.read, interval=interval, concurrency=2, monotonic=monotonic, name="test")


@pytest.fixture
def schedule(reader: Reader, monotonic: ManualClock) -> Iterator[IntervalSchedule[str]]:
    schedule = make(reader, monotonic)
    yield schedule
    schedule.close()


def test_new_vaults_at_once_then_each_every_interval(
    schedule: IntervalSchedule[str], reader: Reader, monotonic: ManualClock
) -> None:
    assert reader.poll(schedule, [A, B]) == [A, B]
    monotonic.advance(30)
    assert reader.poll(schedule, [A, B, C]) == [C]  # A and B not due; C new
    assert reader.publishes == 2
    monotonic.advance(29.5)
    assert reader.poll(schedule, [A, B, C]) == []  # nothing due, none left: nothing to publish
    assert reader.publishes == 2
    monotonic.advance(0.5)
    assert reader.poll(schedule, [A, B, C]) == [A, B]  # due at exactly 60 s; C keeps its own phase
    monotonic.advance(30)
    assert reader.poll(schedule, [A, B, C]) == [C]


def test_a_vault_that_leaves_is_published_without_a_read(
    schedule: IntervalSchedule[str], reader: Reader, monotonic: ManualClock
) -> None:
    reader.poll(schedule, [A, BV])
    monotonic.advance(1)
    assert reader.poll(schedule, [A]) == []
    assert reader.publishes == 2  # its series go at once
    monotonic.advance(1)
    assert reader.poll(schedule, [A, BV]) == [BV]  # back: new again, read at once


def test_all_due_reads_every_vault_now(schedule: IntervalSchedule[str], reader: Reader, monotonic: ManualClock) -> None:
    reader.poll(schedule, [A, B])
    monotonic.advance(1)
    schedule.all_due()
    assert reader.poll(schedule, [A, B]) == [A, B]
    monotonic.advance(59.5)
    assert reader.poll(schedule, [A, B]) == []  # the interval counts from the forced read


def test_a_reload_schedules_on_the_new_interval(reader: Reader, monotonic: ManualClock) -> None:
    """A reload builds the pollers anew (exporter.service.App): every vault at once, then the new interval."""
    old = make(reader, monotonic, interval=60.0)
    reader.poll(old, [A, B])
    old.close()
    monotonic.advance(10)
    schedule = make(reader, monotonic, interval=300.0)
    try:
        assert reader.poll(schedule, [A, B]) == [A, B]
        monotonic.advance(60)
        assert reader.poll(schedule, [A, B]) == []  # the old interval no longer applies
        monotonic.advance(240)
        assert reader.poll(schedule, [A, B]) == [A, B]
    finally:
        schedule.close()


def test_a_failing_vault_leaves_the_others_and_keeps_its_interval(
    schedule: IntervalSchedule[str], reader: Reader, monotonic: ManualClock
) -> None:
    assert reader.poll(schedule, [A, FAILING, B]) == [A, FAILING, B]
    assert reader.recorded == [(A, "read vault-a"), (FAILING, "failed"), (B, "read vault-b")]
    monotonic.advance(59)
    assert reader.poll(schedule, [A, FAILING, B]) == []  # no retry storm: the next try is on schedule
    monotonic.advance(1)
    assert reader.poll(schedule, [A, FAILING, B]) == [A, FAILING, B]


def test_a_stop_abandons_the_batch_unrecorded_and_unpublished(monotonic: ManualClock) -> None:
    started, release = threading.Event(), threading.Event()

    def read(ref: VaultRef) -> str:
        started.set()
        release.wait(10)
        return ref.vault

    schedule = IntervalSchedule(read, interval=60.0, concurrency=1, monotonic=monotonic, name="test")
    recorded: list[VaultRef] = []
    published: list[bool] = []
    stop = threading.Event()
    batch = schedule.start([A, B])
    assert started.wait(5)
    stop.set()
    try:
        assert batch.finish(stop, lambda ref, _: recorded.append(ref), lambda: published.append(True)) == 0
    finally:
        release.set()
        schedule.close()
    assert recorded == []
    assert published == []


def test_run_until_polls_until_stopped() -> None:
    stop = threading.Event()
    calls: list[threading.Event] = []

    def poll_due(event: threading.Event) -> None:
        calls.append(event)
        stop.set()

    run_until(stop, poll_due)
    assert calls == [stop]
