"""Approvals applied: promotion one stage forward and rollback of production.

The approver is the verified subject of a signed token (shared.identity), matched against the
stage's approvers in the catalog; production needs two distinct people, neither the build's
requester; approvals accumulate on the version and expire. A refusal changes nothing: it is
raised with its reason and kept once, with the message, by the entry point.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from shared.domain import approvals, lifecycle
from shared.domain.approvals import NothingToDo, Principal
from shared.domain.commands import Approved, Envelope, Promote, Rollback
from shared.domain.errors import RequestRefused, TransitionRefused
from shared.domain.model import ImageVersion, PendingOperation, Stage, Status, VersionNumber
from shared.domain.records import AuditEntry, Changes, WorkloadRecords
from shared.steps import replication, waits
from shared.steps.deps import Deps
from shared.steps.outcome import start_once
from shared.steps.versions import _message, reconcile_after

# A version in one of these states is never promoted again.
CLOSED = {
    Status.WITHDRAWN: "withdrawn (rolled back from production)",
    Status.DEPRECATED: "deprecated",
    Status.DELETED: "deleted",
    Status.FAILED: "failed",
}


def _verified(command: Approved, deps: Deps) -> tuple[Principal, Principal | None]:
    """The approver (and the approval system it came through), proven by signatures."""
    principal = deps.verify(command.approver_token, "approver_token")
    via = deps.verify(command.system_token, "system_token") if command.system_token else None
    if via is not None and via.kind != "app":
        raise RequestRefused("system_token must be the approval system's own workload-identity (app-only) token")
    return principal, via


def _recorded_already(version: ImageVersion, command: Approved, principal: Principal) -> bool:
    """The same message again (at-least-once delivery): not a second approval, and not a refusal."""
    return any(a.message == command.digest and a.principal == principal.object_id for a in version.approvals)


def _nothing_to_do(version: ImageVersion, target: Stage) -> None:
    if version.status is Status.REPLICATING and version.target_stage is target:
        raise NothingToDo(f"nothing to do: {version.version} is already approved for {target.value} and replicating")
    if version.stage is not None and version.stage.order >= target.order and version.status not in CLOSED:
        raise NothingToDo(
            f"nothing to do: {version.version} already passed {target.value} (it reached {version.stage.value})"
        )


@dataclass(frozen=True)
class Decision:
    """What an approval would do, decided from the records without changing them."""

    version: ImageVersion
    principal: Principal
    admitted: approvals.Admitted
    event_lag: float | None = None  # how late the workload's events came (its last run measured it)


def decide_promotion(command: Promote, deps: Deps) -> Decision:
    """Every check of a promotion, read-only: the handler applies it, the CLI previews it."""
    workload = deps.workload(command.workload)
    number = VersionNumber.parse(command.version)
    loaded = deps.records.load(workload.name, version=number)
    version, target = loaded.version, command.target_stage
    subject = f"cannot promote {number} to {target.value}"
    if version is None:
        raise RequestRefused(f"cannot promote {number}: {workload.name} has no version {number}")
    if version.status in CLOSED:
        raise RequestRefused(f"{subject}: it is {CLOSED[version.status]}")
    _nothing_to_do(version, target)
    policy = workload.stages.policy(target)
    if policy is None:
        raise RequestRefused(f"{subject}: {workload.name} has no {target.value} stage")
    try:
        lifecycle.check_promotion(version, target)
    except TransitionRefused as refusal:
        raise RequestRefused(str(refusal)) from None
    settings, now = deps.settings, deps.clock.now()
    leeway = timedelta(seconds=settings.token_leeway_seconds)
    if command.requested_at > now + leeway:
        raise RequestRefused(f"{subject}: requested_at {command.requested_at.isoformat()} is in the future")
    principal, via = _verified(command, deps)
    if _recorded_already(version, command, principal):
        raise NothingToDo(f"nothing to do: this approval of {number} for {target.value} was recorded already")
    admitted = approvals.admit(
        principal,
        policy.approvers,
        version,
        target,
        required=policy.required(target),
        now=now,
        valid=timedelta(hours=settings.approval_valid_hours),
        ticket=command.ticket,
        reason=command.reason,
        via=via,
    )
    return Decision(version=version, principal=principal, admitted=admitted, event_lag=loaded.pointers.event_lag)


def promote(command: Promote, deps: Deps) -> list[Envelope]:
    """An approval arrives: verify who sent it, count it, and promote once the stage's rule holds."""
    workload = deps.workload(command.workload)
    decision = decide_promotion(command, deps)
    version, principal, admitted = decision.version, decision.principal, decision.admitted
    number, target, now = version.version, command.target_stage, deps.clock.now()
    approval = admitted.approval.model_copy(update={"message": command.digest})
    tally = approvals.progress(admitted.count, admitted.required, target)
    ticket = f" ({command.ticket})" if command.ticket else ""
    why = f"{command.reason or 'no reason given'}{ticket}"
    if not admitted.complete:
        waiting = version.evolve(approvals=(*version.approvals, approval))
        entry = AuditEntry(
            at=now,
            kind="approval-recorded",
            actor=principal.shown,
            detail=f"{tally} (as {approval.as_approver}): {why}",
            version=number,
            stage=target,
        )
        deps.records.commit(Changes(workload=workload.name, versions=[waiting], audit=[entry]))
        return []
    promoted = lifecycle.promote(version, target, approval)
    wanted = replication.target_regions(workload, target)
    gallery = workload.gallery
    # Stages that share their regions need no new replication: check at once instead of in 5 minutes.
    unchanged = version.stage is not None and wanted == replication.target_regions(workload, version.stage)
    start_once(
        deps.compute.update_gallery_version,
        gallery.name,
        gallery.definition,
        str(number),
        target_regions=None if unchanged else wanted,
        tags=replication.version_tags(version, target),
    )
    # Same regions: nothing replicates, so the replicate step completes without reading the version
    # (the PATCH above found it; a version deleted by hand answers 404 there).
    same = replication.SAME_REGIONS if unchanged else ""
    pending = PendingOperation(kind="replicate", started_at=now, operation=same)
    promoted = promoted.evolve(pending=pending, op_attempt=version.op_attempt + 1)
    entry = AuditEntry(
        at=now,
        kind="promotion-approved",
        actor=principal.shown,
        detail=f"{tally}: approved for {target.value} (as {approval.as_approver}): {why}; replicating to "
        + ", ".join(t.name for t in wanted),
        version=number,
        from_status=version.status,
        to_status=Status.REPLICATING,
        stage=target,
    )
    deps.records.commit(Changes(workload=workload.name, versions=[promoted], audit=[entry]))
    # Events measured late: replication is looked at on the back-off, not after the safety net.
    first = waits.first_look(deps.compute.retry_after, deps.settings.event_grid, decision.event_lag)
    return [_message(promoted, "replicate", deps, None if unchanged else first)]


@dataclass(frozen=True)
class RollbackDecision:
    current: ImageVersion
    target: ImageVersion
    principal: Principal
    admitted: approvals.Admitted
    records: WorkloadRecords


def decide_rollback(command: Rollback, deps: Deps) -> RollbackDecision:
    """Every check of a rollback, read-only."""
    workload = deps.workload(command.workload)
    everything = deps.records.load_workload(workload.name)  # pointers and every version: one query
    pointers, by_number = everything.pointers, {v.version: v for v in everything.versions}
    number = VersionNumber.parse(command.version)
    if pointers.last_rollback == command.message_id:
        raise NothingToDo(f"nothing to do: this rollback of {number} was applied already")
    settings, now = deps.settings, deps.clock.now()
    subject = f"cannot roll back {workload.name} {number}"
    try:
        approvals.check_requested_at(
            command.requested_at,
            now,
            timedelta(minutes=settings.rollback_window_minutes),
            timedelta(seconds=settings.token_leeway_seconds),
        )
    except RequestRefused as refusal:
        raise RequestRefused(f"{subject}: {refusal}") from None
    if pointers.production != number:
        serving = pointers.production or "nothing"
        raise RequestRefused(f"{subject}: production serves {serving} now, not {number}; nothing was changed")
    if pointers.rollback is None:
        raise RequestRefused(f"{subject}: there is no rollback target")
    principal, via = _verified(command, deps)
    current = by_number[number]
    if _recorded_already(current, command, principal):
        raise NothingToDo(f"nothing to do: this rollback approval of {number} was recorded already")
    policy = workload.stages.production
    admitted = approvals.admit(
        principal,
        policy.approvers,
        current,
        Stage.PRODUCTION,
        required=policy.rollback_approvals_required,
        now=now,
        valid=timedelta(minutes=settings.rollback_window_minutes),
        action="rollback",
        ticket=command.ticket,
        reason=command.reason,
        via=via,
    )
    return RollbackDecision(current, by_number[pointers.rollback], principal, admitted, everything)


def rollback(command: Rollback, deps: Deps) -> list[Envelope]:
    """Withdraw the named production version; the rollback target serves again (a pointer move)."""
    workload = deps.workload(command.workload)
    decision = decide_rollback(command, deps)
    current, target, principal, admitted = decision.current, decision.target, decision.principal, decision.admitted
    everything, pointers, number, now = decision.records, decision.records.pointers, current.version, deps.clock.now()
    approval = admitted.approval.model_copy(update={"message": command.digest})
    tally = approvals.progress(admitted.count, admitted.required, Stage.PRODUCTION, "rollback")
    why = f"{command.reason or 'no reason given'}" + (f" ({command.ticket})" if command.ticket else "")
    if not admitted.complete:
        waiting = current.evolve(approvals=(*current.approvals, approval))
        entry = AuditEntry(
            at=now, kind="approval-recorded", actor=principal.shown, detail=f"{tally}: {why}", version=number
        )
        deps.records.commit(Changes(workload=workload.name, versions=[waiting], audit=[entry]))
        return []
    try:
        withdrawn, restored = lifecycle.withdraw(current), lifecycle.restore(target)
    except TransitionRefused as refusal:
        raise RequestRefused(str(refusal)) from None
    withdrawn = withdrawn.evolve(approvals=(*current.approvals, approval))
    gallery = workload.gallery
    start_once(
        deps.compute.update_gallery_version,
        gallery.name,
        gallery.definition,
        str(current.version),
        exclude_from_latest=True,
    )
    start_once(
        deps.compute.update_gallery_version,
        gallery.name,
        gallery.definition,
        str(target.version),
        exclude_from_latest=False,
    )
    older = [
        v.version
        for v in everything.versions
        if v.status is Status.SUPERSEDED and v.version not in (target.version, current.version)
    ]
    audit = [
        AuditEntry(
            at=now,
            kind="rolled-back",
            actor=principal.shown,
            detail=f"withdrawn from production: {why}; {tally} (as {approval.as_approver})",
            version=current.version,
            from_status=current.status,
            to_status=Status.WITHDRAWN,
            stage=Stage.PRODUCTION,
        ),
        AuditEntry(
            at=now,
            kind="restored",
            actor=principal.shown,
            detail=f"serves production again after rollback from {current.version}: {why}",
            version=target.version,
            from_status=target.status,
            to_status=Status.READY,
            stage=Stage.PRODUCTION,
        ),
    ]
    moved = pointers.evolve(
        # the withdrawn version serves nowhere any more
        test=None if pointers.test == current.version else pointers.test,
        validation=None if pointers.validation == current.version else pointers.validation,
        production=target.version,
        rollback=max(older) if older else None,
        dr=target.version if pointers.dr == current.version and target.stage is Stage.DR else pointers.dr,
        last_rollback=command.message_id,
    )
    deps.records.commit(Changes(workload=workload.name, versions=[withdrawn, restored], pointers=moved, audit=audit))
    return [reconcile_after(workload.name, f"rollback:{current.version}", deps)]  # e.g. DR served it


def progress_note(command: Promote | Rollback, deps: Deps) -> str:
    """What an accepted approval did, in words: "1 of 2 approvals for production", "rolled back"."""
    workload = deps.workload(command.workload)
    number = VersionNumber.parse(command.version)
    now, settings = deps.clock.now(), deps.settings
    if isinstance(command, Rollback):
        pointers = deps.records.get_pointers(workload.name)
        if pointers.production != number:
            return f"rolled back: {workload.name} production {number} -> {pointers.production}"
        version = deps.records.get_version(workload.name, number)
        valid = timedelta(minutes=settings.rollback_window_minutes)
        count = len(
            {a.principal for a in approvals.standing(version.approvals, Stage.PRODUCTION, "rollback", now, valid)}
        )
        needed = workload.stages.production.rollback_approvals_required
        return (
            approvals.progress(count, needed, Stage.PRODUCTION, "rollback") + f" {number}; waiting for another approver"
        )
    version = deps.records.get_version(workload.name, number)
    target = command.target_stage
    if version.status is Status.REPLICATING and version.target_stage is target:
        return f"approved: {workload.name} {number} -> {target.value}; replicating"
    policy = workload.stages.policy(target)
    needed = policy.required(target) if policy else 1
    valid = timedelta(hours=settings.approval_valid_hours)
    count = len({a.principal for a in approvals.standing(version.approvals, target, "promote", now, valid)})
    return approvals.progress(count, needed, target) + f" ({workload.name} {number}); waiting for another approver"
