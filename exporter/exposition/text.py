"""Prometheus text format 0.0.4 from metric families, byte for byte what `generate_latest()` writes.

Why not `generate_latest()` itself: at 10,000 items (about 160,000 samples) it takes ~4 s to
format, most of it re-escaping and re-sorting the same label names and values on every sample
(bench/RESULTS.md). This writer does the same work once per distinct label set and value:

- label names of a family are sorted and escaped once per key set (`generate_latest` sorts
  `labels.items()` for every sample);
- each distinct label value is escaped once (`\\` → `\\\\`, newline → `\\n`, `"` → `\\"`: the client
  library's ALLOWUTF8 rule for label values, which it applies whatever the name escaping);
- each distinct sample value goes through the library's own `floatToGoString` once.

Metric and label names go through the library's own escaping functions (UNDERSCORES, its
default), and OpenMetrics-only samples (`_created`, `_gsum`, `_gcount`) are moved into gauges after
their family, as `generate_latest` does. tests/test_exposition.py holds the two equal on the golden
estate and on arbitrary label values.
"""

from __future__ import annotations

import io
import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from operator import itemgetter
from typing import Any

from prometheus_client.metrics_core import Metric
from prometheus_client.openmetrics.exposition import UNDERSCORES, escape_label_name, escape_metric_name
from prometheus_client.utils import floatToGoString

# The OpenMetrics type names the text format 0.0.4 spells differently.
_TYPE_NAMES = {"info": "gauge", "stateset": "gauge", "gaugehistogram": "histogram", "unknown": "untyped"}
_OM_SUFFIXES = ("_created", "_gsum", "_gcount")
_LINES_PER_WRITE = 4096  # ~1 MB of text: big enough to amortise, small enough not to matter


def _escape_value(value: str) -> str:
    return value.replace("\\", r"\\").replace("\n", r"\n").replace('"', r"\"")


def _help(text: str) -> str:
    return text.replace("\\", r"\\").replace("\n", r"\n")


class _Escaped(dict[str, str]):
    """Label value → its escaped form, computed on first use."""

    def __missing__(self, raw: str) -> str:
        text = self[raw] = _escape_value(raw)
        return text


@dataclass(frozen=True, slots=True)
class Cut:
    """A family's line for fixed label values, cut around one label whose value varies from line
    to line: `head + escaped value + tail + number + "\\n"` (without a varying label, `tail` is
    empty and `head` runs to the space before the number). `head` and `tail` are templates that
    `split()` fills with the fixed values once, for all the lines that share them."""

    head: str
    tail: str
    head_values: Callable[[Sequence[str]], Sequence[str]]
    tail_values: Callable[[Sequence[str]], Sequence[str]]

    def split(self, escaped: Sequence[str]) -> tuple[str, str]:
        """The line's text before and after the varying value, from the fixed labels' escaped values
        (in the order of the `fixed` names the cut was made for)."""
        return self.head.format(*self.head_values(escaped)), self.tail.format(*self.tail_values(escaped))


def _picker(indexes: Sequence[int]) -> Callable[[Sequence[str]], Sequence[str]]:
    """values → the values at `indexes`, as a sequence (itemgetter alone returns one value bare)."""
    if len(indexes) > 1:
        getter: Callable[[Sequence[str]], Sequence[str]] = itemgetter(*indexes)
        return getter
    index = indexes[0] if indexes else None

    def pick(values: Sequence[str]) -> Sequence[str]:
        return () if index is None else (values[index],)

    return pick


def _pair(name: str) -> str:
    return f'{escape_label_name(name, UNDERSCORES)}="{{}}"'


class Writer:
    """Caches that live for one rendering: escaped values, formatted numbers, line templates."""

    def __init__(self) -> None:
        self.escaped = _Escaped()
        self.numbers: dict[Any, str] = {}
        # (sample name, label keys in insertion order) → (getter of the values in sorted-key order,
        # `name{a="{}",b="{}"} ` as a str.format template)
        self.templates: dict[tuple[str, tuple[str, ...]], tuple[Any, str]] = {}

    def template(self, name: str, keys: tuple[str, ...]) -> tuple[Any, str]:
        names = sorted(keys)
        getter = itemgetter(*names) if len(names) > 1 else (lambda labels, n=names[0]: (labels[n],))
        pairs = ",".join(f'{escape_label_name(n, UNDERSCORES)}="{{}}"' for n in names)
        found = (getter, f"{escape_metric_name(name, UNDERSCORES)}{{{{{pairs}}}}} ")
        self.templates[(name, keys)] = found
        return found

    def name(self, name: str) -> str:
        """A sample name as `line()` spells it."""
        return escape_metric_name(name, UNDERSCORES)

    def cut(self, name: str, fixed: Sequence[str], varying: str | None = None) -> Cut:
        """Lines of sample `name` with labels `fixed` (+ `varying`), written as `line()` writes them:
        label names sorted, each value escaped (the caller passes `escaped[...]` values). With `name`
        empty, the text after the name: one label text for the lines of several names."""
        names = sorted((*fixed, varying) if varying is not None else fixed)
        split = names.index(varying) if varying is not None else len(names)
        before, after = names[:split], names[split + 1:]
        position = {label: index for index, label in enumerate(fixed)}
        metric = escape_metric_name(name, UNDERSCORES) if name else ""  # "": the labels alone, for any name
        if varying is not None:
            head = metric + "{{" + "".join(_pair(n) + "," for n in before) + escape_label_name(varying, UNDERSCORES)
            head, tail = head + '="', '"' + "".join("," + _pair(n) for n in after) + "}} "
        elif names:
            head, tail = metric + "{{" + ",".join(map(_pair, before)) + "}} ", ""
        else:
            head, tail = metric + " ", ""
        return Cut(head, tail, _picker([position[n] for n in before]), _picker([position[n] for n in after]))

    def number(self, value: Any) -> str:
        if value == 0:  # 0.0 and -0.0 are one dict key but two spellings
            return "-0.0" if math.copysign(1.0, value) < 0 else "0.0"
        text = self.numbers.get(value)
        if text is None:
            text = self.numbers[value] = floatToGoString(value)  # type: ignore[no-untyped-call]
        return text

    def line(self, name: str, labels: dict[str, str], value: Any, timestamp: Any) -> str:
        suffix = f" {int(float(timestamp) * 1000):d}\n" if timestamp is not None else "\n"
        if not labels:
            return f"{escape_metric_name(name, UNDERSCORES)} {self.number(value)}{suffix}"
        key = (name, tuple(labels))
        getter, template = self.templates.get(key) or self.template(*key)
        values = getter(labels)
        return template.format(*map(self.escaped.__getitem__, values)) + self.number(value) + suffix


def render_text(families: Iterable[Metric]) -> bytes:
    """The exposition of `families` (e.g. `registry.collect()`), UTF-8 encoded.

    Text goes into one growing buffer a few thousand lines at a time, and `families` is consumed
    lazily: besides the result (~37 MB at 10,000 items), only the family being written is alive.
    """
    writer = Writer()
    output = io.BytesIO()
    for metric in families:
        _write_family(output, writer, metric)
    # getvalue() hands over the buffer without a copy when nothing else holds it.
    return output.getvalue()


def render_family(writer: Writer, metric: Metric) -> bytes:
    """One family's whole text: HELP, TYPE, samples (and its OpenMetrics-only samples after it)."""
    output = io.BytesIO()
    _write_family(output, writer, metric)
    return output.getvalue()


def render_header(metric: Metric) -> bytes:
    """The HELP and TYPE lines of a family."""
    return _header(metric).encode("utf-8")


def render_samples(writer: Writer, metric: Metric) -> bytes:
    """The sample lines of a family without its header, for fragments assembled under one header.

    A family with OpenMetrics-only samples cannot be cut so (they move after the family under
    their own header): ValueError.
    """
    om_names = {metric.name + suffix for suffix in _OM_SUFFIXES}
    line = writer.line
    lines = []
    for sample in metric.samples:
        if sample.name in om_names:
            raise ValueError(f"{sample.name}: OpenMetrics-only samples cannot be rendered in fragments")
        lines.append(line(sample.name, sample.labels, sample.value, sample.timestamp))
    return "".join(lines).encode("utf-8")


def _header(metric: Metric) -> str:
    mname, mtype = metric.name, metric.type
    if mtype == "counter":
        mname += "_total"
    elif mtype == "info":
        mname += "_info"
    mtype = _TYPE_NAMES.get(mtype, mtype)
    shown = escape_metric_name(mname, UNDERSCORES)
    return f"# HELP {shown} {_help(metric.documentation)}\n# TYPE {shown} {mtype}\n"


def _write_family(output: io.BytesIO, writer: Writer, metric: Metric) -> None:
    documentation = _help(metric.documentation)
    lines = [_header(metric)]
    om_names = {metric.name + suffix: suffix for suffix in _OM_SUFFIXES}
    om_lines: dict[str, list[str]] = {}
    for sample in metric.samples:
        text = writer.line(sample.name, sample.labels, sample.value, sample.timestamp)
        suffix = om_names.get(sample.name)
        if suffix is not None:
            om_lines.setdefault(suffix, []).append(text)
            continue
        lines.append(text)
        if len(lines) >= _LINES_PER_WRITE:
            output.write("".join(lines).encode("utf-8"))
            lines.clear()
    for suffix, extra in sorted(om_lines.items()):
        shown = escape_metric_name(metric.name + suffix, UNDERSCORES)
        lines.append(f"# HELP {shown} {documentation}\n# TYPE {shown} gauge\n")
        lines.extend(extra)
    output.write("".join(lines).encode("utf-8"))
