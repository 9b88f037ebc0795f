"""Every rollout ends: a dead-lettered step, no progress past a deadline, or a pool deleted outside the
product halts the rollout with the reason, and the pool keeps serving.

Halting (not failing) is the rollout's end state an admin acts on (`avdimage rollout <pool>` resumes,
`--to <version>` goes back). Hosts of the batch in flight that are still healthy (drained, not yet
deleted, or already replaced) are undrained; a host caught mid-replacement stays drained, as a host
that failed would. Each halt is recorded in the pool's audit trail.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from shared.domain.commands import ContinueRollout, Envelope, HaltRollout, StartRollout
from shared.domain.errors import AzureOperationError
from shared.domain.hostpools import Note, Rollout, RolloutState
from shared.steps.deps import Deps
from shared.steps.rollout import policy_of, records_of

log = logging.getLogger("avdimage.rollouts")

# A rollout re-checks at its scheduled time; this long past it (Service Bus or the host being down
# for a while included) it looks stuck. The verdict then waits `WATCHDOG_GRACE` for the run's own
# sequence to move, so a skewed clock on the timer's instance cannot halt a healthy rollout.
NO_PROGRESS = timedelta(hours=2, minutes=30)
WATCHDOG_GRACE = timedelta(hours=2)
GONE_WORDS = "deleted outside the product"


def dead_lettered_rollout(command: ContinueRollout | StartRollout, reason: str, deps: Deps) -> list[Envelope] | None:
    """A rollout's step message was dead-lettered: halt the rollout if it is still where the message saw it.

    None when there is no rollout to end (a start that never opened one): the caller keeps the message.
    """
    if isinstance(command, StartRollout):
        step, attempt = "plan", 0
        workload = deps.workload(command.workload)
        policy = policy_of(workload, command.pool)
        _, run = records_of(deps).load(workload.name, policy.key, policy.id, command.run_id)
        if run is None:
            return None
    else:
        step, attempt = command.step, command.attempt
    halt = HaltRollout(
        workload=command.workload,
        pool=command.pool,
        run_id=command.run_id,
        step=step,
        attempt=attempt,
        reason=f"step {step} was dead-lettered: {reason}"[:1000],
        source="dead-letter",
    )
    return halt_rollout(halt, deps)


def halt_rollout(command: HaltRollout, deps: Deps) -> list[Envelope]:
    """Halt a running rollout still at (step, attempt); undrain its healthy batch hosts; audit why."""
    workload = deps.workload(command.workload)
    policy = policy_of(workload, command.pool)
    records = records_of(deps)
    pool, run = records.load(workload.name, policy.key, policy.id, command.run_id)
    if run is None or run.state is not RolloutState.RUNNING:
        return []
    if (run.step, run.attempt) != (command.step, command.attempt):
        return []  # it moved on since: nothing is stuck
    now = deps.clock.now()
    notes = [Note(now, run.run_id, "halted", f"{command.reason} ({command.source}); the pool keeps serving")]
    notes += _release_batch(run, deps, now)
    halted = run.evolve(
        state=RolloutState.HALTED,
        pending=None,
        reason=command.reason,
        attempt=run.attempt + 1,
        checked_at=now,
        next_check_at=None,
    )
    records.commit(pool, [halted], notes)
    return []


def _release_batch(run: Rollout, deps: Deps, now: datetime) -> list[Note]:
    """Undrain the batch's hosts that are healthy; say which stay drained and why."""
    if not run.batch or deps.hostpools is None:
        return []
    try:
        hosts = {h.name: h for h in deps.hostpools.hosts(run.pool_id)}
    except AzureOperationError as error:
        return [Note(now, run.run_id, "left-drained", f"could not read the pool to undrain the batch: {error}")]
    notes: list[Note] = []
    failed = run.failed_hosts
    for name in run.batch:
        host = hosts.get(name)
        if host is None:
            notes.append(Note(now, run.run_id, "left-drained", "not in the pool any more", name))
        elif name in failed or host.status != "Available":
            notes.append(Note(now, run.run_id, "left-drained", f"{host.status}: caught mid-replacement", name))
        elif not host.allow_new_session:
            try:
                deps.hostpools.set_drain(run.pool_id, name, False)
            except AzureOperationError as error:
                notes.append(Note(now, run.run_id, "left-drained", f"undrain failed: {error}", name))
                continue
            notes.append(Note(now, run.run_id, "undrained", f"runs {host.exact_version}, accepting sessions", name))
    return notes


def rollout_watchdog(deps: Deps, now: datetime) -> list[Envelope]:
    """Running rollouts past their deadline get a halt check later; one whose pool is gone halts now."""
    if deps.rollouts is None:
        return []
    checks: list[Envelope] = []
    for workload in deps.catalog.workloads:
        for policy in workload.host_pools:
            pool, _ = deps.rollouts.load(workload.name, policy.key, policy.id, None)
            if pool.active_run is None:
                continue
            _, run = deps.rollouts.load(workload.name, policy.key, policy.id, pool.active_run)
            if run is None or run.state is not RolloutState.RUNNING:
                continue
            gone = _pool_gone(run, deps)
            if gone:
                checks.append(Envelope.wrap(_halt(run, f"host pool {policy.name} was {GONE_WORDS}")))
                continue
            due = run.next_check_at or run.checked_at or run.step_started_at or run.started_at
            if now - due <= NO_PROGRESS:
                continue
            reason = f"no progress in step {run.step} since {due:%Y-%m-%d %H:%M} UTC (a re-check was due then)"
            checks.append(Envelope.wrap(_halt(run, reason), scheduled_for=now + WATCHDOG_GRACE))
    return checks


def _pool_gone(run: Rollout, deps: Deps) -> bool:
    """One read of the pool: a 404 means someone deleted it (other errors: look again next hour)."""
    if deps.hostpools is None:
        return False
    try:
        deps.hostpools.hosts(run.pool_id)
    except AzureOperationError as error:
        if error.status == 404:
            return True
        log.warning("rollout %s: could not read its pool (%s); the next watchdog pass looks again", run.run_id, error)
    return False


def _halt(run: Rollout, reason: str) -> HaltRollout:
    return HaltRollout(
        workload=run.workload,
        pool=run.pool_key,
        run_id=run.run_id,
        step=run.step,
        attempt=run.attempt,
        reason=reason[:1000],
        source="watchdog",
    )
