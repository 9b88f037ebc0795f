"""The source VM phase of a build (shared.steps.build_source): source VM, customizations, decryption, inventory.

Each step against a recording compute: the VM it creates or starts, the scripts it runs (in
order, with their timeouts), the restarts and Windows Update passes, the version it opens and
the literal reasons an admin reads on failure.
"""

from __future__ import annotations

from datetime import timedelta

import pytest

from shared.adapters import guest_scripts
from shared.config import Settings
from shared.domain.catalog import SecurityType
from shared.domain.compute import ManagedScriptResult, OperationState, ScriptResult, VmSpec
from shared.domain.errors import RequestRefused
from shared.domain.model import BuildReason, ImageVersion, PendingOperation, Pointers, Status, VersionNumber
from shared.steps import build_source as bs
from shared.steps.outcome import Outcome
from tests.unit.source_fakes import (
    DECRYPTING,
    DONE,
    MANIFEST,
    MARKED,
    NOW,
    OFF,
    OFFICE,
    SRC,
    SRC_ID,
    STATUS,
    URN,
    SourceCompute,
    context,
    inventory,
    operation_of,
    ran,
    vm,
    volume,
)

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


# --- inventory, decryption, the version --------------------------------------------------------


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
    assert outcome.run_updates == {
        "version": number,
        "source_manifest": MANIFEST,
        "customization_index": 3,
        "source_decrypted": "",  # no PreventDeviceEncryption=1 in the manifest: not remembered
    }
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
    assert outcome.run_updates == {"source_manifest": MANIFEST, "customization_index": 3, "source_decrypted": ""}
    [entry] = outcome.audit
    assert (entry.at, entry.kind, entry.actor) == (NOW, "source-prepared", "step:inventory")
    assert entry.detail == f"source VM {SRC} prepared (OS build 26100.7171, 1 apps); no image captured"


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


@pytest.mark.parametrize(("event_lag", "floor"), [(0.0, 15), (90.0, 6)])
def test_source_decryption_nearly_done_is_read_again_at_the_runs_floor(event_lag: float, floor: float) -> None:
    """1 % left after 30 minutes: the next status at once, no sooner than the run's floor - 15 s while
    events come at once, 6 s when they come late (the status script's answer is the news then)."""
    compute = SourceCompute(script_results={"op-1": volume("DecryptionInProgress", 1)})
    run = {"marks": MARKED, "step_started_at": NOW, "event_lag": event_lag, **DECRYPTING}
    outcome = bs.step_source_decrypted(context(compute, STATUS, settings=Settings(event_grid=True), **run))
    assert outcome.wait == timedelta(seconds=floor)


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
    """A TrustedLaunch workload's source VM is Trusted Launch; a VM create that took 10 minutes is looked at after 5."""
    compute = SourceCompute()
    ctx = context(compute, workload=OFFICE.model_copy(update={"security_type": SecurityType.TRUSTED_LAUNCH}))
    ctx.pointers = Pointers(workload="office", took={"vm-create": 600.0})
    outcome = bs.step_source_vm(ctx)
    [spec] = [c[1] for c in compute.calls if c[0] == "start_create_vm"]
    assert spec.trusted_launch is True
    assert outcome.wait == timedelta(minutes=5)


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
    pending, results = ran("wu0-p0", "no json")
    compute = SourceCompute(managed=results)
    assert operation_of(lambda: bs.step_customize(context(compute, pending, marks=MARKED))) == (
        f"customization 'windows-updates' on {SRC}"
    )
