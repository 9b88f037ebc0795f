"""Sysprep and deallocation of the temp VM (shared.steps.build_image), against a scripted compute.

Sysprep /quit runs once as a managed Run Command that ends when sysprep does; ImageState decides
(resealed: deallocate next; else the run fails with setuperr.log's lines); no report within 90
minutes fails the run. Deallocation is asked once, re-asked when lost, and the VM generalized before capture.
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
from shared.domain.compute import ManagedScriptResult, OperationState, VmState
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
    """The temp VM and its sysprep command: the managed Run Command's result, or Azure's refusal."""

    vm: VmState | None = None
    managed: dict[str, ManagedScriptResult] = field(default_factory=dict)
    refuse_managed: AzureOperationError | None = None
    vm_reads: int = 0

    def get_vm(self, name: str) -> VmState | None:
        assert name == NAME
        self.vm_reads += 1
        return self.vm

    def start_managed_script(self, vm_name: str, name: str, text: str, timeout: timedelta, location: str) -> None:
        self.calls.append(("start_managed_script", (vm_name, name, text, timeout, location)))

    def managed_script_result(self, vm_name: str, name: str) -> ManagedScriptResult | None:
        assert vm_name == NAME
        if self.refuse_managed is not None:
            raise self.refuse_managed
        return self.managed.get(name)

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


RUNNING = PendingOperation(kind="managed:sysprep", resource_id=f"{VM_ID}/runCommands/avd-sysprep",
                           started_at=NOW - timedelta(minutes=1), operation="avd-sysprep")  # fmt: skip


def report(
    state: str, errors: list[str] | None = None, exit_code: int = 0, how: str = "Succeeded"
) -> ManagedScriptResult:
    """What the sysprep command reports when it ended: ImageState and setuperr.log's error lines."""
    body = json.dumps({"imageState": state, "sysprepRunning": False, "errors": errors or []})
    return ManagedScriptResult(
        state=how, exit_code=exit_code, stdout=body, stderr="", started=NOW - timedelta(minutes=1)
    )


def test_sysprep_runs_once_as_a_managed_run_command_that_waits_for_it() -> None:
    """First entry: sysprep /quit goes out as the temp VM's managed Run Command 'avd-sysprep' with a 90-minute limit."""
    compute = GuestCompute()
    outcome = step_sysprep(context(compute))
    assert compute.calls == [
        ("start_managed_script", (NAME, "avd-sysprep", guest_scripts.SYSPREP, SYSPREP_TIMEOUT, "westeurope"))
    ]
    assert "'/generalize','/oobe','/quit','/mode:vm' -Wait" in guest_scripts.SYSPREP
    assert outcome.pending is not None
    assert (outcome.pending.kind, outcome.pending.resource_id) == (
        "managed:sysprep",
        f"{VM_ID}/runCommands/avd-sysprep",
    )
    assert timedelta(minutes=90) == SYSPREP_TIMEOUT


def test_a_resealed_vm_goes_on_to_deallocate() -> None:
    """The command ended with ImageState RESEAL_TO_OOBE: deallocate next, the audit says generalized."""
    compute = GuestCompute(managed={"avd-sysprep": report("IMAGE_STATE_GENERALIZE_RESEAL_TO_OOBE")})
    outcome = step_sysprep(context(compute, RUNNING))
    assert outcome.next_step == "deallocate"
    assert [(a.kind, a.detail) for a in outcome.audit] == [
        ("sysprep-done", f"{NAME}: generalized (IMAGE_STATE_GENERALIZE_RESEAL_TO_OOBE)")
    ]


def test_sysprep_errors_in_the_log_fail_the_run_with_the_last_lines() -> None:
    """Not resealed: the run fails with the ImageState and the last 12 error lines of setuperr.log."""
    errors = [f"line {i}" for i in range(20)]
    compute = GuestCompute(managed={"avd-sysprep": report("IMAGE_STATE_COMPLETE", errors)})
    outcome = step_sysprep(context(compute, RUNNING))
    assert outcome.fail == f"sysprep failed on {NAME} (ImageState IMAGE_STATE_COMPLETE):\n" + "\n".join(
        f"line {i}" for i in range(8, 20)
    )
    silent = GuestCompute(managed={"avd-sysprep": report("")})
    assert step_sysprep(context(silent, RUNNING)).fail == (
        f"sysprep failed on {NAME} (ImageState not set):\nsetuperr.log has no error lines"
    )


def test_a_report_that_is_not_json_is_an_error_naming_the_vm() -> None:
    """Output without the JSON report raises GuestScriptOutput for 'sysprep on <vm>' (the run handler reports it)."""
    garbled = ManagedScriptResult(state="Succeeded", exit_code=0, stdout="Sysprep done", stderr="", started=NOW)
    with pytest.raises(AzureOperationError, match=f"^sysprep on {NAME} failed: GuestScriptOutput: expected a JSON"):
        step_sysprep(context(GuestCompute(managed={"avd-sysprep": garbled}), RUNNING))


def test_a_failed_or_timed_out_command_fails_the_run_saying_which() -> None:
    """Exit code or Azure's TimedOut decides before ImageState is read; the failure quotes stderr or the limit."""
    failed = ManagedScriptResult(state="Failed", exit_code=1, stdout="", stderr="Access is denied.", started=NOW)
    outcome = step_sysprep(context(GuestCompute(managed={"avd-sysprep": failed}), RUNNING))
    assert outcome.fail == f"sysprep exited with code 1 on {NAME}: Access is denied."
    timed_out = ManagedScriptResult(state="TimedOut", exit_code=None, stdout="", stderr="", started=NOW)
    outcome = step_sysprep(context(GuestCompute(managed={"avd-sysprep": timed_out}), RUNNING))
    assert outcome.fail == f"sysprep on {NAME} did not finish within 90 minutes"


def test_a_command_not_done_is_waited_for_without_reading_the_vm() -> None:
    """No result yet: the step waits for the command's event (or the safety net), no VM read."""
    compute = GuestCompute(vm=vm("running"))
    outcome = step_sysprep(context(compute, RUNNING))
    assert outcome.next_step is None
    assert outcome.fail is None
    assert outcome.pending is not None
    assert (outcome.pending.kind, outcome.pending.checks) == ("managed:sysprep", 1)
    assert compute.vm_reads == 0


def test_a_sysprep_whose_report_never_comes_fails_after_90_minutes() -> None:
    """Still no report 91 minutes into the step: the run fails saying so; 5 minutes in it waits."""
    compute = GuestCompute(vm=vm("running"))
    early = step_sysprep(context(compute, RUNNING, step_seen_ago=timedelta(minutes=5)))
    assert early.fail is None
    late = step_sysprep(context(compute, RUNNING, step_seen_ago=timedelta(minutes=91)))
    assert late.fail == f"sysprep on {NAME} did not finish within 90 minutes"


def test_a_vm_deleted_during_sysprep_fails_the_run() -> None:
    """The command is gone with its VM: the failure says the VM was deleted outside the product."""
    gone = AzureOperationError("run", "NotFound", "Run Command avd-sysprep no longer exists", 404)
    outcome = step_sysprep(context(GuestCompute(refuse_managed=gone), RUNNING))
    assert outcome.fail == f"temporary VM {NAME} was deleted outside the product during sysprep"


def test_a_missing_command_on_a_vm_that_exists_is_an_azure_error() -> None:
    """NotFound while the VM still exists is not a deletion by hand: the error goes up to the run handler."""
    gone = AzureOperationError("run", "NotFound", "Run Command avd-sysprep no longer exists", 404)
    with pytest.raises(AzureOperationError, match="NotFound"):
        step_sysprep(context(GuestCompute(vm=vm("running"), refuse_managed=gone), RUNNING))


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
