"""The version state machine: every allowed transition, and a clear refusal for any other."""

from __future__ import annotations

from datetime import datetime

from shared.domain.errors import TransitionRefused
from shared.domain.model import Approval, ImageVersion, Stage, Status, ValidationEvidence

ALLOWED: dict[Status, frozenset[Status]] = {
    Status.BUILDING: frozenset({Status.CAPTURING, Status.FAILED}),
    Status.CAPTURING: frozenset({Status.REPLICATING, Status.FAILED}),
    Status.REPLICATING: frozenset({Status.READY, Status.FAILED}),
    Status.READY: frozenset(
        {Status.REPLICATING, Status.SUPERSEDED, Status.WITHDRAWN, Status.DEPRECATED, Status.FAILED}
    ),
    Status.SUPERSEDED: frozenset({Status.READY, Status.DEPRECATED}),
    Status.WITHDRAWN: frozenset({Status.DEPRECATED}),
    Status.FAILED: frozenset({Status.DEPRECATED, Status.DELETED}),
    Status.DEPRECATED: frozenset({Status.DELETED}),
    Status.DELETED: frozenset(),
}

# Promotion into these stages needs a passed validation in the stage before.
VALIDATION_GATED = frozenset({Stage.VALIDATION, Stage.PRODUCTION})


def _move(version: ImageVersion, to: Status, action: str, **changes: object) -> ImageVersion:
    if to not in ALLOWED[version.status]:
        raise TransitionRefused(f"cannot {action} {version.version}: it is {_describe(version)}")
    return version.evolve(status=to, **changes)


def _describe(version: ImageVersion) -> str:
    if version.status is Status.READY and version.stage is not None:
        return f"ready in {version.stage.value}"
    if version.status is Status.REPLICATING and version.target_stage is not None:
        return f"replicating to {version.target_stage.value}"
    return version.status.value


def start_capture(version: ImageVersion) -> ImageVersion:
    return _move(version, Status.CAPTURING, "capture")


def captured(version: ImageVersion, gallery_version_id: str) -> ImageVersion:
    """The gallery version exists; it now replicates to the test stage's regions.

    Only a capture in progress can be recorded: a version is captured once, never again."""
    if version.status is not Status.CAPTURING:  # stricter than ALLOWED: only a capture in progress
        raise TransitionRefused(f"cannot record the capture of {version.version}: it is {_describe(version)}")
    return version.evolve(
        status=Status.REPLICATING,
        target_stage=Stage.TEST,
        gallery_version_id=gallery_version_id,
    )


def replicated(version: ImageVersion) -> ImageVersion:
    if version.status is not Status.REPLICATING or version.target_stage is None:  # stricter than ALLOWED
        raise TransitionRefused(f"cannot complete replication of {version.version}: it is {_describe(version)}")
    return version.evolve(status=Status.READY, stage=version.target_stage, target_stage=None)


def fail(version: ImageVersion, reason: str) -> ImageVersion:
    return _move(version, Status.FAILED, "fail", failure_reason=reason, target_stage=None)


def record_validation(version: ImageVersion, evidence: ValidationEvidence) -> ImageVersion:
    """A failed validation fails the version: it can never be promoted."""
    if version.status is not Status.READY or version.stage is not evidence.stage:
        raise TransitionRefused(
            f"cannot record validation in {evidence.stage.value} for {version.version}: it is {_describe(version)}"
        )
    with_evidence = version.evolve(validations=(*version.validations, evidence))
    if evidence.passed:
        return with_evidence
    failed = ", ".join(f"{k}: {v}" for k, v in evidence.checks.items())
    return fail(with_evidence, f"validation in {evidence.stage.value} failed ({failed})")


def check_promotion(version: ImageVersion, target: Stage) -> None:
    """The version's own criteria for `target`: ready, the next stage, validated where gated."""
    subject = f"cannot promote {version.version} to {target.value}"
    if version.status is not Status.READY or version.stage is None:
        raise TransitionRefused(f"{subject}: it is {_describe(version)}")
    expected = version.stage.next()
    if target is not expected:
        if target.order <= version.stage.order:
            raise TransitionRefused(f"{subject}: it is already in {version.stage.value}")
        assert expected is not None  # target is further than the current stage, so one exists
        raise TransitionRefused(
            f"{subject}: stages cannot be skipped; it is in {version.stage.value}, promote it to {expected.value} first"
        )
    if target in VALIDATION_GATED and not version.validated_for(version.stage):
        raise TransitionRefused(f"{subject}: it has not passed validation in {version.stage.value}")


def promote(version: ImageVersion, target: Stage, approval: Approval) -> ImageVersion:
    """Move the same version one stage forward; `approval` completed the stage's approval rule
    (shared.domain.approvals decides who counts)."""
    check_promotion(version, target)
    if approval.stage is not target:
        raise TransitionRefused(
            f"cannot promote {version.version} to {target.value}: the approval is for {approval.stage.value}"
        )
    return _move(
        version,
        Status.REPLICATING,
        "promote",
        target_stage=target,
        approvals=(*version.approvals, approval),
    )


def supersede(version: ImageVersion) -> ImageVersion:
    """A newer version took production: this one becomes the rollback target."""
    if version.stage not in (Stage.PRODUCTION, Stage.DR):
        raise TransitionRefused(f"cannot supersede {version.version}: it never reached production")
    return _move(version, Status.SUPERSEDED, "supersede")


def withdraw(version: ImageVersion) -> ImageVersion:
    """Rolled back from: kept for investigation, never served again."""
    if version.stage not in (Stage.PRODUCTION, Stage.DR):
        raise TransitionRefused(f"cannot withdraw {version.version}: it is not in production")
    return _move(version, Status.WITHDRAWN, "withdraw")


def restore(version: ImageVersion) -> ImageVersion:
    """Rollback: the rollback target serves production again (a pointer move, not a rebuild)."""
    if version.status is not Status.SUPERSEDED:
        raise TransitionRefused(f"cannot restore {version.version}: it is {_describe(version)}, not a rollback target")
    return _move(version, Status.READY, "restore")


def deprecate(version: ImageVersion, end_of_life: datetime) -> ImageVersion:
    return _move(version, Status.DEPRECATED, "deprecate", end_of_life=end_of_life)


def delete(version: ImageVersion) -> ImageVersion:
    return _move(version, Status.DELETED, "delete")


GONE_OUTSIDE = "deleted outside the product"


def vanished(version: ImageVersion, how: str) -> ImageVersion:
    """The gallery no longer has this version and the product did not delete it: record that."""
    if version.status is Status.DELETED:
        raise TransitionRefused(f"cannot record {version.version} as {GONE_OUTSIDE}: it is deleted already")
    return version.evolve(status=Status.DELETED, failure_reason=f"{GONE_OUTSIDE} ({how})", target_stage=None)
