"""prefer_scrapes: the GIL switch interval the serving CLI sets once at startup (not on import)."""

from __future__ import annotations

import subprocess
import sys

from exporter.web.server import SWITCH_INTERVAL_SECONDS, prefer_scrapes


def test_prefer_scrapes_shortens_the_switch_interval() -> None:
    before = sys.getswitchinterval()
    try:
        prefer_scrapes()
        assert sys.getswitchinterval() == SWITCH_INTERVAL_SECONDS
        assert SWITCH_INTERVAL_SECONDS < 0.005  # below Python's default
    finally:
        sys.setswitchinterval(before)


def test_importing_the_exporter_leaves_the_interval_alone() -> None:
    code = "import sys, exporter.cli, exporter.web.server; print(sys.getswitchinterval())"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60)
    assert float(done.stdout) == 0.005
