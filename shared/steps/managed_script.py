"""Start a managed Run Command once and come back for its result, never waiting inside a step."""

from __future__ import annotations

import re
from datetime import timedelta

from shared.domain.compute import ManagedScriptResult, OperationState
from shared.domain.model import PendingOperation
from shared.steps.outcome import Outcome, start_once
from shared.steps.step_context import StepContext

RECHECK_FLOOR = timedelta(seconds=30)
# The run command's completion event (its PUT ends with the script) continues the run; these
# re-checks are the safety net: 5 min, then doubling up to 20 min.
FIRST_RECHECK = timedelta(minutes=5)
RECHECK_CEILING = timedelta(minutes=20)
CLOCK_SKEW = timedelta(minutes=1)


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
        elapsed = ctx.now - current.started_at
        wait = min(max(elapsed, FIRST_RECHECK), RECHECK_CEILING)
        return Outcome(wait=wait, pending=ctx.pending(kind))
    start_once(compute.start_managed_script, vm_name, name, text, timeout, ctx.workload.location)
    vm_id = compute.id_of("Microsoft.Compute/virtualMachines", vm_name)
    pending = PendingOperation(kind=kind, resource_id=f"{vm_id}/runCommands/{name}", started_at=ctx.now, operation=name)
    return Outcome(wait=FIRST_RECHECK, pending=pending)


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
        return Outcome(
            wait=timedelta(minutes=1), pending=PendingOperation(kind=kind, resource_id=vm_id, started_at=ctx.now)
        )
    vm = compute.get_vm(vm_name)
    if vm is not None and vm.provisioning is OperationState.SUCCEEDED and vm.power == "running":
        return None
    if vm is not None and vm.provisioning is OperationState.FAILED:
        return Outcome(fail=f"restart of {vm_name} failed")
    elapsed = ctx.now - current.started_at
    return Outcome(wait=min(max(elapsed / 2, RECHECK_FLOOR), RECHECK_CEILING), pending=ctx.pending(kind))
