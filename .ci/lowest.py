"""Pins every runtime dependency of pyproject.toml to its declared lower bound, as pip constraints.

CI installs the project under these pins and runs the unit tests, so a `>=` bound that the code
has outgrown fails there instead of on a user's machine. A dependency without a `>=` bound fails
here: an unbounded dependency is a bound nobody checked.
"""

from __future__ import annotations

import re
import sys
import tomllib
from pathlib import Path

PYPROJECT = Path(__file__).resolve().parent.parent / "pyproject.toml"
# PEP 508 as this project writes it: name, optional [extras], then specifiers such as >=1.2,<2.
REQUIREMENT = re.compile(r"^\s*(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)\s*(?:\[[^\]]*\])?\s*(?P<specs>[^;]*)")


def lowest_pins(dependencies: list[str]) -> list[str]:
    """`pkg>=X` (whatever else is beside it) → `pkg==X`; raises ValueError when there is no `>=`."""
    pins = []
    for dependency in dependencies:
        match = REQUIREMENT.match(dependency)
        bound = re.search(r">=\s*([^,\s]+)", match.group("specs")) if match else None
        if match is None or bound is None:
            raise ValueError(f"{dependency!r} declares no lower bound (>=)")
        pins.append(f"{match.group('name')}=={bound.group(1)}")
    return pins


def main() -> int:
    dependencies = tomllib.loads(PYPROJECT.read_text(encoding="utf-8"))["project"]["dependencies"]
    try:
        pins = lowest_pins(dependencies)
    except ValueError as err:
        sys.stderr.write(f"lowest.py: {err}\n")
        return 1
    sys.stdout.write("".join(f"{pin}\n" for pin in pins))
    return 0


if __name__ == "__main__":
    sys.exit(main())
