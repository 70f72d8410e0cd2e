"""Robustness: arbitrary data or file content raises only ConfigError, with sound problems."""

from __future__ import annotations

import datetime as dt
import pickle

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from exporter.config.schema import SCHEMA, Config, ConfigError, Target, load_config, parse_config
from tests.config_builders import ANY_TARGET, JOB, SUB, problems_of

KEYS = sorted({key for table in SCHEMA.values() for key in table} | {"client_secret", "password", "x"})
SCALARS = (
    st.none() | st.booleans() | st.integers(-(10**30), 10**30) | st.floats() | st.text(max_size=20)
    | st.sampled_from(["5m", "30d", "31d", "*", SUB, JOB, "public", "client_secret", "workload_identity",
                       "(", "2025-08-01", "", "/", "/nonexistent/x", "a\0b"])
    | st.dates()
)
DATA = st.recursive(
    SCALARS,
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(st.sampled_from(KEYS) | st.text(max_size=8) | st.integers(), children, max_size=6),
    max_leaves=30,
)


def outcome(data: object) -> Config | ConfigError:
    """parse_config's result or its ConfigError; any other exception fails the test."""
    try:
        return parse_config(data, environ={})
    except ConfigError as err:
        return err


def assert_sound(result: Config | ConfigError) -> None:
    if isinstance(result, ConfigError):
        assert result.problems
        assert all(isinstance(p, str) and ": " in p for p in result.problems)
    else:
        assert result.targets
        assert all(isinstance(t, Target) for t in result.targets)


@settings(max_examples=400, deadline=None)
@given(DATA)
def test_arbitrary_data_raises_only_config_error(data: object) -> None:
    assert_sound(outcome(data))


@settings(max_examples=300, deadline=None)
@given(st.fixed_dictionaries(
    {"targets": st.lists(st.dictionaries(st.sampled_from(sorted(SCHEMA["targets[]"])), SCALARS), max_size=3)},
    optional={
        "azure": st.dictionaries(st.sampled_from(sorted(SCHEMA["azure"])), SCALARS),
        "collection": st.dictionaries(st.sampled_from(sorted(SCHEMA["collection"])), SCALARS | st.lists(SCALARS)),
        "state_file": SCALARS,
    },
))
def test_well_shaped_data_with_arbitrary_values_raises_only_config_error(data: dict[str, object]) -> None:
    assert_sound(outcome(data))


YAML_PIECES = st.sampled_from([
    *"ab:-[]{}&*!|>'\"#%@`,?\n \t0129.~<=\\", "targets", "subscription_id", "'*'", "!!binary",
    "!!python/name:os.system", "---", "<<", "collection:", "  interval: ",
])


@settings(max_examples=200, deadline=None)
@given(st.lists(YAML_PIECES, max_size=40).map("".join) | st.binary(max_size=30))
def test_any_file_content_raises_only_config_error(
    tmp_path_factory: pytest.TempPathFactory, text: str | bytes
) -> None:
    path = tmp_path_factory.mktemp("fuzz") / "config.yaml"
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    try:
        result: Config | ConfigError = load_config(path, environ={})
    except ConfigError as err:
        result = err
    assert_sound(result)


def test_dates_in_durations_are_type_errors_not_crashes() -> None:
    problems = problems_of({"collection": {"interval": dt.date(2025, 1, 1)}, "targets": ANY_TARGET})
    assert problems == ("collection.interval: expected a duration (use 30s, 5m, 2h, 7d or seconds), got a date",)


def test_config_error_joins_its_problems_and_survives_pickling() -> None:
    err = ConfigError(["azure.cloud: bad", "targets: needs a list"])
    assert str(err) == "azure.cloud: bad\ntargets: needs a list"
    assert pickle.loads(pickle.dumps(err)).problems == err.problems  # noqa: S301 - our own bytes
    assert ConfigError("--config.file: one problem").problems == ("--config.file: one problem",)
