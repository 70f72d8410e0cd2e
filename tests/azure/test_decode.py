"""ARM bodies are decoded by msgspec, and what only json reads still reads the same."""

from __future__ import annotations

import codecs
import json
import math

from exporter.azure.arm import _decode


def test_a_page_decodes_as_json_would() -> None:
    body = {"value": [{"name": "ünï", "properties": {"duration": "PT1M", "size": 12.5, "n": 2**63}}], "nextLink": None}
    raw = json.dumps(body, ensure_ascii=False).encode()
    assert _decode(raw) == json.loads(raw) == body


def test_what_msgspec_refuses_json_still_reads() -> None:
    assert _decode(codecs.BOM_UTF8 + b'{"value": []}') == {"value": []}
    assert _decode('{"value": [1]}'.encode("utf-16")) == {"value": [1]}
    assert math.isnan(_decode(b'{"x": NaN}')["x"])
    assert _decode(b'{"x": 1e999}') == {"x": math.inf}
    assert _decode(b'{"x": 123456789012345678901234567890}') == {"x": 123456789012345678901234567890}


def test_what_neither_reads_is_a_value_error() -> None:
    try:
        _decode(b"<html>gateway timeout</html>")
    except ValueError:
        return
    raise AssertionError("not JSON, yet decoded")
