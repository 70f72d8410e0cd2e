"""Durations in the config (30s, 5m, 2h, 7d or seconds): what parse_config_duration accepts and rejects."""

from __future__ import annotations

import math
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from exporter.config.converters import parse_config_duration


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        ("30s", 30), ("5m", 300), ("2h", 7200), ("7d", 604800), ("1w", 604800), ("1h30m", 5400),
        ("1d12h", 129600), ("500ms", 0.5), ("1.5h", 5400), (" 5m ", 300), ("300", 300), ("0.5", 0.5),
        (45, 45), (1.5, 1.5),
    ],
)
def test_parse_config_duration_accepts(value: object, seconds: float) -> None:
    assert parse_config_duration(value) == pytest.approx(seconds)


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("0s", '"0s" must be greater than 0'),
        (0, "0 must be greater than 0"),
        ("-5m", '"-5m" must be greater than 0'),
        (-1, "-1 must be greater than 0"),
        ("5x", '"5x" is not a duration (use 30s, 5m, 2h, 7d or seconds)'),
        ("5M", '"5M" is not a duration'),
        ("30s5m", '"30s5m" is not a duration'),
        ("m", '"m" is not a duration'),
        ("", '"" is not a duration'),
        ("1 h", '"1 h" is not a duration'),
        (True, "expected a duration (use 30s, 5m, 2h, 7d or seconds), got a boolean"),
        (None, "got null"),
        ([5], "got a list"),
        (math.nan, "nan is not a finite duration"),
        (math.inf, "inf is not a finite duration"),
        (10**400, "is not a finite duration"),
        ("9" * 400 + "d", "is not a finite duration"),
    ],
)
def test_parse_config_duration_rejects(value: object, reason: str) -> None:
    with pytest.raises(ValueError, match=re.escape(reason)):
        parse_config_duration(value)


@given(st.integers(1, 10**6), st.sampled_from([("s", 1), ("m", 60), ("h", 3600), ("d", 86400), ("w", 604800)]))
def test_parse_config_duration_scales_each_unit(number: int, unit: tuple[str, int]) -> None:
    assert parse_config_duration(f"{number}{unit[0]}") == number * unit[1]
