"""Start a managed Run Command once and come back for its result, never waiting inside a step."""

from __future__ import annotations

import re
from datetime import datetime, timedelta

from shared.domain.compute import ManagedScriptResult, OperationState
from shared.domain.errors import AzureOperationError
from shared.domain.model import PendingOperation
from shared.steps import waits
from shared.steps.outcome import ALREADY_STARTED, Outcome, refused, start_once
from shared.steps.step_context import StepContext

# The run command's completion event (its PUT ends with the script) continues the run; without
# events the instance view's executionState is read on the back-off (waits.backoff).
CLOCK_SKEW = timedelta(seconds=90)
START_ATTEMPTS = 30  # refused starts (VM restarting, another script running) before the run fails


def command_name(purpose: str) -> str:
    """One name per purpose: a new run re-runs (PUT updates) the command instead of adding one more."""
    return re.sub(r"[^A-Za-z0-9-]", "-", f"avd-{purpose}")[:80]


def managed_script(
    ctx: StepContext, purpose: str, vm_name: str, text: str, timeout: timedelta
) -> ManagedScriptResult | Outcome:
    """The finished result, or the Outcome that waits for it (started now if it was not).

    Names are per purpose, so a VM keeps one run command per purpose (the last run's, as
    evidence) and nothing accumulates; a result that started before this step started it is
    an earlier run's and is not taken.
    """
    kind = f"managed:{purpose}"
    compute = ctx.deps.compute
    name = command_name(purpose)
    current = ctx.run.pending
    if current is not None and current.kind == kind:
        result = compute.managed_script_result(vm_name, name)
        stale = result is not None and result.started is not None and result.started < current.started_at - CLOCK_SKEW
        if result is not None and not stale:
            return result
        # the completion event usually continues the run first; these looks are the safety net
        return Outcome(wait=ctx.backoff(current), pending=ctx.pending(kind))
    vm_id = compute.id_of("Microsoft.Compute/virtualMachines", vm_name)
    waiting = f"managed-start:{purpose}"
    if current is not None and current.kind == waiting and _ours_under_way(ctx, vm_name, name, current.started_at):
        # the earlier PUT was ours after all (a redelivery): follow it instead of running it twice
        followed = PendingOperation(kind=kind, resource_id=vm_id, started_at=current.started_at, operation=name)
        return Outcome(wait=waits.SHORTEST, pending=followed)
    try:
        compute.start_managed_script(vm_name, name, text, timeout, ctx.workload.location)
    except AzureOperationError as error:
        # 409: the VM is restarting (OperationNotAllowed "not running") or another script is running
        # on it (Conflict). Azure refused this start: try again shortly, never count it as started.
        if error.code not in ALREADY_STARTED or refused(error):
            raise
        busy = ctx.pending(waiting)
        if busy.checks >= START_ATTEMPTS:
            return Outcome(fail=f"{vm_name} kept refusing Run Command {name}: {error}")
        return Outcome(wait=waits.backoff(busy.started_at, ctx.now), pending=busy)
    pending = PendingOperation(
        kind=kind,
        resource_id=f"{vm_id}/runCommands/{name}",
        started_at=ctx.now,
        operation=name,
        retry_after=compute.retry_after,
    )
    return Outcome(wait=ctx.first_look(kind), pending=pending)


def _ours_under_way(ctx: StepContext, vm_name: str, name: str, since: datetime) -> bool:
    """Whether the command of this name is one we started (running, or started since `since`);
    names are reused by every run, so an earlier run's finished command does not count."""
    try:
        result = ctx.deps.compute.managed_script_result(vm_name, name)
    except AzureOperationError as error:
        if error.code == "NotFound":
            return False
        raise
    return result is None or (result.started is not None and result.started >= since - CLOCK_SKEW)


def failure(what: str, vm_name: str, result: ManagedScriptResult) -> str:
    """Why a script failed, quoting the tail of its stderr."""
    how = {
        "TimedOut": "timed out",
        "Canceled": "was canceled",
    }.get(result.state, f"exited with code {result.exit_code}")
    tail = result.stderr.strip()[-1200:] or result.message or "no error output"
    return f"{what} {how} on {vm_name}: {tail}"


def restarted(ctx: StepContext, vm_name: str, kind: str = "vm-restart") -> Outcome | None:
    """Restart the VM once; None when it is back (provisioned and running), else the wait."""
    compute = ctx.deps.compute
    current = ctx.run.pending
    if current is None or current.kind != kind:
        start_once(compute.start_restart, vm_name)
        vm_id = compute.id_of("Microsoft.Compute/virtualMachines", vm_name)
        restarting = PendingOperation(kind=kind, resource_id=vm_id, started_at=ctx.now, retry_after=compute.retry_after)
        # No event is routed for restart/action (shared/steps/events.py): the plain back-off.
        return Outcome(wait=ctx.first_look(evented=False), pending=restarting)
    vm = compute.get_vm(vm_name)
    if vm is not None and vm.provisioning is OperationState.SUCCEEDED and vm.power == "running":
        return None
    if vm is not None and vm.provisioning is OperationState.FAILED:
        return Outcome(fail=f"restart of {vm_name} failed")
    return Outcome(wait=ctx.backoff(current, evented=False), pending=ctx.pending(kind))
