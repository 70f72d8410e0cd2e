"""The one reader of a config section (a YAML mapping against its table of key → converter), for
the exporter's config and the web config alike: problems collected with their key paths, unknown
keys answered with the closest known one."""

from __future__ import annotations

import difflib
from collections.abc import Callable, Mapping
from typing import Any

from exporter.config import converters as cv
from exporter.config.converters import ItemsError

__all__ = ["Problems", "nested", "read_section", "unknown_key"]


class Problems(list[str]):
    """Every problem found so far, each "key.path: why"."""

    def add(self, path: str, why: str) -> None:
        self.append(f"{path}: {why}")


def nested(value: object) -> object:
    """The converter of a key that holds a section of its own: read later by that section's reader."""
    return value


def unknown_key(name: str, allowed: Mapping[str, object]) -> str:
    """Why `name` is refused: unknown, with the closest allowed key when one is close."""
    close = difflib.get_close_matches(name, list(allowed), n=1)
    return f"unknown key{f' (did you mean {close[0]}?)' if close else ''}; allowed: {', '.join(allowed)}"


def read_section(
    raw: object,
    path: str,
    schema: Mapping[str, cv.Converter],
    problems: Problems,
    *,
    required: tuple[str, ...] = (),
    unsupported: Mapping[str, str] | None = None,
    explain_unknown: Callable[[str], str | None] | None = None,
) -> tuple[dict[str, Any], set[str]]:
    """Converts one mapping: the valid values, and the keys given (valid or not) for cross-key rules.

    A key set to null (`key:` and nothing after) counts as absent, so it keeps its default. A key
    path in `unsupported` is refused with its reason when it holds a value (an empty placeholder is
    harmless); `explain_unknown` may give an unknown key a better reason than "unknown key".
    """
    values: dict[str, Any] = {}
    given: set[str] = set()
    if not isinstance(raw, Mapping | None):
        problems.add(path or "(top level)", f"expected a mapping with keys {', '.join(schema)}; got {cv.kind(raw)}")
        return values, given  # and no "is required": the section itself is the problem
    for key, value in (raw or {}).items():
        name = key if isinstance(key, str) else cv.show(key)
        where = f"{path}.{name}" if path else name
        if unsupported is not None and where in unsupported:
            if value not in (None, [], {}, ""):
                problems.add(where, unsupported[where])
        elif not isinstance(key, str) or key not in schema:
            problems.add(where, (explain_unknown and explain_unknown(name)) or unknown_key(name, schema))
        elif value is not None:
            given.add(key)
            try:
                values[key] = schema[key](value)
            except ItemsError as err:
                problems.extend(f"{where}{suffix}: {why}" for suffix, why in err.problems)
            except ValueError as err:
                problems.add(where, str(err))
    for key in required:
        if key not in given:
            problems.add(f"{path}.{key}" if path else key, "is required")
    return values, given
