"""The version state machine: allowed transitions happen, every other one is refused clearly."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest

from shared.domain import lifecycle
from shared.domain.errors import TransitionRefused
from shared.domain.model import Approval, ImageVersion, Stage, Status, ValidationEvidence
from tests.conftest import T0, make_version

APPROVERS = {
    Stage.TEST: ["euc@contoso.com"],
    Stage.VALIDATION: ["qa@contoso.com"],
    Stage.PRODUCTION: ["board@contoso.com", "builder@contoso.com"],
    Stage.DR: ["board@contoso.com"],
}


def approval(stage: Stage, approver: str | None = None) -> Approval:
    return Approval(stage=stage, approver=approver or APPROVERS[stage][0], ticket="CHG-1", at=T0)


def passed(stage: Stage) -> ValidationEvidence:
    return ValidationEvidence(stage=stage, passed=True, checks={"bitlocker": "FullyDecrypted"}, at=T0)


def promote_next(version: ImageVersion) -> ImageVersion:
    target = version.stage.next() if version.stage else Stage.TEST
    return lifecycle.promote(version, target or Stage.DR, approval(target or Stage.DR))


Operation = Callable[[ImageVersion], ImageVersion]
OPERATIONS: dict[str, Operation] = {
    "start_capture": lifecycle.start_capture,
    "captured": lambda v: lifecycle.captured(v, "/galleries/g/images/d/versions/1.0.0"),
    "replicated": lifecycle.replicated,
    "fail": lambda v: lifecycle.fail(v, "boom"),
    "validate": lambda v: lifecycle.record_validation(v, passed(v.stage or Stage.TEST)),
    "promote": promote_next,
    "supersede": lifecycle.supersede,
    "withdraw": lifecycle.withdraw,
    "restore": lifecycle.restore,
    "deprecate": lambda v: lifecycle.deprecate(v, T0 + timedelta(days=14)),
    "delete": lifecycle.delete,
}


def walk_to(status: Status, stage: Stage | None = Stage.TEST) -> ImageVersion:
    """A version brought to the given status by allowed transitions only."""
    version = make_version()
    if status is Status.BUILDING:
        return version
    version = lifecycle.start_capture(version)
    if status is Status.CAPTURING:
        return version
    version = lifecycle.captured(version, "id")
    if status is Status.REPLICATING:
        return version
    version = lifecycle.replicated(version)
    while version.stage is not stage and stage is not None:
        version = lifecycle.replicated(promote_next(lifecycle.record_validation(version, passed(version.stage))))
    if status is Status.READY:
        return version
    if status is Status.FAILED:
        return lifecycle.fail(version, "x")
    if status is Status.SUPERSEDED:
        return lifecycle.supersede(version)
    if status is Status.WITHDRAWN:
        return lifecycle.withdraw(version)
    version = lifecycle.deprecate(version, T0)
    return version if status is Status.DEPRECATED else lifecycle.delete(version)


def test_the_happy_path_reaches_dr() -> None:
    """Build -> capture -> replicate -> test -> validation -> production -> dr, the same version."""
    version = walk_to(Status.READY, Stage.DR)
    assert (version.status, version.stage) == (Status.READY, Stage.DR)
    assert [a.stage for a in version.approvals] == [Stage.VALIDATION, Stage.PRODUCTION, Stage.DR]


def test_terminal_status_allows_nothing() -> None:
    """A deleted version can never change again."""
    deleted = walk_to(Status.DELETED)
    for operation in OPERATIONS.values():
        with pytest.raises(TransitionRefused):
            operation(deleted)


def test_promotion_needs_validation() -> None:
    """The refusal names the version, the target and the missing criterion."""
    in_validation = lifecycle.replicated(
        promote_next(lifecycle.record_validation(walk_to(Status.READY), passed(Stage.TEST)))
    )
    with pytest.raises(TransitionRefused, match="cannot promote 1.0.0 to production: it has not passed validation"):
        lifecycle.promote(in_validation, Stage.PRODUCTION, approval(Stage.PRODUCTION))


def test_stages_cannot_be_skipped() -> None:
    """Test -> production is refused with the stage to go through first."""
    with pytest.raises(
        TransitionRefused, match="stages cannot be skipped; it is in test, promote it to validation first"
    ):
        lifecycle.promote(walk_to(Status.READY), Stage.PRODUCTION, approval(Stage.PRODUCTION))


def test_approval_for_another_stage_is_refused() -> None:
    """An approval counts only for the stage it was given for (who may approve: test_approvals.py)."""
    version = lifecycle.record_validation(walk_to(Status.READY), passed(Stage.TEST))
    with pytest.raises(TransitionRefused, match="the approval is for production"):
        lifecycle.promote(version, Stage.VALIDATION, approval(Stage.PRODUCTION))


def test_failed_validation_fails_the_version() -> None:
    """A version that fails validation can never be promoted."""
    evidence = ValidationEvidence(stage=Stage.TEST, passed=False, checks={"bitlocker": "FullyEncrypted"}, at=T0)
    failed = lifecycle.record_validation(walk_to(Status.READY), evidence)
    assert failed.status is Status.FAILED
    assert "bitlocker: FullyEncrypted" in failed.failure_reason
    with pytest.raises(TransitionRefused, match="it is failed"):
        promote_next(failed)


def test_rollback_moves_pointers_not_content() -> None:
    """Withdraw the current production, restore the superseded one; content is untouched."""
    previous = lifecycle.supersede(walk_to(Status.READY, Stage.PRODUCTION))
    restored = lifecycle.restore(previous)
    assert (restored.status, restored.stage) == (Status.READY, Stage.PRODUCTION)
    assert restored.manifest == previous.manifest
    with pytest.raises(TransitionRefused, match="cannot withdraw 1.0.0: it is not in production"):
        lifecycle.withdraw(walk_to(Status.READY))
