"""Build phase 2: clone the source OS disk to a temporary VM and make sure BitLocker is FullyDecrypted."""

from __future__ import annotations

from datetime import timedelta

from shared.adapters import guest_scripts
from shared.domain.compute import (
    VmSpec,
)
from shared.domain.errors import RequestRefused
from shared.domain.model import (
    BitLockerEvidence,
    PendingOperation,
)
from shared.steps import deadlines, guest
from shared.steps.build_source import INVENTORY_TIMEOUT
from shared.steps.managed_script import failure, managed_script
from shared.steps.outcome import Outcome, start_once, status_recheck
from shared.steps.step_context import StepContext, ensure_resource, trusted_launch


def step_snapshot(ctx: StepContext) -> Outcome:
    """Snapshot the source OS disk: the source VM itself is never sysprepped."""
    compute = ctx.deps.compute
    name = ctx.temp("snap")

    def start() -> str:
        disk = ctx.run.source_os_disk_id
        if not disk:
            source = compute.get_vm(ctx.source_vm)
            if source is None:
                raise RequestRefused(f"source VM {ctx.source_vm} disappeared during run {ctx.run.run_id}")
            disk = source.os_disk_id
        return compute.start_snapshot(name, ctx.workload.location, disk, ctx.tags("snapshot"))

    waiting = ensure_resource(ctx, "Microsoft.Compute/snapshots", name, "snapshot", start)
    return waiting or Outcome(next_step="disk")


def step_disk(ctx: StepContext) -> Outcome:
    compute = ctx.deps.compute
    name = ctx.temp("disk")
    snapshot_id = compute.id_of("Microsoft.Compute/snapshots", ctx.temp("snap"))

    def start() -> str:
        return compute.start_disk_from_snapshot(name, ctx.workload.location, snapshot_id, ctx.tags("disk"))

    waiting = ensure_resource(ctx, "Microsoft.Compute/disks", name, "disk", start)
    return waiting or Outcome(next_step="temp-vm")


def step_temp_vm(ctx: StepContext) -> Outcome:
    """A temporary VM on the cloned disk; its content must match the source VM's."""
    compute = ctx.deps.compute
    name = ctx.temp("vm")
    disk_id = compute.id_of("Microsoft.Compute/disks", ctx.temp("disk"))

    def start() -> str:
        # The disk is made; the snapshot has served its purpose.
        start_once(lambda: compute.start_delete(compute.id_of("Microsoft.Compute/snapshots", ctx.temp("snap"))))
        spec = VmSpec(
            name=name,
            location=ctx.workload.location,
            size=ctx.workload.vm_size,
            tags=ctx.tags("vm"),
            attach_os_disk_id=disk_id,
            trusted_launch=trusted_launch(ctx.workload),
            subnet_id=compute.ensure_network(ctx.workload.location),
            disposable=True,
        )
        return compute.start_create_vm(spec)

    waiting = ensure_resource(ctx, "Microsoft.Compute/virtualMachines", name, "temp-vm", start)
    return waiting or Outcome(next_step="clone-check")


def step_clone_check(ctx: StepContext) -> Outcome:
    """The clone's content must match the source VM's; its BitLocker state is the evidence's start."""
    version, name = ctx.require_version(), ctx.temp("vm")
    result = managed_script(ctx, "clone-inventory", name, guest_scripts.INVENTORY, INVENTORY_TIMEOUT)
    if isinstance(result, Outcome):
        return result
    if not result.ok:
        return Outcome(fail=failure("the inventory", name, result))
    if result.truncated:
        return Outcome(fail=f"the inventory of {name} was cut to its last 4 KB: configure AVD_BLOBS_ENDPOINT")
    found = guest.parse_inventory(result.stdout, f"inventory on {name}")
    drift = guest.manifest_drift(ctx.run.source_manifest or version.manifest, found.manifest)
    detail = "clone matches the source VM" if not drift else "clone differs from the source VM: " + "; ".join(drift)
    prevented = found.manifest.registry.get(guest.PREVENT_DEVICE_ENCRYPTION) == "1"
    evidence = BitLockerEvidence(state_before=found.bitlocker, started_at=ctx.now, prevent_device_encryption=prevented)
    return Outcome(
        next_step="bitlocker",
        version=version.evolve(drift=tuple(drift), bitlocker=evidence),
        audit=[ctx.audit("cloned" if not drift else "drift-detected", f"{detail}; BitLocker {found.bitlocker}")],
    )


def step_bitlocker(ctx: StepContext) -> Outcome:
    """Sysprep needs FullyDecrypted: turn BitLocker off and re-check until it is, within a time limit."""
    version, vm = ctx.require_version(), ctx.temp("vm")
    evidence = version.bitlocker or BitLockerEvidence(state_before="unknown", started_at=ctx.now)
    arrived_ready = evidence.state_before.startswith("FullyDecrypted") and evidence.prevent_device_encryption
    if arrived_ready and not evidence.state_after:
        # Decrypted once on the source VM: the clone's state read at clone-check is the evidence.
        evidence = evidence.model_copy(update={"state_after": "FullyDecrypted", "finished_at": ctx.now})
        detail = "clone arrived FullyDecrypted with PreventDeviceEncryption=1 (decrypted on the source VM)"
        return Outcome(
            next_step="sysprep",
            version=version.evolve(bitlocker=evidence),
            audit=[ctx.audit("bitlocker-ready", detail)],
        )
    polling = ("bitlocker-decrypt", "script:bitlocker-status", "script-busy:bitlocker-status")
    first = ctx.run.pending is None or ctx.run.pending.kind not in polling
    # BITLOCKER_OFF also sets PreventDeviceEncryption=1, so deployed hosts never re-encrypt.
    purpose, text = (
        ("bitlocker-off", guest_scripts.BITLOCKER_OFF)
        if first
        else ("bitlocker-status", guest_scripts.BITLOCKER_STATUS)
    )
    result = ctx.script(purpose, vm, text)
    if isinstance(result, Outcome):
        return result
    status, percent = guest.volume(guest.parse(result, f"{purpose} on {vm}"))
    evidence = evidence.model_copy(update={"prevent_device_encryption": True})
    if status == "FullyDecrypted":
        evidence = evidence.model_copy(update={"state_after": "FullyDecrypted", "finished_at": ctx.now})
        minutes = evidence.minutes or 0.0
        detail = (
            f"BitLocker {evidence.state_before} -> FullyDecrypted in {minutes:.0f} min; PreventDeviceEncryption=1 set"
        )
        return Outcome(
            next_step="sysprep",
            version=version.evolve(bitlocker=evidence),
            audit=[ctx.audit("bitlocker-ready", detail)],
        )
    waiting = PendingOperation(kind="bitlocker-decrypt", resource_id=vm, started_at=evidence.started_at)
    if first:
        detail = f"OS volume is {evidence.state_before}: decryption started, PreventDeviceEncryption=1 set"
        return Outcome(
            wait=ctx.backoff(waiting),
            pending=waiting,
            version=version.evolve(bitlocker=evidence),
            audit=[ctx.audit("bitlocker-decrypting", detail)],
            run_updates={"marks": ctx.mark("decrypt-started")},
        )
    limit = timedelta(minutes=ctx.deps.settings.bitlocker_timeout_minutes)
    if deadlines.overdue(ctx.run, ctx.now, limit):  # counted on the run's record, not this instance's clock
        return Outcome(
            fail=f"BitLocker decryption of {vm} did not finish within {limit.total_seconds() / 60:.0f} minutes "
            f"(still {status}, {percent}% encrypted); sysprep would fail with ValidateBitLockerState (0x80310039)",
        )
    # Predict the end from the progress since decryption started; the next status script is
    # started one Run Command earlier, so that its answer arrives just after the end.
    elapsed = ctx.now - ctx.run.marks.get("decrypt-started", evidence.started_at)
    return Outcome(wait=status_recheck(elapsed, percent, ctx.script_took(), ctx.floor), pending=waiting)
