"""The fast readers of Azure's two duration shapes agree with the general parser on every input."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from exporter.parsing.values import parse_azure_duration

digits = st.integers(0, 10**12).map(str) | st.text("0123456789", min_size=1, max_size=25)
fraction = st.none() | st.text("0123456789", min_size=1, max_size=12)


def general(text: str) -> float | None:
    # A leading space misses both fast patterns; the general path strips it.
    return parse_azure_duration(" " + text)


@given(st.none() | digits, st.none() | digits, st.none() | digits, fraction)
def test_iso_shape_reads_as_the_general_parser_does(hours: str | None, minutes: str | None, seconds: str | None,
                                                    frac: str | None) -> None:
    text = "PT" + (f"{hours}H" if hours else "") + (f"{minutes}M" if minutes else "")
    if seconds is not None:
        text += seconds + (f".{frac}" if frac else "") + "S"
    try:
        expected: float | type[ValueError] | None = general(text)
    except ValueError:
        expected = ValueError
    try:
        got: float | type[ValueError] | None = parse_azure_duration(text)
    except ValueError:
        got = ValueError
    assert got == expected


@given(digits, st.integers(0, 99), st.integers(0, 99), fraction)
def test_timespan_shape_reads_as_the_general_parser_does(hours: str, minutes: int, seconds: int,
                                                         frac: str | None) -> None:
    text = f"{hours}:{minutes:02d}:{seconds:02d}" + (f".{frac}" if frac else "")
    try:
        expected: float | type[ValueError] | None = general(text)
    except ValueError:
        expected = ValueError
    try:
        got: float | type[ValueError] | None = parse_azure_duration(text)
    except ValueError:
        got = ValueError
    assert got == expected


def test_recorded_shapes() -> None:
    assert parse_azure_duration("PT41M17.9270278S") == 2477.9270278
    assert parse_azure_duration("00:20:23.0896697") == 1223.0896697
    assert parse_azure_duration("PT0S") == 0.0
    assert parse_azure_duration("PT1H") == 3600.0
