"""Targets: explicit and discovery targets, vault matching, distinct targets kept, vault tag labels."""

from __future__ import annotations

import re

import pytest

from exporter.config.schema import Target, parse_config, vault_tag_label
from tests.config_builders import JOB, SUB, snippet


def test_target_kinds_and_vault_matching() -> None:
    explicit = Target(SUB, resource_group="rg", vault="v", jobs=(JOB,))
    regex = Target(SUB, vault_regex="^prod-")
    everything = Target("*")
    assert not explicit.is_discovery
    assert regex.is_discovery
    assert everything.is_discovery
    assert regex.matches("prod-weu")
    assert not regex.matches("dev-prod-weu")
    assert Target(SUB, vault_regex="weu").matches("prod-weu-1")  # searched, not anchored
    assert everything.matches("anything")


@pytest.mark.parametrize(
    ("tag", "label"),
    [("team", "tag_team"), ("cost-center", "tag_cost_center"), ("Env", "tag_Env"), ("a.b c", "tag_a_b_c"),
     ("café", "tag_caf_")],
)
def test_vault_tag_label(tag: str, label: str) -> None:
    assert vault_tag_label(tag) == label
    assert re.fullmatch(r"[a-zA-Z_][a-zA-Z0-9_]*", vault_tag_label(tag))



@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # Distinct discovery scopes and different vaults are not duplicates.
        ((f"targets: [{{subscription_id: {SUB}}}, {{subscription_id: {SUB}, vault_regex: '^p'}}, "
         "{subscription_id: '*'}]"), 3),
        ((f"targets: [{{subscription_id: {SUB}, resource_group: rg, vault: a}}, "
         f"{{subscription_id: {SUB}, resource_group: rg, vault: b}}]"), 2),
    ],
)
def test_targets_that_differ_are_kept(text: str, expected: int) -> None:
    assert len(parse_config(snippet(text), environ={}).targets) == expected
