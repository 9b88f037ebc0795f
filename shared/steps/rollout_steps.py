"""The steps of a host pool rollout, one batch at a time. Each step reads Azure, acts at most once,
and says what comes next; `shared/steps/rollout.py` commits it and sends the next message.

plan -> drain -> message -> wait-users [-> log-off] -> delete -> create -> register
     -> wait-available -> undrain -> plan ... (until every host runs the target version)

The host is replaced by deleting its VM (the NIC is kept) and creating it again with the same
name from the gallery version, then installing the AVD agent with a fresh registration token;
the session host object stays in the pool, drained, so the host keeps its identity and drain
mode across the replacement (docs/hostpools.md says why this and not an OS disk swap).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import Any

from shared.domain.errors import AzureOperationError
from shared.domain.hostpools import (
    HostFailure,
    HostPoolPolicy,
    HostPools,
    HostSpec,
    PoolRecord,
    Rollout,
    RolloutMode,
    SessionHostState,
)
from shared.domain.model import PendingOperation
from shared.steps import waits
from shared.steps.deps import Deps
from shared.steps.outcome import start_once

log = logging.getLogger("avdimage.rollouts")

CAPACITY_LIMIT = timedelta(hours=6)  # waiting for hosts to come back above the minimum; then an admin looks
# No wait here is a typical duration: each look at a delete, create or agent install opens with the
# shared first looks and backs off from the time waited (shared/steps/waits.py). With Event Grid the
# VM's (or the agent extension's) completion event wakes the step (shared/steps/rollout_events.py)
# and the re-check is the safety net; users leaving and capacity have no event: they back off alone.
OPERATION_LIMIT = timedelta(hours=1)  # a delete, create or agent install that takes longer has failed
TOKEN_MARGIN = timedelta(hours=1)  # a registration token must stay valid this long after use
ROLLOUT_TAG = "avd-lifecycle-rollout"


@dataclass
class StepResult:
    next_step: str | None = None
    wait: timedelta | None = None
    pending: PendingOperation | None = None
    finish: bool = False
    halt: str | None = None
    updates: dict[str, Any] = field(default_factory=dict)
    notes: list[tuple[str, str, str]] = field(default_factory=list)  # (kind, detail, host)
    failures: list[tuple[str, str]] = field(default_factory=list)  # (host, reason)
    # Run only after the commit: actions that must not repeat when a crash makes the step run again.
    after_commit: list[Callable[[], None]] = field(default_factory=list)


@dataclass
class RolloutContext:
    deps: Deps
    policy: HostPoolPolicy
    run: Rollout
    pool: PoolRecord
    now: datetime

    @property
    def avd(self) -> HostPools:
        if self.deps.hostpools is None:
            raise RuntimeError("no host pool adapter configured")
        return self.deps.hostpools

    @property
    def working(self) -> list[str]:
        """The batch's hosts that have not failed."""
        failed = self.run.failed_hosts
        return [h for h in self.run.batch if h not in failed]

    def spec(self, host: str) -> HostSpec:
        return HostSpec(**{**self.run.specs[host], "nic_ids": tuple(self.run.specs[host]["nic_ids"])})

    def pending(self, kind: str) -> PendingOperation:
        current = self.run.pending
        if current is not None and current.kind == kind:
            return current.model_copy(update={"checks": current.checks + 1})
        return PendingOperation(kind=kind, started_at=self.now)

    def first_entry(self, kind: str) -> bool:
        return self.run.pending is None or self.run.pending.kind != kind

    def first_look(self, event: bool = True) -> timedelta:
        """The opening wait of an operation just started; with Event Grid a safety net behind its event
        while events come at once, the plain back-off once they are measured late."""
        return waits.first_look(event_grid=event and self.deps.settings.event_grid, event_lag=self.run.event_lag)

    def look_again(self, event: bool = True, since: datetime | None = None) -> timedelta:
        """The next look at what the pending operation (or `since`) started: backing off from the time waited."""
        started = since or (self.run.pending.started_at if self.run.pending is not None else self.now)
        event_grid = event and self.deps.settings.event_grid
        return waits.backoff(started, self.now, event_grid=event_grid, event_lag=self.run.event_lag)

    def overdue(self, limit: timedelta = OPERATION_LIMIT) -> bool:
        return self.run.pending is not None and self.now - self.run.pending.started_at > limit


def _outdated(ctx: RolloutContext, hosts: list[SessionHostState]) -> list[SessionHostState]:
    """Hosts not on the version yet, and hosts a failed attempt left broken (retried after a resume)."""
    failed, retry = ctx.run.failed_hosts, set(ctx.run.retry) - set(ctx.run.done)
    return [
        h
        for h in hosts
        if h.name not in failed and (h.exact_version != ctx.run.target_version or (h.name in retry and not h.available))
    ]


def step_plan(ctx: RolloutContext) -> StepResult:
    """Pick the next batch: never more than the batch size, never below the minimum available."""
    policy, run = ctx.policy, ctx.run
    hosts = ctx.avd.hosts(run.pool_id)
    outdated = _outdated(ctx, hosts)
    if not outdated:
        return StepResult(finish=True, notes=[("finished", f"all {len(hosts)} hosts run {run.target_version}", "")])
    if run.automatic and policy.rollout is RolloutMode.AUTO and policy.maintenance_window is not None:
        opening = policy.maintenance_window.next_opening(ctx.now)
        if opening > ctx.now:
            detail = f"outside the maintenance window; next batch at {opening:%Y-%m-%d %H:%M %Z}"
            notes = [("waiting", detail, "")] if ctx.first_entry("window") else []
            return StepResult(wait=opening - ctx.now, pending=ctx.pending("window"), notes=notes)
    available = sum(1 for h in hosts if h.available)
    room = available - policy.min_available
    size = policy.batch(len(hosts))
    # Hosts already out of service cost no capacity; take those first, then the emptiest.
    ordered = sorted(outdated, key=lambda h: (h.available, h.sessions, h.name))
    batch: list[str] = []
    for host in ordered:
        if len(batch) >= size:
            break
        if host.available:
            if room <= 0:
                continue
            room -= 1
        batch.append(host.name)
    if not batch and len(hosts) <= policy.min_available:
        reason = (
            f"the pool has {len(hosts)} hosts and must keep {policy.min_available} available: no host can be "
            "taken out; lower min_available or add a host"
        )
        return StepResult(halt=reason)
    if not batch and ctx.overdue(CAPACITY_LIMIT) and ctx.run.pending and ctx.run.pending.kind == "capacity":
        return StepResult(halt=f"waited {CAPACITY_LIMIT} for enough available hosts to take one out")
    if not batch:
        detail = (
            f"{available} of {len(hosts)} hosts available and the minimum is {policy.min_available}: "
            "waiting for capacity before taking another host out"
        )
        first = ctx.first_entry("capacity")
        return StepResult(
            wait=ctx.look_again(event=False),
            pending=ctx.pending("capacity"),
            notes=[("waiting", detail, "")] if first else [],
        )
    vms = {h.name: h.vm_id for h in hosts}
    detail = f"batch {run.batches + 1}: {', '.join(batch)} ({len(outdated)} of {len(hosts)} hosts to go)"
    return StepResult(
        next_step="drain",
        updates={"batch": tuple(batch), "batches": run.batches + 1, "vm_ids": {**run.vm_ids, **vms}},
        notes=[("batch", detail, "")],
    )


def step_drain(ctx: RolloutContext) -> StepResult:
    """Drain mode: allowNewSession = false, so no new user lands on a host about to be replaced."""
    notes = []
    for host in ctx.working:
        ctx.avd.set_drain(ctx.run.pool_id, host, True)
        notes.append(("drained", "no new sessions", host))
    return StepResult(next_step="message", updates={"drained_at": ctx.now}, notes=notes)


def step_message(ctx: RolloutContext) -> StepResult:
    """Tell the users on drained hosts, at most once: the messages go out after the step is committed.

    AVD's send-message call has no idempotency key, so the intent is recorded first (the audit note and
    the move to wait-users, one commit) and the messages follow it; a redelivery of this step after
    the commit is stale and sends nothing, and a crash before the commit sent nothing yet.
    """
    notes, sends = [], []
    pool_id, title, text = ctx.run.pool_id, ctx.policy.message_title, ctx.policy.message
    for host in ctx.working:
        sessions = ctx.avd.sessions(pool_id, host)
        sends += [(host, session) for session in sessions]
        if sessions:
            notes.append(("messaged", f"{len(sessions)} user(s) asked to save and sign out", host))

    def send() -> None:
        for host, session in sends:
            try:
                ctx.avd.send_message(pool_id, host, session, title, text)
            except AzureOperationError as error:  # a courtesy: the grace period and log-off still follow
                log.warning("rollout %s: message to %s on %s not sent: %s", ctx.run.run_id, session, host, error)

    return StepResult(next_step="wait-users", notes=notes, after_commit=[send] if sends else [])


def grace_end(ctx: RolloutContext) -> datetime:
    drained = ctx.run.drained_at or ctx.now
    return drained + timedelta(minutes=ctx.policy.drain_grace_minutes)


def step_wait_users(ctx: RolloutContext) -> StepResult:
    """Wait (re-checks, never blocking) until the users have left or the grace period is over."""
    left = {h: len(ctx.avd.sessions(ctx.run.pool_id, h)) for h in ctx.working}
    if not any(left.values()):
        return StepResult(next_step="delete", notes=[("users-gone", "every user signed out", "")])
    end = grace_end(ctx)
    if ctx.now >= end:
        return StepResult(next_step="log-off")
    # Users leave on their own time: look soon, then back off from the drain, never past the grace's end.
    again = ctx.look_again(event=False, since=ctx.run.drained_at)
    return StepResult(wait=min(end - ctx.now, again), pending=ctx.pending("users"))


def step_log_off(ctx: RolloutContext) -> StepResult:
    """The grace period is over: sign the remaining users off (their work was announced)."""
    if ctx.now < grace_end(ctx):  # never before the grace ends (a stale message cannot get here early)
        return StepResult(next_step="wait-users")
    notes = []
    for host in ctx.working:
        sessions = ctx.avd.sessions(ctx.run.pool_id, host)
        for session in sessions:
            ctx.avd.log_off(ctx.run.pool_id, host, session)
        if sessions:
            notes.append(("logged-off", f"{len(sessions)} user(s) signed off after the grace period", host))
    return StepResult(next_step="delete", notes=notes)


def _no_users_left(ctx: RolloutContext) -> StepResult | None:
    """The last guard before a host is destroyed: nobody on it, unless the grace is over."""
    busy = [h for h in ctx.working if ctx.avd.sessions(ctx.run.pool_id, h)]
    if not busy:
        return None
    return StepResult(next_step="log-off" if ctx.now >= grace_end(ctx) else "wait-users")


def step_delete(ctx: RolloutContext) -> StepResult:
    """Record what each VM is (size, NIC, name), then delete it; the NIC stays for the new VM."""
    avd, run = ctx.avd, ctx.run
    if ctx.first_entry("delete"):
        guard = _no_users_left(ctx)
        if guard is not None:
            return guard
        unrecorded = [h for h in ctx.working if h not in run.specs]
        if unrecorded:
            # Recorded (committed) before anything is deleted: a redelivery after a crash may find the VM gone.
            specs, failures = dict(run.specs), []
            for host in unrecorded:
                spec = avd.host_spec(run.vm_ids.get(host, ""))
                if spec is None:
                    failures.append((host, "its VM is missing and nothing recorded how to recreate it"))
                else:
                    specs[host] = {**asdict(spec), "nic_ids": list(spec.nic_ids)}
            return StepResult(next_step="delete", updates={"specs": specs}, failures=failures)
        for host in ctx.working:
            start_once(avd.start_delete_vm, ctx.spec(host).vm_id)
        return StepResult(wait=ctx.first_look(), pending=ctx.pending("delete"))
    gone = {h: avd.vm_state(ctx.spec(h).vm_id) == "Missing" for h in ctx.working}
    if all(gone.values()):
        for host in ctx.working:
            start_once(avd.start_delete_disk, ctx.spec(host).os_disk_id)  # kept when its deleteOption was Detach
        return StepResult(next_step="create")
    if ctx.overdue():
        failures = [(h, "its VM was not deleted within the hour") for h, ok in gone.items() if not ok]
        return StepResult(next_step="create", failures=failures)
    return StepResult(wait=ctx.look_again(), pending=ctx.pending("delete"))


def step_create(ctx: RolloutContext) -> StepResult:
    """The same VM name, size and NIC, from the target gallery version."""
    avd, run = ctx.avd, ctx.run
    if ctx.first_entry("create"):
        tags = {ROLLOUT_TAG: run.run_id}
        for host in ctx.working:
            start_once(avd.start_create_vm, ctx.spec(host), run.target_image_id, tags)
        return StepResult(wait=ctx.first_look(), pending=ctx.pending("create"))
    states = {h: avd.vm_state(ctx.spec(h).vm_id) for h in ctx.working}
    failures = [
        (h, f"the new VM failed to provision from {run.target_version}") for h, s in states.items() if s == "Failed"
    ]
    waiting = [h for h, s in states.items() if s in ("InProgress", "Missing")]
    if waiting and not ctx.overdue():
        return StepResult(wait=ctx.look_again(), pending=ctx.pending("create"), failures=failures)
    failures += [(h, "the new VM was not ready within the hour") for h in waiting]
    return StepResult(next_step="register", failures=failures)


def step_register(ctx: RolloutContext) -> StepResult:
    """Install the AVD agent with a fresh registration token; the host re-joins the pool."""
    avd, run = ctx.avd, ctx.run
    if ctx.first_entry("register"):
        if ctx.working:
            token = avd.registration_token(run.pool_id, ctx.now, TOKEN_MARGIN)
            for host in ctx.working:
                spec = ctx.spec(host)
                start_once(avd.start_register, spec.vm_id, spec.location, run.pool_id, token)
        return StepResult(wait=ctx.first_look(), pending=ctx.pending("register"))
    states = {h: avd.registration_state(ctx.spec(h).vm_id) for h in ctx.working}
    failures = [(h, "the AVD agent failed to install or register") for h, s in states.items() if s == "Failed"]
    waiting = [h for h, s in states.items() if s in ("InProgress", "Missing")]
    if waiting and not ctx.overdue():
        return StepResult(wait=ctx.look_again(), pending=ctx.pending("register"), failures=failures)
    failures += [(h, "the AVD agent did not register within the hour") for h in waiting]
    return StepResult(next_step="wait-available", failures=failures, updates={"registered_at": ctx.now})


def step_wait_available(ctx: RolloutContext) -> StepResult:
    """Available with a heartbeat newer than the registration: the new VM's agent, not the old one's."""
    run = ctx.run
    since = run.registered_at or ctx.now
    hosts = {h.name: h for h in ctx.avd.hosts(run.pool_id)}
    healthy = {
        name
        for name in ctx.working
        if (h := hosts.get(name)) is not None
        and h.status == "Available"
        and h.last_heartbeat is not None
        and h.last_heartbeat >= since
        and h.exact_version == run.target_version
    }
    late = [h for h in ctx.working if h not in healthy]
    if not late:
        return StepResult(next_step="undrain")
    if ctx.now - since > timedelta(minutes=ctx.policy.available_timeout_minutes):
        reason = (
            f"not Available with a fresh heartbeat {ctx.policy.available_timeout_minutes} minutes after registration"
        )
        return StepResult(next_step="undrain", failures=[(h, reason) for h in late])
    # No event says a heartbeat arrived: short looks from the registration, backing off.
    return StepResult(wait=ctx.look_again(event=False, since=since), pending=ctx.pending("available"))


def step_undrain(ctx: RolloutContext) -> StepResult:
    """Back in service; failed hosts stay drained. Halt once the failures reach the threshold."""
    run, notes = ctx.run, []
    for host in ctx.working:
        ctx.avd.set_drain(run.pool_id, host, False)
        notes.append(("replaced", f"runs {run.target_version}, accepting sessions", host))
    done = tuple(dict.fromkeys([*run.done, *ctx.working]))
    updates = {"done": done, "batch": (), "drained_at": None, "registered_at": None}
    if run.failures_since_resume >= ctx.policy.failure_threshold:
        reason = (
            f"{run.failures_since_resume} host(s) failed (threshold {ctx.policy.failure_threshold}); the pool keeps "
            f"serving. Resume with `avdimage rollout {ctx.policy.name}` or go back with --to <version>"
        )
        return StepResult(halt=reason, updates=updates, notes=notes)
    return StepResult(next_step="plan", updates=updates, notes=notes)


STEPS = {
    "plan": step_plan,
    "drain": step_drain,
    "message": step_message,
    "wait-users": step_wait_users,
    "log-off": step_log_off,
    "delete": step_delete,
    "create": step_create,
    "register": step_register,
    "wait-available": step_wait_available,
    "undrain": step_undrain,
}


def failure_records(ctx: RolloutContext, failures: list[tuple[str, str]]) -> tuple[HostFailure, ...]:
    return tuple(HostFailure(host=h, reason=r, at=ctx.now) for h, r in failures)
