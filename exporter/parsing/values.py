"""Azure's value formats: times, durations and sizes, each read in one place.

Contract of the value parsers `parse_time`, `parse_azure_duration` and `parse_size`:

- absent input — `None` or a string that is blank — returns `None`;
- present input that cannot be read (wrong type, bad syntax, NaN, infinite, negative) raises
  `ValueError`, and nothing else;
- a returned number is always finite and, for durations and sizes, >= 0.
"""

from __future__ import annotations

import math
import re
from datetime import UTC, datetime
from functools import lru_cache
from string import ascii_letters
from typing import Final

__all__ = ["parse_azure_duration", "parse_size", "parse_time"]

_SECONDS_PER_DAY: Final = 86_400

# Binary multiples, as Azure Backup means them: the portal shows the same job's "Backup Size" in
# MB and GB with a factor of 1024 between them.
_UNIT_BYTES: Final[dict[str, int]] = {
    "B": 1,
    "BYTE": 1,
    "BYTES": 1,
    "KB": 1024,
    "KIB": 1024,
    "MB": 1024**2,
    "MIB": 1024**2,
    "GB": 1024**3,
    "GIB": 1024**3,
    "TB": 1024**4,
    "TIB": 1024**4,
}

# ISO 8601 durations as Azure writes them (PT41M17.9270278S, P1DT2H, PT0S). Years and months are
# refused: their length in seconds is ambiguous, and Azure never sends them. Only seconds may carry
# a fraction, which is what .NET's XmlConvert produces.
_ISO_DURATION: Final = re.compile(
    r"P(?:(\d+)W)?(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+)(?:[.,](\d+))?S)?)?",
    re.ASCII | re.IGNORECASE,
)


# The two shapes Azure actually sends (PT41M17.9270278S; 00:20:23.0896697), read by one regex
# each before the general parsers: durations are a third of a job's parsing time otherwise.
# Anything else, including these shapes with spaces or odd digits, takes the general path.
_AZURE_ISO: Final = re.compile(r"PT(?:(\d+)H)?(?:(\d+)M)?(?:(\d+)(?:\.(\d+))?S)?", re.ASCII)
_AZURE_TIMESPAN: Final = re.compile(r"(\d+):([0-5]\d):([0-5]\d)(?:\.(\d+))?", re.ASCII)


# More than six fractional digits after the seconds: what fromisoformat cuts.
_FINE_FRACTION: Final = re.compile(r"\.(\d{7,})")

# The shape Azure sends (`2022-05-13T10:09:27.2801342Z`), read without datetime: the hour is
# looked up, minutes, seconds and fraction make one integer. Two of these are a third of a job's
# parsing (bench/RESULTS.md, poll pipeline). Any other text, or no valid hour, takes the general path.
_AZURE_TIME: Final = re.compile(r"(\d{4}-\d\d-\d\dT\d\d):([0-5]\d):([0-5]\d)\.(\d{1,9})Z", re.ASCII)
# 10 ** fractional digits, by the length of the text in that shape.
_FRACTION_SCALE: Final[dict[int, int]] = {len("2022-05-13T10:09:27.Z") + n: 10**n for n in range(1, 10)}


def parse_time(value: object) -> float | None:
    """ISO 8601 date-time → Unix seconds (UTC).

    Azure sends 7 fractional digits and `Z` (`2022-05-13T10:09:27.2801342Z`); Python 3.11's
    `datetime.fromisoformat` accepts any number of fractional digits but keeps only six, so the
    fraction is put back from the text: whole seconds and all the digits make one exact ratio,
    rounded once to the nearest float (at 2026 a float resolves 0.24 µs, so the seventh digit
    counts where it can). A time without an offset is taken as UTC, as Azure means it (never the
    host's local time).
    """
    if type(value) is str:
        match = _AZURE_TIME.fullmatch(value)
        if match is not None:
            prefix, minutes, seconds, fraction = match.groups()
            hour = _hour(prefix)
            if hour is not None:
                # The same exact ratio as below (fewer than 7 digits too: timestamp() divides
                # integer microseconds once), so both paths give the same float.
                scale = _FRACTION_SCALE[len(value)]
                return ((hour + int(minutes) * 60) * scale + int(seconds + fraction)) / scale
    return _general_time(value)


# A 30-day lookback spans 720 hours; a year of them is kept (lru_cache is thread-safe).
@lru_cache(maxsize=8_760)
def _hour(prefix: str) -> int | None:
    """Unix seconds of a "YYYY-MM-DDTHH"; None when it is no valid hour."""
    try:
        moment = datetime(int(prefix[:4]), int(prefix[5:7]), int(prefix[8:10]), int(prefix[11:13]), tzinfo=UTC)
    except ValueError:
        return None
    return int(moment.timestamp())  # whole seconds: exact


def _general_time(value: object) -> float | None:
    if value is None:
        return None
    if not isinstance(value, str):
        # A wrong type is one more unreadable value: ValueError, as the contract says.
        raise ValueError(f"time is not a string: {type(value).__name__}")  # noqa: TRY004
    text = value
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        text = value.strip()
        if not text:
            return None
        moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    try:
        seconds = moment.timestamp()
        fine = _FINE_FRACTION.match(text, 19)  # "YYYY-MM-DDTHH:MM:SS" is 19 characters
        if fine is None:
            return seconds
        digits: str = fine[1]
        scale: int = 10 ** len(digits)
        whole = round(seconds - moment.microsecond / 1_000_000)  # exact: the error is far below 0.5 s
        return (whole * scale + int(digits)) / scale
    except OverflowError as exc:  # an offset pushing year 1 or 9999 out of range
        raise ValueError(f"time out of range: {value[:40]!r}") from exc


def parse_azure_duration(value: object) -> float | None:
    """ISO 8601 (`PT41M17.9270278S`, `P1DT2H`, `PT0S`) or .NET TimeSpan (`00:20:23.0896697`,
    `1.02:03:04.5`, `1:02:03:04`) → seconds.

    Seconds are computed from integers and divided once, so `PT41M17.9270278S` gives exactly the
    float `2477.9270278`. Negative durations, years and months, and fractions of minutes or hours
    raise ValueError.
    """
    if type(value) is str:
        match = _AZURE_ISO.fullmatch(value)
        if match is not None and match.lastindex is not None:  # bare "PT" says nothing: general path
            hours, minutes, seconds, fraction = match.groups()
            whole = (int(hours or 0) * 60 + int(minutes or 0)) * 60 + int(seconds or 0)
            return _seconds(whole, fraction or "", value)
        match = _AZURE_TIMESPAN.fullmatch(value)
        if match is not None:
            hours, minutes, seconds, fraction = match.groups()
            return _seconds((int(hours) * 60 + int(minutes)) * 60 + int(seconds), fraction or "", value)
    if value is None:
        return None
    if not isinstance(value, str):
        # A wrong type is one more unreadable value: ValueError, as the contract says.
        raise ValueError(f"duration is not a string: {type(value).__name__}")  # noqa: TRY004
    text = value.strip()
    if not text:
        return None
    if text[0] in "Pp":
        whole, fraction = _iso_duration(text)
    else:
        whole, fraction = _timespan(text)
    return _seconds(whole, fraction, text)


def _seconds(whole: int, fraction: str, text: str) -> float:
    try:
        if not fraction:
            return float(whole)
        scale: int = 10 ** len(fraction)
        # int / int is correctly rounded: no error beyond the one final rounding.
        return (whole * scale + int(fraction)) / scale
    except OverflowError as exc:
        raise ValueError(f"duration too large: {text[:40]!r}") from exc


def _iso_duration(text: str) -> tuple[int, str]:
    match = _ISO_DURATION.fullmatch(text)
    # "P", "PT" and "P1DT" match the pattern but say nothing, or something cut short.
    if match is None or len(text) == 1 or text[-1] in "Tt":
        raise ValueError(f"not an ISO 8601 duration: {text[:40]!r}")
    weeks, days, hours, minutes, seconds, fraction = match.groups()
    whole = int(seconds) if seconds else 0
    if minutes:
        whole += int(minutes) * 60
    if hours:
        whole += int(hours) * 3600
    if days:
        whole += int(days) * _SECONDS_PER_DAY
    if weeks:
        whole += int(weeks) * 7 * _SECONDS_PER_DAY
    return whole, fraction or ""


def _timespan(text: str) -> tuple[int, str]:
    # .NET TimeSpan "c" format [d.]hh:mm:ss[.fffffff], and the "g" format's d:hh:mm:ss.
    parts = text.split(":")
    if len(parts) == 3:
        head, minutes, seconds = parts
        days, dot, hours = head.partition(".")
        has_days = bool(dot)
        if not has_days:
            days, hours = "0", head
    elif len(parts) == 4:
        days, hours, minutes, seconds = parts
        has_days = True
    else:
        raise ValueError(f"not a TimeSpan: {text[:40]!r}")
    seconds, _, fraction = seconds.partition(".")
    d, h, m, s = _digits(days), _digits(hours), _digits(minutes), _digits(seconds)
    # Without a day part, .NET never writes 24 hours or more, but other writers do.
    if m > 59 or s > 59 or (h > 23 and has_days):
        raise ValueError(f"TimeSpan field out of range: {text[:40]!r}")
    if fraction:
        _digits(fraction)
    return ((d * 24 + h) * 60 + m) * 60 + s, fraction


def _digits(text: str) -> int:
    # int() alone would also take "+1", " 1", "1_0" and non-ASCII digits.
    if not (text.isascii() and text.isdigit()):
        raise ValueError(f"not a number: {text[:40]!r}")
    return int(text)


def parse_size(value: object, default_unit: str = "MB") -> float | None:
    """A size such as `"11370 MB"`, `"1.5 GB"`, `"512 KB"` or a bare number → bytes.

    Units are B, KB, MB, GB, TB (and KiB…TiB, the same), case-insensitive, with or without a
    space. They are binary, as Azure Backup means them: 1 KB = 1024 bytes, 1 MB = 1024**2 bytes,
    1 GB = 1024**3 bytes, 1 TB = 1024**4 bytes. A bare number — a string without a unit, an int
    or a float — is in `default_unit` (Azure's `Data Transferred (in MB)` is `"0"`).
    """
    if value is None:
        return None
    if isinstance(value, str):
        text = value.strip()
        if not text:
            return None
        number_text = text.rstrip(ascii_letters)
        unit = text[len(number_text) :].upper() or default_unit.upper()
        try:
            number = float(number_text)
        except ValueError:
            raise ValueError(f"not a size: {text[:40]!r}") from None
    elif isinstance(value, int | float) and not isinstance(value, bool):
        unit = default_unit.upper()
        try:
            number = float(value)
        except OverflowError as exc:
            raise ValueError("size too large") from exc
    else:
        # A wrong type is one more unreadable value: ValueError, as the contract says.
        raise ValueError(f"size is not a string or number: {type(value).__name__}")  # noqa: TRY004
    multiplier = _UNIT_BYTES.get(unit)
    if multiplier is None:
        raise ValueError(f"unknown size unit: {unit[:20]!r}")
    # "not >= 0" also refuses NaN; "+ 0.0" turns "-0" into 0.0.
    size = number * multiplier + 0.0
    if not size >= 0 or size == math.inf:
        raise ValueError(f"size out of range: {value!r:.40}")
    return size
