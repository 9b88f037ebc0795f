"""The source VM phase of a build (shared.steps.build_source): source VM, customizations, decryption, inventory.

Each step against a recording compute: the VM it creates or starts, the scripts it runs (in
order, with their timeouts), the restarts and Windows Update passes, the version it opens and
the literal reasons an admin reads on failure.
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
from shared.domain.catalog import Builtin, Customization, SecurityType, load_catalog
from shared.domain.compute import ManagedScriptResult, OperationState, ScriptResult, VmSpec, VmState
from shared.domain.errors import AzureOperationError, RequestRefused
from shared.domain.model import (
    App,
    BuildReason,
    ImageVersion,
    Manifest,
    PendingOperation,
    Pointers,
    Run,
    Status,
    VersionNumber,
)
from shared.steps import build_source as bs
from shared.steps.outcome import Outcome
from shared.steps.step_context import StepContext
from tests.unit.fakes import FakeClock, FakeCompute, make_deps

ROOT = next(p for p in Path(__file__).resolve().parents if (p / "catalog").is_dir())
CATALOG = load_catalog(ROOT / "catalog")
OFFICE = CATALOG.get("office")
NOW = FakeClock().current
RG = "/subscriptions/s/resourceGroups/rg-avd-images/providers"
SRC = "office--image--src"
SRC_ID = f"{RG}/Microsoft.Compute/virtualMachines/{SRC}"
URN = "MicrosoftWindowsDesktop:windows-11:win11-24h2-avd:26100.7171.251107"


@dataclass
class SourceCompute(FakeCompute):
    """Answers the VM, script and managed script reads; records every start."""

    def latest_marketplace_version(self, location: str, publisher: str, offer: str, sku: str) -> str:
        self.calls.append(("latest_marketplace_version", (location, publisher, offer, sku)))
        return self.marketplace_version

    script_results: dict[str, ScriptResult] = field(default_factory=dict)
    managed: dict[str, ManagedScriptResult] = field(default_factory=dict)

    def ensure_network(self, location: str) -> str:
        return f"subnet-in-{location}"

    def start_create_vm(self, spec: VmSpec) -> str:
        self.calls.append(("start_create_vm", spec))
        return self.id_of("Microsoft.Compute/virtualMachines", spec.name)

    def start_vm(self, name: str) -> None:
        self.calls.append(("start_vm", name))

    def start_restart(self, name: str) -> None:
        self.calls.append(("start_restart", name))

    def start_script(self, vm_name: str, text: str) -> str:
        self.calls.append(("start_script", (vm_name, text)))
        return "op-1"

    def script_result(self, operation: str) -> ScriptResult | None:
        return self.script_results.get(operation)

    def managed_script_result(self, vm_name: str, name: str) -> ManagedScriptResult | None:
        return self.managed.get(name)

    def start_managed_script(self, vm_name: str, name: str, text: str, timeout: timedelta, location: str) -> None:
        self.calls.append(("start_managed_script", (vm_name, name, text, timeout, location)))


def context(
    compute: SourceCompute,
    pending: PendingOperation | None = None,
    workload: Any = OFFICE,
    pointers: Pointers | None = None,
    settings: Settings | None = None,
    **run: Any,
) -> StepContext:
    deps = make_deps(CATALOG, compute=compute)
    deps.settings = settings or Settings(event_grid=False)
    fields: dict[str, Any] = {"workload": "office", "run_id": "run-1", "reason": BuildReason.PATCH,
                              "requested_by": "a@b.c", "started_at": NOW - timedelta(hours=1), "step": "customize"}  # fmt: skip
    record = Run(**(fields | {"pending": pending} | run))
    return StepContext(deps, workload, record, None, NOW, pointers or Pointers(workload="office"))


def vm(provisioning: OperationState = OperationState.SUCCEEDED, power: str = "running") -> VmState:
    return VmState(SRC_ID, SRC, provisioning, power, False, "disk-1", (), "marketplace:urn")


# --- source VM ---------------------------------------------------------------------------------


def test_a_missing_source_vm_is_created_from_the_latest_marketplace_image() -> None:
    """No source VM: 'latest' is resolved to a version, the VM created tagged as the source VM, its URN recorded."""
    compute = SourceCompute()
    outcome = bs.step_source_vm(context(compute))
    assert compute.calls == [
        ("get_vm", SRC),
        ("latest_marketplace_version", ("westeurope", "MicrosoftWindowsDesktop", "windows-11", "win11-24h2-avd")),
        (
            "start_create_vm",
            VmSpec(name=SRC, location="westeurope", size="Standard_D4s_v5",
                   tags={"avd-lifecycle-workload": "office", "avd-lifecycle-kind": "source-vm"},
                   marketplace_urn=URN, trusted_launch=False, subnet_id="subnet-in-westeurope"),
        ),
    ]  # fmt: skip
    assert outcome.pending == PendingOperation(kind="vm-create", resource_id=SRC_ID, started_at=NOW)
    assert outcome.wait == timedelta(seconds=15)
    assert outcome.run_updates == {"source_image": URN}


def test_a_pinned_marketplace_version_is_used_as_it_is() -> None:
    """A version other than 'latest' is not looked up: the URN carries it."""
    market = OFFICE.base_image.marketplace.model_copy(update={"version": "26100.1.1"})  # type: ignore[union-attr]
    pinned = OFFICE.model_copy(update={"base_image": OFFICE.base_image.model_copy(update={"marketplace": market})})
    compute = SourceCompute()
    outcome = bs.step_source_vm(context(compute, workload=pinned))
    assert [c[0] for c in compute.calls] == ["get_vm", "start_create_vm"]
    assert outcome.run_updates == {"source_image": "MicrosoftWindowsDesktop:windows-11:win11-24h2-avd:26100.1.1"}


def test_a_missing_source_vm_without_a_marketplace_image_is_refused() -> None:
    """A workload built from its own source VM cannot recreate it: the refusal names the VM and the workload."""
    own = OFFICE.model_copy(update={"base_image": OFFICE.base_image.model_copy(
        update={"marketplace": None, "source_vm": "vm-golden"})})  # fmt: skip
    with pytest.raises(RequestRefused) as error:
        bs.step_source_vm(context(SourceCompute(), workload=own))
    assert str(error.value) == "source VM vm-golden of office does not exist"


def test_a_source_vm_that_failed_or_still_provisions() -> None:
    """Failed: the run fails naming it; in progress: the back-off on vm-create."""
    compute = SourceCompute(vms={SRC: vm(OperationState.FAILED)})
    assert bs.step_source_vm(context(compute)).fail == f"source VM {SRC} failed to provision"
    compute.vms[SRC] = vm(OperationState.IN_PROGRESS)
    creating = PendingOperation(kind="vm-create", started_at=NOW - timedelta(minutes=5), checks=1)
    outcome = bs.step_source_vm(context(compute, creating))
    assert outcome.pending == creating.model_copy(update={"checks": 2})
    assert outcome.wait == timedelta(minutes=1)
    assert outcome.fail is None
    first = bs.step_source_vm(context(compute))
    assert first.pending == PendingOperation(kind="vm-create", resource_id=SRC_ID, started_at=NOW)


def test_a_stopped_source_vm_is_started_once() -> None:
    """Not running: started once, then waited for under vm-start without starting it again."""
    compute = SourceCompute(vms={SRC: vm(power="deallocated")})
    outcome = bs.step_source_vm(context(compute))
    assert ("start_vm", SRC) in compute.calls
    assert outcome.pending == PendingOperation(kind="vm-start", resource_id=SRC_ID, started_at=NOW)
    assert outcome.wait == timedelta(seconds=15)
    starting = PendingOperation(kind="vm-start", resource_id=SRC_ID, started_at=NOW - timedelta(minutes=5))
    compute.calls.clear()
    again = bs.step_source_vm(context(compute, starting))
    assert compute.calls == [("get_vm", SRC)]
    assert again.pending == starting.model_copy(update={"checks": 1})


def test_a_running_source_vm_records_its_image_and_disk() -> None:
    """Running: customize next, recording the VM's image (unless the run knows it) and its OS disk."""
    compute = SourceCompute(vms={SRC: vm()})
    outcome = bs.step_source_vm(context(compute))
    assert outcome.next_step == "customize"
    assert outcome.run_updates == {"source_image": "marketplace:urn", "source_os_disk_id": "disk-1"}
    known = bs.step_source_vm(context(compute, source_image=URN))
    assert known.run_updates == {"source_image": URN, "source_os_disk_id": "disk-1"}


# --- customizations ----------------------------------------------------------------------------


def test_a_customization_script_stops_at_the_first_error() -> None:
    """Every script runs with $ErrorActionPreference = 'Stop'; the builtin runs the Windows Update script."""
    script = Customization(name="x", script="  Write-Output 1\n")
    assert bs.customization_script(script) == "$ErrorActionPreference = 'Stop'\nWrite-Output 1"
    update = Customization(name="wu", builtin=Builtin.WINDOWS_UPDATE)
    assert bs.customization_script(update) == "$ErrorActionPreference = 'Stop'\n" + guest_scripts.WINDOWS_UPDATE.strip()


def volume(status: str, percent: int) -> ScriptResult:
    return ScriptResult(stdout=json.dumps({"volumeStatus": status, "encryptionPercentage": percent}), stderr="")


OFF = PendingOperation(kind="script:source-bitlocker-off", started_at=NOW, operation="op-1")
MARKED = {bs.SOURCE_BITLOCKER: NOW - timedelta(minutes=30)}


def test_bitlocker_is_turned_off_on_the_source_vm_first() -> None:
    """Before any customization: BITLOCKER_OFF on the source VM; its answer is audited and marked."""
    compute = SourceCompute()
    started = bs.step_customize(context(compute))
    assert compute.calls == [("start_script", (SRC, guest_scripts.BITLOCKER_OFF))]
    assert started.pending is not None
    assert started.pending.kind == "script:source-bitlocker-off"
    compute.script_results["op-1"] = volume("FullyEncrypted", 100)
    outcome = bs.step_customize(context(compute, OFF))
    assert outcome.next_step == "customize"
    assert outcome.run_updates == {"marks": {bs.SOURCE_BITLOCKER: NOW}}
    assert [(a.kind, a.detail) for a in outcome.audit] == [
        ("source-bitlocker", f"source VM {SRC}: BitLocker FullyEncrypted (100% encrypted), decryption started; "
         "PreventDeviceEncryption=1 set")
    ]  # fmt: skip
    compute.script_results["op-1"] = volume("FullyDecrypted", 0)
    decrypted = bs.step_customize(context(compute, OFF))
    assert decrypted.audit[0].detail == (
        f"source VM {SRC}: BitLocker FullyDecrypted (0% encrypted); PreventDeviceEncryption=1 set"
    )


def test_the_first_customization_runs_as_a_managed_script_with_its_timeout() -> None:
    """Customization 0, pass 0: its own named command on the source VM, with the catalog's timeout."""
    compute = SourceCompute()
    outcome = bs.step_customize(context(compute, marks=MARKED))
    first = OFFICE.customizations[0]
    assert compute.calls == [
        ("start_managed_script", (SRC, "avd-c0-p0", bs.customization_script(first), timedelta(minutes=90),
                                  "westeurope"))
    ]  # fmt: skip
    assert outcome.pending is not None
    assert outcome.pending.kind == "managed:c0-p0"


def ran(purpose: str, stdout: str = "", state: str = "Succeeded", code: int = 0) -> tuple[PendingOperation, dict]:
    pending = PendingOperation(kind=f"managed:{purpose}", started_at=NOW, operation=f"avd-{purpose}")
    result = ManagedScriptResult(state=state, exit_code=code, stdout=stdout, stderr="", started=NOW)
    return pending, {f"avd-{purpose}": result}


def test_a_plain_customization_that_succeeded_moves_to_the_next() -> None:
    """m365-apps (no restart) exit 0: the next customization, from pass 0, no audit."""
    pending, results = ran("c1-p0")
    outcome = bs.step_customize(context(SourceCompute(managed=results), pending, marks=MARKED, customization_index=1))
    assert outcome.next_step == "customize"
    assert outcome.run_updates == {"customization_index": 2, "customization_pass": 0}
    assert outcome.audit == []


def test_a_failed_customization_fails_the_run_naming_it() -> None:
    """A non-zero exit code: the run fails with the customization's name, the VM and the output."""
    pending, results = ran("c1-p0", state="Failed", code=3)
    results["avd-c1-p0"] = ManagedScriptResult("Failed", 3, "", "winget: no package", started=NOW)
    outcome = bs.step_customize(context(SourceCompute(managed=results), pending, marks=MARKED, customization_index=1))
    assert outcome.fail == f"customization 'm365-apps' exited with code 3 on {SRC}: winget: no package"


def test_a_customization_that_asks_for_a_restart_restarts_the_vm() -> None:
    """fslogix (restart = true): the VM restarts once; the index moves on with the restart's wait."""
    pending, results = ran("c2-p0")
    compute = SourceCompute(managed=results)
    outcome = bs.step_customize(context(compute, pending, marks=MARKED, customization_index=2))
    assert compute.calls == [("start_restart", SRC)]
    assert outcome.pending is not None
    assert outcome.pending.kind == "vm-restart"
    assert outcome.run_updates == {"customization_index": 3, "customization_pass": 0}
    assert outcome.audit == []


def test_a_restart_under_way_is_followed_until_the_vm_is_back() -> None:
    """After the restart: back and running means customize again; not yet, the restart's wait."""
    restarting = PendingOperation(kind="vm-restart", started_at=NOW - timedelta(minutes=5))
    compute = SourceCompute(vms={SRC: vm()})
    back = bs.step_customize(context(compute, restarting, marks=MARKED, customization_index=2))
    assert (back.next_step, back.pending, back.run_updates) == ("customize", None, {})
    compute.vms[SRC] = vm(power="starting")
    waiting = bs.step_customize(context(compute, restarting, marks=MARKED, customization_index=2))
    assert waiting.next_step is None
    assert waiting.pending == restarting.model_copy(update={"checks": 1})


def report(*kbs: str, reboot: bool = False) -> str:
    return "Searching...\n" + json.dumps({"installed": [{"kb": kb} for kb in kbs], "rebootRequired": reboot})


def test_windows_update_that_installed_updates_runs_another_pass_after_its_restart() -> None:
    """Updates installed and a restart asked: the same customization again at pass + 1, after a restart, audited."""
    pending, results = ran("c0-p2", report("KB1", "KB2", reboot=True))
    compute = SourceCompute(managed=results)
    outcome = bs.step_customize(context(compute, pending, marks=MARKED, customization_pass=2))
    assert compute.calls == [("start_restart", SRC)]
    assert outcome.run_updates == {"customization_index": 0, "customization_pass": 3}
    assert [(a.kind, a.detail) for a in outcome.audit] == [
        ("windows-update", f"Windows Update pass 3 on {SRC}: installed KB1, KB2; restarting")
    ]


def test_windows_update_that_installed_without_a_restart_runs_again_at_once() -> None:
    """Updates installed, no restart asked: the next pass without restarting."""
    pending, results = ran("c0-p0", report("KB1"))
    compute = SourceCompute(managed=results)
    outcome = bs.step_customize(context(compute, pending, marks=MARKED))
    assert compute.calls == []
    assert outcome.next_step == "customize"
    assert outcome.run_updates == {"customization_index": 0, "customization_pass": 1}
    assert outcome.audit[0].detail == f"Windows Update pass 1 on {SRC}: installed KB1"


def test_windows_update_with_nothing_left_moves_on() -> None:
    """Nothing installed, no restart: the next customization; the audit says nothing was installed."""
    pending, results = ran("c0-p4", report())
    outcome = bs.step_customize(context(SourceCompute(managed=results), pending, marks=MARKED, customization_pass=4))
    assert outcome.run_updates == {"customization_index": 1, "customization_pass": 0}
    assert outcome.audit[0].detail == f"Windows Update pass 5 on {SRC}: installed nothing"


def test_windows_update_still_finding_updates_after_the_last_pass_fails() -> None:
    """Pass 8 of 8 still installs: the run fails saying so; pass 7 still goes on."""
    last = bs.MAX_UPDATE_PASSES - 1
    pending, results = ran(f"c0-p{last}", report("KB9"))
    outcome = bs.step_customize(context(SourceCompute(managed=results), pending, marks=MARKED,
                                        customization_pass=last))  # fmt: skip
    assert outcome.fail == f"customization 'windows-updates' still found updates after 8 passes on {SRC}"
    pending, results = ran(f"c0-p{last - 1}", report("KB9"))
    earlier = bs.step_customize(context(SourceCompute(managed=results), pending, marks=MARKED,
                                        customization_pass=last - 1))  # fmt: skip
    assert earlier.fail is None
    assert earlier.run_updates == {"customization_index": 0, "customization_pass": last}


# --- inventory, decryption, the version --------------------------------------------------------

DONE = len(OFFICE.customizations)


def inventory(status: str = "FullyDecrypted") -> str:
    return json.dumps({"osBuild": "26100.7171", "osDisplayVersion": "24H2", "hotfixes": ["KB2", "KB1"],
                       "apps": [{"name": "Teams", "version": "2"}], "registry": {},
                       "bitlocker": {"volumeStatus": status, "encryptionPercentage": 0 if status == "FullyDecrypted" else 40}})  # fmt: skip


MANIFEST = Manifest(os_build="26100.7171", os_display_version="24H2", hotfixes=("KB1", "KB2"),
                    apps=(App(name="Teams", version="2"),))  # fmt: skip


def test_after_the_customizations_the_inventory_runs() -> None:
    """All customizations done: the inventory as a managed command, 30 minutes at most."""
    compute = SourceCompute()
    bs.step_customize(context(compute, marks=MARKED, customization_index=DONE))
    assert compute.calls == [
        ("start_managed_script", (SRC, "avd-inventory", guest_scripts.INVENTORY, timedelta(minutes=30), "westeurope"))
    ]


def test_an_inventory_still_decrypting_waits_for_the_source_vm() -> None:
    """Not FullyDecrypted yet: source-decrypted next, with the manifest kept on the run."""
    pending, results = ran("inventory", inventory("DecryptionInProgress"))
    outcome = bs.step_customize(
        context(SourceCompute(managed=results), pending, marks=MARKED, customization_index=DONE)
    )
    assert outcome.next_step == "source-decrypted"
    assert outcome.run_updates == {"source_manifest": MANIFEST}


@pytest.mark.parametrize(
    ("result", "reason"),
    [
        (
            ManagedScriptResult("TimedOut", None, "", "", started=NOW),
            f"the inventory timed out on {SRC}: no error output",
        ),
        (
            ManagedScriptResult("Succeeded", 0, inventory(), "", truncated=True, started=NOW),
            f"the inventory of {SRC} was cut to its last 4 KB: configure AVD_BLOBS_ENDPOINT",
        ),
    ],
)
def test_a_failed_or_cut_inventory_fails_the_run(result: ManagedScriptResult, reason: str) -> None:
    """A failed inventory says how; one cut to the instance view's 4 KB says what to configure."""
    pending, _ = ran("inventory")
    compute = SourceCompute(managed={"avd-inventory": result})
    assert bs.step_customize(context(compute, pending, marks=MARKED, customization_index=DONE)).fail == reason


def test_a_decrypted_inventory_opens_the_first_version() -> None:
    """No version yet: 1.0.0, a first build, named for the month, with the manifest and the customizations."""
    pending, results = ran("inventory", inventory())
    ctx = context(SourceCompute(managed=results), pending, marks=MARKED, customization_index=DONE,
                  source_image=URN, requested_by="builder@contoso.com")  # fmt: skip
    outcome = bs.step_customize(ctx)
    number = VersionNumber(major=1, minor=0, patch=0)
    assert outcome.next_step == "snapshot"
    assert outcome.version == ImageVersion(
        workload="office", version=number, display_name="Win11 | Office | v1.0.0 | 2026-11",
        build_reason=BuildReason.FIRST, run_id="run-1", requested_by="builder@contoso.com", created_at=NOW,
        source_image=URN, manifest=MANIFEST,
    )  # fmt: skip
    assert outcome.pointers == Pointers(workload="office", newest=number)
    assert outcome.run_updates == {"version": number, "source_manifest": MANIFEST, "customization_index": 3}
    [entry] = outcome.audit
    assert (entry.at, entry.kind, entry.actor, entry.version, entry.to_status) == (
        NOW,
        "build-started",
        "builder@contoso.com",
        number,
        Status.BUILDING,
    )
    assert entry.detail == (
        f"first build of Win11 | Office | v1.0.0 | 2026-11 from {URN}; customizations: windows-updates, m365-apps, fslogix"
    )


def test_the_next_version_follows_the_newest_with_the_runs_reason() -> None:
    """A newest version exists: the run's reason bumps it (1.2.3: a patch build is 1.2.4, a catalog change 1.3.0)."""
    newest = VersionNumber(major=1, minor=2, patch=3)
    bare = OFFICE.model_copy(update={"customizations": []})
    ctx = context(SourceCompute(), pointers=Pointers(workload="office", newest=newest), workload=bare)
    outcome = bs.step_inventory(ctx, MANIFEST)
    assert outcome.version is not None
    assert (str(outcome.version.version), outcome.version.build_reason) == ("1.2.4", BuildReason.PATCH)
    assert outcome.audit[0].detail.endswith("; customizations: none")
    assert outcome.run_updates["customization_index"] == 0
    changed = context(SourceCompute(), pointers=Pointers(workload="office", newest=newest), workload=bare,
                      reason=BuildReason.CATALOG_CHANGE)  # fmt: skip
    minor = bs.step_inventory(changed, MANIFEST).version
    assert minor is not None
    assert (str(minor.version), minor.build_reason) == ("1.3.0", BuildReason.CATALOG_CHANGE)


def test_a_prepare_only_run_stops_at_the_inventory() -> None:
    """prepare_only: the run finishes with the manifest kept, no version opened, the audit says so."""
    outcome = bs.step_inventory(context(SourceCompute(), prepare_only=True), MANIFEST)
    assert outcome.finish is True
    assert (outcome.version, outcome.pointers, outcome.next_step) == (None, None, None)
    assert outcome.run_updates == {"source_manifest": MANIFEST, "customization_index": 3}
    [entry] = outcome.audit
    assert (entry.at, entry.kind, entry.actor) == (NOW, "source-prepared", "step:inventory")
    assert entry.detail == f"source VM {SRC} prepared (OS build 26100.7171, 1 apps); no image captured"


DECRYPTING = {"source_manifest": MANIFEST, "step": "source-decrypted"}
STATUS = PendingOperation(kind="script:source-bitlocker-status", started_at=NOW - timedelta(seconds=40),
                          operation="op-1")  # fmt: skip


def test_source_decrypted_without_a_manifest_fails() -> None:
    """The manifest lost before decryption ended: the run fails naming the run."""
    outcome = bs.step_source_decrypted(context(SourceCompute(), marks=MARKED))
    assert outcome.fail == "run run-1 lost the source manifest before decryption ended"


def test_source_decrypted_turns_bitlocker_off_first_when_it_was_not() -> None:
    """No decryption mark: BITLOCKER_OFF runs and the step comes back to source-decrypted."""
    compute = SourceCompute(script_results={"op-1": volume("DecryptionInProgress", 50)})
    outcome = bs.step_source_decrypted(context(compute, OFF, **DECRYPTING))
    assert outcome.next_step == "source-decrypted"


def test_source_decrypted_reads_the_status_and_opens_the_version_when_done() -> None:
    """The status script on the source VM; FullyDecrypted opens the version with the kept manifest."""
    compute = SourceCompute()
    first = bs.step_source_decrypted(context(compute, marks=MARKED, **DECRYPTING))
    assert compute.calls == [("start_script", (SRC, guest_scripts.BITLOCKER_STATUS))]
    assert first.pending is not None
    assert first.pending.kind == "script:source-bitlocker-status"
    compute.script_results["op-1"] = volume("FullyDecrypted", 0)
    done = bs.step_source_decrypted(context(compute, STATUS, marks=MARKED, **DECRYPTING))
    assert done.next_step == "snapshot"
    assert done.version is not None
    assert done.version.manifest == MANIFEST


def test_source_decryption_under_way_is_predicted_from_its_progress() -> None:
    """60 % encrypted 30 minutes after the mark: the next status is predicted, less the script's 40 s."""
    compute = SourceCompute(script_results={"op-1": volume("DecryptionInProgress", 60)})
    outcome = bs.step_source_decrypted(context(compute, STATUS, marks=MARKED, step_started_at=NOW, **DECRYPTING))
    assert outcome.pending == PendingOperation(kind="source-decrypt", resource_id=SRC, started_at=NOW)
    assert outcome.wait == timedelta(minutes=29, seconds=20)  # read again at least every 30 minutes
    recent = {bs.SOURCE_BITLOCKER: NOW - timedelta(minutes=5)}  # the run began an hour ago: the mark counts
    compute.script_results["op-1"] = volume("DecryptionInProgress", 50)
    soon = bs.step_source_decrypted(context(compute, STATUS, marks=recent, step_started_at=NOW, **DECRYPTING))
    assert soon.wait == timedelta(minutes=4, seconds=28)


def test_source_decryption_past_the_limit_fails() -> None:
    """Past bitlocker_timeout_minutes on the run's record: the run fails with the state it is in."""
    compute = SourceCompute(script_results={"op-1": volume("DecryptionInProgress", 40)})
    settings = Settings(event_grid=False, bitlocker_timeout_minutes=60)
    late = context(compute, STATUS, settings=settings, marks=MARKED, step_started_at=NOW - timedelta(minutes=61),
                   **DECRYPTING)  # fmt: skip
    assert bs.step_source_decrypted(late).fail == (
        f"BitLocker decryption of the source VM {SRC} did not finish within 60 minutes "
        "(still DecryptionInProgress, 40% encrypted)"
    )
    on_time = context(compute, STATUS, settings=settings, marks=MARKED, step_started_at=NOW - timedelta(minutes=59),
                      **DECRYPTING)  # fmt: skip
    assert bs.step_source_decrypted(on_time).fail is None


def test_a_script_still_running_keeps_the_step_waiting() -> None:
    """No answer yet from a status or off script: the back-off on the same pending, nothing decided."""
    outcome = bs.step_source_decrypted(context(SourceCompute(), STATUS, marks=MARKED, **DECRYPTING))
    assert isinstance(outcome, Outcome)
    assert (outcome.next_step, outcome.fail) == (None, None)
    assert outcome.pending == STATUS.model_copy(update={"checks": 1})


def test_a_trusted_launch_source_vm_and_its_first_look_from_the_last_run() -> None:
    """A TrustedLaunch workload's source VM is Trusted Launch; a VM create that took 10 minutes is looked at after 7."""
    compute = SourceCompute()
    ctx = context(compute, workload=OFFICE.model_copy(update={"security_type": SecurityType.TRUSTED_LAUNCH}))
    ctx.pointers = Pointers(workload="office", took={"vm-create": 600.0})
    outcome = bs.step_source_vm(ctx)
    [spec] = [c[1] for c in compute.calls if c[0] == "start_create_vm"]
    assert spec.trusted_launch is True
    assert outcome.wait == timedelta(minutes=7)


def operation_of(call: Any) -> str:
    with pytest.raises(AzureOperationError) as error:
        call()
    return error.value.operation


def test_unreadable_guest_answers_name_the_script_and_the_source_vm() -> None:
    """Unparsable output or an unreadable value: the error names which script on which VM said it."""
    garbled = ScriptResult(stdout="no json", stderr="")
    odd = volume("Sideways", 0)
    for result, what in ((garbled, "bitlocker-off"), (odd, "bitlocker-off")):
        compute = SourceCompute(script_results={"op-1": result})
        assert operation_of(lambda c=compute: bs.step_customize(context(c, OFF))) == f"{what} on {SRC}"
    for result in (garbled, odd):
        compute = SourceCompute(script_results={"op-1": result})
        call = lambda c=compute: bs.step_source_decrypted(context(c, STATUS, marks=MARKED, **DECRYPTING))  # noqa: E731
        assert operation_of(call) == f"bitlocker-status on {SRC}"
    pending, results = ran("inventory", "no json")
    compute = SourceCompute(managed=results)
    call = lambda: bs.step_customize(context(compute, pending, marks=MARKED, customization_index=DONE))  # noqa: E731
    assert operation_of(call) == f"inventory on {SRC}"
    pending, results = ran("c0-p0", "no json")
    compute = SourceCompute(managed=results)
    assert operation_of(lambda: bs.step_customize(context(compute, pending, marks=MARKED))) == (
        f"customization 'windows-updates' on {SRC}"
    )


def test_an_update_reported_without_a_kb_still_counts_as_installed() -> None:
    """An installed update with no KB number: another pass follows, and the audit names no KB."""
    pending, results = ran("c0-p0", json.dumps({"installed": [{"title": "Defender"}], "rebootRequired": False}))
    outcome = bs.step_customize(context(SourceCompute(managed=results), pending, marks=MARKED))
    assert outcome.run_updates == {"customization_index": 0, "customization_pass": 1}
    assert outcome.audit[0].detail == f"Windows Update pass 1 on {SRC}: installed nothing"
