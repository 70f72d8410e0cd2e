"""Incremental rendering: the exposition assembled from per-vault fragments kept between renders.

A poll changes one vault; re-rendering 10,000 items for it cost ~1.4 s of CPU competing with
scrapes for the GIL. Collectors that can say which samples belong to which vault (`Partitioned`)
hand the renderer `VaultBlock`s: a run of families, each vault's part of them, and a function that
renders the families for any list of parts. Each vault's lines of each family are rendered once
and kept (plain and deflated) until that vault's part changes (compared with `==`: the stores
keep unchanged jobs and inventories as the same objects, so the comparison is cheap). The
exposition is then assembled in the order a full render writes: per family HELP/TYPE once, then
each vault's lines. A `Whole` section (the inventory, which changes on its own interval) is kept as
one piece until its key changes. Families of other collectors (telemetry, build info, reloads,
posture) are small and rendered every time: a new collector works unchanged, and becomes
incremental by offering `sections()`.

Gzip the same way, as parallel gzip tools (pigz) do: each piece is deflated on its own, with the
tail of the text before it as preset dictionary, and ended with a full flush (byte aligned, no
reference past the window it was given), so deflated pieces join into one valid stream behind one
gzip header; the trailer's CRC-32 and length are computed over the plain bytes
(each piece's CRC is computed once and combined with zlib's `crc32_combine`, through ctypes since
Python's zlib module lacks it; without libz, `zlib.crc32(data, previous)` over the text).
Pieces are joined in runs of RUN_PIECES, each kept (deflated bytes, CRC, length) until one of its
pieces or the text before it changes: a poll of one vault joins a few runs again, not every piece.
bench/RESULTS.md gives the ratio kept.
"""

from __future__ import annotations

import ctypes
import ctypes.util
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
# How much of the text before a piece is its preset dictionary. Deflate could refer 32 KiB back, but
# setting a 32 KiB dictionary costs ~48 µs with the GIL held (deflateSetDictionary hashes all of
# it), 4 KiB ~8 µs; the last 4 KiB already hold the previous lines' label text, and the gzip member
# grew by under 2% (1,185 -> 1,205 KB on the scrape bench's estate; 826 -> 839 KB on growth's).
_DICTIONARY = 4096
# Pieces are joined in runs of this many, each run's deflated bytes, CRC and length kept while the
# same pieces follow the same text: a render then combines ~50 runs, not ~1,400 pieces (at 10,000
# items in 100 vaults), and only the runs holding a changed vault's fragments are joined again.
RUN_PIECES = 32


@dataclass(frozen=True, slots=True)
class Written:
    """What a block's `text` wrote for a part: its lines of each family, and whatever the block
    keeps to write the part's next version from these (e.g. where each item's lines are)."""

    fragments: tuple[bytes, ...]
    layout: Any = None


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
    # Optional: one part's sample lines of each family written straight from the part, the bytes
    # `render_samples` writes for `render((part,))`'s families (cheaper than building the samples);
    # given the part it replaces and what was written for that, it may reuse what did not change.
    text: Callable[[Writer, Any, tuple[Any, Written] | None], Written] | None = None

    def families(self) -> Iterator[Metric]:
        """Every family with every vault's samples: what a full render writes."""
        return iter(self.render([part for _, part in self.parts]))


@dataclass(frozen=True, slots=True)
class Whole:
    """Families rendered as one piece, again only when `key` changed (compared with `==`): for a
    collector whose samples are not cut by vault but change on their own interval (the inventory)."""

    name: str
    key: Any
    render: Callable[[], Iterable[Metric]]


Section = VaultBlock | Whole | Metric


@runtime_checkable
class Partitioned(Protocol):
    """A collector that can hand its families vault by vault (`collect()` is their flat form)."""

    def sections(self) -> Iterator[Section]: ...


def flatten(sections: Iterable[Section]) -> Iterator[Metric]:
    """Sections → the metric families of a full render (a Partitioned collector's `collect()`)."""
    for section in sections:
        if isinstance(section, VaultBlock):
            yield from section.families()
        elif isinstance(section, Whole):
            yield from section.render()
        else:
            yield section


@dataclass(frozen=True, slots=True)
class Piece:
    """Some text of the exposition, its deflated form (ended with a full flush) and its CRC-32."""

    plain: bytes
    deflated: bytes
    crc: int


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
    fragments: tuple[bytes, ...]  # the part's lines of each family of the block
    layout: Any = None  # Written.layout, for a block with `text`


@dataclass(frozen=True, slots=True)
class _Deflated:
    previous: bytes  # the text before it, whose tail was its dictionary
    piece: Piece


@dataclass(frozen=True, slots=True)
class _Run:
    """Consecutive pieces and what joining them gave: kept while the same texts (the same objects)
    follow the same text (`previous`, the dictionary of the first)."""

    previous: bytes
    deflated: tuple[_Deflated, ...]
    joined: bytes  # the pieces' deflated bytes, in order
    crc: int
    size: int


class FragmentRenderer:
    """Renders collectors, re-rendering only the vault parts that changed since the last call.

    Deflating works as pigz does: each piece is compressed alone with the last 4 KiB of the piece
    before it as preset dictionary (the decoder has that text in its window), so the ratio stays
    near a whole-stream gzip; a piece is compressed again only when it or the end of its
    predecessor (its dictionary) changed.
    Not thread-safe: one render at a time (the publisher holds its lock).
    """

    def __init__(self, level: int = GZIP_LEVEL) -> None:
        self._level = level
        self._cache: dict[tuple[int, str, Hashable], _Entry] = {}
        # One object per text of a header or a small family: identity marks "unchanged".
        self._headers: dict[bytes, bytes] = {}
        self._runs: dict[tuple[int, ...], _Run] = {}  # (id(previous), *ids of the run's texts) → run

    def render(self, collectors: Iterable[Any]) -> Rendered:
        writer = Writer()
        texts: list[bytes] = []
        cache: dict[tuple[int, str, Hashable], _Entry] = {}
        headers: dict[bytes, bytes] = {}
        for collector in collectors:
            sections = collector.sections() if isinstance(collector, Partitioned) else collector.collect()
            for section in sections:
                if isinstance(section, VaultBlock):
                    self._block(collector, section, writer, texts=texts, cache=cache, headers=headers)
                elif isinstance(section, Whole):
                    texts.extend(self._whole(collector, section, writer, cache))
                else:
                    text = render_family(writer, section)
                    texts.append(headers.setdefault(text, self._headers.get(text, text)))
        self._cache, self._headers = cache, headers  # vaults that left (replaced collectors) drop out
        return self._assemble([text for text in texts if text])

    def _block(
        self, owner: object, block: VaultBlock, writer: Writer, *,
        texts: list[bytes], cache: dict[tuple[int, str, Hashable], _Entry], headers: dict[bytes, bytes],
    ) -> None:
        names = [render_header(family) for family in block.render(())]
        per_vault: list[tuple[bytes, ...]] = []
        for key, part in block.parts:
            cache_key = (id(owner), block.name, key)
            entry = self._cache.get(cache_key)
            if entry is None or entry.owner is not owner or entry.part != part:
                previous = entry if entry is not None and entry.owner is owner else None
                entry = self._write(owner, block, writer, part, previous)
                if len(entry.fragments) != len(names):
                    raise ValueError(f"block {block.name}: {len(entry.fragments)} families for one part, {len(names)}")
            cache[cache_key] = entry
            per_vault.append(entry.fragments)
        for index, name in enumerate(names):
            header = headers[name] = self._headers.get(name, name)
            texts.append(header)
            texts.extend(fragments[index] for fragments in per_vault)

    @staticmethod
    def _write(owner: object, block: VaultBlock, writer: Writer, part: Any, previous: _Entry | None) -> _Entry:
        if block.text is None:
            return _Entry(owner, part, tuple(render_samples(writer, family) for family in block.render((part,))))
        before = None if previous is None else (previous.part, Written(previous.fragments, previous.layout))
        written = block.text(writer, part, before)
        return _Entry(owner, part, written.fragments, written.layout)

    def _whole(
        self, owner: object, whole: Whole, writer: Writer, cache: dict[tuple[int, str, Hashable], _Entry]
    ) -> tuple[bytes, ...]:
        cache_key = (id(owner), whole.name, None)
        entry = self._cache.get(cache_key)
        if entry is None or entry.owner is not owner or entry.part != whole.key:
            entry = _Entry(owner, whole.key, tuple(render_family(writer, family) for family in whole.render()))
        cache[cache_key] = entry
        return entry.fragments

    def _assemble(self, texts: list[bytes]) -> Rendered:
        """The texts as one gzip member, joined run by run (a run is looked up by the ids of its
        texts and of the text before it: the cache holds those objects, so ids match only them)."""
        known, runs = self._runs, {}
        order: list[_Run] = []
        pieces: dict[int, _Deflated] | None = None  # id(text) → its deflated form, made at the first miss
        previous = b""
        for start in range(0, len(texts), RUN_PIECES):
            chunk = texts[start:start + RUN_PIECES]
            key = (id(previous), *map(id, chunk))
            run = known.get(key)
            if run is None:
                if pieces is None:
                    pieces = {id(d.piece.plain): d for run in known.values() for d in run.deflated}
                run = self._run(chunk, previous, pieces)
            runs[key] = run
            order.append(run)
            previous = chunk[-1]
        self._runs = runs
        crc = size = 0
        for run in order:
            crc = _combine_run(crc, run)
            size += run.size
        trailer = struct.pack("<II", crc, size & 0xFFFFFFFF)
        return Rendered(tuple(texts), size, b"".join([_GZIP_HEADER, *(run.joined for run in order), _FINAL_BLOCK,
                                                      trailer]))

    def _run(self, chunk: list[bytes], previous: bytes, known: dict[int, _Deflated]) -> _Run:
        """Deflate what changed in a run: a piece, or the piece after it if its dictionary (the
        changed piece's last 4 KiB) changed; a vault's poll seldom changes the end of its lines."""
        first, deflated, crc = previous, [], 0
        for text in chunk:
            found = known.get(id(text))
            if found is None or found.piece.plain is not text:
                found = _Deflated(previous, Piece(text, _deflate(self._level, text, previous), zlib.crc32(text)))
            elif found.previous is not previous:  # held anew: the old text before it is not kept alive
                same = found.previous[-_DICTIONARY:] == previous[-_DICTIONARY:]
                piece = found.piece if same else Piece(text, _deflate(self._level, text, previous), found.piece.crc)
                found = _Deflated(previous, piece)
            deflated.append(found)
            crc = crc32_combine(crc, found.piece.crc, text)
            previous = text
        joined = b"".join(d.piece.deflated for d in deflated)
        return _Run(first, tuple(deflated), joined, crc, sum(len(d.piece.plain) for d in deflated))


def _deflate(level: int, text: bytes, previous: bytes) -> bytes:
    """`text` as raw deflate blocks ended by a full flush, referring back into `previous`' tail."""
    if previous:
        compressor = zlib.compressobj(level, zlib.DEFLATED, -15, zdict=previous[-_DICTIONARY:])
    else:
        compressor = zlib.compressobj(level, zlib.DEFLATED, -15)
    return compressor.compress(text) + compressor.flush(zlib.Z_FULL_FLUSH)


def join(pieces: Iterable[Piece]) -> Rendered:
    """Pieces → the plain parts and one gzip member holding their concatenation."""
    plain: list[bytes] = []
    deflated: list[bytes] = [_GZIP_HEADER]
    crc = size = 0
    for piece in pieces:
        if piece.plain:
            plain.append(piece.plain)
            deflated.append(piece.deflated)
            crc = crc32_combine(crc, piece.crc, piece.plain)
            size += len(piece.plain)
    deflated += [_FINAL_BLOCK, struct.pack("<II", crc, size & 0xFFFFFFFF)]
    return Rendered(tuple(plain), size, b"".join(deflated))


def _combine_run(crc: int, run: _Run) -> int:
    """The CRC-32 of the text before a run + the run's text."""
    if _COMBINE is None:
        for deflated in run.deflated:
            crc = zlib.crc32(deflated.piece.plain, crc)
        return crc
    return int(_COMBINE(crc, run.crc, run.size))


def _load_crc32_combine() -> Callable[[int, int, int], int] | None:
    """zlib's own crc32_combine (Python's zlib module does not expose it), or None without libz.

    Loaded with PyDLL, which keeps the GIL across the call: it takes well under a microsecond, and
    through CDLL each of a render's calls let go of the GIL and waited to get it back from the
    scrape threads (up to the switch interval each), stretching the render while it serves them."""
    name = ctypes.util.find_library("z")
    try:
        function = ctypes.PyDLL(name or "libz.so.1").crc32_combine
    except (OSError, AttributeError):
        return None
    function.argtypes = (ctypes.c_ulong, ctypes.c_ulong, ctypes.c_long)  # z_off_t: a long on LP64
    function.restype = ctypes.c_ulong
    return function


_COMBINE = _load_crc32_combine() if ctypes.sizeof(ctypes.c_long) == 8 else None


def crc32_combine(crc: int, piece_crc: int, piece: bytes) -> int:
    """The CRC-32 of text + piece from the CRC of each: at 10,000 items a render would otherwise
    go over 37 MB again (23 ms) to re-derive what the unchanged fragments' CRCs already say."""
    if _COMBINE is None:
        return zlib.crc32(piece, crc)
    return int(_COMBINE(crc, piece_crc, len(piece)))
