"""Builders the config tests share: sample IDs, YAML snippets, and the problems a config raises."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from exporter.config.schema import ConfigError, parse_config

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "config.example.yaml"
SUB = "00000000-0000-0000-0000-000000000000"
SUB2 = "11111111-1111-1111-1111-111111111111"
TENANT = "22222222-2222-2222-2222-222222222222"
CLIENT = "33333333-3333-3333-3333-333333333333"
JOB = "41f3e94b-ae6b-4a20-b422-65abfcaf03e5"
SECRET = "Sup3r-S3cret-Valu3~xyz"
ANY_TARGET = [{"subscription_id": "*"}]


def problems_of(data: object, environ: dict[str, str] | None = None, **kwargs: object) -> tuple[str, ...]:
    with pytest.raises(ConfigError) as caught:
        parse_config(data, environ={} if environ is None else environ, **kwargs)  # type: ignore[arg-type]
    assert str(caught.value) == "\n".join(caught.value.problems)
    return caught.value.problems


def snippet(text: str) -> dict[str, object]:
    """A YAML fragment, given a catch-all target when it names none."""
    data: dict[str, object] = yaml.safe_load(text)
    data.setdefault("targets", ANY_TARGET)
    return data


def has_problem(problems: tuple[str, ...], path: str, fragment: str) -> bool:
    return any(p.startswith(f"{path}: ") and fragment in p for p in problems)


def secret_file(tmp_path: Path, content: str = "not-inline\n") -> Path:
    path = tmp_path / "secret"
    path.write_text(content)
    return path
