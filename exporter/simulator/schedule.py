"""When jobs run and how they end: pure arithmetic over hashes, nothing stored per job.

Each protected item has a few job *series*: occurrence k of a series starts at
`base + k * period` (a single-shot series has period 0). Every other fact of a job (duration,
outcome, size, error, activity id) comes from mixing k into the series' salt (a keyed BLAKE2b
hash of seed, vault, item and kind), so any job can be rebuilt from its id alone and a list
window costs only the jobs in it. The per-job mix is SplitMix64's finaliser rather than a
BLAKE2b call: it is a third of the cost, and listing jobs is the hot path of every benchmark.
Times are integer .NET ticks (100 ns): Azure prints 7 fractional digits, and a float cannot
hold 2026 at that precision.
"""

from __future__ import annotations

import hashlib
import re
import struct
from dataclasses import dataclass
from enum import IntEnum
from typing import NamedTuple

TICKS_PER_SECOND = 10_000_000
_MASK = 2**64 - 1
_GOLDEN = 0x9E3779B97F4A7C15
# Odd constants that set apart draws made from the same job bits.
_RESTORE_DRAW = 0xD1B54A32D192ED03
_SIZE_DRAW = 0x8CB92BA72F3D8DD7
_ERROR_DRAW = 0xA0761D6478BD642F
_HASH_FORMAT = struct.Struct("<IIIQ")
_WORDS = struct.Struct("<4Q")
_SHORT_JOB_MIN = 15 * TICKS_PER_SECOND
_SHORT_JOB_SPAN = 75 * TICKS_PER_SECOND
# Job ids look like GUIDs but spell (vault, item, kind, occurrence), so GET-by-id needs no index.
_JOB_ID = re.compile(r"^([0-9a-f]{8})-([0-9a-f]{4})-4([0-9a-f]{3})-8000-([0-9a-f]{12})$")


def to_ticks(seconds: float) -> int:
    return round(seconds * TICKS_PER_SECOND)


def ceil_div(a: int, b: int) -> int:
    return -(-a // b)


def mix(x: int) -> int:
    """SplitMix64's finaliser: a bijection on 64 bits that scatters neighbouring inputs."""
    x &= _MASK
    x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9 & _MASK
    x = (x ^ (x >> 27)) * 0x94D049BB133111EB & _MASK
    return x ^ (x >> 31)


class JobKind(IntEnum):
    """Series of jobs an item can have; the value is part of the job id."""

    BACKUP = 0
    LOG_BACKUP = 1
    CONFIGURE = 2
    RESTORE = 3
    DELETE = 4


OPERATIONS: dict[JobKind, str] = {
    JobKind.LOG_BACKUP: "Backup (Log)",
    JobKind.CONFIGURE: "ConfigureBackup",
    JobKind.RESTORE: "Restore",
    JobKind.DELETE: "DeleteBackupData",
}

# Module-level aliases: comparing against these is a global lookup, not an enum attribute access,
# and facts() runs once per listed job.
_BACKUP, _LOG_BACKUP, _CONFIGURE, _RESTORE, _DELETE = JobKind


class Series(NamedTuple):
    kind: JobKind
    base: int  # start of occurrence 0, ticks
    period: int  # ticks; 0 = a single occurrence
    cut: int | None  # occurrences start strictly before this (the item's data was deleted)
    salt: int  # 64 bits from the seed, vault, item and kind
    activity_prefix: str  # "xxxxxxxx-xxxx-xxxx-xxxx-": activity ids end with 12 hex digits per job


# A job's place in a newest-first list: (-start, item index, kind, k). Sorting these ascending
# gives newest first, ties broken deterministically.
JobKey = tuple[int, int, int, int]


def job_id(vault_index: int, item_index: int, kind: int, k: int) -> str:
    return f"{vault_index:08x}-{item_index:04x}-4{kind:03x}-8000-{k:012x}"


def parse_job_id(text: str) -> tuple[int, int, int, int] | None:
    match = _JOB_ID.match(text.lower())
    if match is None:
        return None
    return (int(match[1], 16), int(match[2], 16), int(match[3], 16), int(match[4], 16))


@dataclass(slots=True)
class JobFacts:
    """Everything about one job as of one instant; the wire module turns it into JSON.

    Not frozen: a frozen dataclass assigns through object.__setattr__, and this is built once
    per listed job."""

    vault_index: int
    item_index: int
    kind: JobKind
    k: int
    start: int  # ticks
    duration: int  # full duration, ticks
    status: str  # as of the instant asked: InProgress until start + duration
    elapsed: int  # ticks run so far (= duration once finished)
    entropy: int  # the job's 64 mixed bits, for the facts only details need
    activity_id: str

    @property
    def finished(self) -> bool:
        return self.status != "InProgress"

    @property
    def end(self) -> int:
        return self.start + self.duration

    @property
    def job_id(self) -> str:
        return job_id(self.vault_index, self.item_index, self.kind, self.k)

    @property
    def size_fraction(self) -> float:
        """In [0.5, 1.5): scales the item's typical backup size."""
        return 0.5 + (mix(self.entropy ^ _SIZE_DRAW) >> 11) / 2.0**53

    @property
    def error_pick(self) -> int:
        """Which catalogue error a failure shows."""
        return mix(self.entropy ^ _ERROR_DRAW) >> 32


class Schedule:
    """The spec's ratios and ranges, applied to each job's mixed bits."""

    def __init__(
        self,
        seed: int,
        duration_range: tuple[float, float],
        failure_ratio: float,
        warning_ratio: float,
        restore_ratio: float,
    ) -> None:
        self._key = hashlib.blake2b(f"azure-backup-sim:{seed}".encode(), digest_size=32).digest()
        self._duration_lo = to_ticks(duration_range[0])
        self._duration_span = to_ticks(duration_range[1]) - self._duration_lo
        # Outcomes compare the top 32 bits of a job's mix with these thresholds.
        self._failed_below = int(failure_ratio * 2**32)
        self._warning_below = int((failure_ratio + warning_ratio) * 2**32)
        # Cancelled is rare in real estates: a user stopping a job by hand.
        self._cancelled_below = self._warning_below + int(min(0.005, 1.0 - failure_ratio - warning_ratio) * 2**32)
        self._restore_below = int(restore_ratio * 2**64)

    def hash_words(self, *parts: int) -> tuple[int, int, int, int]:
        """Four 64-bit words from a keyed BLAKE2b of up to (vault, item, kind, k)."""
        digest = hashlib.blake2b(_HASH_FORMAT.pack(*parts), digest_size=32, key=self._key).digest()
        w0, w1, w2, w3 = _WORDS.unpack(digest)
        return w0, w1, w2, w3

    def series(
        self, kind: JobKind, vault_index: int, item_index: int, *, base: int, period: int, cut: int | None
    ) -> Series:
        salt, tag, _, _ = self.hash_words(vault_index, item_index, 0x200 + kind, 0)
        hex_tag = f"{tag:016x}"
        prefix = f"{hex_tag[:8]}-{hex_tag[8:12]}-{hex_tag[12:16]}-{(salt >> 48):04x}-"
        return Series(kind, base, period, cut, salt, prefix)

    def has_restore(self, series: Series, k: int) -> bool:
        return mix((series.salt ^ _RESTORE_DRAW) + k * _GOLDEN) < self._restore_below

    def occurrences(self, series: Series, lo: int, hi: int) -> range:
        """The k of `series` whose start lies in [lo, hi] (ticks, inclusive)."""
        if series.period == 0:
            inside = lo <= series.base <= hi and (series.cut is None or series.base < series.cut)
            return range(1) if inside else range(0)
        first = max(0, ceil_div(lo - series.base, series.period))
        last = (hi - series.base) // series.period
        if series.cut is not None:
            last = min(last, ceil_div(series.cut - series.base, series.period) - 1)
        return range(first, last + 1)

    def exists(self, series: Series, k: int) -> bool:
        """Whether occurrence k happens at all (restores are sparse)."""
        return series.kind is not _RESTORE or self.has_restore(series, k)

    def facts(
        self, vault_index: int, item_index: int, series: Series, k: int, as_of: int, *, always_fails_from: int | None
    ) -> JobFacts:
        kind = series.kind
        # mix(), inlined: this runs once per listed job.
        x = (series.salt + k * _GOLDEN) & _MASK
        x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9 & _MASK
        x = (x ^ (x >> 27)) * 0x94D049BB133111EB & _MASK
        x ^= x >> 31
        low = x & 0xFFFFFFFF
        start = series.base + k * series.period
        if kind is _BACKUP:
            duration = self._duration_lo + (low * self._duration_span >> 32)
        elif kind is _LOG_BACKUP:
            duration = (self._duration_lo + (low * self._duration_span >> 32)) // 8
        elif kind is _RESTORE:
            duration = self._duration_lo + (low * self._duration_span * 3 >> 33)
        else:  # configuration and deletion take a minute or so whatever the data size
            duration = _SHORT_JOB_MIN + (low * _SHORT_JOB_SPAN >> 32)
        duration = max(duration, 1)
        outcome = x >> 32
        if kind is _CONFIGURE or kind is _DELETE:
            final = "Completed"
        elif outcome < self._failed_below or (
            always_fails_from is not None and start >= always_fails_from and kind is not _RESTORE
        ):
            final = "Failed"
        elif kind is _RESTORE or outcome >= self._cancelled_below:
            final = "Completed"
        elif outcome < self._warning_below:
            final = "CompletedWithWarnings"
        else:
            final = "Cancelled"
        running = as_of < start + duration
        return JobFacts(
            vault_index,
            item_index,
            kind,
            k,
            start,
            duration,
            "InProgress" if running else final,
            as_of - start if running else duration,
            x,
            f"{series.activity_prefix}{x & 0xFFFFFFFFFFFF:012x}",
        )
