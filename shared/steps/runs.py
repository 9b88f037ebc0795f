"""The build pipeline: one stateless, idempotent handler per step of a run.

Each step reads the run (and its version) in one query, checks Azure, acts at most once,
and returns an Outcome; `continue_run` commits it with its audit entries in one transaction
and emits the next message: now, as a scheduled re-check, or not at all (an Event Grid
event about the resource continues the run first if it arrives first).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Literal

from shared.domain import lifecycle
from shared.domain.commands import ContinueRun, Envelope, FailRun, StartBuild
from shared.domain.compute import OperationState
from shared.domain.errors import AzureOperationError, RequestRefused
from shared.domain.model import (
    Pointers,
    Run,
    RunState,
    Status,
    VersionNumber,
)
from shared.domain.records import AuditEntry, Changes, Loaded
from shared.domain.windows import window_of
from shared.steps import deadlines, history, waits
from shared.steps.build_clone import step_bitlocker, step_clone_check, step_disk, step_snapshot, step_temp_vm
from shared.steps.build_image import (
    step_abort,
    step_capture,
    step_cleanup,
    step_deallocate,
    step_replicate,
    step_sysprep,
)
from shared.steps.build_source import step_customize, step_source_decrypted, step_source_vm
from shared.steps.deps import Deps
from shared.steps.outcome import Outcome
from shared.steps.step_context import StepContext

ABORT = "abort"
ABORT_MAX_CHECKS = 20
STEP_TIMEOUT = timedelta(hours=6)  # no Azure operation of a build step takes this long; BitLocker has its own limit
# A timeout is decided by the record's own sequence too: at least this many re-checks of the
# operation were recorded, so one instance with a skewed clock cannot fail a healthy step.
TIMEOUT_MIN_CHECKS = 3
GONE = frozenset({"ResourceNotFound", "NotFound", "ParentResourceNotFound"})
GONE_WORDS = "deleted outside the product"


STEPS: dict[str, Callable[[StepContext], Outcome]] = {
    "source-vm": step_source_vm,
    "customize": step_customize,
    "source-decrypted": step_source_decrypted,
    "snapshot": step_snapshot,
    "disk": step_disk,
    "temp-vm": step_temp_vm,
    "clone-check": step_clone_check,
    "bitlocker": step_bitlocker,
    "sysprep": step_sysprep,
    "deallocate": step_deallocate,
    "capture": step_capture,
    "cleanup": step_cleanup,
    "replicate": step_replicate,
    ABORT: step_abort,
}
FIRST_STEP = "source-vm"


def position(run: Run, trigger: Literal["next", "recheck", "event"] = "next") -> ContinueRun:
    return ContinueRun(
        workload=run.workload,
        run_id=run.run_id,
        step=run.step,
        attempt=run.attempt,
        trigger=trigger,
        version=str(run.version) if run.version else None,
    )


def start_build(command: StartBuild, deps: Deps) -> list[Envelope]:
    """Open a run; at most one run per workload at a time, and one per run id ever."""
    workload = deps.workload(command.workload)
    loaded = deps.records.load(workload.name, run_id=command.run_id)
    if loaded.run is not None:
        return [Envelope.wrap(position(loaded.run))] if loaded.run.state is RunState.RUNNING else []
    now = deps.clock.now()
    pointers = loaded.pointers
    if pointers.active_run is not None and blocking_run(deps, workload.name, pointers.active_run):
        raise RequestRefused(
            f"{workload.name} already has run {pointers.active_run} in progress; one run per workload at a time"
        )
    run = Run(
        workload=workload.name,
        run_id=command.run_id,
        reason=command.reason,
        requested_by=command.requested_by,
        started_at=now,
        step=FIRST_STEP,
        prepare_only=command.prepare_only,
        # A scheduled run fills the window it was started for; one started by hand the window it
        # starts in (this instance's view, as a scheduled start is the scheduler's); a prepare-only
        # run builds no image, so it fills none.
        window="" if command.prepare_only else command.window or window_of(workload.schedule, now),
        step_started_at=now,
        event_lag=pointers.event_lag,  # how late events came to the last run (history.kept)
    )
    mode = " (prepare only)" if command.prepare_only else ""
    entry = AuditEntry(
        at=now,
        kind="run-started",
        actor=command.requested_by,
        detail=f"{command.reason.value} run {command.run_id}{mode}",
    )
    # One commit with the pointers' ETag: of two instances starting runs at once, one wins and the
    # other re-reads; the sequence and the window move only with a run that really started.
    marker = _window_marker(pointers, command)
    started = pointers.evolve(active_run=run.run_id, sequence=pointers.sequence + 1, **marker)
    deps.records.commit(Changes(workload=workload.name, run=run, pointers=started, audit=[entry]))
    return [Envelope.wrap(position(run))]


def _window_marker(pointers: Pointers, command: StartBuild) -> dict[str, str]:
    """The record of the window a scheduled run is for: a prepare's month has its own marker."""
    if command.window.startswith("prepare-"):
        return {"prepared": max(pointers.prepared, command.window)}
    return {"window": max(pointers.window, command.window)}


def continue_run(command: ContinueRun, deps: Deps) -> list[Envelope]:
    known = deps.records.recall_run(command.workload, command.run_id)
    if known is not None and known.attempt > command.attempt:
        # Stale for sure without a read: this instance committed a later position (attempts only grow).
        return [Envelope.wrap(position(known))] if known.state is RunState.RUNNING else []
    # The message names the run's version, so run and version come in one query.
    version = VersionNumber.parse(command.version) if command.version else None
    loaded = deps.records.load(command.workload, run_id=command.run_id, version=version)
    run = loaded.run
    if run is None:
        raise RequestRefused(f"run {command.run_id} of {command.workload} does not exist")
    if run.state is not RunState.RUNNING:
        return []
    if (command.step, command.attempt) != (run.step, run.attempt):
        return [Envelope.wrap(position(run))]  # stale or duplicate: re-send where the run is (deduplicated)
    if run.version != version:  # a message from before the version existed (only after a crash)
        loaded = deps.records.load(command.workload, run_id=command.run_id, version=run.version)
    if (lag := waits.longest_delay(run.event_lag, command.trigger, command.event_lag)) != run.event_lag:
        run = run.evolve(event_lag=lag)  # how late events come (delays vary): the waits adapt to it
    ctx = _context(deps, run, loaded)
    now = ctx.now
    try:
        overdue = (
            run.pending is not None
            and run.step != ABORT
            and run.pending.kind != BUSY  # throttling has its own limit (AZURE_BUSY_LIMIT)
            and now - run.pending.started_at > STEP_TIMEOUT
            and run.pending.checks >= TIMEOUT_MIN_CHECKS
        )
        if overdue and run.pending is not None:
            hours = STEP_TIMEOUT.total_seconds() / 3600
            outcome = Outcome(fail=f"step {run.step} waited more than {hours:.0f} hours for {run.pending.kind}")
        else:
            outcome = STEPS[run.step](ctx)
    except AzureOperationError as error:
        outcome = _azure_trouble(ctx, error)
    except RequestRefused as error:
        outcome = Outcome(fail=str(error))
    if outcome.fail and run.step in STEP_NEEDS and GONE_WORDS not in outcome.fail:
        gone = _gone_input(ctx)
        if gone:
            outcome = dataclasses.replace(outcome, fail=f"{gone}: {outcome.fail}")
    return _apply(ctx, loaded, outcome)


VM_TYPE = "Microsoft.Compute/virtualMachines"
# The temp resource each step works on: if a step fails and it is gone, someone deleted it by hand.
STEP_NEEDS: dict[str, tuple[str, str]] = {
    "temp-vm": ("Microsoft.Compute/disks", "disk"),
    "clone-check": (VM_TYPE, "vm"),
    "bitlocker": (VM_TYPE, "vm"),
    "sysprep": (VM_TYPE, "vm"),
    "deallocate": (VM_TYPE, "vm"),
    "capture": (VM_TYPE, "vm"),
}


def _gone_input(ctx: StepContext) -> str:
    """Say so when the step failed because its temp resource vanished (one read, on the failure path only)."""
    resource_type, kind = STEP_NEEDS[ctx.run.step]
    compute, name = ctx.deps.compute, ctx.temp(kind)
    try:
        state = compute.resource_state(compute.id_of(resource_type, name))
    except AzureOperationError:
        return ""
    return f"{kind} {name} was {GONE_WORDS}" if state is OperationState.MISSING else ""


BUSY = "azure-busy"
AZURE_BUSY_LIMIT = 60  # consecutive throttled or 5xx checks of one step before the run fails (hours of them)


def _azure_trouble(ctx: StepContext, error: AzureOperationError) -> Outcome:
    """Throttling and server errors wait and try again (steps are idempotent); anything else fails."""
    if error.code in GONE or error.status == 404:
        # A temp resource (or the source VM) vanished mid-step: someone deleted it by hand.
        return Outcome(fail=f"step {ctx.run.step}: a resource was {GONE_WORDS}: {error}")
    if not error.transient:
        return Outcome(fail=str(error))
    busy = ctx.pending(BUSY)
    if busy.checks >= AZURE_BUSY_LIMIT:
        return Outcome(fail=f"Azure kept failing transiently ({busy.checks} tries): {error}")
    return Outcome(wait=timedelta(minutes=min(1 + busy.checks, 10)), pending=busy)


def _apply(ctx: StepContext, loaded: Loaded, outcome: Outcome) -> list[Envelope]:
    run = ctx.run
    now = ctx.deps.clock.now()  # after the step's own calls (Run Command takes its time)
    version = outcome.version or ctx.version
    audit = [dataclasses.replace(entry, at=now) for entry in outcome.audit]  # when it was recorded
    pointers = outcome.pointers or loaded.pointers
    messages: list[Envelope] = []
    updates = dict(outcome.run_updates)
    step_times = dict(run.step_times)
    if run.step_started_at is not None:
        step_times[run.step] = step_times.get(run.step, 0.0) + (now - run.step_started_at).total_seconds()
    moved = {"attempt": run.attempt + 1, "step_times": step_times, "step_started_at": now, **deadlines.started(now)}
    throttled = outcome.pending is not None and outcome.pending.kind == BUSY  # the operation is not done
    if not outcome.fail and not throttled:
        updates.setdefault("took", history.took(run, now, None if outcome.next_step else outcome.pending))
    if outcome.fail and run.step == ABORT:
        checks = (run.pending.checks + 1) if run.pending else 1
        if checks < ABORT_MAX_CHECKS:  # cleanup hiccup: try again later, the sweeper is the backstop
            outcome = Outcome(wait=timedelta(minutes=4), pending=ctx.pending("abort-retry"))
        else:
            outcome = Outcome(finish=True)
    if outcome.fail:
        serving = version is not None and version.status is Status.READY and pointers.test == version.version
        if version is not None and not serving and Status.FAILED in lifecycle.ALLOWED[version.status]:
            before = version.status
            version = lifecycle.fail(version, outcome.fail)
            audit.append(
                AuditEntry(
                    at=now,
                    kind="failed",
                    actor=f"step:{run.step}",
                    detail=outcome.fail,
                    version=version.version,
                    from_status=before,
                    to_status=Status.FAILED,
                )
            )
        else:
            audit.append(AuditEntry(at=now, kind="run-failed", actor=f"step:{run.step}", detail=outcome.fail))
        new_run = run.evolve(step=ABORT, pending=None, failure_reason=outcome.fail, **moved, **updates)
        messages.append(Envelope.wrap(position(new_run)))
    elif outcome.finish:
        state = RunState.FAILED if run.step == ABORT else RunState.SUCCEEDED
        new_run = run.evolve(state=state, ended_at=now, pending=None, **moved, **updates)
        if pointers.active_run == run.run_id:
            pointers = pointers.evolve(active_run=None)
        if state is RunState.SUCCEEDED:
            pointers = history.kept(pointers, new_run)
        if version is not None and state is RunState.SUCCEEDED and version.status is Status.READY:
            # The window moves only with a build that delivered: a failed run started by hand leaves
            # the scheduler its window.
            pointers = pointers.evolve(test=version.version, window=max(pointers.window, run.window))
    elif outcome.next_step is not None:
        new_run = run.evolve(step=outcome.next_step, pending=None, **moved, **updates)
        messages.append(Envelope.wrap(position(new_run)))
    else:
        wait = outcome.wait or waits.OPENING
        same_step = {"step_started_at": run.step_started_at, "step_times": run.step_times}
        new_run = run.evolve(
            pending=outcome.pending,
            **{**moved, **same_step, **deadlines.waiting(run, now, wait)},
            **updates,
        )
        messages.append(Envelope.wrap(position(new_run, "recheck"), scheduled_for=now + wait))
    versions = (
        [version] if version is not None and (version is not ctx.version or any(a.version for a in audit)) else []
    )
    include_pointers = pointers is not loaded.pointers or any(a.version is None for a in audit)
    ctx.deps.records.commit(
        Changes(
            workload=run.workload,
            versions=versions,
            pointers=pointers if include_pointers else None,
            run=new_run,
            audit=audit,
        )
    )
    return messages + outcome.then


def blocking_run(deps: Deps, workload: str, run_id: str) -> bool:
    """Whether the run named as active really is running: a failed or missing run never blocks the next."""
    run = deps.records.find_run(workload, run_id)
    return run is not None and run.state is RunState.RUNNING


def fail_run(command: FailRun, deps: Deps) -> list[Envelope]:
    """End a run whose step cannot go on: fail it with the reason and start its cleanup (abort).

    Applies only while the run is where the command saw it (step and attempt): a run that made
    progress since is left alone. A run whose abort itself cannot go on ends failed; whatever it
    left behind is the sweeper's (its run is no longer running).
    """
    loaded = deps.records.load(command.workload, run_id=command.run_id)
    run = loaded.run
    if run is None or run.state is not RunState.RUNNING:
        return []
    if (run.step, run.attempt) != (command.step, command.attempt):
        return []
    if run.version is not None:
        loaded = deps.records.load(command.workload, run_id=command.run_id, version=run.version)
    ctx = _context(deps, run, loaded)
    now = ctx.now
    if run.step == ABORT:
        entry = AuditEntry(at=now, kind="run-failed", actor=command.source, detail=f"cleanup ended: {command.reason}")
        ended = run.evolve(failure_reason=run.failure_reason or command.reason, pending=None)
        ctx = dataclasses.replace(ctx, run=ended)
        return _apply(ctx, loaded, Outcome(finish=True, audit=[entry]))
    return _apply(ctx, loaded, Outcome(fail=command.reason))


WATCHDOG_GRACE = timedelta(hours=2)  # longer than any re-check a step schedules (at most 30 min)
STEP_DEADLINES: dict[str, timedelta] = {
    "customize": timedelta(hours=8),  # customizations run one Run Command (90 min at most) after another
    "bitlocker": timedelta(hours=12),  # above the default decryption limit; the step fails itself first
    "replicate": timedelta(hours=12),
}
DEFAULT_DEADLINE = timedelta(hours=3)


def watchdog(deps: Deps, now: datetime) -> list[Envelope]:
    """Runs that look stuck past their step's deadline get a check `WATCHDOG_GRACE` later.

    The verdict is not taken from this instance's clock: the check fails the run only if the run's
    own sequence (step, attempt) has not moved by then, so a healthy run (it re-checks at least
    every 30 minutes) is never failed by a skewed clock.
    """
    checks: list[Envelope] = []
    for workload in deps.catalog.workloads:
        active = deps.records.get_pointers(workload.name).active_run
        if active is None:
            continue
        run = deps.records.find_run(workload.name, active)
        if run is None or run.state is not RunState.RUNNING:
            continue
        moments = [run.started_at, run.step_started_at, run.pending.started_at if run.pending else None]
        since = max(t for t in moments if t is not None)
        deadline = STEP_DEADLINES.get(run.step, DEFAULT_DEADLINE)
        if now - since <= deadline:
            continue
        hours = deadline.total_seconds() / 3600
        check = FailRun(
            workload=workload.name,
            run_id=run.run_id,
            step=run.step,
            attempt=run.attempt,
            reason=f"no progress in step {run.step} since {since:%Y-%m-%d %H:%M} UTC (deadline {hours:.0f} h)",
            source="watchdog",
        )
        checks.append(Envelope.wrap(check, scheduled_for=now + WATCHDOG_GRACE))
    return checks


def _context(deps: Deps, run: Run, loaded: Loaded) -> StepContext:
    """What a step (or the end of a run) sees: the run, its version and pointers, now."""
    return StepContext(
        deps=deps,
        workload=deps.workload(run.workload),
        run=run,
        version=loaded.version,
        now=deps.clock.now(),
        pointers=loaded.pointers,
    )
