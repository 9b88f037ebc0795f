"""The clone of the source OS disk (shared.steps.build_clone): snapshot, disk, temp VM, clone check, BitLocker.

Each step against a recording compute: what it asks Azure for (names, regions, tags, the disk it
clones), what it waits for, where it goes next, and the literal reasons an admin reads on failure.
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
from shared.domain.catalog import SecurityType, load_catalog
from shared.domain.compute import ManagedScriptResult, OperationState, ScriptResult, VmSpec, VmState
from shared.domain.errors import AzureOperationError, RequestRefused
from shared.domain.model import App, BitLockerEvidence, Manifest, PendingOperation
from shared.steps import build_clone as bc
from shared.steps.build_source import INVENTORY_TIMEOUT
from shared.steps.outcome import Outcome
from shared.steps.step_context import StepContext
from tests.conftest import make_version
from tests.unit.fakes import FakeClock, step_context
from tests.unit.source_fakes import GuestCompute

ROOT = next(p for p in Path(__file__).resolve().parents if (p / "catalog").is_dir())
CATALOG = load_catalog(ROOT / "catalog")
OFFICE = CATALOG.get("office")
NOW = FakeClock().current
RG = "/subscriptions/s/resourceGroups/rg-avd-images/providers"
SNAP = f"{RG}/Microsoft.Compute/snapshots/office--run-1--snap"
DISK = f"{RG}/Microsoft.Compute/disks/office--run-1--disk"
VM = f"{RG}/Microsoft.Compute/virtualMachines/office--run-1--vm"
SOURCE_DISK = f"{RG}/Microsoft.Compute/disks/office--image--src-osdisk"
TAGS = {
    "avd-lifecycle-run": "run-1",
    "avd-lifecycle-workload": "office",
    "avd-lifecycle-expires": (NOW + timedelta(hours=24)).isoformat(),
}


@dataclass
class CloneCompute(GuestCompute):
    """Answers resource states, scripts and managed scripts; records every start."""

    states: dict[str, OperationState] = field(default_factory=dict)

    def resource_state(self, resource_id: str) -> OperationState:
        return self.states.get(resource_id, OperationState.MISSING)

    def start_snapshot(self, name: str, location: str, disk_id: str, tags: dict[str, str]) -> str:
        self.calls.append(("start_snapshot", (name, location, disk_id, tags)))
        return self.id_of("Microsoft.Compute/snapshots", name)

    def start_disk_from_snapshot(self, name: str, location: str, snapshot_id: str, tags: dict[str, str]) -> str:
        self.calls.append(("start_disk_from_snapshot", (name, location, snapshot_id, tags)))
        return self.id_of("Microsoft.Compute/disks", name)


def context(
    compute: CloneCompute,
    pending: PendingOperation | None = None,
    version: Any = None,
    settings: Settings | None = None,
    **run: Any,
) -> StepContext:
    return step_context(CATALOG, compute, version=version, settings=settings, step="clone", pending=pending, **run)


def source_vm(disk: str = SOURCE_DISK) -> VmState:
    return VmState(f"{RG}/Microsoft.Compute/virtualMachines/office--image--src", "office--image--src",
                   OperationState.SUCCEEDED, "running", False, disk, (), "")  # fmt: skip


# --- snapshot, disk, temp VM -------------------------------------------------------------------


def test_the_snapshot_is_taken_of_the_recorded_source_disk() -> None:
    """First entry: the run's recorded source OS disk is snapshotted, tagged, in the workload's region."""
    compute = CloneCompute()
    outcome = bc.step_snapshot(context(compute, source_os_disk_id=SOURCE_DISK))
    assert compute.calls == [
        (
            "start_snapshot",
            ("office--run-1--snap", "westeurope", SOURCE_DISK, {**TAGS, "avd-lifecycle-kind": "snapshot"}),
        )
    ]
    assert outcome.pending == PendingOperation(kind="snapshot", resource_id=SNAP, started_at=NOW)
    assert outcome.wait == timedelta(seconds=15)
    assert outcome.next_step is None


def test_without_a_recorded_disk_the_source_vms_disk_is_read() -> None:
    """No disk recorded on the run: the source VM's OS disk is read and snapshotted."""
    compute = CloneCompute(vms={"office--image--src": source_vm("other-disk")})
    bc.step_snapshot(context(compute))
    assert ("get_vm", "office--image--src") in compute.calls
    assert compute.calls[-1][1][2] == "other-disk"


def test_a_vanished_source_vm_refuses_the_snapshot_by_name() -> None:
    """The source VM gone and no disk recorded: the refusal names the VM and the run."""
    with pytest.raises(RequestRefused) as error:
        bc.step_snapshot(context(CloneCompute()))
    assert str(error.value) == "source VM office--image--src disappeared during run run-1"


@pytest.mark.parametrize(
    ("step", "kind", "resource", "following"),
    [
        (bc.step_snapshot, "snapshot", SNAP, "disk"),
        (bc.step_disk, "disk", DISK, "temp-vm"),
        (bc.step_temp_vm, "temp-vm", VM, "clone-check"),
    ],
)
def test_each_resource_step_goes_on_once_its_resource_succeeded(step: Any, kind: str, resource: str,
                                                                  following: str) -> None:  # fmt: skip
    """Succeeded: the next step; in progress: the back-off on the same pending; failed: the reason."""
    pending = PendingOperation(kind=kind, resource_id=resource, started_at=NOW - timedelta(minutes=5), checks=1)
    compute = CloneCompute(states={resource: OperationState.SUCCEEDED})
    done = step(context(compute, pending, source_os_disk_id=SOURCE_DISK))
    assert (done.next_step, done.wait, done.fail) == (following, None, None)
    assert not [c for c in compute.calls if c[0].startswith("start")]
    compute.states[resource] = OperationState.IN_PROGRESS
    later = step(context(compute, pending, source_os_disk_id=SOURCE_DISK))
    assert later.next_step is None
    assert later.pending == pending.model_copy(update={"checks": 2})
    assert later.wait == timedelta(minutes=1)
    compute.states[resource] = OperationState.FAILED
    failed = step(context(compute, pending, source_os_disk_id=SOURCE_DISK))
    assert failed.fail == f"{kind} {resource.rsplit('/', 1)[1]} failed to provision"


def test_the_disk_is_made_from_the_runs_snapshot() -> None:
    """First entry: the disk is made from this run's snapshot, tagged as the run's disk."""
    compute = CloneCompute()
    outcome = bc.step_disk(context(compute))
    assert compute.calls == [
        (
            "start_disk_from_snapshot",
            ("office--run-1--disk", "westeurope", SNAP, {**TAGS, "avd-lifecycle-kind": "disk"}),
        )
    ]
    assert outcome.pending == PendingOperation(kind="disk", resource_id=DISK, started_at=NOW)
    assert outcome.wait == timedelta(seconds=15)


def test_the_temp_vm_attaches_the_cloned_disk_and_deletes_the_snapshot() -> None:
    """First entry: the snapshot's delete is asked, then a disposable VM on the cloned disk."""
    compute = CloneCompute()
    outcome = bc.step_temp_vm(context(compute))
    assert compute.calls == [
        ("start_delete", SNAP),
        (
            "start_create_vm",
            VmSpec(
                name="office--run-1--vm",
                location="westeurope",
                size="Standard_D4s_v5",
                tags={**TAGS, "avd-lifecycle-kind": "vm"},
                attach_os_disk_id=DISK,
                trusted_launch=False,  # office is TrustedLaunchSupported, not TrustedLaunch
                subnet_id="subnet-in-westeurope",
                disposable=True,
            ),
        ),
    ]
    assert outcome.pending == PendingOperation(kind="temp-vm", resource_id=VM, started_at=NOW)
    assert outcome.wait == timedelta(seconds=15)


# --- clone check -------------------------------------------------------------------------------


def inventory(build: str = "26100.1", bitlocker: str = "FullyDecrypted", percent: int = 0,
              registry: dict[str, str] | None = None) -> str:  # fmt: skip
    return json.dumps({
        "osBuild": build, "osDisplayVersion": "24H2", "hotfixes": ["KB1"], "apps": [{"name": "Teams", "version": "2"}],
        "registry": registry if registry is not None else {}, "bitlocker": {"volumeStatus": bitlocker,
        "encryptionPercentage": percent},
    })  # fmt: skip


def finished(stdout: str, state: str = "Succeeded", exit_code: int = 0, **more: Any) -> ManagedScriptResult:
    return ManagedScriptResult(state=state, exit_code=exit_code, stdout=stdout, stderr="", started=NOW, **more)


SOURCE = Manifest(os_build="26100.1", os_display_version="24H2", hotfixes=("KB1",),
                  apps=(App(name="Teams", version="2"),), registry={})  # fmt: skip
CHECKING = PendingOperation(kind="managed:clone-inventory", started_at=NOW, operation="avd-clone-inventory")
PREVENT = {r"HKLM:\SYSTEM\CurrentControlSet\Control\BitLocker\PreventDeviceEncryption": "1"}


def test_the_clone_check_starts_the_inventory_on_the_temp_vm() -> None:
    """First entry: the inventory script runs as a managed command on the temp VM, 30 minutes at most."""
    compute = CloneCompute()
    outcome = bc.step_clone_check(context(compute, version=make_version()))
    assert compute.calls == [
        ("start_managed_script", ("office--run-1--vm", "avd-clone-inventory", guest_scripts.INVENTORY,
                                  INVENTORY_TIMEOUT, "westeurope"))
    ]  # fmt: skip
    assert isinstance(outcome, Outcome)
    assert outcome.pending is not None
    assert outcome.pending.kind == "managed:clone-inventory"


def test_a_matching_clone_records_its_bitlocker_state_as_the_evidences_start() -> None:
    """Same content as the source manifest: 'cloned', no drift, BitLocker state and the policy recorded."""
    compute = CloneCompute(managed={"avd-clone-inventory": finished(inventory(registry=PREVENT))})
    version = make_version(manifest=SOURCE)
    outcome = bc.step_clone_check(context(compute, CHECKING, version))
    assert outcome.next_step == "bitlocker"
    assert outcome.version is not None
    assert outcome.version.drift == ()
    assert outcome.version.bitlocker == BitLockerEvidence(
        state_before="FullyDecrypted (0% encrypted)", started_at=NOW, prevent_device_encryption=True
    )
    assert [(a.kind, a.detail) for a in outcome.audit] == [
        ("cloned", "clone matches the source VM; BitLocker FullyDecrypted (0% encrypted)")
    ]


def test_a_drifted_clone_is_recorded_against_the_runs_source_manifest() -> None:
    """The run's source manifest wins over the version's; every difference is named in the audit."""
    compute = CloneCompute(managed={"avd-clone-inventory": finished(inventory("26100.2", "FullyEncrypted", 100))})
    version = make_version(manifest=Manifest(os_build="1"))
    outcome = bc.step_clone_check(context(compute, CHECKING, version, source_manifest=SOURCE))
    assert outcome.version is not None
    assert outcome.version.drift == ("OS build 26100.1 -> 26100.2",)
    assert outcome.version.bitlocker is not None
    assert outcome.version.bitlocker.prevent_device_encryption is False
    assert [(a.kind, a.detail) for a in outcome.audit] == [
        ("drift-detected", "clone differs from the source VM: OS build 26100.1 -> 26100.2; "
         "BitLocker FullyEncrypted (100% encrypted)")
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("result", "reason"),
    [
        (finished("", "Failed", 1, message="boom"), "the inventory exited with code 1 on office--run-1--vm: boom"),
        (
            finished(inventory(), truncated=True),
            "the inventory of office--run-1--vm was cut to its last 4 KB: configure AVD_BLOBS_ENDPOINT",
        ),
    ],
)
def test_a_failed_or_cut_inventory_fails_the_clone_check(result: ManagedScriptResult, reason: str) -> None:
    """A failed inventory quotes why; one cut to the instance view's 4 KB says what to configure."""
    compute = CloneCompute(managed={"avd-clone-inventory": result})
    outcome = bc.step_clone_check(context(compute, CHECKING, make_version(manifest=SOURCE)))
    assert outcome.fail == reason
    assert outcome.next_step is None


# --- BitLocker ---------------------------------------------------------------------------------


def evidence(before: str, prevent: bool = False, **more: Any) -> BitLockerEvidence:
    return BitLockerEvidence(state_before=before, started_at=NOW - timedelta(minutes=30),
                             prevent_device_encryption=prevent, **more)  # fmt: skip


def status(volume: str, percent: int) -> ScriptResult:
    return ScriptResult(stdout=json.dumps({"volumeStatus": volume, "encryptionPercentage": percent}), stderr="")


def test_a_clone_that_arrived_decrypted_with_the_policy_goes_to_sysprep_at_once() -> None:
    """Decrypted on the source VM (FullyDecrypted and PreventDeviceEncryption=1): no script, sysprep next."""
    compute = CloneCompute()
    version = make_version(bitlocker=evidence("FullyDecrypted (0% encrypted)", prevent=True))
    outcome = bc.step_bitlocker(context(compute, version=version))
    assert compute.calls == []
    assert outcome.next_step == "sysprep"
    assert outcome.version is not None
    assert outcome.version.bitlocker == evidence(
        "FullyDecrypted (0% encrypted)", prevent=True, state_after="FullyDecrypted", finished_at=NOW
    )
    assert [(a.kind, a.detail) for a in outcome.audit] == [
        ("bitlocker-ready", "clone arrived FullyDecrypted with PreventDeviceEncryption=1 (decrypted on the source VM)")
    ]


@pytest.mark.parametrize(
    "arrived",
    [evidence("FullyDecrypted (0% encrypted)"), evidence("FullyEncrypted (100% encrypted)", prevent=True),
     evidence("FullyDecrypted (0% encrypted)", prevent=True, state_after="FullyDecrypted")],
)  # fmt: skip
def test_without_both_decrypted_and_the_policy_bitlocker_off_runs(arrived: BitLockerEvidence) -> None:
    """Decrypted without the policy, the policy without decryption (or evidence already done): BITLOCKER_OFF runs."""
    compute = CloneCompute()
    outcome = bc.step_bitlocker(context(compute, version=make_version(bitlocker=arrived)))
    assert compute.calls == [("start_script", ("office--run-1--vm", guest_scripts.BITLOCKER_OFF))]
    assert outcome.pending is not None
    assert (outcome.pending.kind, outcome.pending.operation) == ("script:bitlocker-off", "op-1")
    assert outcome.wait == timedelta(seconds=15)


def test_without_evidence_the_state_before_is_unknown() -> None:
    """No clone-check evidence: BitLocker is turned off and the state before reads 'unknown'."""
    compute = CloneCompute(script_results={"op-1": status("DecryptionInProgress", 60)})
    pending = PendingOperation(kind="script:bitlocker-off", started_at=NOW - timedelta(seconds=40), operation="op-1")
    outcome = bc.step_bitlocker(context(compute, pending, make_version()))
    assert outcome.version is not None
    assert outcome.version.bitlocker == BitLockerEvidence(
        state_before="unknown", started_at=NOW, prevent_device_encryption=True
    )
    assert [(a.kind, a.detail) for a in outcome.audit] == [
        ("bitlocker-decrypting", "OS volume is unknown: decryption started, PreventDeviceEncryption=1 set")
    ]


def test_bitlocker_off_that_started_decryption_waits_and_marks_its_start() -> None:
    """BITLOCKER_OFF answered 'in progress': a bitlocker-decrypt wait from the evidence's start, marked."""
    compute = CloneCompute(script_results={"op-1": status("DecryptionInProgress", 60)})
    pending = PendingOperation(kind="script:bitlocker-off", started_at=NOW - timedelta(seconds=40), operation="op-1")
    before = evidence("FullyEncrypted (100% encrypted)")
    outcome = bc.step_bitlocker(context(compute, pending, make_version(bitlocker=before)))
    assert outcome.next_step is None
    assert outcome.pending == PendingOperation(
        kind="bitlocker-decrypt", resource_id="office--run-1--vm", started_at=before.started_at
    )
    assert outcome.wait == timedelta(minutes=6)  # a fifth of the 30 minutes since the evidence began
    assert outcome.version is not None
    assert outcome.version.bitlocker == before.model_copy(update={"prevent_device_encryption": True})
    assert outcome.run_updates == {"marks": {"decrypt-started": NOW}}
    assert [(a.kind, a.detail) for a in outcome.audit] == [
        ("bitlocker-decrypting",
         "OS volume is FullyEncrypted (100% encrypted): decryption started, PreventDeviceEncryption=1 set")
    ]  # fmt: skip


@pytest.mark.parametrize("kind", ["bitlocker-decrypt", "script-busy:bitlocker-status"])
def test_while_decrypting_the_status_script_is_read(kind: str) -> None:
    """Any of the polling waits: BITLOCKER_STATUS (not BITLOCKER_OFF again) is what runs."""
    compute = CloneCompute()
    pending = PendingOperation(kind=kind, started_at=NOW - timedelta(minutes=3), operation="none")
    bc.step_bitlocker(context(compute, pending, make_version(bitlocker=evidence("FullyEncrypted"))))
    assert compute.calls == [("start_script", ("office--run-1--vm", guest_scripts.BITLOCKER_STATUS))]


def test_fully_decrypted_goes_to_sysprep_with_the_minutes_it_took() -> None:
    """The status says FullyDecrypted: evidence finished now, the audit says how long it took, sysprep next."""
    compute = CloneCompute(script_results={"op-1": status("FullyDecrypted", 0)})
    pending = PendingOperation(kind="script:bitlocker-status", started_at=NOW - timedelta(seconds=40), operation="op-1")
    before = evidence("FullyEncrypted (100% encrypted)")
    outcome = bc.step_bitlocker(context(compute, pending, make_version(bitlocker=before)))
    assert outcome.next_step == "sysprep"
    assert outcome.version is not None
    assert outcome.version.bitlocker == before.model_copy(
        update={"prevent_device_encryption": True, "state_after": "FullyDecrypted", "finished_at": NOW}
    )
    assert [(a.kind, a.detail) for a in outcome.audit] == [
        ("bitlocker-ready",
         "BitLocker FullyEncrypted (100% encrypted) -> FullyDecrypted in 30 min; PreventDeviceEncryption=1 set")
    ]  # fmt: skip


def test_decryption_past_the_limit_fails_naming_syspreps_error() -> None:
    """Past bitlocker_timeout_minutes on the run's record: the run fails with the state and sysprep's error."""
    compute = CloneCompute(script_results={"op-1": status("DecryptionInProgress", 40)})
    pending = PendingOperation(kind="script:bitlocker-status", started_at=NOW - timedelta(seconds=40), operation="op-1")
    version = make_version(bitlocker=evidence("FullyEncrypted"))
    settings = Settings(event_grid=False, bitlocker_timeout_minutes=60)
    late = context(compute, pending, version, settings, step_started_at=NOW - timedelta(minutes=61))
    assert bc.step_bitlocker(late).fail == (
        "BitLocker decryption of office--run-1--vm did not finish within 60 minutes (still DecryptionInProgress, "
        "40% encrypted); sysprep would fail with ValidateBitLockerState (0x80310039)"
    )
    on_time = context(compute, pending, version, settings, step_started_at=NOW - timedelta(minutes=59))
    assert bc.step_bitlocker(on_time).fail is None


def test_decryption_under_way_is_rechecked_from_its_progress() -> None:
    """Half done 20 minutes after the mark: the next status is predicted from the progress, less the script's time."""
    compute = CloneCompute(script_results={"op-1": status("DecryptionInProgress", 50)})
    pending = PendingOperation(kind="script:bitlocker-status", started_at=NOW - timedelta(seconds=40), operation="op-1")
    version = make_version(bitlocker=evidence("FullyEncrypted"))
    marks = {"decrypt-started": NOW - timedelta(minutes=20)}
    outcome = bc.step_bitlocker(context(compute, pending, version, marks=marks, step_started_at=NOW))
    assert outcome.pending == PendingOperation(
        kind="bitlocker-decrypt",
        resource_id="office--run-1--vm",
        started_at=version.bitlocker.started_at,  # type: ignore[union-attr]
    )
    assert outcome.wait == timedelta(minutes=19, seconds=46)
    assert outcome.version is None
    assert outcome.audit == []


def test_a_trusted_launch_workloads_temp_vm_is_trusted_launch() -> None:
    """A TrustedLaunch image definition needs a Trusted Launch temp VM to capture from."""
    compute = CloneCompute()
    trusted = OFFICE.model_copy(update={"security_type": SecurityType.TRUSTED_LAUNCH})
    ctx = context(compute)
    ctx.workload = trusted
    bc.step_temp_vm(ctx)
    [spec] = [c[1] for c in compute.calls if c[0] == "start_create_vm"]
    assert spec.trusted_launch is True


def test_every_drift_is_listed_separated_by_semicolons() -> None:
    """Two differences read 'a; b' in the drift audit."""
    drifted = json.loads(inventory("26100.2"))
    drifted["hotfixes"] = []
    compute = CloneCompute(managed={"avd-clone-inventory": finished(json.dumps(drifted))})
    outcome = bc.step_clone_check(context(compute, CHECKING, make_version(manifest=SOURCE)))
    assert outcome.audit[0].detail == (
        "clone differs from the source VM: OS build 26100.1 -> 26100.2; hotfix KB1 missing; "
        "BitLocker FullyDecrypted (0% encrypted)"
    )


def test_unreadable_guest_output_names_the_script_and_the_vm() -> None:
    """An inventory or BitLocker answer that is no JSON: the error says which script on which VM."""
    compute = CloneCompute(managed={"avd-clone-inventory": finished("not json")})
    with pytest.raises(AzureOperationError, match="inventory on office--run-1--vm"):
        bc.step_clone_check(context(compute, CHECKING, make_version(manifest=SOURCE)))
    compute.script_results["op-1"] = ScriptResult(stdout="not json", stderr="")
    off = PendingOperation(kind="script:bitlocker-off", started_at=NOW, operation="op-1")
    with pytest.raises(AzureOperationError, match="bitlocker-off on office--run-1--vm"):
        bc.step_bitlocker(context(compute, off, make_version(bitlocker=evidence("FullyEncrypted"))))


def test_a_decryption_finished_at_once_took_zero_minutes() -> None:
    """Decrypted within the same minute its evidence began: the audit says 0 min, not 1."""
    compute = CloneCompute(script_results={"op-1": status("FullyDecrypted", 0)})
    off = PendingOperation(kind="script:bitlocker-off", started_at=NOW, operation="op-1")
    outcome = bc.step_bitlocker(context(compute, off, make_version()))
    assert outcome.audit[0].detail == ("BitLocker unknown -> FullyDecrypted in 0 min; PreventDeviceEncryption=1 set")
