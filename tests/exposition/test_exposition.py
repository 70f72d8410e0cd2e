"""The fast text writer is byte for byte `generate_latest()`: on the golden estate and on arbitrary input."""

from __future__ import annotations

import math

from hypothesis import given, settings
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeHistogramMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    InfoMetricFamily,
    Metric,
    StateSetMetricFamily,
    SummaryMetricFamily,
    UnknownMetricFamily,
)
from prometheus_client.parser import text_string_to_metric_families

from exporter.exposition.job_families import BackupCollector, Published
from exporter.exposition.publisher import Publisher
from exporter.exposition.text import render_text
from tests.golden_estate import GOLDEN, registry_for, small_estate


class Fixed:
    def __init__(self, families: list[Metric]) -> None:
        self.families = families

    def collect(self) -> list[Metric]:
        return self.families


def library_text(families: list[Metric]) -> bytes:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(Fixed(families))
    return generate_latest(registry)


def test_golden_estate_renders_exactly_as_the_client_library() -> None:
    registry = registry_for(*small_estate())
    assert render_text(registry.collect()) == generate_latest(registry)


def test_publisher_output_still_matches_the_golden_file() -> None:
    store, telemetry = small_estate()
    text = Publisher(telemetry, ("team", "env")).publish(store.snapshot()).plain.decode()
    text = "\n".join(line for line in text.splitlines() if "build_info{" not in line) + "\n"
    assert text == GOLDEN.read_text()


def test_publisher_renders_what_the_library_renders_for_the_same_snapshot() -> None:
    store, telemetry = small_estate()
    snapshot, published_telemetry = store.snapshot(), telemetry.snapshot()
    exposition = Publisher(telemetry, ("team",)).publish(snapshot)
    registry = CollectorRegistry(auto_describe=False)
    registry.register(BackupCollector(lambda: Published(snapshot, published_telemetry), ("team",)))
    assert exposition.plain == generate_latest(registry)


def test_escaped_values_round_trip_through_the_parser() -> None:
    nasty = 'a "quoted" \\ back\nslash ünï'
    family = GaugeMetricFamily("x", "help with \\ and\nnewline", labels=["item", "b"])
    family.add_metric([nasty, ""], -0.0)
    text = render_text([family])
    assert text == library_text([family])
    (parsed,) = text_string_to_metric_families(text.decode())
    assert parsed.samples[0].labels == {"item": nasty, "b": ""}


label_text = st.text(st.characters(codec="utf-8"), max_size=12)
numbers = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True), st.integers(-(10**12), 10**12), st.sampled_from([0.0, -0.0, 1.0])
)
label_names = st.lists(st.sampled_from(["item", "vault", "a_b", "status", "le_x", "zz", "b"]), unique=True, max_size=4)


@st.composite
def families(draw: st.DrawFn) -> list[Metric]:
    out: list[Metric] = []
    for index in range(draw(st.integers(1, 4))):
        names = draw(label_names)
        rows = draw(st.lists(st.tuples(st.lists(label_text, min_size=len(names), max_size=len(names)), numbers),
                             max_size=4))
        kind = draw(st.sampled_from(["gauge", "counter", "histogram", "summary", "info", "unknown"]))
        name = f"m{index}"
        if kind == "gauge":
            family: Metric = GaugeMetricFamily(name, draw(label_text), labels=names)
            for values, value in rows:
                family.add_metric(values, value, timestamp=draw(st.none() | st.floats(0, 2e9)))
        elif kind == "counter":
            family = CounterMetricFamily(name, draw(label_text), labels=names)
            for values, value in rows:
                created = draw(st.none() | st.floats(0, 2e9))
                family.add_metric(values, 0 if math.isnan(value) else abs(value), created=created)
        elif kind == "histogram":
            family = HistogramMetricFamily(name, "h", labels=names)
            for values, _ in rows:
                family.add_metric(values, [("1.0", 1), ("+Inf", 2)], 3.5)
        elif kind == "summary":
            family = SummaryMetricFamily(name, "s", labels=names)
            for values, value in rows:
                family.add_metric(values, 2, value)
        elif kind == "info":
            family = InfoMetricFamily(name, "i", labels=names)
            for values, _ in rows:
                family.add_metric(values, {"extra": draw(label_text)})
        else:
            family = UnknownMetricFamily(name, "u", labels=names)
            for values, value in rows:
                family.add_metric(values, value)
        out.append(family)
    gauge_histogram = GaugeHistogramMetricFamily("gh", "g", labels=["x"])
    gauge_histogram.add_metric([draw(label_text)], [("+Inf", 2)], 4.0)
    state_set = StateSetMetricFamily("ss", "s", labels=["x"])
    state_set.add_metric([draw(label_text)], {"on": True, "off": False})
    return [*out, gauge_histogram, state_set]


@settings(max_examples=150, deadline=None)
@given(families())
def test_arbitrary_families_render_exactly_as_the_client_library(generated: list[Metric]) -> None:
    assert render_text(generated) == library_text(generated)
