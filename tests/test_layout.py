"""The package's layout: every module opens with a docstring, and imports point only downward.

The layers, bottom to top: model and logs < config < azure < parsing < store < polling and
exposition < web < service and demo < cli < __main__. A module may import its own layer and any
layer below, never one above nor a sibling of the same rank (polling and exposition do not know
each other). The simulator is Azure's stand-in, not a layer: it imports only itself, and only the
demo and the command line import it.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "exporter"
SIMULATOR = "simulator"
# The top-level name under exporter/ (a folder or a module) -> its rank; `exporter` is the
# package's own __init__ (the version), importable from anywhere.
RANKS = {
    "exporter": 0, "model": 0, "logs": 0,
    "config": 1,
    "azure": 2,
    "parsing": 3,
    "store": 4,
    "polling": 5, "exposition": 5,
    "web": 6,
    "service": 7, "demo": 7,
    "cli": 8,
    "__main__": 9,
}
SIMULATOR_USERS = {"demo", "cli"}
MODULES = sorted(PACKAGE.rglob("*.py"))


def dotted(path: Path, package: Path = PACKAGE) -> str:
    """exporter/web/server.py -> exporter.web.server; exporter/web/__init__.py -> exporter.web."""
    parts = path.relative_to(package.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def layer(module: str) -> str:
    """The top-level name under exporter/ that `module` belongs to (`exporter` for the package itself)."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else parts[0]


def imported_modules(path: Path, root: Path = PACKAGE) -> set[str]:
    """Every exporter module `path` (under the package at `root`) imports, at any depth of its code,
    relative imports resolved."""
    module = dotted(path, root)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                found.add(".".join([*base, *([node.module] if node.module else [])]))
            elif node.module:
                found.add(node.module)
    return {name for name in found if name == "exporter" or name.startswith("exporter.")}


def upward_imports(module: str, imports: set[str]) -> list[str]:
    """The imports of `module` that break the layering, as `module -> target` lines."""
    source = layer(module)
    broken = []
    for target in sorted(imports):
        destination = layer(target)
        if destination == source:
            continue
        if SIMULATOR in (source, destination):
            allowed = source in SIMULATOR_USERS and destination == SIMULATOR
        else:
            allowed = RANKS[destination] < RANKS[source]
        if not allowed:
            broken.append(f"{module} -> {target}")
    return broken


@pytest.mark.parametrize("path", MODULES, ids=lambda path: str(path.relative_to(PACKAGE.parent)))
def test_every_module_opens_with_a_docstring(path: Path) -> None:
    docstring = ast.get_docstring(ast.parse(path.read_text(encoding="utf-8")))
    assert docstring, f"{path.relative_to(PACKAGE.parent)} should open with a docstring saying what it is for"
    assert docstring.strip().splitlines()[0].strip(), "the docstring's first line is its summary"


def test_every_layer_has_a_rank() -> None:
    layers = {layer(dotted(path)) for path in MODULES}
    assert layers - {SIMULATOR} <= RANKS.keys(), f"a new layer needs its place in RANKS: {layers - RANKS.keys()}"
    assert SIMULATOR in layers


def test_imports_point_only_downward() -> None:
    broken = [line for path in MODULES for line in upward_imports(dotted(path), imported_modules(path))]
    assert not broken, "imports against the layering:\n" + "\n".join(broken)


@pytest.mark.parametrize(
    ("module", "target", "allowed"),
    [
        ("exporter.store.job_store", "exporter.model", True),
        ("exporter.store.job_store", "exporter.store.lifecycle", True),
        ("exporter.store.job_store", "exporter.polling.job_poller", False),  # upward
        ("exporter.exposition.publisher", "exporter.polling.background", False),  # sideways
        ("exporter.web.server", "exporter", True),  # the version
        ("exporter.demo", "exporter.simulator", True),
        ("exporter.service", "exporter.simulator", False),
        ("exporter.simulator.arm", "exporter.model", False),
        ("exporter.simulator.arm", "exporter.simulator.wire", True),
    ],
)
def test_the_layering_check_can_fail(module: str, target: str, allowed: bool) -> None:
    assert (upward_imports(module, {target}) == []) is allowed


def test_relative_and_nested_imports_are_seen(tmp_path: Path) -> None:
    # Imports inside functions and relative ones are arrows too: the walk must not miss them.
    path = tmp_path / "exporter" / "store" / "__init__.py"
    path.parent.mkdir(parents=True)
    path.write_text(
        '"""A store."""\n\ndef f() -> None:\n    from ..polling import job_poller\n    import exporter.web.server\n',
        encoding="utf-8",
    )
    found = imported_modules(path, tmp_path / "exporter")
    assert found == {"exporter.polling", "exporter.web.server"}
    assert upward_imports(dotted(path, tmp_path / "exporter"), found) == [
        "exporter.store -> exporter.polling",
        "exporter.store -> exporter.web.server",
    ]
