"""Host pool rollouts on the step queue: start, continue, and the production change that starts them.

Like the build pipeline: deterministic message ids, the (step, attempt) guard against duplicates,
state and audit committed in one ETag-conditioned transaction, waits as scheduled re-checks.
One rollout per pool at a time; a newer production decision waits for the batch in flight.
"""

from __future__ import annotations

from typing import Literal

from shared.domain import naming
from shared.domain.catalog import Workload
from shared.domain.commands import Command, ContinueRollout, ContinueVersion, Envelope, Rollback, StartRollout
from shared.domain.errors import AzureOperationError, RequestRefused
from shared.domain.hostpools import HostPoolPolicy, Note, Rollout, RolloutMode, RolloutRecords, RolloutState
from shared.domain.model import Status, VersionNumber
from shared.steps import waits
from shared.steps.deps import Deps
from shared.steps.rollout_steps import STEPS, RolloutContext, StepResult, failure_records

AZURE_BUSY_LIMIT = 30
BATCH_STEPS = frozenset({"drain", "message", "wait-users", "log-off", "delete", "create", "register", "wait-available"})
UNUSABLE = frozenset({Status.BUILDING, Status.CAPTURING, Status.FAILED, Status.DELETED})


def records_of(deps: Deps) -> RolloutRecords:
    if deps.rollouts is None:
        raise RequestRefused("host pool rollouts are not configured (no rollout record store)")
    return deps.rollouts


def policy_of(workload: Workload, pool: str) -> HostPoolPolicy:
    """The pool by key, name or resource id."""
    for policy in workload.host_pools:
        if pool.lower() in (policy.key, policy.name.lower(), policy.id.lower()):
            return policy
    served = ", ".join(p.name for p in workload.host_pools) or "none"
    raise RequestRefused(f"{workload.name} serves no host pool {pool!r} (it serves: {served})")


def position(run: Rollout, trigger: Literal["next", "recheck", "event"] = "next") -> ContinueRollout:
    return ContinueRollout(
        workload=run.workload,
        pool=run.pool_key,
        run_id=run.run_id,
        step=run.step,
        attempt=run.attempt,
        trigger=trigger,
    )


def gallery_version_id(deps: Deps, workload: Workload, version: VersionNumber) -> str:
    gallery = workload.gallery
    return (
        f"/subscriptions/{deps.settings.subscription_id}/resourceGroups/{gallery.resource_group}"
        f"/providers/Microsoft.Compute/galleries/{gallery.name}/images/{gallery.definition}/versions/{version}"
    )


def start_rollout(command: StartRollout, deps: Deps) -> list[Envelope]:
    workload = deps.workload(command.workload)
    policy = policy_of(workload, command.pool)
    records = records_of(deps)
    version = VersionNumber.parse(command.version)
    now = deps.clock.now()
    pool, run = records.load(workload.name, policy.key, policy.id, command.run_id)
    if run is not None:
        if run.state is RolloutState.RUNNING:
            return [Envelope.wrap(position(run))]
        if run.state is RolloutState.HALTED and pool.active_run == run.run_id:
            resumed = run.evolve(
                state=RolloutState.RUNNING,
                step="plan",
                attempt=run.attempt + 1,
                failed=(),
                retry=tuple(dict.fromkeys([*run.retry, *(f.host for f in run.failed)])),
                failures_since_resume=0,
                pending=None,
                reason="",
                batch=(),
            )
            failed = ", ".join(f.host for f in run.failed) or "none"
            note = Note(now, run.run_id, "resumed", f"resumed by {command.requested_by}; retrying {failed}")
            records.commit(pool, [resumed], [note])
            return [Envelope.wrap(position(resumed))]
        return []
    record = deps.records.find_version(workload.name, version)
    if record is None or record.status in UNUSABLE:
        state = "does not exist" if record is None else f"is {record.status.value}"
        raise RequestRefused(f"cannot roll {policy.name} onto {workload.name} {version}: that version {state}")
    changed: list[Rollout] = []
    notes: list[Note] = []
    if pool.active_run is not None:
        _, active = records.load(workload.name, policy.key, policy.id, pool.active_run)
        if active is not None and active.state in (RolloutState.RUNNING, RolloutState.HALTED):
            if active.target_version == str(version):
                return []  # already on its way there
            if active.state is RolloutState.RUNNING:
                successor = {"version": str(version), "run_id": command.run_id, "requested_by": command.requested_by}
                queued = active.evolve(successor=successor | {"automatic": str(command.automatic)})
                detail = f"{version} requested by {command.requested_by}; starts after the batch in flight"
                records.commit(pool, [queued], [Note(now, active.run_id, "queued", detail)])
                return []
            changed.append(
                active.evolve(state=RolloutState.SUPERSEDED, ended_at=now, reason=f"superseded by {version}")
            )
            notes.append(Note(now, active.run_id, "superseded", f"halted rollout replaced by one to {version}"))
    run = Rollout(
        workload=workload.name,
        pool_id=policy.id,
        pool_key=policy.key,
        run_id=command.run_id,
        target_version=str(version),
        target_image_id=gallery_version_id(deps, workload, version),
        requested_by=command.requested_by,
        automatic=command.automatic,
        started_at=now,
        step_started_at=now,
        # The same Event Grid subscription delivers the image runs' events: start from their delay.
        event_lag=deps.records.get_pointers(workload.name).event_lag,
    )
    how = "automatic, in the maintenance window" if command.automatic else "manual"
    notes.append(Note(now, run.run_id, "started", f"rollout to {version} ({how}) by {command.requested_by}"))
    records.commit(pool.evolve(active_run=run.run_id, last_run=run.run_id), [*changed, run], notes)
    return [Envelope.wrap(position(run))]


def continue_rollout(command: ContinueRollout, deps: Deps) -> list[Envelope]:
    workload = deps.workload(command.workload)
    policy = policy_of(workload, command.pool)
    records = records_of(deps)
    pool, run = records.load(workload.name, policy.key, policy.id, command.run_id)
    if run is None:
        raise RequestRefused(f"rollout {command.run_id} of {policy.name} does not exist")
    if run.state is not RolloutState.RUNNING:
        return []
    if (command.step, command.attempt) != (run.step, run.attempt):
        return [Envelope.wrap(position(run))]  # stale or duplicate: re-send where the run is (deduplicated)
    now = deps.clock.now()
    if (lag := waits.longest_delay(run.event_lag, command.trigger, command.event_lag)) != run.event_lag:
        run = run.evolve(event_lag=lag)  # how late events come: the waits use it
    ctx = RolloutContext(deps=deps, policy=policy, run=run, pool=pool, now=now)
    if run.step == "plan" and run.successor:
        return _hand_over(ctx, records)
    try:
        if run.step in BATCH_STEPS and run.batch and not ctx.working:
            result = StepResult(next_step="undrain")  # every host of the batch failed
        else:
            result = STEPS[run.step](ctx)
    except AzureOperationError as error:
        result = _azure_trouble(ctx, error)
    return _apply(ctx, records, result)


def _azure_trouble(ctx: RolloutContext, error: AzureOperationError) -> StepResult:
    """Throttling and server errors wait and retry (steps are idempotent); anything else halts."""
    if error.status == 404:
        return StepResult(halt=f"step {ctx.run.step}: a resource was deleted outside the product: {error}")
    if not error.transient:
        return StepResult(halt=f"step {ctx.run.step}: {error}")
    busy = ctx.pending("azure-busy")
    if busy.checks >= AZURE_BUSY_LIMIT:
        return StepResult(halt=f"Azure kept failing transiently ({busy.checks} tries): {error}")
    return StepResult(wait=waits.backoff(busy.started_at, ctx.now), pending=busy)


def _hand_over(ctx: RolloutContext, records: RolloutRecords) -> list[Envelope]:
    """Between batches: end this rollout and start the one production asked for meanwhile."""
    run, successor = ctx.run, ctx.run.successor or {}
    ended = run.evolve(
        state=RolloutState.SUPERSEDED, ended_at=ctx.now, reason=f"superseded by {successor['version']}", pending=None
    )
    note = Note(ctx.now, run.run_id, "superseded", f"production moved to {successor['version']}")
    records.commit(ctx.pool.evolve(active_run=None), [ended], [note])
    start = StartRollout(
        workload=run.workload,
        pool=run.pool_key,
        run_id=successor["run_id"],
        version=successor["version"],
        requested_by=successor["requested_by"],
        automatic=successor.get("automatic") == "True",
    )
    return [Envelope.wrap(start)]


def _apply(ctx: RolloutContext, records: RolloutRecords, result: StepResult) -> list[Envelope]:
    run, pool, now = ctx.run, ctx.pool, ctx.deps.clock.now()
    notes = [Note(now, run.run_id, kind, detail, host) for kind, detail, host in result.notes]
    updates = dict(result.updates)
    failures = failure_records(ctx, result.failures)
    if failures:
        updates["failed"] = run.failed + failures
        updates["failures_since_resume"] = run.failures_since_resume + len(failures)
        notes += [Note(now, run.run_id, "host-failed", f.reason, f.host) for f in failures]
    moved = {"attempt": run.attempt + 1, "checked_at": now, "next_check_at": None}
    messages: list[Envelope] = []
    if result.halt:
        new = run.evolve(state=RolloutState.HALTED, pending=None, reason=result.halt, **moved, **updates)
        notes.append(Note(now, run.run_id, "halted", result.halt))
    elif result.finish:
        new = run.evolve(state=RolloutState.SUCCEEDED, pending=None, ended_at=now, **moved, **updates)
        pool = pool.evolve(active_run=None)
    elif result.next_step is not None:
        new = run.evolve(step=result.next_step, pending=None, step_started_at=now, **moved, **updates)
        messages.append(Envelope.wrap(position(new)))
    else:
        wait = result.wait or waits.OPENING
        waited = run.wait_seconds
        if result.pending is not None and result.pending.kind in ("users", "window", "capacity"):
            waited += wait.total_seconds()  # time the rollout spends on people and windows, not on Azure
        moved["next_check_at"] = now + wait
        new = run.evolve(pending=result.pending, wait_seconds=waited, **moved, **updates)
        messages.append(Envelope.wrap(position(new, "recheck"), scheduled_for=now + wait))
    records.commit(pool, [new], notes)
    for action in result.after_commit:  # e.g. the users' messages: never sent twice for one commit
        action()
    return messages


def on_production_change(command: Command, deps: Deps) -> list[Envelope]:
    """Production moved (a promotion finished replicating, or a rollback): start automatic pools' rollouts."""
    if deps.hostpools is None or deps.rollouts is None or command.workload not in deps.catalog:
        return []
    workload = deps.workload(command.workload)
    autos = [p for p in workload.host_pools if p.rollout is RolloutMode.AUTO]
    if not autos:
        return []
    production = deps.records.get_pointers(workload.name).production
    if production is None:
        return []
    if isinstance(command, ContinueVersion):
        if command.operation != "replicate" or VersionNumber.parse(command.version) != production:
            return []
        run_id, who = f"auto-{naming.version_slug(production)}", "production promotion"
    elif isinstance(command, Rollback):
        stamp = command.requested_at.strftime("%y%m%d%H%M")
        run_id, who = f"back-{naming.version_slug(production)}-{stamp}"[:32].strip("-"), "production rollback"
    else:
        return []
    return [
        Envelope.wrap(
            StartRollout(
                workload=workload.name,
                pool=p.key,
                run_id=run_id,
                version=str(production),
                requested_by=who.replace(" ", "-"),
                automatic=True,
            )
        )
        for p in autos
    ]
