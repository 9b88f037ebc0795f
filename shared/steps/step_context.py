"""What every build step gets: the run, its version, Azure and the records, and the small helpers
that make a step idempotent (deterministic temp names, pending operations, start-once).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from shared.domain import naming
from shared.domain.catalog import SecurityType, Workload
from shared.domain.compute import (
    EXPIRES_TAG,
    RUN_TAG,
    WORKLOAD_TAG,
    OperationState,
    ScriptResult,
)
from shared.domain.errors import AzureOperationError, RequestRefused
from shared.domain.model import (
    ImageVersion,
    PendingOperation,
    Pointers,
    Run,
)
from shared.domain.records import AuditEntry
from shared.steps import history, waits
from shared.steps.deps import Deps
from shared.steps.outcome import Outcome, start_once

SCRIPT_BUSY_LIMIT = 20


@dataclass
class StepContext:
    deps: Deps
    workload: Workload
    run: Run
    version: ImageVersion | None
    now: datetime
    pointers: Pointers

    def temp(self, kind: str) -> str:
        return naming.temp_resource_name(self.workload.name, self.run.run_id, kind)

    def tags(self, kind: str) -> dict[str, str]:
        expires = self.now + timedelta(hours=self.deps.settings.temp_resource_ttl_hours)
        return {
            RUN_TAG: self.run.run_id,
            WORKLOAD_TAG: self.workload.name,
            EXPIRES_TAG: expires.isoformat(),
            "avd-lifecycle-kind": kind,
        }

    def pending(self, kind: str, resource_id: str = "") -> PendingOperation:
        """The pending operation of this kind, started now or carried over with one more check."""
        current = self.run.pending
        if current is not None and current.kind == kind:
            return current.model_copy(update={"checks": current.checks + 1})
        return PendingOperation(
            kind=kind, resource_id=resource_id, started_at=self.now, retry_after=self.deps.compute.retry_after
        )

    def backoff(self, pending: PendingOperation, *, evented: bool = True) -> timedelta:
        """The next look at `pending`: from Azure's Retry-After, backing off (waits.backoff).

        `evented=False` for an operation no routed event reports (a restart): no safety net then."""
        return waits.backoff(
            pending.started_at,
            self.now,
            pending.retry_after,
            event_grid=self.deps.settings.event_grid and evented,
            event_lag=self.event_lag,
            expected=self.expected(pending.kind),
        )

    @property
    def event_lag(self) -> float:
        """How late this run's events come, for its waits: unmeasured until its first event (a first
        run), and then its looks do not wait for events (events.py wakes it with that measure)."""
        return waits.UNMEASURED if self.run.event_lag is None else self.run.event_lag

    @property
    def floor(self) -> timedelta:
        """The shortest gap between this run's looks (finer while its events come late; waits.floor)."""
        return waits.floor(self.deps.settings.event_grid, self.event_lag)

    def expected(self, kind: str) -> float | None:
        """Seconds the operation of this kind took on the workload's last run (shared/steps/history.py)."""
        return history.expected(self.pointers, kind)

    def script_took(self) -> timedelta:
        """How long the Run Command whose result this step just read took to answer (0 if none)."""
        pending = self.run.pending
        if pending is None or not pending.kind.startswith("script:"):
            return timedelta(0)
        return self.now - pending.started_at

    def first_look(self, kind: str = "", *, evented: bool = True) -> timedelta:
        """The first look at an operation of `kind` just started (after Azure's Retry-After, or from
        what the same operation took on the workload's last run)."""
        event_grid = self.deps.settings.event_grid and evented
        return waits.first_look(self.deps.compute.retry_after, event_grid, self.event_lag, self.expected(kind))

    def script(self, purpose: str, vm_name: str, text: str) -> ScriptResult | Outcome:
        """Run Command without waiting: start it and come back (on its event or a re-check) for the result."""
        kind = f"script:{purpose}"
        current = self.run.pending
        compute = self.deps.compute
        if current is not None and current.kind == kind:
            result = compute.script_result(current.operation)
            if result is not None:
                return result
            return Outcome(wait=self.backoff(current), pending=self.pending(kind))
        try:
            operation = compute.start_script(vm_name, text)
        except AzureOperationError as error:
            if error.code != "Conflict":
                raise
            # One Run Command at a time per VM: after a crash ours may still be running. Try again later.
            busy = self.pending(f"script-busy:{purpose}")
            if busy.checks >= SCRIPT_BUSY_LIMIT:
                return Outcome(fail=f"Run Command on {vm_name} stayed busy: {error}")
            return Outcome(wait=waits.backoff(busy.started_at, self.now), pending=busy)
        vm_id = compute.id_of("Microsoft.Compute/virtualMachines", vm_name)
        pending = PendingOperation(
            kind=kind, resource_id=vm_id, started_at=self.now, operation=operation, retry_after=compute.retry_after
        )
        return Outcome(wait=self.first_look(), pending=pending)

    def mark(self, name: str) -> dict[str, datetime]:
        return {**self.run.marks, name: self.now}

    def audit(self, kind: str, detail: str, **fields: object) -> AuditEntry:
        version = self.version.version if self.version is not None else None
        return AuditEntry(
            at=self.now,
            kind=kind,
            actor=f"step:{self.run.step}",
            detail=detail,
            version=version,
            **fields,  # type: ignore[arg-type]
        )

    def require_version(self) -> ImageVersion:
        if self.version is None:
            raise RequestRefused(f"run {self.run.run_id} reached {self.run.step} without a version record")
        return self.version

    @property
    def source_vm(self) -> str:
        return naming.source_vm_name(self.workload.name)


def trusted_launch(workload: Workload) -> bool:
    return workload.security_type is SecurityType.TRUSTED_LAUNCH


def ensure_resource(
    ctx: StepContext, resource_type: str, name: str, kind: str, start: Callable[[], str]
) -> Outcome | None:
    """Start a resource once; None when it exists and succeeded, else the wait or failure.

    The first entry starts without a read (PUT of a deterministic name is idempotent; a
    redelivery that finds the operation under way gets Conflict and simply waits).
    """
    compute = ctx.deps.compute
    resource_id = compute.id_of(resource_type, name)
    pending = ctx.run.pending
    if pending is None or pending.kind != kind:
        start_once(start, exists=lambda: compute.resource_state(resource_id) is not OperationState.MISSING)
        return Outcome(wait=ctx.first_look(kind), pending=ctx.pending(kind, resource_id))
    state = compute.resource_state(resource_id)
    if state is OperationState.SUCCEEDED:
        return None
    if state is OperationState.FAILED:
        return Outcome(fail=f"{kind} {name} failed to provision")
    if state is OperationState.MISSING and pending.checks >= 2:
        return Outcome(fail=f"{kind} {name} was never created (started {pending.started_at:%H:%M})")
    return Outcome(wait=ctx.backoff(pending), pending=ctx.pending(kind, resource_id))
