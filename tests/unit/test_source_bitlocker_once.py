"""BitLocker is turned off on a source VM once: a later run on the OS disk the last run saw
FullyDecrypted with PreventDeviceEncryption=1 leaves it alone, and its inventory checks again."""

from __future__ import annotations

from shared.adapters import guest_scripts
from shared.domain.model import Pointers, Run
from shared.steps import build_source as bs
from shared.steps import guest, history
from tests.unit.source_fakes import (
    MANIFEST,
    NOW,
    SRC,
    SourceCompute,
    context,
    inventory,
    ran,
    vm,
)

SEEN = Pointers(workload="office", source_decrypted="disk-1")  # vm() runs on OS disk "disk-1"
PREVENTED = MANIFEST.model_copy(update={"registry": {guest.PREVENT_DEVICE_ENCRYPTION: "1"}})


def test_the_inventory_remembers_a_decrypted_disk_with_prevent_device_encryption() -> None:
    """FullyDecrypted (the inventory's precondition) and PreventDeviceEncryption=1: the disk is kept."""
    outcome = bs.step_inventory(context(SourceCompute(), source_os_disk_id="disk-1"), PREVENTED)
    assert outcome.run_updates["source_decrypted"] == "disk-1"
    prepared = bs.step_inventory(context(SourceCompute(), source_os_disk_id="disk-1", prepare_only=True), PREVENTED)
    assert prepared.run_updates["source_decrypted"] == "disk-1"
    unprevented = bs.step_inventory(context(SourceCompute(), source_os_disk_id="disk-1"), MANIFEST)
    assert unprevented.run_updates["source_decrypted"] == ""  # Windows may encrypt it again


def test_a_succeeded_run_leaves_the_disk_on_the_workloads_row() -> None:
    """history.kept moves it to the pointers; a run that saw none keeps the last one."""
    run = Run(workload="office", run_id="r", reason="patch", requested_by="a", started_at=NOW,
              source_decrypted="disk-1")  # fmt: skip
    assert history.kept(Pointers(workload="office"), run).source_decrypted == "disk-1"
    blank = run.evolve(source_decrypted="")
    assert history.kept(SEEN, blank).source_decrypted == "disk-1"


def test_the_source_vm_step_says_why_bitlocker_is_left_alone() -> None:
    """Same OS disk as the one seen decrypted: an audit line says so; another disk: nothing said."""
    compute = SourceCompute(vms={SRC: vm()})
    outcome = bs.step_source_vm(context(compute, pointers=SEEN))
    assert outcome.next_step == "customize"
    assert [(a.kind, a.detail) for a in outcome.audit] == [
        ("source-bitlocker", f"source VM {SRC}: its OS disk was FullyDecrypted with PreventDeviceEncryption=1 "
         "at the end of the last run; BitLocker left as it is (this run's inventory checks it again)")
    ]  # fmt: skip
    other = Pointers(workload="office", source_decrypted="disk-0")  # the VM was re-created since
    assert bs.step_source_vm(context(compute, pointers=other)).audit == []
    assert bs.step_source_vm(context(compute)).audit == []


def test_customize_skips_bitlocker_off_on_the_disk_seen_decrypted() -> None:
    """The first customization starts at once; on another disk BitLocker is turned off first."""
    compute = SourceCompute()
    outcome = bs.step_customize(context(compute, pointers=SEEN, source_os_disk_id="disk-1"))
    assert [(name, args[1]) for name, args in compute.calls] == [("start_managed_script", "avd-wu0-p0")]
    assert outcome.pending is not None
    assert outcome.pending.kind == "managed:wu0-p0"
    compute = SourceCompute()
    bs.step_customize(context(compute, pointers=SEEN, source_os_disk_id="DISK-0"))
    assert compute.calls == [("start_script", (SRC, guest_scripts.BITLOCKER_OFF))]
    compute = SourceCompute()
    bs.step_customize(context(compute, pointers=Pointers(workload="office"), source_os_disk_id=""))
    assert compute.calls == [("start_script", (SRC, guest_scripts.BITLOCKER_OFF))]


def test_a_source_encrypted_again_is_decrypted_after_the_inventory() -> None:
    """A policy turned BitLocker back on: the inventory sees it, BitLocker is turned off then and
    the run waits for FullyDecrypted before any snapshot."""
    pending, results = ran("inventory", inventory("FullyEncrypted"))
    compute = SourceCompute(managed=results)
    done = len(context(compute).workload.customizations)
    found = bs.step_customize(
        context(compute, pending, pointers=SEEN, source_os_disk_id="disk-1", customization_index=done)
    )
    assert found.next_step == "source-decrypted"
    assert found.run_updates["source_manifest"] is not None
    compute.calls.clear()
    turned = bs.step_source_decrypted(
        context(compute, pointers=SEEN, source_os_disk_id="disk-1", source_manifest=MANIFEST, step="source-decrypted")
    )
    assert compute.calls == [("start_script", (SRC, guest_scripts.BITLOCKER_OFF))]
    assert turned.pending is not None
    assert turned.pending.kind == "script:source-bitlocker-off"
