"""The service's key rule against the contract's (contract/internal-api-key-rule.json).

The Worker's tests read the same file, so both sides refuse and accept the same keys.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from connect_backend import keys

RULE: dict[str, Any] = json.loads(
    (Path(__file__).resolve().parents[2] / "contract" / "internal-api-key-rule.json").read_text(
        encoding="utf-8"
    )
)


def test_the_numbers_are_the_contracts() -> None:
    assert RULE["min_length"] == keys.MIN_LENGTH
    assert RULE["min_distinct_characters"] == keys.MIN_DISTINCT_CHARACTERS


def test_the_vectors_cover_both_answers() -> None:
    assert {vector["strong"] for vector in RULE["vectors"]} == {True, False}


@pytest.mark.parametrize(
    ("key", "strong"),
    [(vector["key"], vector["strong"]) for vector in RULE["vectors"]],
    ids=[vector["why"] for vector in RULE["vectors"]],
)
def test_the_rule_agrees_with_the_vector(key: str, strong: bool) -> None:
    assert keys.is_strong_internal_key(key) is strong
