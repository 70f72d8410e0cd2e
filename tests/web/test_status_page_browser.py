"""The status page of the demo estate in a real headless browser: what a person sees, and a screenshot.

Chromium is Debian's package (`.ci/run` installs it); without it the test is skipped locally and
fails under CI=true (tests/binaries.py).
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Iterator
from html.parser import HTMLParser
from pathlib import Path

import pytest

from exporter.azure.telemetry import ApiTelemetry
from exporter.config.schema import parse_config
from exporter.demo import DEMO_ESTATE
from exporter.exposition.publisher import Publisher
from exporter.model import VaultInfo, VaultRef
from exporter.service import App
from exporter.simulator import Simulator
from exporter.store.job_store import Store, VaultPoll
from exporter.web.status_page import FAILED, problems_of
from tests.binaries import require_binary
from tests.serving import serving
from tests.support import job

# Root in a container has no user namespace for the sandbox; no GPU; nothing but our loopback page.
CHROMIUM_FLAGS = (
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--window-size=1280,1600",
)


class Tags(HTMLParser):
    """The element and attribute names of a document."""

    def __init__(self) -> None:
        super().__init__()
        self.names: set[str] = set()
        self.attributes: set[str] = set()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.names.add(tag)
        self.attributes.update(name for name, _ in attrs)


def chromium(url: str, tmp_path: Path, *extra: str) -> str:
    binary = require_binary("chromium")
    profile = tmp_path / "profile"
    done = subprocess.run(
        [binary, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", *extra, url],
        capture_output=True, text=True, timeout=120, check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


@pytest.fixture
def demo_app(start_simulator: Callable[..., Simulator]) -> Iterator[App]:
    """The demo's estate and targets (exporter.demo), polled once."""
    sim = start_simulator(DEMO_ESTATE)
    config = parse_config({
        "azure": {"auth": "managed_identity", "resource_manager_url": sim.url},
        "collection": {"interval": "15s", "lookback": "7d", "request_timeout": "10s"},
        "targets": [{"subscription_id": "*"}],
    })
    app = App(config, ApiTelemetry())
    try:
        app.poll_once()
        yield app
    finally:
        app.close()


def test_demo_status_page_in_a_browser_lists_the_failing_items(demo_app: App, tmp_path: Path) -> None:
    exposition = demo_app.publisher.current
    assert exposition.snapshot is not None
    failing = [p for p in problems_of(exposition.snapshot, exposition.inventory) if FAILED in p.reasons]
    assert failing, "the demo estate has failing items"
    with serving(lambda: demo_app.publisher.current) as server:
        dom = chromium(server.url + "/", tmp_path, "--dump-dom")
        shot = tmp_path / "status-page.png"
        chromium(server.url + "/", tmp_path, f"--screenshot={shot}")
    assert "<h1>Azure Backup Exporter</h1>" in dom
    assert "Items needing attention" in dom
    for problem in failing:
        assert problem.item in dom
    assert dom.count("latest job failed") >= len(failing)
    for vault in exposition.vaults:
        assert vault.info.ref.vault in dom
    assert shot.stat().st_size > 10_000
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_hostile_names_stay_text_in_the_browser(tmp_path: Path) -> None:
    script = "<script>document.title='pwned'</script>"
    # The vault name also tries to leave the single-quoted title attribute it is shown in.
    ref = VaultRef("sub", "rg", f"v' onmouseover='x'>{script}")
    store = Store(lookback=86400, clock=lambda: 1_763_700_000.0)
    store.set_vaults([VaultInfo(ref)], {})
    store.apply(ref, [job("j", "Failed", start=1_763_696_400.0, item=script)])
    store.record(VaultPoll(ref, ok=False, duration=0.1, window_end=None, error=script))
    publisher = Publisher(ApiTelemetry())
    publisher.publish(store.snapshot())
    with serving(lambda: publisher.current) as server:
        dom = chromium(server.url + "/", tmp_path, "--dump-dom")
    assert "<title>Azure Backup Exporter</title>" in dom  # no script ran
    tags = Tags()
    tags.feed(dom)
    assert "script" not in tags.names
    assert "onmouseover" not in tags.attributes  # the name never became an attribute of its own
    assert dom.count("&lt;script&gt;document.title='pwned'&lt;/script&gt;") >= 4  # vault x2, item, error
