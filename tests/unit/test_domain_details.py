"""Small domain rules pinned literally: approval ids and redaction, commands, pointers, errors, health."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime

from shared.domain.approvals import _EXAMPLE_JWS, ApprovalRequest, approval_message_id, redact
from shared.domain.commands import Promote, Rollback
from shared.domain.errors import AzureOperationError
from shared.domain.health import WorkloadHealth
from shared.domain.model import Approval, Pointers, Stage, VersionNumber
from tests.conftest import T0, make_version

TOKEN = "eyJhbGciOiJSUzI1NiJ9.eyJvaWQiOiJ4In0.c2lnbmF0dXJl"


def test_the_approval_message_id_is_a_digest_of_the_canonical_json() -> None:
    """Key order and spacing do not change the id; it is `approval-` plus 40 hex of the sha256."""
    body = '{"b": 1, "a": "x"}'
    canonical = json.dumps({"a": "x", "b": 1}, sort_keys=True, separators=(",", ":")).encode()
    assert approval_message_id(body) == "approval-" + hashlib.sha256(canonical).hexdigest()[:40]
    assert approval_message_id(body.encode()) == approval_message_id('{"a":"x","b":1}')


def test_a_body_that_is_not_json_is_hashed_as_sent() -> None:
    """A malformed approval still gets a stable id: the digest of its raw bytes."""
    assert approval_message_id("not json") == "approval-" + hashlib.sha256(b"not json").hexdigest()[:40]


def test_redaction_replaces_both_tokens_by_their_digest_and_keeps_the_rest() -> None:
    """Both token fields become `<redacted sha256:16 hex>`; other fields and non-ASCII text stay as sent."""
    body = json.dumps({"approver_token": TOKEN, "system_token": TOKEN + "x", "reason": "Qualität", "ticket": 7})
    kept = json.loads(redact(body))
    assert kept == {
        "approver_token": f"<redacted sha256:{hashlib.sha256(TOKEN.encode()).hexdigest()[:16]}>",
        "system_token": f"<redacted sha256:{hashlib.sha256((TOKEN + 'x').encode()).hexdigest()[:16]}>",
        "reason": "Qualität",
        "ticket": 7,
    }
    assert "Qualität" in redact(body)


def test_redaction_leaves_non_text_tokens_and_non_objects_alone() -> None:
    """A token field that is not text is kept (it is no bearer token); a JSON list is returned as sent."""
    assert json.loads(redact('{"approver_token": 5}')) == {"approver_token": 5}
    assert redact('["a", "b"]') == '["a", "b"]'


def test_redaction_of_text_that_is_not_json_removes_anything_shaped_like_a_jwt() -> None:
    """Three dot-separated base64url runs (10+ characters each for the first two) are removed."""
    assert redact(f"see {TOKEN} here") == "see <token redacted> here"
    assert redact("version 1.4.0 and a.b.c") == "version 1.4.0 and a.b.c"


def request(**changes: object) -> ApprovalRequest:
    fields: dict[str, object] = {
        "workload": "office",
        "version": "1.4.0",
        "target_stage": "production",
        "approver_token": _EXAMPLE_JWS,
        "system_token": _EXAMPLE_JWS,
        "ticket": "CHG1",
        "reason": "signed off",
        "requested_at": "2026-11-24T09:30:00Z",
    }
    return ApprovalRequest.model_validate(fields | changes)


def test_an_approval_becomes_a_command_carrying_every_field() -> None:
    """Promote and Rollback commands carry the tokens, ticket, reason and time of the approval."""
    promote = request().to_command()
    assert isinstance(promote, Promote)
    assert promote.target_stage is Stage.PRODUCTION
    rollback = request(action="rollback", target_stage=None).to_command()
    assert isinstance(rollback, Rollback)
    for command in (promote, rollback):
        assert (command.workload, str(command.version)) == ("office", "1.4.0")
        assert (command.approver_token, command.system_token) == (_EXAMPLE_JWS, _EXAMPLE_JWS)
        assert (command.ticket, command.reason) == ("CHG1", "signed off")
        assert command.requested_at == datetime(2026, 11, 24, 9, 30, tzinfo=UTC)


def test_pointers_name_what_each_stage_serves_and_everything_in_use() -> None:
    """serving() reads the stage's pointer; in_use() is every stage plus the rollback target."""
    v = [VersionNumber(major=1, minor=0, patch=n) for n in range(5)]
    pointers = Pointers(workload="office", test=v[0], validation=v[1], production=v[2], dr=v[3], rollback=v[4])
    assert [pointers.serving(s) for s in (Stage.TEST, Stage.VALIDATION, Stage.PRODUCTION, Stage.DR)] == v[:4]
    assert pointers.in_use() == set(v)
    assert Pointers(workload="office", production=v[2]).in_use() == {v[2]}


def test_the_latest_approval_for_a_stage_is_the_one_that_counts() -> None:
    """approved_for returns the most recent approval for that stage, and None when there is none."""
    first = Approval(stage=Stage.TEST, approver="a", ticket="1", at=T0)
    second = Approval(stage=Stage.TEST, approver="b", ticket="2", at=T0)
    other = Approval(stage=Stage.VALIDATION, approver="c", ticket="3", at=T0)
    version = make_version(approvals=(first, second, other))
    assert version.approved_for(Stage.TEST) == second
    assert version.approved_for(Stage.VALIDATION) == other
    assert version.approved_for(Stage.PRODUCTION) is None


def test_versions_compare_by_major_minor_patch() -> None:
    """<= and >= follow the numeric parts, not the text (1.10.0 is after 1.9.0)."""
    low, high = VersionNumber.parse("1.9.0"), VersionNumber.parse("1.10.0")
    assert low <= high
    assert low <= low
    assert not high <= low
    assert high >= low
    assert high >= high
    assert not low >= high


def test_an_azure_error_keeps_the_operation_code_message_and_status() -> None:
    """The error reads `<operation> failed: <code>: <message>` and keeps each part for decisions."""
    error = AzureOperationError("create VM x", "QuotaExceeded", "no cores left", 409)
    assert str(error) == "create VM x failed: QuotaExceeded: no cores left"
    assert (error.operation, error.code, error.azure_message, error.status) == (
        "create VM x",
        "QuotaExceeded",
        "no cores left",
        409,
    )
    assert not error.transient
    assert AzureOperationError("x", "Other", "m", 503).transient
    assert AzureOperationError("x", "Throttled", "m").transient


def test_health_findings_compare_flags_unknown_versions_and_disabled_only() -> None:
    """Two checks found the same when flags, unknown versions and the disabled reason match; time aside."""
    base = WorkloadHealth(workload="office", checked_at=T0, flags=("f",), unknown_versions=("9.9.9",), disabled="")
    assert base.same_findings(base.model_copy(update={"checked_at": datetime(2027, 1, 1, tzinfo=UTC)}))
    assert base.same_findings(base.model_copy(update={"repairs": ("r",)}))
    assert not base.same_findings(None)
    assert not base.same_findings(base.model_copy(update={"flags": ()}))
    assert not base.same_findings(base.model_copy(update={"unknown_versions": ()}))
    assert not base.same_findings(base.model_copy(update={"disabled": "bad file"}))
