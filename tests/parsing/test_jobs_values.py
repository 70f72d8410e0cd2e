"""The value parsers behind every job: times, durations and sizes as Azure writes them.

Contract: None or a blank string → None; anything present but unreadable → ValueError.
"""

import calendar
import math
import time
from datetime import UTC, datetime, timedelta, timezone
from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from exporter.parsing.values import parse_azure_duration, parse_size, parse_time

MB = 1024**2


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("2022-05-13T10:09:27.2801342Z", 1652436567.2801342),  # Azure: 7 digits, all kept
        ("2022-05-13T10:50:45.207162Z", 1652439045.207162),
        ("2022-05-13T10:09:27.28013429999Z", 1652436567.2801343),  # the nearest float
        ("2022-05-13T10:50:45Z", 1652439045.0),
        ("2022-05-13T10:50:45.5Z", 1652439045.5),
        ("2022-05-13T10:50:45+00:00", 1652439045.0),
        ("2022-05-13T12:50:45+02:00", 1652439045.0),
        ("2022-05-13T05:20:45.2801342-05:30", 1652439045.2801342),
        ("  2022-05-13T10:50:45Z\n", 1652439045.0),
    ],
)
def test_parse_time_reads_iso_8601(text, seconds):
    assert parse_time(text) == seconds


@pytest.fixture
def local_zone_far_from_utc(monkeypatch):
    # A POSIX TZ string needs no tz database.
    monkeypatch.setenv("TZ", "XYZ+05:30")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


@pytest.mark.usefixtures("local_zone_far_from_utc")
def test_parse_time_without_offset_is_utc_not_local_time():
    assert time.timezone == 5.5 * 3600
    assert parse_time("2022-05-13T10:50:45") == 1652439045.0


@pytest.mark.parametrize("absent", [None, "", "   "])
def test_parse_time_absent_is_none(absent):
    assert parse_time(absent) is None


@pytest.mark.parametrize(
    "garbage",
    [
        "yesterday",
        "2022-13-01T00:00:00Z",
        "2022-05-13T24:00:00Z",
        "6/12/2022 12:00:00 AM",
        "2022-05-13T10:50:45+25:00",
        "\uff12\uff10\uff12\uff12-05-13T10:50:45Z",  # full-width digits
        "\ud800",
        1652439045,
        1652439045.5,
        True,
        [],
        {},
    ],
)
def test_parse_time_garbage_raises_value_error(garbage):
    with pytest.raises(ValueError):  # noqa: PT011 -- ValueError is the whole contract
        parse_time(garbage)


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("PT41M17.9270278S", 2477.9270278),
        ("PT36M54.7674093S", 2214.7674093),
        ("PT3.6132661S", 3.6132661),
        ("PT0S", 0.0),
        ("P1DT2H", 93600.0),
        ("P1D", 86400.0),
        ("P2W", 1209600.0),
        ("PT1H2M3S", 3723.0),
        ("PT0,5S", 0.5),
        ("pt5s", 5.0),
        ("  PT5S ", 5.0),
        ("00:20:23.0896697", 1223.0896697),
        ("00:03:13.6439467", 193.6439467),
        ("1.02:03:04.5", 93784.5),
        ("1:02:03:04", 93784.0),
        ("00:00:00", 0.0),
        ("25:00:00", 90000.0),  # no day part: hours may run past 23
        ("10.00:00:00", 864000.0),
    ],
)
def test_parse_duration_reads_iso_8601_and_timespan(text, seconds):
    assert parse_azure_duration(text) == seconds


@pytest.mark.parametrize("absent", [None, "", " \t"])
def test_parse_duration_absent_is_none(absent):
    assert parse_azure_duration(absent) is None


@pytest.mark.parametrize(
    "garbage",
    [
        "P",
        "PT",
        "P1DT",
        "P1Y",
        "P1M",
        "PT1.5H",
        "PT5",
        "T5S",
        "-PT5S",
        "-00:00:05",
        "00:60:00",
        "00:00:60",
        "1.24:00:00",
        "1:2",
        "1:2:3:4:5",
        "00:00:00.abc",
        "\uff10\uff10:00:00",  # full-width digits
        "1_0:00:00",
        "+1:00:00",
        "forty minutes",
        "9" * 400 + ".00:00:00",
        "PT" + "9" * 400 + "S",
        41,
        2477.9,
        math.nan,
        True,
        [],
        {"duration": "PT0S"},
    ],
)
def test_parse_duration_garbage_raises_value_error(garbage):
    with pytest.raises(ValueError):  # noqa: PT011 -- ValueError is the whole contract
        parse_azure_duration(garbage)


@pytest.mark.parametrize(
    ("value", "default_unit", "size"),
    [
        ("11370 MB", "MB", 11370 * MB),
        ("2332 MB", "MB", 2332 * MB),
        ("1.5 GB", "MB", 1.5 * 1024**3),
        ("512 KB", "MB", 512 * 1024),
        ("0 MB", "MB", 0.0),
        ("2 TB", "MB", 2 * 1024**4),
        ("100 B", "MB", 100.0),
        ("3 MiB", "MB", 3 * MB),
        ("11370MB", "MB", 11370 * MB),
        ("11370 mb", "MB", 11370 * MB),
        (" 7 Gb ", "MB", 7 * 1024**3),
        ("0", "MB", 0.0),
        ("12.5", "MB", 12.5 * MB),
        ("4096", "B", 4096.0),
        ("4", "kb", 4096.0),
        (5, "MB", 5 * MB),
        (2.5, "MB", 2.5 * MB),
        (123456789, "B", 123456789.0),
    ],
)
def test_parse_size_reads_binary_units(value, default_unit, size):
    assert parse_size(value, default_unit) == size


def test_parse_size_negative_zero_is_plain_zero():
    assert math.copysign(1.0, parse_size("-0 MB")) == 1.0


@pytest.mark.parametrize("absent", [None, "", "  "])
def test_parse_size_absent_is_none(absent):
    assert parse_size(absent) is None


@pytest.mark.parametrize(
    "garbage",
    [
        "abc",
        "MB",
        "12 XB",
        "12 EB",
        "-1 MB",
        "nan MB",
        "nan",
        "inf",
        "infinity GB",
        "1e400 MB",
        "1e308 TB",
        "1 2 MB",
        -5,
        math.nan,
        math.inf,
        10**400,
        True,
        [],
        {},
    ],
)
def test_parse_size_garbage_raises_value_error(garbage):
    with pytest.raises(ValueError):  # noqa: PT011 -- ValueError is the whole contract
        parse_size(garbage)


_UNITS = {"B": 1, "KB": 1024, "MB": 1024**2, "GB": 1024**3, "TB": 1024**4}


@given(
    days=st.integers(0, 30_000),
    hours=st.integers(0, 23),
    minutes=st.integers(0, 59),
    seconds=st.integers(0, 59),
    fraction=st.text("0123456789", max_size=9),
)
def test_durations_round_trip_through_timespan_and_iso(days, hours, minutes, seconds, fraction):
    whole = ((days * 24 + hours) * 60 + minutes) * 60 + seconds
    # float() of a decimal string is correctly rounded: an independent oracle for the parser.
    expected = float(f"{whole}.{fraction or '0'}")
    dot = f".{fraction}" if fraction else ""
    clock = f"{hours:02}:{minutes:02}:{seconds:02}{dot}"
    timespan = f"{days}.{clock}" if days else clock
    iso = f"P{days}DT{hours}H{minutes}M{seconds}{dot}S"
    assert parse_azure_duration(timespan) == expected
    assert parse_azure_duration(iso) == expected


@given(total=st.integers(0, 10**12))
def test_iso_seconds_only_duration_is_exact(total):
    assert parse_azure_duration(f"PT{total}S") == float(total)


@given(number=st.integers(0, 10**9), unit=st.sampled_from(sorted(_UNITS)), lower=st.booleans())
def test_integer_sizes_round_trip(number, unit, lower):
    text = f"{number} {unit.lower() if lower else unit}"
    assert parse_size(text) == float(number * _UNITS[unit])


@given(
    number=st.floats(min_value=0, max_value=1e15, allow_nan=False, allow_infinity=False),
    unit=st.sampled_from(sorted(_UNITS)),
)
def test_decimal_sizes_round_trip(number, unit):
    # Binary multipliers are powers of two: multiplying by one is exact.
    assert parse_size(f"{number!r} {unit}") == number * _UNITS[unit]
    assert parse_size(number, unit) == number * _UNITS[unit]


@given(
    moment=st.datetimes(
        min_value=datetime(1970, 1, 2),  # noqa: DTZ001 -- hypothesis wants naive bounds
        max_value=datetime(2200, 1, 1),  # noqa: DTZ001
        timezones=st.just(UTC),
    ),
    seventh_digit=st.integers(0, 9),
    offset_minutes=st.integers(-14 * 60, 14 * 60),
)
def test_times_round_trip_with_seven_digits_and_offsets(moment, seventh_digit, offset_minutes):
    azure = moment.strftime("%Y-%m-%dT%H:%M:%S.%f") + f"{seventh_digit}Z"
    exact = Fraction(calendar.timegm(moment.timetuple())) + Fraction(moment.microsecond * 10 + seventh_digit, 10**7)
    assert parse_time(azure) == float(exact)  # the nearest float: the seventh digit counts where it can
    local = moment.astimezone(timezone(timedelta(minutes=offset_minutes)))
    assert parse_time(local.isoformat()) == moment.timestamp()


@given(st.one_of(st.text(max_size=40), st.integers(), st.floats(), st.booleans(), st.none()))
def test_value_parsers_raise_only_value_error(value):
    for parser in (parse_time, parse_azure_duration, parse_size):
        try:
            result = parser(value)
        except ValueError:
            continue
        assert result is None or math.isfinite(result)
        if parser is not parse_time and result is not None:
            assert result >= 0
