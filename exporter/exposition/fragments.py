"""Incremental rendering: the exposition assembled from per-vault fragments kept between renders.

A poll changes one vault; re-rendering 10,000 items for it cost ~1.4 s of CPU competing with
scrapes for the GIL. Collectors that can say which samples belong to which vault (`Partitioned`)
hand the renderer `VaultBlock`s: a run of families, each vault's part of them, and a function that
renders the families for any list of parts. Each vault's lines of each family are rendered once
and kept (plain and deflated) until that vault's part changes (compared with `==`: the stores
keep unchanged jobs and inventories as the same objects, so the comparison is cheap). The
exposition is then assembled in the order a full render writes: per family HELP/TYPE once, then
each vault's lines. Families of other collectors (telemetry, build info, reloads) are small and
rendered every time.

Gzip the same way, as parallel gzip tools do: each fragment is deflated on its own and ended with a
full flush (no back-reference crosses it, the output is byte aligned), so deflated fragments join
into one valid stream behind one gzip header; the trailer's CRC-32 and length are computed over the
plain bytes (`zlib.crc32(data, previous)`: Python has no `crc32_combine`). The price is the
dictionary each fragment starts without: bench/RESULTS.md gives the ratio kept.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Callable, Hashable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from prometheus_client.metrics_core import Metric

from exporter.exposition.text import Writer, render_family, render_header, render_samples

# Level 6 is gzip's default: a third of level 9's cost for nearly its ratio (SPEC §12 figures).
GZIP_LEVEL = 6
# gzip header (RFC 1952): magic, deflate, no flags, mtime 0 (as gzip.compress(mtime=0)), no extra
# flags, OS unknown.
_GZIP_HEADER = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff"
# An empty final block with fixed Huffman codes: BFINAL=1, BTYPE=01, end-of-block code.
_FINAL_BLOCK = b"\x03\x00"


@dataclass(frozen=True, slots=True)
class VaultBlock:
    """Consecutive families whose samples come vault by vault.

    `render(parts)` yields the same families, in the same order, whatever `parts` holds (none, one,
    all), each with the samples of those parts in their order; `parts` pairs a key (unique in the
    block, e.g. the vault's labels) with that vault's input, in exposition order.
    """

    name: str
    parts: Sequence[tuple[Hashable, Any]]
    render: Callable[[Sequence[Any]], Iterable[Metric]]

    def families(self) -> Iterator[Metric]:
        """Every family with every vault's samples: what a full render writes."""
        return iter(self.render([part for _, part in self.parts]))


Section = VaultBlock | Metric


@runtime_checkable
class Partitioned(Protocol):
    """A collector that can hand its families vault by vault (`collect()` is their flat form)."""

    def sections(self) -> Iterator[Section]: ...


def flatten(sections: Iterable[Section]) -> Iterator[Metric]:
    """Sections → the metric families of a full render (a Partitioned collector's `collect()`)."""
    for section in sections:
        if isinstance(section, VaultBlock):
            yield from section.families()
        else:
            yield section


@dataclass(frozen=True, slots=True)
class Piece:
    """Some text of the exposition and its deflated form (ended with a full flush)."""

    plain: bytes
    deflated: bytes


@dataclass(frozen=True, slots=True)
class Rendered:
    """An exposition as pieces: stream `plain` in order, or send `gzipped` (one gzip member)."""

    plain: tuple[bytes, ...]
    plain_size: int
    gzipped: bytes


@dataclass(frozen=True, slots=True)
class _Entry:
    owner: object  # the collector: a replaced one (other vault tags) renders other text
    part: Any
    pieces: tuple[Piece, ...]


class _Deflater:
    """One compressor for a whole render: a full flush after each piece resets its history."""

    def __init__(self, level: int) -> None:
        self._compressor = zlib.compressobj(level, zlib.DEFLATED, -15)

    def piece(self, plain: bytes) -> Piece:
        if not plain:
            return Piece(b"", b"")
        compressor = self._compressor
        return Piece(plain, compressor.compress(plain) + compressor.flush(zlib.Z_FULL_FLUSH))


class FragmentRenderer:
    """Renders collectors, re-rendering only the vault parts that changed since the last call.

    Not thread-safe: one render at a time (the publisher holds its lock).
    """

    def __init__(self, level: int = GZIP_LEVEL) -> None:
        self._level = level
        self._cache: dict[tuple[int, str, Hashable], _Entry] = {}

    def render(self, collectors: Iterable[Any]) -> Rendered:
        writer, deflater = Writer(), _Deflater(self._level)
        pieces: list[Piece] = []
        cache: dict[tuple[int, str, Hashable], _Entry] = {}
        for collector in collectors:
            sections = collector.sections() if isinstance(collector, Partitioned) else collector.collect()
            for section in sections:
                if isinstance(section, VaultBlock):
                    self._block(collector, section, writer, deflater, pieces=pieces, cache=cache)
                else:
                    pieces.append(deflater.piece(render_family(writer, section)))
        self._cache = cache  # vaults that left (and replaced collectors) drop out here
        return join(pieces)

    def _block(
        self, owner: object, block: VaultBlock, writer: Writer, deflater: _Deflater, *,
        pieces: list[Piece], cache: dict[tuple[int, str, Hashable], _Entry],
    ) -> None:
        headers = [render_header(family) for family in block.render(())]
        per_vault: list[tuple[Piece, ...]] = []
        for key, part in block.parts:
            cache_key = (id(owner), block.name, key)
            entry = self._cache.get(cache_key)
            if entry is None or entry.owner is not owner or entry.part != part:
                fragments = tuple(deflater.piece(render_samples(writer, f)) for f in block.render((part,)))
                if len(fragments) != len(headers):
                    raise ValueError(f"block {block.name}: {len(fragments)} families for one part, {len(headers)}")
                entry = _Entry(owner, part, fragments)
            cache[cache_key] = entry
            per_vault.append(entry.pieces)
        for index, header in enumerate(headers):
            pieces.append(deflater.piece(header))
            pieces.extend(fragments[index] for fragments in per_vault)


def join(pieces: Iterable[Piece]) -> Rendered:
    """Pieces → the plain parts and one gzip member holding their concatenation."""
    plain: list[bytes] = []
    deflated: list[bytes] = [_GZIP_HEADER]
    crc = size = 0
    for piece in pieces:
        if piece.plain:
            plain.append(piece.plain)
            deflated.append(piece.deflated)
            crc = zlib.crc32(piece.plain, crc)
            size += len(piece.plain)
    deflated += [_FINAL_BLOCK, struct.pack("<II", crc, size & 0xFFFFFFFF)]
    return Rendered(tuple(plain), size, b"".join(deflated))
