"""The lowest-bounds CI step: .ci/lowest.py pins each runtime dependency to its declared `>=` bound,
and .ci/run installs those pins and runs the unit tests before `make test`."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
import tomllib
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / ".ci" / "lowest.py"


def lowest() -> ModuleType:
    spec = importlib.util.spec_from_file_location("lowest", SCRIPT)
    assert spec
    assert spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize(
    ("dependency", "pin"),
    [
        ("prometheus-client>=0.23.1", "prometheus-client==0.23.1"),
        ("requests >= 2.31", "requests==2.31"),
        ("pkg[extra]>=1.2,<2", "pkg==1.2"),
        ("pkg<2,>=1.2", "pkg==1.2"),
        ("pkg>=1.2; python_version >= '3.11'", "pkg==1.2"),
    ],
)
def test_a_lower_bound_becomes_a_pin(dependency: str, pin: str) -> None:
    assert lowest().lowest_pins([dependency]) == [pin]


@pytest.mark.parametrize("dependency", ["pkg", "pkg==1.2", "pkg<2", "pkg; python_version >= '3.11'"])
def test_a_dependency_without_a_lower_bound_is_refused(dependency: str) -> None:
    with pytest.raises(ValueError, match="declares no lower bound"):
        lowest().lowest_pins([dependency])


def test_the_script_pins_every_runtime_dependency_of_pyproject() -> None:
    result = subprocess.run([sys.executable, SCRIPT], capture_output=True, text=True, check=False, timeout=30)
    assert result.returncode == 0, result.stderr
    pins = result.stdout.split()
    declared = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]["dependencies"]
    assert len(pins) == len(declared)
    assert all("==" in pin for pin in pins)


def test_ci_checks_the_bounds_before_the_whole_suite() -> None:
    script = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    commands = [line.strip() for line in script.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    assert "python3 .ci/lowest.py" in script
    assert '-m "not e2e and not slow"' in script
    # CI reads the last pytest summary: the whole suite's, so `make test` comes last.
    assert commands[-1] == "make test"
    assert commands.index("lowest_bounds") < commands.index("make test")
