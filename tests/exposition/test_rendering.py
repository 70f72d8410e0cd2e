"""Incremental rendering (exposition.fragments): after any sequence of vault changes the published
exposition is byte for byte a full render, and its gzip member decompresses to it."""

from __future__ import annotations

import gzip
import http.client
import time
import zlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from prometheus_client.core import GaugeMetricFamily

from exporter.azure.telemetry import ApiTelemetry
from exporter.exposition import fragments
from exporter.exposition.fragments import FragmentRenderer, Piece, VaultBlock, flatten, join
from exporter.exposition.job_families import BackupCollector, Published
from exporter.exposition.publisher import Exposition, Publisher
from exporter.exposition.text import Writer, render_samples, render_text
from exporter.model import Job, VaultInfo, VaultRef
from exporter.parsing.protected_items import ProtectedItem
from exporter.store.inventory_store import InventoryStore
from exporter.store.job_store import Store, VaultPoll
from exporter.web.server import ExporterHTTPServer

T0 = 1_763_700_000.0
REFS = [VaultRef(f"sub-{i % 2}", f"rg-{i % 3}", f"vault-{i}") for i in range(6)]
STATUSES = ["Completed", "Failed", "InProgress", "CompletedWithWarnings", 'Weird"Status']


class Estate:
    """A job store, an inventory store and a publisher fed the way the pollers feed them."""

    def __init__(self) -> None:
        self.clock = T0
        self.store = Store(lookback=7 * 86400, clock=lambda: self.clock)
        self.inventory = InventoryStore(lambda: self.clock)
        self.telemetry = ApiTelemetry()
        self.publisher = Publisher(self.telemetry, ("team",))
        self.vaults: list[VaultRef] = []
        self.serial = 0

    def set_vaults(self, picked: list[int]) -> None:
        self.vaults = [REFS[i] for i in sorted(set(picked))]
        infos = [VaultInfo(ref, "westeurope", (("team", ref.vault[-1]),)) for ref in self.vaults]
        self.store.set_vaults(infos, {})
        self.inventory.set_vaults(self.vaults)
        self.publisher.publish(self.store.snapshot())

    def poll(self, which: int, seed: int) -> None:
        if not self.vaults:
            return
        ref = self.vaults[which % len(self.vaults)]
        self.clock += 60
        jobs = []
        for n in range(seed % 4):
            self.serial += 1
            status = STATUSES[(seed + n) % len(STATUSES)]
            jobs.append(Job(f"j{self.serial}", f"item-{(seed * 7 + n) % 5}", "AzureIaasVM", "Backup", status,
                            start_time=self.clock - 600, end_time=self.clock - 10, duration_seconds=590.0 + n,
                            size_bytes=float(seed * 1024), error_code="E1" if status == "Failed" else None))
        self.store.record(VaultPoll(ref, ok=seed % 5 != 0, duration=seed / 100, window_end=self.clock,
                                    jobs=tuple(jobs)))
        self.telemetry.record("list_jobs", "200", 0.1)
        self.publisher.publish(self.store.snapshot())

    def inventory_poll(self, which: int, seed: int) -> None:
        if not self.vaults:
            return
        ref = self.vaults[which % len(self.vaults)]
        items = [ProtectedItem(f"ITEM-{k}" if seed % 2 else f"item-{k}", "AzureIaasVM", "VM", "VM",
                               "Protected" if (seed + k) % 3 else "ProtectionStopped", "Passed",
                               last_backup_time=self.clock - k) for k in range(seed % 4)]
        self.inventory.record(ref, None if seed % 7 == 0 else items)
        self.publisher.publish_inventory(self.inventory.snapshot())


def assert_same_as_full_render(publisher: Publisher) -> None:
    current = publisher.current
    plain = current.plain
    assert plain == render_text(publisher.registry.collect())  # the flat (full) path
    assert b"".join(FragmentRenderer().render(publisher.registry.collectors).plain) == plain  # a cold cache
    assert current.plain_size == len(plain)
    assert gzip.decompress(current.gzipped) == plain


operations = st.lists(
    st.one_of(
        st.tuples(st.just("vaults"), st.lists(st.integers(0, len(REFS) - 1), max_size=len(REFS))),
        st.tuples(st.just("poll"), st.integers(0, 10), st.integers(0, 1000)),
        st.tuples(st.just("inventory"), st.integers(0, 10), st.integers(0, 1000)),
        st.tuples(st.just("tags"), st.sampled_from([("team",), ("team", "env"), ()])),
    ),
    max_size=12,
)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(0, len(REFS) - 1), min_size=1), operations)
def test_incremental_render_equals_a_full_render_after_any_sequence(start: list[int], ops: list[tuple]) -> None:
    estate = Estate()
    estate.set_vaults(start)
    for op in ops:
        if op[0] == "vaults":
            estate.set_vaults(op[1])
        elif op[0] == "poll":
            estate.poll(op[1], op[2])
        elif op[0] == "inventory":
            estate.inventory_poll(op[1], op[2])
        else:
            estate.publisher.set_vault_tags(op[1])
            estate.publisher.publish(estate.store.snapshot())
        assert_same_as_full_render(estate.publisher)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.binary(max_size=3000) | st.just(b"abc" * 20000), max_size=12), st.integers(0, 9))
def test_joined_deflate_pieces_are_one_valid_gzip_member(chunks: list[bytes], level: int) -> None:
    pieces, previous = [], b""
    for chunk in chunks:  # each deflated alone, with the tail of the text before it as dictionary
        pieces.append(Piece(chunk, fragments._deflate(level, chunk, previous), zlib.crc32(chunk)))
        previous = chunk or previous
    rendered = join(pieces)
    assert gzip.decompress(rendered.gzipped) == b"".join(chunks)
    assert rendered.plain_size == sum(map(len, chunks))


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=200), st.binary(max_size=70000))
def test_crc32_combine_is_the_crc_of_the_concatenation(first: bytes, second: bytes) -> None:
    combined = fragments.crc32_combine(zlib.crc32(first), zlib.crc32(second), second)
    assert combined == zlib.crc32(first + second)


def test_without_libz_the_runs_crc_is_computed_over_the_text(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(fragments, "_COMBINE", None)
    monkeypatch.setattr(fragments, "RUN_PIECES", 3)  # several runs even in this small estate
    estate = Estate()
    estate.set_vaults(list(range(len(REFS))))
    for which in range(len(REFS)):
        estate.poll(which, 3)
        assert_same_as_full_render(estate.publisher)


def test_a_poll_re_joins_only_the_runs_it_changed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(fragments, "RUN_PIECES", 4)
    estate = Estate()
    estate.set_vaults(list(range(len(REFS))))
    for which in range(len(REFS)):
        estate.poll(which, 3)
    renderer = estate.publisher._renderer
    before = list(renderer._runs.values())  # held: their ids stay theirs
    estate.poll(2, 3)
    after = list(renderer._runs.values())
    kept = sum(1 for run in after if any(run is old for old in before))
    assert 0 < kept < len(after)  # the runs without vault-2's fragments (nor the one before) stay
    assert_same_as_full_render(estate.publisher)


def test_a_poll_of_one_vault_re_renders_only_that_vault() -> None:
    estate = Estate()
    estate.set_vaults(list(range(len(REFS))))
    for which in range(len(REFS)):
        estate.poll(which, 3)
    before = estate.publisher.current
    estate.poll(2, 3)
    after = estate.publisher.current
    kept = {id(part) for part in before.parts}
    new = [part for part in after.parts if id(part) not in kept]
    assert new, "the polled vault's lines were rendered again"
    # Only the polled vault's fragments (and the small families rendered every time) are new.
    assert all(b'vault="vault-2"' in part for part in new if part.count(b"\n") > 20)
    assert sum(map(len, new)) < after.plain_size / 3
    assert_same_as_full_render(estate.publisher)


def test_a_poll_without_new_jobs_re_renders_only_the_vault_lines() -> None:
    estate = Estate()
    estate.set_vaults(list(range(len(REFS))))
    for which in range(len(REFS)):
        estate.poll(which, 3)
    before = estate.publisher.current
    estate.store.record(VaultPoll(estate.vaults[1], ok=True, duration=9.5, window_end=estate.clock))  # no job
    after = estate.publisher.publish(estate.store.snapshot())
    kept = {id(part) for part in before.parts}
    new = [part for part in after.parts if id(part) not in kept]
    assert b'vault="vault-1"} 9.5\n' in b"".join(new)
    assert not any(b"azure_backup_job_last_status{" in part for part in new)  # item lines all kept
    assert_same_as_full_render(estate.publisher)


def test_a_job_poll_keeps_the_rendered_inventory() -> None:
    estate = Estate()
    estate.set_vaults(list(range(len(REFS))))
    estate.poll(0, 3)
    estate.inventory_poll(0, 3)
    before = {part for part in estate.publisher.current.parts if b"azure_backup_protected_item_info{" in part}
    estate.poll(0, 3)  # the same items: the inventory's text is the one already rendered
    after = {part for part in estate.publisher.current.parts if b"azure_backup_protected_item_info{" in part}
    assert after
    assert {id(part) for part in after} == {id(part) for part in before}
    assert_same_as_full_render(estate.publisher)


def test_a_piece_after_a_changed_one_is_deflated_again_only_if_the_end_before_it_changed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def family(parts: list[tuple[int, int, int]]) -> list[GaugeMetricFamily]:
        gauge = GaugeMetricFamily("lines", "Lines.", labels=["vault", "n"])
        for vault, first, last in parts:
            for n in range(400):  # ~12 KB a vault: longer than the dictionary
                gauge.add_metric([str(vault), str(n)], float(first if n == 0 else last if n == 399 else n))
        return [gauge]

    class Lines:
        def __init__(self) -> None:
            self.parts = [(0, 0), (0, 0), (0, 0)]

        def sections(self) -> list[VaultBlock]:
            return [VaultBlock("lines", [(n, (n, *part)) for n, part in enumerate(self.parts)], family)]

    deflated: list[bytes] = []
    original = fragments._deflate
    monkeypatch.setattr(fragments, "_deflate", lambda level, text, previous: deflated.append(text)
                        or original(level, text, previous))
    lines, renderer = Lines(), FragmentRenderer()
    renderer.render([lines])
    for parts, again in (([(1, 0), (0, 0), (0, 0)], 1), ([(1, 2), (0, 0), (0, 0)], 2), ([(1, 2), (0, 0), (3, 0)], 1)):
        lines.parts, deflated[:] = parts, []
        rendered = renderer.render([lines])
        # The changed vault's lines; and the next vault's only when the changed vault's last line changed.
        assert len(deflated) == again
        assert gzip.decompress(rendered.gzipped) == b"".join(rendered.plain) == render_text(flatten(lines.sections()))


def test_a_block_must_render_the_same_families_for_one_part_as_for_none() -> None:
    def uneven(parts: object) -> list[GaugeMetricFamily]:
        return [GaugeMetricFamily("x", "x", value=1.0)] if parts else []

    class Uneven:
        def sections(self) -> list[VaultBlock]:
            return [VaultBlock("uneven", [("a", 1)], uneven)]

    with pytest.raises(ValueError, match="uneven"):
        FragmentRenderer().render([Uneven()])


def test_from_plain_keeps_plain_and_gzip_in_step() -> None:
    exposition = Exposition.from_plain(b"a 1.0\n", ready=True, rendered_at=time.time())
    assert exposition.plain == b"a 1.0\n"
    assert gzip.decompress(exposition.gzipped) == exposition.plain


def test_plain_text_streams_whole_from_many_parts_over_http() -> None:
    # Parts of varied sizes, more than one sendmsg takes and more than a socket buffer holds.
    parts = tuple(bytes([65 + n % 26]) * (1 + (n * 7919) % 40000) for n in range(1500))
    plain = b"".join(parts)
    exposition = Exposition(gzip.compress(plain), len(plain), True, (), 0.0, parts=parts)
    server = ExporterHTTPServer(("127.0.0.1", 0), lambda: exposition)
    server.serve_in_thread()
    try:
        for _ in range(2):  # plain then gzip on one keep-alive connection: the body ends where it says
            conn = http.client.HTTPConnection("127.0.0.1", server.server_address[1], timeout=30)
            conn.request("GET", "/metrics")
            response = conn.getresponse()
            assert response.getheader("Content-Length") == str(len(plain))
            assert response.read() == plain
            conn.request("GET", "/metrics", headers={"Accept-Encoding": "gzip"})
            assert gzip.decompress(conn.getresponse().read()) == plain
            conn.close()
    finally:
        server.shutdown()
        server.server_close()


# Label text the escaping must get right (backslash, newline, quote) and text a str.format template
# must leave alone (braces).
odd_text = st.text(alphabet='aB\\\n"{}0é ,=', max_size=5)
odd_number = st.none() | st.floats(allow_nan=False, min_value=-1e12, max_value=1e12) | st.sampled_from(
    [0.0, -0.0, 1e21, 123456789.0, 5e-324])
odd_job = st.tuples(odd_text, st.sampled_from([*STATUSES, "Odd\\Status", ""]), odd_number, odd_number,
                    st.none() | odd_text, st.sampled_from(["Backup", "Restore", 'Op"x']))


@settings(max_examples=80, deadline=None)
@given(st.lists(odd_job, max_size=12), st.lists(odd_job, max_size=6), st.sampled_from(["vault-0", 'v\\"{}\nault']))
def test_item_lines_written_directly_are_the_families_lines(jobs: list[tuple], later: list[tuple], vault: str) -> None:
    """The jobs block's `text` (what a re-render writes) against the Metric families (what a full
    render writes), for one vault's part, on label values and numbers out of the ordinary: written
    afresh, and again after a poll from what was written before (unchanged items' lines copied)."""
    ref = VaultRef("sub-0", "rg-0", vault)
    store = Store(lookback=7 * 86400, clock=lambda: T0)
    store.set_vaults([VaultInfo(ref, "westeurope", ())], {})
    before = None
    for n, batch in enumerate((jobs, later)):
        recorded = [Job(f"j{n}-{k}", item, "AzureIaasVM", operation, status, start_time=T0 - 600 + n * 60 + k,
                        end_time=T0 - 10 + n * 60 + k, duration_seconds=duration, size_bytes=size, error_code=error,
                        error_title=error)
                    for k, (item, status, duration, size, error, operation) in enumerate(batch)]
        store.record(VaultPoll(ref, ok=True, duration=1.0, window_end=T0 + n * 60, jobs=tuple(recorded)))
        published = Published(store.snapshot(), ApiTelemetry().snapshot())
        block = next(iter(BackupCollector(lambda published=published: published).sections()))
        assert isinstance(block, VaultBlock)
        assert block.text is not None
        for _, part in block.parts:
            families = tuple(render_samples(Writer(), family) for family in block.render((part,)))
            assert block.text(Writer(), part, None).fragments == families
            if before is not None:
                assert block.text(Writer(), part, before).fragments == families
            before = (part, block.text(Writer(), part, None))
