"""Sysprep and deallocation of the temp VM (shared.steps.build_image), against a scripted compute.

Sysprep /shutdown is sent once and not waited on; a VM that stopped after it was sent has resealed
(sysprep powers off only after a successful reseal), one still running past the deadline fails the
run with its log. Deallocation is asked once, re-asked when lost, and the VM generalized before capture.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

import pytest

from shared.adapters import guest_scripts
from shared.config import Settings
from shared.domain.catalog import load_catalog
from shared.domain.compute import OperationState, ScriptResult, VmState
from shared.domain.errors import AzureOperationError
from shared.domain.model import BuildReason, PendingOperation, Pointers, Run
from shared.steps.build_image import SYSPREP_TIMEOUT, step_deallocate, step_sysprep
from shared.steps.step_context import StepContext
from tests.unit.fakes import FakeClock, FakeCompute, make_deps

CATALOG = load_catalog(Path(__file__).resolve().parents[2] / "catalog")
NOW = FakeClock().current
NAME = "office--run-1--vm"
VM_ID = f"/subscriptions/s/resourceGroups/rg-avd-images/providers/Microsoft.Compute/virtualMachines/{NAME}"


@dataclass
class GuestCompute(FakeCompute):
    vm: VmState | None = None
    results: dict[str, ScriptResult | None] = field(default_factory=dict)
    refuse_script: AzureOperationError | None = None
    refuse_result: AzureOperationError | None = None
    scripts: list[tuple[str, str]] = field(default_factory=list)

    def start_script(self, vm_name: str, text: str) -> str:
        self.scripts.append((vm_name, text))
        if self.refuse_script is not None:
            raise self.refuse_script
        return f"op-{len(self.scripts)}"

    def script_result(self, operation: str) -> ScriptResult | None:
        if self.refuse_result is not None:
            raise self.refuse_result
        return self.results.get(operation)

    def get_vm(self, name: str) -> VmState | None:
        assert name == NAME
        return self.vm

    def start_deallocate(self, name: str) -> None:
        self.calls.append(("start_deallocate", name))

    def generalize(self, name: str) -> None:
        self.calls.append(("generalize", name))


def vm(power: str, provisioning: OperationState = OperationState.SUCCEEDED, generalized: bool = False) -> VmState:
    return VmState(VM_ID, NAME, provisioning, power, generalized, "disk", ("nic",), "urn")


def context(
    compute: GuestCompute,
    pending: PendingOperation | None = None,
    marks: dict[str, timedelta] | None = None,
    step: str = "sysprep",
    step_seen_ago: timedelta | None = None,
) -> StepContext:
    deps = make_deps(CATALOG, compute=compute)
    deps.settings = Settings(event_grid=False)
    run = Run(workload="office", run_id="run-1", reason=BuildReason.FIRST, requested_by="a@b.c",
              started_at=NOW - timedelta(hours=2), step=step, pending=pending,
              step_started_at=NOW - (step_seen_ago or timedelta(0)),
              marks={k: NOW - ago for k, ago in (marks or {}).items()})  # fmt: skip
    return StepContext(deps, CATALOG.get("office"), run, None, NOW, Pointers(workload="office"))


def sent(checks: int = 0) -> PendingOperation:
    return PendingOperation(kind="script:sysprep-start", started_at=NOW - timedelta(minutes=1), operation="op-0",
                            checks=checks)  # fmt: skip


def test_sysprep_is_sent_once_and_followed_by_its_run_command() -> None:
    """First entry: sysprep /shutdown goes out as a Run Command on the temp VM; the step comes back for it."""
    compute = GuestCompute()
    outcome = step_sysprep(context(compute))
    assert compute.scripts == [(NAME, guest_scripts.SYSPREP_START)]
    assert outcome.pending is not None
    assert outcome.pending.kind == "script:sysprep-start"


def test_a_started_sysprep_is_marked_and_the_vm_watched() -> None:
    """The command reported: sysprep-started marked now, the VM watched (pending 'sysprep' on its name)."""
    compute = GuestCompute(results={"op-0": ScriptResult('{"started": true}', "")})
    outcome = step_sysprep(context(compute, sent()))
    assert outcome.run_updates == {"marks": {"sysprep-started": NOW}}
    assert outcome.pending == PendingOperation(kind="sysprep", resource_id=NAME, started_at=NOW)
    assert outcome.wait == timedelta(seconds=15)


def test_a_sysprep_start_that_printed_an_error_fails() -> None:
    """stderr from the start script is an error naming the VM."""
    compute = GuestCompute(results={"op-0": ScriptResult("", "access denied")})
    with pytest.raises(AzureOperationError, match=f"^sysprep on {NAME} failed: GuestScriptError: access denied$"):
        step_sysprep(context(compute, sent()))


def test_a_vm_that_stopped_before_the_command_reported_has_resealed() -> None:
    """No report yet but the VM is stopped: sysprep only powers off once resealed, so deallocate next."""
    compute = GuestCompute(vm=vm("stopped"))
    outcome = step_sysprep(context(compute, sent()))
    assert outcome.next_step == "deallocate"
    assert outcome.run_updates == {"marks": {"sysprep-started": NOW}}
    [entry] = outcome.audit
    assert entry.kind == "sysprep-done"
    assert entry.detail == (
        f"{NAME}: stopped (stopped) after sysprep /generalize /oobe /shutdown was sent, before Run Command "
        "reported (Run Command has not reported); sysprep powers off only once resealed"
    )


def test_a_vm_still_stopping_is_waited_for_briefly() -> None:
    """Stopping or deallocating: look again after the shortest wait, the command still pending."""
    for power in ("stopping", "deallocating"):
        outcome = step_sysprep(context(GuestCompute(vm=vm(power)), sent()))
        assert outcome.wait == timedelta(seconds=15)
        assert outcome.pending is not None
        assert (outcome.pending.kind, outcome.pending.checks) == ("script:sysprep-start", 1)


def test_a_running_vm_without_a_report_keeps_waiting_for_the_command() -> None:
    """Still running and no report: wait for the Run Command (not a reseal)."""
    outcome = step_sysprep(context(GuestCompute(vm=vm("running")), sent()))
    assert outcome.next_step is None
    assert outcome.pending is not None
    assert outcome.pending.kind == "script:sysprep-start"


def test_a_refused_first_send_fails_the_run() -> None:
    """Not sent before: Azure refusing the command is the run's failure (no VM state is trusted)."""
    compute = GuestCompute(vm=vm("stopped"), refuse_script=AzureOperationError("run", "OperationNotAllowed", "x", 409))
    with pytest.raises(AzureOperationError, match="OperationNotAllowed"):
        step_sysprep(context(compute))


def test_a_failed_command_after_sending_is_a_reseal_only_if_the_vm_stopped() -> None:
    """Sent, then Run Command fails (the agent went down with the VM): a stopped VM resealed; a running one raises."""
    refusal = AzureOperationError("run", "VMAgentNotReady", "agent down", 409)
    stopped = GuestCompute(vm=vm("stopped"), refuse_result=refusal)
    outcome = step_sysprep(context(stopped, sent()))
    assert outcome.next_step == "deallocate"
    assert "(Run Command failed: VMAgentNotReady)" in outcome.audit[0].detail
    running = GuestCompute(vm=vm("running"), refuse_result=refusal)
    with pytest.raises(AzureOperationError, match="VMAgentNotReady"):
        step_sysprep(context(running, sent()))


def test_a_stopped_vm_after_sysprep_started_goes_on_to_deallocate() -> None:
    """sysprep-started marked, the VM stopped: generalized and shut down, deallocate next."""
    compute = GuestCompute(vm=vm("stopped"))
    outcome = step_sysprep(context(compute, marks={"sysprep-started": timedelta(minutes=5)}))
    assert outcome.next_step == "deallocate"
    assert [(a.kind, a.detail) for a in outcome.audit] == [("sysprep-done", f"{NAME}: generalized and shut down")]


def test_a_vm_deleted_during_sysprep_fails_the_run() -> None:
    """No VM: the failure says it was deleted outside the product."""
    outcome = step_sysprep(context(GuestCompute(), marks={"sysprep-started": timedelta(minutes=5)}))
    assert outcome.fail == f"temporary VM {NAME} was deleted outside the product during sysprep"


def test_a_sysprep_still_running_is_watched_then_timed_out() -> None:
    """Running 5 minutes in: looked at again soon; past 90 minutes: the run fails saying so."""
    compute = GuestCompute(vm=vm("running"))
    early = step_sysprep(
        context(compute, marks={"sysprep-started": timedelta(minutes=5)}, step_seen_ago=timedelta(minutes=5))
    )
    assert early.wait == timedelta(seconds=15)
    assert early.pending is not None
    assert early.pending.kind == "sysprep"
    late = step_sysprep(
        context(compute, marks={"sysprep-started": timedelta(minutes=91)}, step_seen_ago=timedelta(minutes=91))
    )
    assert late.fail == f"sysprep on {NAME} did not finish within 90 minutes"
    assert timedelta(minutes=90) == SYSPREP_TIMEOUT


def test_an_overdue_sysprep_has_its_log_read_every_four_minutes() -> None:
    """Past 12 minutes and 4 minutes since the last read: the status script runs and the read is marked."""
    compute = GuestCompute(vm=vm("running"))
    marks = {"sysprep-started": timedelta(minutes=13)}
    outcome = step_sysprep(context(compute, marks=marks, step_seen_ago=timedelta(minutes=13)))
    assert compute.scripts == [(NAME, guest_scripts.SYSPREP_STATUS)]
    assert outcome.run_updates["marks"]["sysprep-log-read"] == NOW
    recent = GuestCompute(vm=vm("running"))
    step_sysprep(
        context(recent, marks={**marks, "sysprep-log-read": timedelta(minutes=3)}, step_seen_ago=timedelta(minutes=13))
    )
    assert recent.scripts == []


def status(errors: list[str], running: bool) -> ScriptResult:
    return ScriptResult(json.dumps({"imageState": "x", "sysprepRunning": running, "errors": errors}), "")


def test_sysprep_errors_in_the_log_fail_the_run_with_the_last_lines() -> None:
    """Not running with errors: the run fails with the last 12 lines of the log."""
    errors = [f"line {i}" for i in range(20)]
    compute = GuestCompute(results={"op-1": status(errors, running=False)})
    pending = PendingOperation(kind="script:sysprep-status", started_at=NOW, operation="op-1")
    outcome = step_sysprep(context(compute, pending, marks={"sysprep-started": timedelta(minutes=20)}))
    assert outcome.fail == f"sysprep failed on {NAME}:\n" + "\n".join(f"line {i}" for i in range(8, 20))


def test_a_sysprep_still_running_per_its_log_is_waited_for() -> None:
    """Running (or no errors): back to watching the VM from sysprep's start."""
    compute = GuestCompute(results={"op-1": status(["warn"], running=True)})
    pending = PendingOperation(kind="script:sysprep-status", started_at=NOW, operation="op-1")
    outcome = step_sysprep(context(compute, pending, marks={"sysprep-started": timedelta(minutes=20)}))
    assert outcome.fail is None
    assert outcome.pending == PendingOperation(kind="sysprep", resource_id=NAME, started_at=NOW - timedelta(minutes=20))
    assert outcome.wait == timedelta(minutes=4)


# --- deallocate -------------------------------------------------------------------------------------


def test_deallocation_is_asked_once_and_followed() -> None:
    """First entry: deallocate asked, pending on the VM's id."""
    compute = GuestCompute()
    outcome = step_deallocate(context(compute, step="deallocate"))
    assert compute.calls == [("start_deallocate", NAME)]
    assert outcome.pending is not None
    assert (outcome.pending.kind, outcome.pending.resource_id) == ("deallocate", VM_ID)


def test_a_deallocated_vm_is_generalized_once_then_captured() -> None:
    """Deallocated: generalize (unless done already), then capture."""
    pending = PendingOperation(kind="deallocate", resource_id=VM_ID, started_at=NOW - timedelta(minutes=1))
    compute = GuestCompute(vm=vm("deallocated"))
    assert step_deallocate(context(compute, pending, step="deallocate")).next_step == "capture"
    assert compute.calls == [("generalize", NAME)]
    done = GuestCompute(vm=vm("deallocated", generalized=True))
    step_deallocate(context(done, pending, step="deallocate"))
    assert done.calls == []


def test_a_vm_deleted_before_capture_fails_the_run() -> None:
    """No VM while deallocating: the run fails naming it."""
    pending = PendingOperation(kind="deallocate", resource_id=VM_ID, started_at=NOW)
    outcome = step_deallocate(context(GuestCompute(), pending, step="deallocate"))
    assert outcome.fail == f"temporary VM {NAME} was deleted outside the product before capture"


def test_a_lost_or_failed_deallocation_is_asked_again() -> None:
    """Still running: asked again every fifth check, or at once when Azure says it failed."""
    quiet = GuestCompute(vm=vm("running"))
    first = PendingOperation(kind="deallocate", resource_id=VM_ID, started_at=NOW - timedelta(minutes=2), checks=0)
    outcome = step_deallocate(context(quiet, first, step="deallocate"))
    assert quiet.calls == []
    assert outcome.pending is not None
    assert (outcome.pending.checks, outcome.wait) == (1, timedelta(seconds=24))
    lost = GuestCompute(vm=vm("running"))
    step_deallocate(context(lost, first.model_copy(update={"checks": 4}), step="deallocate"))
    assert lost.calls == [("start_deallocate", NAME)]
    failed = GuestCompute(vm=vm("running", provisioning=OperationState.FAILED))
    step_deallocate(context(failed, first, step="deallocate"))
    assert failed.calls == [("start_deallocate", NAME)]
