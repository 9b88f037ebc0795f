"""What a dead-lettered step message means: the thing it was advancing can never go on, so it ends.

Service Bus moves a message to the queue's dead-letter subqueue after its last delivery failed (or
when a handler asks for it). Left there, the run it belonged to would stay "running" forever and
block its workload; consumed here, the run fails with the reason and cleans up after itself.
"""

from __future__ import annotations

from shared.domain import lifecycle
from shared.domain.commands import ContinueRun, ContinueVersion, Envelope, FailRun, StartBuild
from shared.domain.model import Status, VersionNumber
from shared.domain.records import AuditEntry, Changes
from shared.steps.deps import Deps
from shared.steps.runs import FIRST_STEP, fail_run

ACTOR = "dead-letter"


def dead_lettered(command: ContinueRun | StartBuild, reason: str, deps: Deps) -> list[Envelope]:
    """A step message of a run was dead-lettered: the run fails (and its cleanup starts) if it is still there."""
    if isinstance(command, StartBuild):
        step, attempt = FIRST_STEP, 0
    else:
        step, attempt = command.step, command.attempt
    fail = FailRun(
        workload=command.workload,
        run_id=command.run_id,
        step=step,
        attempt=attempt,
        reason=f"step {step} was dead-lettered: {reason}"[:1000],
        source="dead-letter",
    )
    return fail_run(fail, deps)


def abandon_operation(command: ContinueVersion, reason: str, deps: Deps) -> list[Envelope]:
    """A version's replication or validation message was dead-lettered: that version fails with the reason.

    Only while the version is still where the message saw it (same operation attempt); a validation
    VM left behind is the sweeper's (its version no longer has a pending operation).
    """
    workload = deps.workload(command.workload)
    number = VersionNumber.parse(command.version)
    version = deps.records.find_version(workload.name, number)
    if version is None or version.op_attempt != command.attempt or version.pending is None:
        return []
    detail = f"{command.operation} of {number} was dead-lettered: {reason}"[:1000]
    changed = lifecycle.fail(version, detail) if Status.FAILED in lifecycle.ALLOWED[version.status] else version
    changed = changed.evolve(pending=None, op_attempt=version.op_attempt + 1)
    entry = AuditEntry(
        at=deps.clock.now(),
        kind="failed" if changed.status is Status.FAILED else "operation-abandoned",
        actor=ACTOR,
        detail=detail,
        version=number,
        from_status=version.status,
        to_status=changed.status,
    )
    deps.records.commit(Changes(workload=workload.name, versions=[changed], audit=[entry]))
    return []
