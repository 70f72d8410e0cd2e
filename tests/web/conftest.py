"""The web tests' fixtures: an empty publisher and an exporter server serving it on loopback."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from exporter.azure.telemetry import ApiTelemetry
from exporter.exposition.publisher import Publisher
from exporter.web.server import ExporterHTTPServer
from tests.serving import serving


@pytest.fixture
def publisher() -> Publisher:
    return Publisher(ApiTelemetry())


@pytest.fixture
def server(publisher: Publisher) -> Iterator[ExporterHTTPServer]:
    """What `publisher` currently holds, on /metrics and the status page."""
    with serving(lambda: publisher.current) as srv:
        yield srv
