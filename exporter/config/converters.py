"""Converters from raw YAML values to typed config values, for the tables in `exporter.config`.

A converter takes what yaml.safe_load produced and returns the typed value, or raises ValueError
whose text is the reason an operator reads after the key path ("… is not a GUID"). A list
converter raises ItemsError to report several elements at once. Type mismatches are ValueErrors
too, so that one `except ValueError` collects every problem.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import os
import re
from collections.abc import Callable, Hashable, Iterable, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

Converter = Callable[[Any], Any]

DAY = 86400.0
DURATION_HINT = "use 30s, 5m, 2h, 7d or seconds"
_UNITS = (("w", 7 * DAY), ("d", DAY), ("h", 3600.0), ("m", 60.0), ("s", 1.0), ("ms", 0.001))
_NUMBER = re.compile(r"\d+(?:\.\d+)?")
# Prometheus style: units largest first, each at most once ("1h30m"); "5ms" backtracks past the "m" group.
_DURATION = re.compile("".join(rf"(?:(\d+(?:\.\d+)?){unit})?" for unit, _ in _UNITS))
_GUID = re.compile(r"[0-9a-fA-F]{8}-(?:[0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}")
_KINDS: tuple[tuple[type | tuple[type, ...], str], ...] = (
    (type(None), "null"), (bool, "a boolean"), (int, "an integer"), (float, "a number"),
    (str, "a string"), ((list, tuple), "a list"), (Mapping, "a mapping"), (dt.date, "a date"),
)


class ItemsError(ValueError):
    """Several problems under one key, each (key path suffix such as "[2]", why)."""

    def __init__(self, problems: list[tuple[str, str]]) -> None:
        super().__init__(problems)
        self.problems = problems


def kind(value: object) -> str:
    """A value's type in YAML words (bool first: True is an int to Python, not to YAML)."""
    return next((name for cls, name in _KINDS if isinstance(value, cls)), type(value).__name__)


def show(value: object) -> str:
    """A value for a message: quoted, shortened, and never a multi-kilobyte echo."""
    try:
        text = json.dumps(value, ensure_ascii=False) if isinstance(value, str) else str(value)
    except ValueError:  # an int beyond Python's int→str digit limit
        return "a very large number"
    return text if len(text) <= 80 else text[:77] + "..."


def wrong_type(expected: str, value: object) -> ValueError:
    return ValueError(f"expected {expected}, got {kind(value)}")


def parse_config_duration(value: object) -> float:
    """Seconds from "30s", "5m", "2h", "7d", "1h30m", "500ms", or a number of seconds; must be > 0."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise wrong_type(f"a duration ({DURATION_HINT})", value)
    if isinstance(value, str):
        text = value.strip()
        unsigned = text.removeprefix("-")
        match = _DURATION.fullmatch(unsigned)
        if _NUMBER.fullmatch(unsigned):
            seconds = float(unsigned)
        elif match and any(match.groups()):
            seconds = sum(float(n) * f for n, (_, f) in zip(match.groups(), _UNITS, strict=True) if n)
        else:
            raise ValueError(f"{show(value)} is not a duration ({DURATION_HINT})")
        seconds = -seconds if text.startswith("-") else seconds
    else:
        try:
            seconds = float(value)
        except OverflowError:
            seconds = math.inf
    if not math.isfinite(seconds):
        raise ValueError(f"{show(value)} is not a finite duration")
    if seconds <= 0:
        raise ValueError(f"{show(value)} must be greater than 0")
    return seconds


def string(value: object) -> str:
    if not isinstance(value, str):
        raise wrong_type("a string", value)
    if not value.strip():
        raise ValueError("must not be empty")
    return value.strip()


def boolean(value: object) -> bool:
    if not isinstance(value, bool):
        raise wrong_type("true or false", value)
    return value


def integer(low: int, high: int) -> Converter:
    def convert(value: object) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise wrong_type("an integer", value)
        if not low <= value <= high:
            raise ValueError(f"{show(value)} is outside {low}..{high}")
        return value
    return convert


def duration(maximum: float = math.inf, why: str = "") -> Converter:
    def convert(value: object) -> float:
        if (seconds := parse_config_duration(value)) > maximum:
            raise ValueError(f"{show(value)} is too long ({why})")
        return seconds
    return convert


def duration_or_off(value: object) -> float:
    """A duration, or 0 / false for "off" (returned as 0.0)."""
    if value is False:
        return 0.0
    if value is True:
        raise ValueError("expected a duration, or 0 or false to turn it off; got true")
    try:
        return parse_config_duration(value)
    except ValueError as err:
        text = value.strip() if isinstance(value, str) else value
        if text == 0 or (isinstance(text, str) and text and not re.search(r"[1-9-]", text)
                         and (_NUMBER.fullmatch(text) or _DURATION.fullmatch(text))):
            return 0.0  # 0, "0", "0s", "0m": zero in any unit
        raise ValueError(f"{err} (0 or false turns it off)") from None


def choice(options: Iterable[str]) -> Converter:
    allowed = tuple(options)

    def convert(value: object) -> str:
        if (text := string(value)) not in allowed:
            raise ValueError(f"{show(value)} is not one of {', '.join(allowed)}")
        return text
    return convert


def guid(value: object) -> str:
    if not _GUID.fullmatch(text := string(value)):
        raise ValueError(f"{show(value)} is not a GUID")
    return text


def guid_or_star(value: object) -> str:
    if not (_GUID.fullmatch(text := string(value)) or text == "*"):
        raise ValueError(f'{show(value)} is not a GUID or "*"')
    return text


def http_url(value: object) -> str:
    text = string(value).rstrip("/")
    try:
        parts = urlsplit(text)
        ok = (parts.scheme in ("http", "https") and bool(parts.hostname) and parts.port != 0
              and not (parts.query or parts.fragment or re.search(r"\s", text)))
    except ValueError:  # a bad port or IPv6 literal
        ok = False
    if not ok:
        raise ValueError(f"{show(value)} is not an http(s) URL such as https://management.azure.com")
    return text


def audience(value: object) -> str:
    # The token scope is "<audience>/.default": a trailing slash would double it.
    text = string(value).rstrip("/")
    if not text or re.search(r"\s", text):
        raise ValueError(f"{show(value)} is not a token audience such as https://management.azure.com")
    return text


def authority(value: object) -> str:
    # azure-identity takes a bare host or an https URL, and refuses plain http for an authority.
    text = string(value).rstrip("/")
    if not text or re.search(r"\s", text) or ("://" in text and not text.startswith("https://")):
        raise ValueError(f"{show(value)} is not a host or https URL such as login.microsoftonline.com")
    return text


def api_version(value: object) -> str:
    # Unquoted, 2025-08-01 is a YAML date: take it as the string the user meant.
    if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
        value = value.isoformat()
    if not re.fullmatch(r"\d{4}-\d{2}-\d{2}(?:-preview)?", text := string(value)):
        raise ValueError(f"{show(value)} is not an api-version (YYYY-MM-DD or YYYY-MM-DD-preview)")
    return text


def arm_name(value: object) -> str:
    # Resource group and vault names go into ARM URL paths unescaped; Azure allows at most 90 characters.
    if re.search(r"[/?#%\x00-\x1f]", text := string(value)) or len(text) > 90:
        raise ValueError(f"{show(value)} is not a valid Azure resource name (no / ? # %, at most 90 characters)")
    return text


def regex(value: object) -> str:
    try:
        re.compile(text := string(value))
    except (re.error, OverflowError, RecursionError) as err:
        raise ValueError(f"invalid regex: {err}") from None
    return text


def path(value: object) -> Path:
    try:
        return Path(string(value)).expanduser()
    except RuntimeError:  # "~user/..." for a user that does not exist
        raise ValueError(f"{show(value)}: cannot expand ~ (no such user or home directory)") from None


def optional_path(value: object) -> Path | None:
    """A path, or None for "" (so that a template can leave the key empty)."""
    if not isinstance(value, str):
        raise wrong_type("a path string", value)
    return path(value) if value.strip() else None


def label_suffix(value: object) -> str:
    # The label is tag_<name> with everything but ASCII letters, digits and _ replaced by _.
    if not re.search(r"[A-Za-z0-9]", text := string(value)):
        raise ValueError(f"{show(value)} gives no usable label: only letters, digits and _ are kept, the rest become _")
    return text


def each(item: Converter, key: Callable[[Any], Hashable] = lambda v: v) -> Converter:
    """A list of `item`s; elements with an equal `key` are reported as duplicates."""
    def convert(value: object) -> tuple[Any, ...]:
        if not isinstance(value, list | tuple):
            raise wrong_type("a list such as [a, b]", value)
        problems: list[tuple[str, str]] = []
        seen: dict[Hashable, tuple[int, Any]] = {}
        for index, element in enumerate(value):
            try:
                converted = item(element)
            except ValueError as err:
                problems.append((f"[{index}]", str(err)))
                continue
            first, earlier = seen.setdefault(key(converted), (index, converted))
            if first != index:
                alike = "" if earlier == converted else f" (both become {key(converted)})"
                problems.append((f"[{index}]", f"duplicate of [{first}]{alike}"))
        if problems:
            raise ItemsError(problems)
        return tuple(converted for _, converted in seen.values())
    return convert


def file_problem(path: Path, *, readable: bool) -> str:
    """Why a file to read (or, not `readable`, a file to write) cannot be used; "" when it can."""
    try:
        if not readable:
            return "is a directory" if path.is_dir() else (
                "" if path.parent.is_dir() else f"directory {path.parent} does not exist")
        if not path.is_file():
            return "not a regular file" if path.exists() else "no such file"
        if not os.access(path, os.R_OK):
            return "not readable"
        return "is empty" if path.stat().st_size == 0 else ""
    except (OSError, ValueError) as err:  # permission denied on a parent, a NUL in the path
        return f"cannot be checked ({err.__class__.__name__})"
