"""Azure's text forms of instants and durations, from integer .NET ticks.

Times: `2026-11-20T13:05:00.1234567Z`. Durations: ISO 8601 as XmlConvert prints it
(`PT41M17.9270278S`) or .NET TimeSpan (`00:20:23.0896697`), depending on the api-version.
"""

from __future__ import annotations

import functools
from datetime import UTC, datetime, timedelta

from exporter.simulator.schedule import TICKS_PER_SECOND

_UNIX_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@functools.lru_cache(maxsize=8192)
def date_of(day: int) -> datetime:
    """The UTC midnight `day` days after 1970-01-01."""
    return _UNIX_EPOCH + timedelta(days=day)


# Formatting a timestamp is a third of the cost of a listed job: memoise its two halves.
_DAY_PREFIXES: dict[int, str] = {}
_CLOCK_FACES: dict[int, str] = {}


def format_time(ticks: int) -> str:
    """`2026-11-20T13:05:00.1234567Z`: up to 7 fractional digits, trailing zeros dropped as the
    recorded traffic does (`2022-05-13T10:50:45.207162Z`)."""
    seconds, fraction = divmod(ticks, TICKS_PER_SECOND)
    day, second_of_day = divmod(seconds, 86400)
    prefix = _DAY_PREFIXES.get(day)
    if prefix is None:
        prefix = _DAY_PREFIXES[day] = date_of(day).strftime("%Y-%m-%dT")
    face = _CLOCK_FACES.get(second_of_day)
    if face is None:
        hours, rest = divmod(second_of_day, 3600)
        face = _CLOCK_FACES[second_of_day] = f"{hours:02d}:{rest // 60:02d}:{rest % 60:02d}"
    if fraction:
        return f"{prefix}{face}.{fraction:07d}".rstrip("0") + "Z"
    return f"{prefix}{face}Z"


def _iso_exact(seconds: int, fraction: int) -> str:
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    time_part = (f"{hours}H" if hours else "") + (f"{minutes}M" if minutes else "")
    if secs or fraction:
        digits = f"{fraction:07d}".rstrip("0")
        time_part += f"{secs}.{digits}S" if digits else f"{secs}S"
    if not days and not time_part:
        return "PT0S"
    return "P" + (f"{days}D" if days else "") + (f"T{time_part}" if time_part else "")


# Durations repeat their whole-seconds part often: memoise "PT41M17" and "00:20:23".
_MAX_STEMS = 100_000
_ISO_STEMS: dict[int, str] = {}
_TIMESPAN_STEMS: dict[int, str] = {}


def iso_duration(ticks: int) -> str:
    """XmlConvert-style ISO 8601: `PT41M17.9270278S`, `P1DT2H`, `PT0S`."""
    seconds, fraction = divmod(ticks, TICKS_PER_SECOND)
    if not fraction:
        return _iso_exact(seconds, 0)
    stem = _ISO_STEMS.get(seconds)
    if stem is None:
        if len(_ISO_STEMS) >= _MAX_STEMS:
            _ISO_STEMS.clear()
        stem = _ISO_STEMS[seconds] = _iso_exact(seconds, 1)[: -len(".0000001S")]
    return f"{stem}.{fraction:07d}".rstrip("0") + "S"


def timespan_duration(ticks: int) -> str:
    """.NET TimeSpan `c` format: `00:20:23.0896697`, `1.02:03:04.5000000`."""
    seconds, fraction = divmod(ticks, TICKS_PER_SECOND)
    stem = _TIMESPAN_STEMS.get(seconds)
    if stem is None:
        if len(_TIMESPAN_STEMS) >= _MAX_STEMS:
            _TIMESPAN_STEMS.clear()
        days, rest = divmod(seconds, 86400)
        hours, rest = divmod(rest, 3600)
        stem = f"{hours:02d}:{rest // 60:02d}:{rest % 60:02d}"
        stem = _TIMESPAN_STEMS[seconds] = f"{days}.{stem}" if days else stem
    return f"{stem}.{fraction:07d}" if fraction else stem
