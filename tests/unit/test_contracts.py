"""The published message contracts match the models that parse the messages."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from shared.domain.approvals import ApprovalRequest, contract_schemas
from shared.domain.commands import Promote, Rollback

CONTRACTS = Path(__file__).resolve().parents[2] / "docs" / "contracts"


@pytest.mark.parametrize("name", sorted(contract_schemas()))
def test_published_schema_is_current(name: str) -> None:
    """docs/contracts is regenerated whenever a model changes (`avdimage schema --write`)."""
    published = json.loads((CONTRACTS / name).read_text(encoding="utf-8"))
    assert published == json.loads(json.dumps(contract_schemas()[name]))


def test_schema_examples_are_valid_messages() -> None:
    """The examples in the approval schema parse into a promotion and a rollback."""
    examples = contract_schemas()["approval.schema.json"]["examples"]
    commands = [ApprovalRequest.model_validate(e).to_command() for e in examples]  # type: ignore[union-attr]
    assert [type(c) for c in commands] == [Promote, Rollback]
