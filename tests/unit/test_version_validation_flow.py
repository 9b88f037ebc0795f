"""The validate operation from deployment to cleanup (shared.steps.versions._validate via continue_version).

One VM from the exact version, in the stage's first region, tagged to expire; the inventory read by a
managed Run Command; the verdict committed before the VM is deleted; the VM (with its disk and NIC)
deleted and followed until gone. Evidence from another stage in the same region is reused instead.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from shared.adapters import guest_scripts
from shared.config import Settings
from shared.domain.catalog import load_catalog
from shared.domain.commands import ContinueVersion, Envelope
from shared.domain.compute import ManagedScriptResult, OperationState, VmSpec, VmState
from shared.domain.errors import AzureOperationError
from shared.domain.model import (
    ImageVersion,
    Manifest,
    PendingOperation,
    Stage,
    Status,
    ValidationEvidence,
    VersionNumber,
)
from shared.domain.records import Changes
from shared.steps.deps import Deps
from shared.steps.guest import PREVENT_DEVICE_ENCRYPTION
from shared.steps.versions import VALIDATION_COMMAND, VALIDATION_TIMEOUT, continue_version
from tests.conftest import T0, make_version
from tests.unit.fakes import FakeClock, FakeCompute, make_deps

CATALOG = load_catalog(Path(__file__).resolve().parents[2] / "catalog")
NOW = FakeClock().current
V101 = VersionNumber.parse("1.0.1")
VM_NAME = "office--v1-0-1--val-validation"
VM_ID = f"/subscriptions/s/resourceGroups/rg-avd-images/providers/Microsoft.Compute/virtualMachines/{VM_NAME}"
MANIFEST = Manifest(os_build="26100.7171", hotfixes=("KB1",), registry={PREVENT_DEVICE_ENCRYPTION: "1"})


@dataclass
class ValidationCompute(FakeCompute):
    vm: VmState | None = None
    script: ManagedScriptResult | None = None
    refuse_script: AzureOperationError | None = None
    created: list[VmSpec] = field(default_factory=list)
    reads: int = 0
    texts: list[str] = field(default_factory=list)

    def ensure_network(self, region: str) -> str:
        return f"subnet-{region}"

    def start_create_vm(self, spec: VmSpec) -> None:
        self.created.append(spec)

    def get_vm(self, name: str) -> VmState | None:
        assert name == VM_NAME
        self.reads += 1
        return self.vm

    def start_managed_script(self, vm: str, name: str, text: str, timeout: timedelta, location: str) -> None:
        self.calls.append(("start_managed_script", (vm, name, timeout, location)))
        self.texts.append(text)
        if self.refuse_script is not None:
            raise self.refuse_script

    def managed_script_result(self, vm: str, name: str) -> ManagedScriptResult | None:
        assert (vm, name) == (VM_NAME, VALIDATION_COMMAND)
        return self.script

    def start_delete(self, resource_id: str) -> None:
        self.calls.append(("start_delete", resource_id))


def vm(provisioning: OperationState) -> VmState:
    return VmState(VM_ID, VM_NAME, provisioning, "running", False, "disk", ("nic",), "/v/1.0.1")


def inventory(prevent: str = "1", hotfixes: tuple[str, ...] = ("KB1",)) -> ManagedScriptResult:
    body = {
        "osBuild": "26100.7171",
        "hotfixes": list(hotfixes),
        "apps": [],
        "registry": {PREVENT_DEVICE_ENCRYPTION: prevent},
        "bitlocker": {"volumeStatus": "FullyDecrypted", "encryptionPercentage": 0},
    }
    return ManagedScriptResult(state="Succeeded", exit_code=0, stdout=json.dumps(body), stderr="")


def world(pending: PendingOperation | None = None, **changes: Any) -> tuple[Deps, ValidationCompute]:
    compute = ValidationCompute(retry_after=30)
    deps = make_deps(CATALOG, compute=compute)
    deps.settings = Settings(event_grid=False)
    fields: dict[str, Any] = {
        "status": Status.READY, "stage": Stage.VALIDATION, "op_attempt": 2, "pending": pending,
        "manifest": MANIFEST, "gallery_version_id": "/v/1.0.1",
    }  # fmt: skip
    deps.records.commit(Changes(workload="office", versions=[make_version("1.0.1", **{**fields, **changes})]))
    return deps, compute


def pending(kind: str, checks: int = 0, ago: timedelta = timedelta(minutes=5)) -> PendingOperation:
    return PendingOperation(kind=kind, started_at=NOW - ago, checks=checks, operation=VALIDATION_COMMAND)


def advance(deps: Deps) -> list[Envelope]:
    command = ContinueVersion(workload="office", version="1.0.1", operation="validate", attempt=2)
    return continue_version(command, deps)


def version(deps: Deps) -> ImageVersion:
    return deps.records.get_version("office", V101)


def test_validation_deploys_one_vm_from_the_exact_version_tagged_to_expire() -> None:
    """The VM: the stage's first region, the workload's size, Trusted Launch, disposable, expiring in 24 h."""
    deps, compute = world()
    [message] = advance(deps)
    [spec] = compute.created
    assert (spec.name, spec.location, spec.size, spec.gallery_version_id) == (
        VM_NAME, "westeurope", CATALOG.get("office").vm_size, "/v/1.0.1",
    )  # fmt: skip
    assert (spec.trusted_launch, spec.subnet_id, spec.disposable) == (True, "subnet-westeurope", True)
    assert spec.tags == {
        "avd-lifecycle-run": "validate-v1-0-1",
        "avd-lifecycle-workload": "office",
        "avd-lifecycle-expires": (NOW + timedelta(hours=24)).isoformat(),
    }
    current = version(deps)
    assert current.pending == PendingOperation(kind="validate-vm", resource_id=VM_NAME, started_at=NOW, retry_after=30)
    assert current.op_attempt == 3
    assert message.scheduled_for == NOW + timedelta(seconds=30)  # Azure's Retry-After
    [event] = deps.records.list_events("office", V101)
    assert (event.kind, event.actor, event.stage) == ("validation-started", "step:validate", Stage.VALIDATION)
    assert event.detail == f"deploying {VM_NAME} from 1.0.1 in westeurope"
    assert compute.reads == 0  # the first entry deploys without a read


def test_with_event_grid_the_first_look_at_the_deployment_is_the_safety_net() -> None:
    """Event Grid on: the VM's event wakes the step; the first re-check is the later safety net (6 min here)."""
    deps, _ = world()
    deps.settings = Settings(event_grid=True)
    [message] = advance(deps)
    assert message.scheduled_for == NOW + timedelta(minutes=6)


def test_a_deployment_is_looked_at_after_azures_retry_after() -> None:
    """Retry-After 600 s recorded on the pending deployment: five minutes in, look again in five."""
    deps, compute = world(PendingOperation(kind="validate-vm", started_at=NOW - timedelta(minutes=5), retry_after=600))
    compute.vm = vm(OperationState.IN_PROGRESS)
    [message] = advance(deps)
    assert message.scheduled_for == NOW + timedelta(minutes=5)


def test_a_version_already_validated_for_its_stage_is_not_validated_again() -> None:
    """Passed evidence for validation already: nothing is deployed."""
    passed = ValidationEvidence(stage=Stage.VALIDATION, passed=True, at=T0, region="westeurope")
    deps, compute = world(validations=(passed,))
    assert advance(deps) == []
    assert compute.created == []


def test_a_version_no_longer_ready_is_not_validated() -> None:
    """A withdrawn version is not deployed for validation."""
    deps, compute = world(status=Status.WITHDRAWN)
    assert (advance(deps), compute.created) == ([], [])


def test_evidence_from_another_stage_in_the_same_region_is_reused() -> None:
    """Test passed in westeurope; validation (also westeurope) reuses it without a VM."""
    passed = ValidationEvidence(
        stage=Stage.TEST, passed=True, at=T0, region="westeurope", checks={"bitlocker": "ok: x"}
    )
    deps, compute = world(validations=(passed,))
    assert advance(deps) == []
    assert compute.created == []
    [reused] = [e for e in version(deps).validations if e.stage is Stage.VALIDATION]
    assert (reused.passed, reused.region, reused.at) == (True, "westeurope", NOW)
    assert reused.checks == {"bitlocker": "ok: x (from the test validation in westeurope)"}
    assert version(deps).op_attempt == 3
    [event] = deps.records.list_events("office", V101)
    assert (event.kind, event.actor, event.stage) == ("validation-passed", "step:validate", Stage.VALIDATION)
    assert event.detail == "same version already validated in westeurope for test; evidence reused"


def test_evidence_is_not_reused_once_a_deployment_is_under_way() -> None:
    """A VM already being deployed for this stage is followed, even if other evidence would fit."""
    passed = ValidationEvidence(stage=Stage.TEST, passed=True, at=T0, region="westeurope")
    deps, compute = world(pending("validate-vm"), validations=(passed,))
    advance(deps)
    assert [s.name for s in compute.created] == [VM_NAME]
    assert [e.stage for e in version(deps).validations] == [Stage.TEST]


def test_dr_is_validated_in_its_own_first_region() -> None:
    """A DR version's VM goes to swedencentral (DR's first region), not the workload's location."""
    deps, compute = world(stage=Stage.DR)
    advance(deps)
    assert [(s.name, s.location) for s in compute.created] == [("office--v1-0-1--val-dr", "swedencentral")]


def test_a_stage_the_workload_lacks_is_validated_in_the_workloads_location() -> None:
    """No DR policy any more: the VM goes to the workload's location, and the verdict names it too."""
    deps, compute = world(stage=Stage.DR)
    office = CATALOG.get("office")
    deps.catalog = type(CATALOG)(
        workloads=(office.model_copy(update={"stages": office.stages.model_copy(update={"dr": None})}),)
    )
    advance(deps)
    assert [s.location for s in compute.created] == ["westeurope"]


def test_failed_or_foreign_region_evidence_is_not_reused() -> None:
    """Only passed evidence from the same region counts; otherwise a VM is deployed."""
    failed = ValidationEvidence(stage=Stage.TEST, passed=False, at=T0, region="westeurope")
    elsewhere = ValidationEvidence(stage=Stage.TEST, passed=True, at=T0, region="northeurope")
    deps, compute = world(validations=(failed, elsewhere))
    advance(deps)
    assert len(compute.created) == 1


def test_a_vm_still_provisioning_is_waited_for() -> None:
    """In progress: the attempt moves on and the next look backs off from the deployment's start."""
    deps, compute = world(pending("validate-vm"))
    compute.vm = vm(OperationState.IN_PROGRESS)
    [message] = advance(deps)
    assert message.scheduled_for == NOW + timedelta(minutes=1)  # five minutes waited, a fifth of it
    assert (version(deps).op_attempt, version(deps).pending.kind) == (3, "validate-vm")  # type: ignore[union-attr]
    assert compute.created == []


def test_a_vm_that_failed_to_deploy_fails_validation() -> None:
    """A failed deployment is a failed check: the version fails and the VM's cleanup is pending."""
    deps, compute = world(pending("validate-vm"))
    compute.vm = vm(OperationState.FAILED)
    advance(deps)
    assert version(deps).status is Status.FAILED
    assert version(deps).validations[-1].checks == {"deployment": "failed"}
    assert version(deps).pending.kind == "validate-cleanup"  # type: ignore[union-attr]


def test_a_vm_lost_before_it_was_seen_is_deployed_again() -> None:
    """validate-vm pending but no VM in Azure: deploy it again (same name)."""
    deps, compute = world(pending("validate-vm"))
    advance(deps)
    assert [s.name for s in compute.created] == [VM_NAME]


def test_a_deployed_vm_gets_the_inventory_command() -> None:
    """Succeeded: the inventory runs as a managed Run Command with its timeout, and is followed."""
    deps, compute = world(pending("validate-vm"))
    compute.vm = vm(OperationState.SUCCEEDED)
    [message] = advance(deps)
    assert compute.calls == [("start_managed_script", (VM_NAME, VALIDATION_COMMAND, VALIDATION_TIMEOUT, "westeurope"))]
    assert compute.texts == [guest_scripts.INVENTORY]
    current = version(deps).pending
    assert current is not None
    assert (current.kind, current.resource_id, current.operation, current.retry_after) == (
        "validate-script", VM_ID, VALIDATION_COMMAND, 30,
    )  # fmt: skip
    assert message.scheduled_for == NOW + timedelta(seconds=30)


def test_a_run_command_still_busy_is_tried_again_and_other_refusals_raise() -> None:
    """Conflict (ours may still run after a crash): look again after the opening; anything else is raised."""
    deps, compute = world(pending("validate-vm"))
    compute.vm = vm(OperationState.SUCCEEDED)
    compute.refuse_script = AzureOperationError("run", "Conflict", "busy", status=409)
    [message] = advance(deps)
    assert message.scheduled_for == NOW + timedelta(seconds=15)
    assert version(deps).pending.kind == "validate-vm"  # type: ignore[union-attr]
    compute.refuse_script = AzureOperationError("run", "BadRequest", "no", status=400)
    deps2, compute2 = world(pending("validate-vm"))
    compute2.vm = vm(OperationState.SUCCEEDED)
    compute2.refuse_script = compute.refuse_script
    with pytest.raises(AzureOperationError, match="BadRequest"):
        advance(deps2)


def test_an_unfinished_inventory_is_looked_at_again_and_counted() -> None:
    """No result yet: one more check counted, the next look backs off."""
    deps, _ = world(pending("validate-script", checks=2))
    [message] = advance(deps)
    assert version(deps).pending.checks == 3  # type: ignore[union-attr]
    assert message.scheduled_for == NOW + timedelta(minutes=1)


def test_a_good_inventory_passes_and_a_missing_registry_value_fails() -> None:
    """The inventory decides: PreventDeviceEncryption 1 passes; missing fails the version."""
    good, compute = world(pending("validate-script"))
    compute.script = inventory()
    advance(good)
    assert (version(good).status, version(good).validations[-1].passed) == (Status.READY, True)
    bad, compute = world(pending("validate-script"))
    compute.script = inventory(prevent="0")
    advance(bad)
    assert version(bad).status is Status.FAILED


def test_the_vm_is_deleted_on_the_first_cleanup_pass_and_now_and_then_after() -> None:
    """First pass: delete without a read; then every fifth check while the VM is still there."""
    deps, compute = world(pending("validate-cleanup"))
    [message] = advance(deps)
    assert compute.calls == [("start_delete", VM_ID)]
    assert version(deps).pending.checks == 1  # type: ignore[union-attr]
    assert message.scheduled_for == NOW + timedelta(minutes=1)
    quiet, compute = world(pending("validate-cleanup", checks=3))
    compute.vm = vm(OperationState.SUCCEEDED)
    advance(quiet)
    assert compute.calls == []
    again, compute = world(pending("validate-cleanup", checks=5))
    compute.vm = vm(OperationState.SUCCEEDED)
    advance(again)
    assert compute.calls == [("start_delete", VM_ID)]


def test_the_operation_ends_once_the_vm_is_gone() -> None:
    """VM gone after the first pass: the pending operation is cleared, no more messages."""
    deps, compute = world(pending("validate-cleanup", checks=1))
    assert advance(deps) == []
    assert (version(deps).pending, version(deps).op_attempt, compute.calls) == (None, 3, [])


def test_every_pass_of_the_operation_moves_its_attempt_on() -> None:
    """Script started, script unfinished, Run Command busy, cleanup: each commit counts one more attempt."""
    started, compute = world(pending("validate-vm"))
    compute.vm = vm(OperationState.SUCCEEDED)
    advance(started)
    assert version(started).op_attempt == 3
    unfinished, _ = world(pending("validate-script"))
    advance(unfinished)
    assert version(unfinished).op_attempt == 3
    busy, compute = world(pending("validate-vm"))
    compute.vm = vm(OperationState.SUCCEEDED)
    compute.refuse_script = AzureOperationError("run", "Conflict", "busy", status=409)
    advance(busy)
    assert version(busy).op_attempt == 3
    cleaning, _ = world(pending("validate-cleanup"))
    advance(cleaning)
    assert version(cleaning).op_attempt == 3


def test_script_and_cleanup_waits_follow_event_grid_and_retry_after() -> None:
    """The inventory and the VM's deletion are looked at after Retry-After; the script's first look waits behind Event Grid."""
    hinted = PendingOperation(kind="validate-script", started_at=NOW - timedelta(minutes=5), retry_after=600,
                              operation=VALIDATION_COMMAND)  # fmt: skip
    deps, _ = world(hinted)
    assert advance(deps)[0].scheduled_for == NOW + timedelta(minutes=5)
    deps, _ = world(hinted.model_copy(update={"kind": "validate-cleanup"}))
    assert advance(deps)[0].scheduled_for == NOW + timedelta(minutes=5)
    deps, compute = world(pending("validate-vm"))
    deps.settings = Settings(event_grid=True)
    compute.vm = vm(OperationState.SUCCEEDED)
    assert advance(deps)[0].scheduled_for == NOW + timedelta(minutes=6)


def test_a_failed_inventory_fails_the_version_naming_the_vm() -> None:
    """A Run Command that failed: the version fails, and the check says on which VM."""
    deps, compute = world(pending("validate-script"))
    compute.script = ManagedScriptResult(state="Failed", exit_code=1, stdout="", stderr="access denied")
    advance(deps)
    assert version(deps).status is Status.FAILED
    assert version(deps).validations[-1].checks == {"inventory": f"failed on {VM_NAME}: access denied"}


def test_a_message_ahead_of_the_record_re_sends_the_current_operation() -> None:
    """Attempt 5 while the record is at 2 (not recalled by this instance): the current operation, not a step."""
    deps, _ = world(pending("validate-cleanup"))
    fresh = make_deps(CATALOG)  # another instance: nothing recalled
    fresh.records = deps.records
    [message] = continue_version(
        ContinueVersion(workload="office", version="1.0.1", operation="validate", attempt=5), fresh
    )
    assert json.loads(message.body)["attempt"] == 2
