"""Managed Run Command and VM restart: started once, followed by pending operations, never waited on inside a step."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from shared.config import Settings
from shared.domain.catalog import load_catalog
from shared.domain.compute import ManagedScriptResult, OperationState, VmState
from shared.domain.errors import AzureOperationError
from shared.domain.model import BuildReason, PendingOperation, Pointers, Run
from shared.steps import managed_script as ms
from shared.steps import waits
from shared.steps.outcome import Outcome
from shared.steps.step_context import StepContext
from tests.unit.fakes import FakeClock, make_deps

ROOT = Path(__file__).resolve().parents[2]
CATALOG = load_catalog(ROOT / "catalog")
NOW = FakeClock().current
EVENT_GRID = Settings().event_grid
AT_ONCE = 0.0  # the run measured its events coming at once: its looks are the safety net
VM_ID = "/subscriptions/s/resourceGroups/rg-avd-images/providers/Microsoft.Compute/virtualMachines/vm1"


@dataclass
class ScriptCompute:
    """Answers the Run Command and VM reads the helpers make; records what they start."""

    results: dict[str, ManagedScriptResult | None] = field(default_factory=dict)
    refuse_start: AzureOperationError | None = None
    refuse_read: AzureOperationError | None = None
    vm: VmState | None = None
    calls: list[tuple[str, Any]] = field(default_factory=list)
    retry_after: float | None = None  # the Retry-After of the last start (ComputePort)

    def id_of(self, resource_type: str, name: str) -> str:
        return f"/subscriptions/s/resourceGroups/rg-avd-images/providers/{resource_type}/{name}"

    def managed_script_result(self, vm_name: str, name: str) -> ManagedScriptResult | None:
        if self.refuse_read is not None:
            raise self.refuse_read
        return self.results.get(name)

    def start_managed_script(self, vm_name: str, name: str, text: str, timeout: timedelta, location: str) -> None:
        self.calls.append(("start_managed_script", (vm_name, name, text, timeout, location)))
        if self.refuse_start is not None:
            raise self.refuse_start

    def start_restart(self, vm_name: str) -> None:
        self.calls.append(("start_restart", vm_name))

    def get_vm(self, name: str) -> VmState | None:
        return self.vm


def context(compute: ScriptCompute, pending: PendingOperation | None = None) -> StepContext:
    deps = make_deps(CATALOG, compute=compute)  # type: ignore[arg-type]
    run = Run(
        workload="office",
        run_id="r1",
        reason=BuildReason.FIRST,
        requested_by="a@b.c",
        started_at=NOW,
        pending=pending,
        event_lag=AT_ONCE,
    )
    return StepContext(deps, CATALOG.get("office"), run, None, NOW, Pointers(workload="office"))


def done(started_offset: timedelta = timedelta(0)) -> ManagedScriptResult:
    return ManagedScriptResult(state="Succeeded", exit_code=0, stdout="ok", stderr="", started=NOW + started_offset)


def test_a_script_is_started_once_and_followed_by_a_pending_operation() -> None:
    """The first call starts the named command in the workload's region and comes back later for it."""
    compute = ScriptCompute()
    outcome = ms.managed_script(context(compute), "inventory", "vm1", "Get-Thing", timedelta(minutes=30))
    assert compute.calls == [
        ("start_managed_script", ("vm1", "avd-inventory", "Get-Thing", timedelta(minutes=30), "westeurope"))
    ]
    assert isinstance(outcome, Outcome)
    assert outcome.pending == PendingOperation(
        kind="managed:inventory",
        resource_id=f"{VM_ID}/runCommands/avd-inventory",
        started_at=NOW,
        operation="avd-inventory",
    )
    assert outcome.wait == waits.first_look(None, EVENT_GRID, AT_ONCE)


def test_a_result_started_by_this_step_is_taken() -> None:
    """When the step comes back, a result started after its start (clock skew allowed) is the answer."""
    pending = PendingOperation(kind="managed:inventory", started_at=NOW, operation="avd-inventory")
    skewed = done(-ms.CLOCK_SKEW)
    compute = ScriptCompute(results={"avd-inventory": skewed})
    assert ms.managed_script(context(compute, pending), "inventory", "vm1", "x", timedelta(minutes=5)) is skewed
    assert compute.calls == []


def test_an_earlier_runs_result_is_not_taken() -> None:
    """A result that started before this step's start (beyond the skew) is an earlier run's: wait."""
    pending = PendingOperation(kind="managed:inventory", started_at=NOW, operation="avd-inventory", checks=2)
    compute = ScriptCompute(results={"avd-inventory": done(-ms.CLOCK_SKEW - timedelta(seconds=1))})
    outcome = ms.managed_script(context(compute, pending), "inventory", "vm1", "x", timedelta(minutes=5))
    assert isinstance(outcome, Outcome)
    assert outcome.pending is not None
    assert (outcome.pending.kind, outcome.pending.checks) == ("managed:inventory", 3)
    assert outcome.wait == waits.backoff(NOW, NOW, None, event_grid=EVENT_GRID, event_lag=AT_ONCE)
    assert compute.calls == []


def test_a_busy_vm_is_retried_shortly_and_never_counted_as_started() -> None:
    """A 409 (another script running) waits under `managed-start:` and fails after the attempt limit."""
    busy = AzureOperationError("run command", "Conflict", "another operation is in progress", 409)
    compute = ScriptCompute(refuse_start=busy, refuse_read=AzureOperationError("read", "NotFound", "none", 404))
    outcome = ms.managed_script(context(compute), "inventory", "vm1", "x", timedelta(minutes=5))
    assert isinstance(outcome, Outcome)
    assert outcome.pending is not None
    assert outcome.pending.kind == "managed-start:inventory"
    assert outcome.wait == waits.backoff(NOW, NOW)
    worn = PendingOperation(kind="managed-start:inventory", started_at=NOW, checks=ms.START_ATTEMPTS - 1)
    last = ms.managed_script(context(compute, worn), "inventory", "vm1", "x", timedelta(minutes=5))
    assert isinstance(last, Outcome)
    assert last.fail == f"vm1 kept refusing Run Command avd-inventory: {busy}"
    below = PendingOperation(kind="managed-start:inventory", started_at=NOW, checks=ms.START_ATTEMPTS - 2)
    again = ms.managed_script(context(compute, below), "inventory", "vm1", "x", timedelta(minutes=5))
    assert isinstance(again, Outcome)
    assert again.fail is None


def test_a_quota_refusal_of_the_start_fails_the_step() -> None:
    """A 409 that is a quota refusal goes up instead of being retried as "busy"."""
    compute = ScriptCompute(refuse_start=AzureOperationError("run", "OperationNotAllowed", "Cores quota exceeded", 409))
    with pytest.raises(AzureOperationError, match="quota"):
        ms.managed_script(context(compute), "inventory", "vm1", "x", timedelta(minutes=5))


def test_a_redelivered_start_that_was_ours_is_followed_not_run_twice() -> None:
    """If the command under this name is running (or started since), it is followed as our own."""
    waiting = PendingOperation(kind="managed-start:inventory", started_at=NOW, checks=1)
    compute = ScriptCompute(results={"avd-inventory": None})
    outcome = ms.managed_script(context(compute, waiting), "inventory", "vm1", "x", timedelta(minutes=5))
    assert isinstance(outcome, Outcome)
    assert outcome.pending == PendingOperation(
        kind="managed:inventory", resource_id=VM_ID, started_at=NOW, operation="avd-inventory"
    )
    assert outcome.wait == waits.SHORTEST
    assert compute.calls == []


def test_an_earlier_runs_finished_command_is_not_taken_for_ours() -> None:
    """A finished command of the same name from before the wait began is an earlier run's: start again."""
    waiting = PendingOperation(kind="managed-start:inventory", started_at=NOW, checks=1)
    compute = ScriptCompute(results={"avd-inventory": done(-ms.CLOCK_SKEW - timedelta(seconds=1))})
    ms.managed_script(context(compute, waiting), "inventory", "vm1", "x", timedelta(minutes=5))
    assert [c[0] for c in compute.calls] == ["start_managed_script"]
    ours = ScriptCompute(results={"avd-inventory": done(-ms.CLOCK_SKEW)})
    ms.managed_script(context(ours, waiting), "inventory", "vm1", "x", timedelta(minutes=5))
    assert ours.calls == []


def test_reading_a_missing_command_starts_it_but_other_read_errors_go_up() -> None:
    """NotFound means it was never made (start it); any other read error fails the step."""
    waiting = PendingOperation(kind="managed-start:inventory", started_at=NOW, checks=1)
    missing = ScriptCompute(refuse_read=AzureOperationError("read", "NotFound", "no command", 404))
    ms.managed_script(context(missing, waiting), "inventory", "vm1", "x", timedelta(minutes=5))
    assert [c[0] for c in missing.calls] == ["start_managed_script"]
    broken = ScriptCompute(refuse_read=AzureOperationError("read", "InternalServerError", "oops", 500))
    with pytest.raises(AzureOperationError, match="InternalServerError"):
        ms.managed_script(context(broken, waiting), "inventory", "vm1", "x", timedelta(minutes=5))


def vm(provisioning: OperationState, power: str) -> VmState:
    return VmState(VM_ID, "vm1", provisioning, power, False, "", (), "")


def test_a_restart_is_started_once_then_checked_until_the_vm_runs() -> None:
    """Restart starts once; the VM back and running ends it; a failed VM fails it; else wait a fifth of the time waited."""
    compute = ScriptCompute()
    first = ms.restarted(context(compute), "vm1")
    assert compute.calls == [("start_restart", "vm1")]
    assert first is not None
    assert first.wait == waits.OPENING  # no Retry-After, no event: the plain opening
    assert first.pending == PendingOperation(kind="vm-restart", resource_id=VM_ID, started_at=NOW)
    started = PendingOperation(kind="vm-restart", started_at=NOW - timedelta(minutes=10))
    compute.vm = vm(OperationState.SUCCEEDED, "running")
    assert ms.restarted(context(compute, started), "vm1") is None
    compute.vm = vm(OperationState.FAILED, "stopped")
    failed = ms.restarted(context(compute, started), "vm1")
    assert failed is not None
    assert failed.fail == "restart of vm1 failed"
    compute.vm = vm(OperationState.SUCCEEDED, "starting")
    later = ms.restarted(context(compute, started), "vm1")
    assert later is not None
    assert later.wait == timedelta(minutes=2)  # a fifth of the 10 minutes waited
    assert later.pending is not None
    assert later.pending.checks == 1
    compute.vm = None
    recent = PendingOperation(kind="vm-restart", started_at=NOW - timedelta(seconds=10))
    soon = ms.restarted(context(compute, recent), "vm1")
    assert soon is not None
    assert soon.wait == waits.SHORTEST
    ancient = PendingOperation(kind="vm-restart", started_at=NOW - timedelta(hours=2))
    capped = ms.restarted(context(compute, ancient), "vm1")
    assert capped is not None
    assert capped.wait == waits.LONGEST
    assert len(compute.calls) == 1
