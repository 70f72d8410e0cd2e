"""The fast readers of Azure's time shape and two duration shapes agree with the general parser on every input."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from hypothesis import given
from hypothesis import strategies as st

from exporter.parsing.values import parse_azure_duration, parse_time

digits = st.integers(0, 10**12).map(str) | st.text("0123456789", min_size=1, max_size=25)
fraction = st.none() | st.text("0123456789", min_size=1, max_size=12)


def _outcome(parse: Callable[[str], float | None], text: str) -> float | type[ValueError] | None:
    """What `parse` makes of `text`: a value, or ValueError."""
    try:
        result = parse(text)
    except ValueError:
        return ValueError
    return result


def general(text: str) -> float | None:
    # A leading space misses both fast patterns; the general path strips it.
    return parse_azure_duration(" " + text)


@given(st.none() | digits, st.none() | digits, st.none() | digits, fraction)
def test_iso_shape_reads_as_the_general_parser_does(hours: str | None, minutes: str | None, seconds: str | None,
                                                    frac: str | None) -> None:
    text = "PT" + (f"{hours}H" if hours else "") + (f"{minutes}M" if minutes else "")
    if seconds is not None:
        text += seconds + (f".{frac}" if frac else "") + "S"
    assert _outcome(parse_azure_duration, text) == _outcome(general, text)


@given(digits, st.integers(0, 99), st.integers(0, 99), fraction)
def test_timespan_shape_reads_as_the_general_parser_does(hours: str, minutes: int, seconds: int,
                                                         frac: str | None) -> None:
    text = f"{hours}:{minutes:02d}:{seconds:02d}" + (f".{frac}" if frac else "")
    assert _outcome(parse_azure_duration, text) == _outcome(general, text)


def test_recorded_shapes() -> None:
    assert parse_azure_duration("PT41M17.9270278S") == 2477.9270278
    assert parse_azure_duration("00:20:23.0896697") == 1223.0896697
    assert parse_azure_duration("PT0S") == 0.0
    assert parse_azure_duration("PT1H") == 3600.0


# Azure's time shape, valid and not: any hour and minute (month 13, hour 24, minute 60, day 31 of a short month
# included, which the fast path must hand on), seconds 00-59, 1 to 9 fractional digits.
_times = st.builds(
    lambda y, mo, d, h, mi, s, frac: f"{y:04d}-{mo:02d}-{d:02d}T{h:02d}:{mi:02d}:{s:02d}.{frac}Z",
    st.integers(0, 9999), st.integers(0, 13), st.integers(0, 32), st.integers(0, 24), st.integers(0, 60),
    st.integers(0, 59), st.text("0123456789", min_size=1, max_size=9),
)


@given(_times)
def test_time_shape_reads_as_the_general_parser_does(text: str) -> None:
    # A leading space misses the fast pattern; the general path strips it.
    assert _outcome(parse_time, text) == _outcome(parse_time, " " + text)


def test_recorded_times() -> None:
    assert parse_time("2022-05-13T10:09:27.2801342Z") == 1652436567.2801342
    assert parse_time("2026-11-18T11:05:57.932794Z") == 1794999957.932794
    # A padded value keeps its seventh digit too (the general path reads the stripped text).
    assert parse_time(" 2022-05-13T10:09:27.2801342Z ") == 1652436567.2801342
    with pytest.raises(ValueError, match="day is out of range"):
        parse_time("2022-02-30T10:09:27.1Z")
