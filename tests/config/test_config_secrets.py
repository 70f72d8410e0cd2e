"""Secrets in the config: inline ones are refused, and their value never appears in an error."""

from __future__ import annotations

from pathlib import Path

import pytest

from exporter.config.schema import ConfigError, load_config, parse_config
from tests.config_builders import SECRET, snippet


@pytest.mark.parametrize(
    "text",
    [
        f"azure: {{client_secret: '{SECRET}'}}",
        f"azure: {{auth: client_secret, client_secret: '{SECRET}'}}",
        f"azure: {{client_certificate_password: '{SECRET}'}}",
        f"collection: {{token: '{SECRET}'}}",
        f"password: '{SECRET}'",
        f"targets: [{{subscription_id: '*', client_secret: '{SECRET}'}}]",
        f"azure: {{client_secret: {{value: '{SECRET}'}}}}",
        f"azure: {{client_secret: ['{SECRET}']}}",
        f"azure: '{SECRET}'",
        f"targets: '{SECRET}'",
        f"collection: ['{SECRET}']",
    ],
)
def test_a_secret_value_never_appears_in_the_error(text: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config(snippet(text), environ={})
    assert caught.value.problems
    assert SECRET not in str(caught.value)
    assert SECRET not in repr(caught.value)
    assert all(SECRET not in problem for problem in caught.value.problems)


@pytest.mark.parametrize(
    "text",
    [
        f'azure:\n  client_secret: "{SECRET}\n',  # unterminated string
        f"azure:\n  client_secret: {SECRET}\n  client_secret: {SECRET}\n",  # duplicate key
        f"azure:\n  client_secret: {SECRET}\n   x: [\n",
        f"azure: {{client_secret: {SECRET}}}\ntargets: [{{subscription_id: '*'}}]\n",
    ],
)
def test_a_secret_in_a_file_never_appears_in_the_error(tmp_path: Path, text: str) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as caught:
        load_config(path, environ={})
    assert caught.value.problems
    assert SECRET not in str(caught.value)
