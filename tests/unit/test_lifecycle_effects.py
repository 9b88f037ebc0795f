"""What each lifecycle move writes besides the status, and the exact words of each refusal."""

from __future__ import annotations

from datetime import timedelta

import pytest

from shared.domain import lifecycle
from shared.domain.errors import TransitionRefused
from shared.domain.model import Stage, Status, ValidationEvidence
from tests.conftest import T0, make_version
from tests.unit.test_lifecycle import approval, passed, walk_to


def refusal(operation: object, *args: object) -> str:
    with pytest.raises(TransitionRefused) as caught:
        operation(*args)  # type: ignore[operator]
    return str(caught.value)


def test_a_capture_replicates_to_test_and_keeps_the_gallery_id() -> None:
    """Recording a capture starts replication to the test stage with the gallery version's id."""
    after = lifecycle.captured(lifecycle.start_capture(make_version()), "/galleries/g/images/d/versions/1.0.0")
    assert (after.status, after.target_stage, after.stage) == (Status.REPLICATING, Stage.TEST, None)
    assert after.gallery_version_id == "/galleries/g/images/d/versions/1.0.0"


def test_a_capture_is_recorded_only_while_capturing() -> None:
    """A building version cannot be recorded as captured: the refusal says what it is."""
    assert refusal(lifecycle.captured, make_version(), "id") == "cannot record the capture of 1.0.0: it is building"


def test_replication_done_moves_the_version_into_its_target_stage() -> None:
    """Completing replication serves the target stage and clears the target."""
    replicating = lifecycle.captured(lifecycle.start_capture(make_version()), "id")
    after = lifecycle.replicated(replicating)
    assert (after.status, after.stage, after.target_stage) == (Status.READY, Stage.TEST, None)


def test_replication_cannot_complete_without_a_target_stage() -> None:
    """A replicating record without a target stage is refused, never served somewhere made up."""
    odd = make_version(status=Status.REPLICATING)
    assert refusal(lifecycle.replicated, odd) == "cannot complete replication of 1.0.0: it is replicating"
    ready = walk_to(Status.READY)
    assert refusal(lifecycle.replicated, ready) == "cannot complete replication of 1.0.0: it is ready in test"


def test_refusals_describe_where_a_replicating_version_goes() -> None:
    """A version mid-promotion is described with its target stage."""
    replicating = lifecycle.captured(lifecycle.start_capture(make_version()), "id")
    assert refusal(lifecycle.start_capture, replicating) == "cannot capture 1.0.0: it is replicating to test"


def test_failing_records_the_reason_and_clears_the_target() -> None:
    """A failed version keeps why it failed and no longer heads anywhere."""
    replicating = lifecycle.captured(lifecycle.start_capture(make_version()), "id")
    after = lifecycle.fail(replicating, "replication to northeurope failed")
    assert (after.status, after.failure_reason, after.target_stage) == (
        Status.FAILED,
        "replication to northeurope failed",
        None,
    )
    deleted = lifecycle.delete(after)
    assert refusal(lifecycle.fail, deleted, "x") == "cannot fail 1.0.0: it is deleted"


def test_a_failed_validation_fails_the_version_listing_every_check() -> None:
    """The failure reason names the stage and each check with its value."""
    ready = walk_to(Status.READY)
    evidence = ValidationEvidence(
        stage=Stage.TEST, passed=False, checks={"bitlocker": "EncryptionInProgress", "fslogix": "missing"}, at=T0
    )
    after = lifecycle.record_validation(ready, evidence)
    assert after.status is Status.FAILED
    assert after.failure_reason == "validation in test failed (bitlocker: EncryptionInProgress, fslogix: missing)"
    assert after.validations == (evidence,)


def test_validation_evidence_for_another_stage_is_refused() -> None:
    """Evidence is recorded only for the stage the version serves."""
    ready = walk_to(Status.READY)
    assert (
        refusal(lifecycle.record_validation, ready, passed(Stage.VALIDATION))
        == "cannot record validation in validation for 1.0.0: it is ready in test"
    )


def test_promotion_refusals_say_why() -> None:
    """Skipping a stage, going back, or an approval for another stage: each refusal says which."""
    ready = lifecycle.record_validation(walk_to(Status.READY), passed(Stage.TEST))
    assert refusal(lifecycle.promote, ready, Stage.PRODUCTION, approval(Stage.PRODUCTION)) == (
        "cannot promote 1.0.0 to production: stages cannot be skipped; it is in test, promote it to validation first"
    )
    assert refusal(lifecycle.promote, ready, Stage.TEST, approval(Stage.TEST)) == (
        "cannot promote 1.0.0 to test: it is already in test"
    )
    assert refusal(lifecycle.promote, ready, Stage.VALIDATION, approval(Stage.TEST)) == (
        "cannot promote 1.0.0 to validation: the approval is for test"
    )
    promoted = lifecycle.promote(ready, Stage.VALIDATION, approval(Stage.VALIDATION))
    assert (promoted.status, promoted.target_stage, promoted.stage) == (
        Status.REPLICATING,
        Stage.VALIDATION,
        Stage.TEST,
    )
    assert promoted.approvals == (approval(Stage.VALIDATION),)


def test_supersede_withdraw_and_restore_refusals_say_why() -> None:
    """Only production versions are superseded or withdrawn; only a rollback target is restored."""
    ready = walk_to(Status.READY)
    assert refusal(lifecycle.supersede, ready) == "cannot supersede 1.0.0: it never reached production"
    assert refusal(lifecycle.withdraw, ready) == "cannot withdraw 1.0.0: it is not in production"
    assert refusal(lifecycle.restore, ready) == ("cannot restore 1.0.0: it is ready in test, not a rollback target")
    assert refusal(lifecycle.deprecate, make_version(), T0) == "cannot deprecate 1.0.0: it is building"
    assert refusal(lifecycle.delete, make_version()) == "cannot delete 1.0.0: it is building"
    assert refusal(lifecycle.start_capture, ready) == "cannot capture 1.0.0: it is ready in test"


def test_dr_versions_can_be_superseded_and_withdrawn() -> None:
    """A version serving DR reached production, so it can be superseded or withdrawn."""
    dr = make_version(status=Status.READY, stage=Stage.DR)
    assert lifecycle.supersede(dr).status is Status.SUPERSEDED
    assert lifecycle.withdraw(dr).status is Status.WITHDRAWN


def test_deprecation_records_the_end_of_life() -> None:
    """A deprecated version carries the date after which it may be deleted."""
    end = T0 + timedelta(days=14)
    after = lifecycle.deprecate(walk_to(Status.READY), end)
    assert (after.status, after.end_of_life) == (Status.DEPRECATED, end)


def test_a_version_gone_from_the_gallery_is_recorded_as_deleted_outside_the_product() -> None:
    """Reconcile records a vanished version as deleted, saying how, from any status but deleted."""
    replicating = lifecycle.captured(lifecycle.start_capture(make_version()), "id")
    after = lifecycle.vanished(replicating, "not in the gallery")
    assert (after.status, after.failure_reason, after.target_stage) == (
        Status.DELETED,
        "deleted outside the product (not in the gallery)",
        None,
    )
    assert refusal(lifecycle.vanished, after, "again") == (
        "cannot record 1.0.0 as deleted outside the product: it is deleted already"
    )


def test_superseding_twice_is_refused_naming_the_action() -> None:
    """A production version already superseded cannot be superseded again: the refusal says so."""
    superseded = lifecycle.supersede(make_version(status=Status.READY, stage=Stage.PRODUCTION))
    assert refusal(lifecycle.supersede, superseded) == "cannot supersede 1.0.0: it is superseded"
