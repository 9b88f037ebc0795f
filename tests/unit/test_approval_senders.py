"""The sender scripts of docs/contracts (one per pattern) produce messages the product accepts."""

from __future__ import annotations

import argparse
import importlib.util
from pathlib import Path

import pytest

from localrun.issuer import LocalIssuer
from shared.domain.approvals import ApprovalRequest, approval_message_id
from shared.domain.commands import Promote, Rollback
from tests.unit.fakes import FakeClock

SCRIPTS = Path(__file__).resolve().parents[2] / "scripts"


def sender() -> object:
    spec = importlib.util.spec_from_file_location("approval_sender", SCRIPTS / "approval_sender.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("pattern", ["user", "system", "obo"])
def test_every_pattern_has_a_sender_script_that_compiles(pattern: str) -> None:
    """Each documented pattern has its tiny script, and it is valid Python."""
    source = (SCRIPTS / f"send_approval_{pattern}.py").read_text(encoding="utf-8")
    compile(source, f"send_approval_{pattern}.py", "exec")
    assert "azure.identity" in source


def test_sender_messages_parse_and_use_the_documented_message_id() -> None:
    """A promotion (person + system token) and a rollback parse; the MessageId is the content's digest."""
    module = sender()
    issuer = LocalIssuer(FakeClock())
    parse = module.arguments("test").parse_args  # type: ignore[attr-defined]
    promote: argparse.Namespace = parse(["promote", "office", "1.4.0", "--to", "production", "--ticket", "CHG-1"])
    text, message_id = module.message(promote, issuer.token_for("cab-chair@contoso.com"), issuer.system_token())  # type: ignore[attr-defined]
    assert message_id == approval_message_id(text)
    assert isinstance(ApprovalRequest.model_validate_json(text).to_command(), Promote)
    rollback = parse(["rollback", "office", "1.4.0", "--reason", "Teams crashes"])
    text, _ = module.message(rollback, issuer.token_for("cab-chair@contoso.com"))  # type: ignore[attr-defined]
    assert isinstance(ApprovalRequest.model_validate_json(text).to_command(), Rollback)
