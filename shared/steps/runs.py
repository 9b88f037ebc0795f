"""The build pipeline: one stateless, idempotent handler per step of a run.

Each step reads the run (and its version) in one query, checks Azure, acts at most once,
and returns an Outcome; `continue_run` commits it with its audit entries in one transaction
and emits the next message: now, as a scheduled re-check, or not at all (an Event Grid
event about the resource continues the run first if it arrives first).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from shared.adapters import guest_scripts
from shared.domain import lifecycle, naming
from shared.domain.catalog import SecurityType, Workload
from shared.domain.commands import ContinueRun, ContinueVersion, Envelope, StartBuild
from shared.domain.compute import (
    EXPIRES_TAG,
    RUN_TAG,
    WORKLOAD_TAG,
    ImageDefinitionSpec,
    OperationState,
    ScriptResult,
    TargetRegion,
    VersionSpec,
    VmSpec,
)
from shared.domain.errors import AzureOperationError, RequestRefused
from shared.domain.model import (
    BitLockerEvidence,
    BuildReason,
    ImageVersion,
    Manifest,
    PendingOperation,
    Pointers,
    Run,
    RunState,
    Stage,
    Status,
    VersionNumber,
    next_version,
)
from shared.domain.records import AuditEntry, Changes, Loaded
from shared.steps import guest, replication
from shared.steps.deps import Deps
from shared.steps.outcome import SCRIPT_RECHECK, SCRIPT_TYPICAL, Outcome, recheck_delay, start_once

ABORT = "abort"
SYSPREP_TIMEOUT = timedelta(minutes=90)
ABORT_MAX_CHECKS = 20
SCRIPT_BUSY_LIMIT = 20
STEP_TIMEOUT = timedelta(hours=6)  # no Azure operation of a build step takes this long; BitLocker has its own limit


@dataclass
class StepContext:
    deps: Deps
    workload: Workload
    run: Run
    version: ImageVersion | None
    now: datetime
    pointers: Pointers

    def temp(self, kind: str) -> str:
        return naming.temp_resource_name(self.workload.name, self.run.run_id, kind)

    def tags(self, kind: str) -> dict[str, str]:
        expires = self.now + timedelta(hours=self.deps.settings.temp_resource_ttl_hours)
        return {
            RUN_TAG: self.run.run_id,
            WORKLOAD_TAG: self.workload.name,
            EXPIRES_TAG: expires.isoformat(),
            "avd-lifecycle-kind": kind,
        }

    def pending(self, kind: str, resource_id: str = "") -> PendingOperation:
        """The pending operation of this kind, started now or carried over with one more check."""
        current = self.run.pending
        if current is not None and current.kind == kind:
            return current.model_copy(update={"checks": current.checks + 1})
        return PendingOperation(kind=kind, resource_id=resource_id, started_at=self.now)

    def script(self, purpose: str, vm_name: str, text: str) -> ScriptResult | Outcome:
        """Run Command without waiting: start it and come back (on its event or a re-check) for the result."""
        kind = f"script:{purpose}"
        current = self.run.pending
        compute = self.deps.compute
        if current is not None and current.kind == kind:
            result = compute.script_result(current.operation)
            if result is not None:
                return result
            return Outcome(wait=SCRIPT_RECHECK, pending=self.pending(kind))
        try:
            operation = compute.start_script(vm_name, text)
        except AzureOperationError as error:
            if error.code != "Conflict":
                raise
            # One Run Command at a time per VM: after a crash ours may still be running. Try again later.
            busy = self.pending(f"script-busy:{purpose}")
            if busy.checks >= SCRIPT_BUSY_LIMIT:
                return Outcome(fail=f"Run Command on {vm_name} stayed busy: {error}")
            return Outcome(wait=SCRIPT_TYPICAL, pending=busy)
        vm_id = compute.id_of("Microsoft.Compute/virtualMachines", vm_name)
        pending = PendingOperation(kind=kind, resource_id=vm_id, started_at=self.now, operation=operation)
        return Outcome(wait=SCRIPT_TYPICAL, pending=pending)

    def mark(self, name: str) -> dict[str, datetime]:
        return {**self.run.marks, name: self.now}

    def audit(self, kind: str, detail: str, **fields: object) -> AuditEntry:
        version = self.version.version if self.version is not None else None
        return AuditEntry(
            at=self.now,
            kind=kind,
            actor=f"step:{self.run.step}",
            detail=detail,
            version=version,
            **fields,  # type: ignore[arg-type]
        )

    def require_version(self) -> ImageVersion:
        if self.version is None:
            raise RequestRefused(f"run {self.run.run_id} reached {self.run.step} without a version record")
        return self.version

    @property
    def source_vm(self) -> str:
        return naming.source_vm_name(self.workload.name)


def _trusted_launch(workload: Workload) -> bool:
    return workload.security_type is SecurityType.TRUSTED_LAUNCH


def step_source_vm(ctx: StepContext) -> Outcome:
    """Create or reuse the workload's source VM: the authoritative, up-to-date image content."""
    compute, workload = ctx.deps.compute, ctx.workload
    vm = compute.get_vm(ctx.source_vm)
    if vm is None:
        market = workload.base_image.marketplace
        if market is None:
            raise RequestRefused(f"source VM {workload.base_image.source_vm} of {workload.name} does not exist")
        version = market.version
        if version == "latest":
            version = compute.latest_marketplace_version(workload.location, market.publisher, market.offer, market.sku)
        urn = f"{market.publisher}:{market.offer}:{market.sku}:{version}"
        spec = VmSpec(
            name=ctx.source_vm,
            location=workload.location,
            size=workload.vm_size,
            tags={WORKLOAD_TAG: workload.name, "avd-lifecycle-kind": "source-vm"},
            marketplace_urn=urn,
            trusted_launch=_trusted_launch(workload),
            subnet_id=compute.ensure_network(workload.location),
        )
        resource_id = compute.start_create_vm(spec)
        return Outcome(
            wait=timedelta(minutes=3), pending=ctx.pending("vm-create", resource_id), run_updates={"source_image": urn}
        )
    if vm.provisioning is OperationState.FAILED:
        return Outcome(fail=f"source VM {vm.name} failed to provision")
    if vm.provisioning is OperationState.IN_PROGRESS:
        return Outcome(wait=timedelta(minutes=1), pending=ctx.pending("vm-create", vm.id))
    if vm.power != "running":
        if ctx.run.pending is None or ctx.run.pending.kind != "vm-start":
            start_once(lambda: compute.start_vm(vm.name))
        return Outcome(wait=timedelta(minutes=1), pending=ctx.pending("vm-start", vm.id))
    updates = {"source_image": ctx.run.source_image or vm.image_reference, "source_os_disk_id": vm.os_disk_id}
    return Outcome(next_step="customize", run_updates=updates)


CUSTOMIZATION_MARKER = ">>> customization: "


def customization_script(workload: Workload) -> str:
    """All customizations in catalog order, then the inventory, in one Run Command.

    Each customization is announced on stdout first, so a failure names the one that failed;
    one Run Command instead of one per customization keeps ARM requests per build low.
    """
    parts = [f"Write-Output '{CUSTOMIZATION_MARKER}{c.name}'\n{c.script.strip()}" for c in workload.customizations]
    return "\n".join([*parts, guest_scripts.INVENTORY.strip()])


def step_customize(ctx: StepContext) -> Outcome:
    """Apply the catalog's customizations, in order, to the source VM and record what it holds."""
    result = ctx.script("customize", ctx.source_vm, customization_script(ctx.workload))
    if isinstance(result, Outcome):
        return result
    if result.stderr.strip():
        started = [
            line.split(CUSTOMIZATION_MARKER, 1)[1]
            for line in result.stdout.splitlines()
            if CUSTOMIZATION_MARKER in line
        ]
        which = f"customization {started[-1]!r}" if started else "the inventory"
        return Outcome(fail=f"{which} failed on the source VM {ctx.source_vm}: {result.stderr.strip()[:1500]}")
    manifest = guest.parse_inventory(result.stdout, f"customize {ctx.source_vm}").manifest
    return step_inventory(ctx, manifest)


def step_inventory(ctx: StepContext, manifest: Manifest) -> Outcome:
    """Open the new version with the source VM's manifest (or stop here: prepare only)."""
    run, workload = ctx.run, ctx.workload
    if run.prepare_only:
        detail = (
            f"source VM {ctx.source_vm} prepared (OS build {manifest.os_build}, {len(manifest.apps)} apps); "
            "no image captured"
        )
        return Outcome(
            finish=True,
            run_updates={"source_manifest": manifest, "customization_index": len(workload.customizations)},
            audit=[AuditEntry(at=ctx.now, kind="source-prepared", actor="step:inventory", detail=detail)],
        )
    latest = ctx.pointers.newest  # every version's creation sets it, in the same transaction
    reason = run.reason if latest is not None else BuildReason.FIRST
    number = next_version(latest, reason)
    display = naming.display_name(workload.os_label, workload.workload_label, number, ctx.now.date())
    version = ImageVersion(
        workload=workload.name,
        version=number,
        display_name=display,
        build_reason=reason,
        run_id=run.run_id,
        requested_by=run.requested_by,
        created_at=ctx.now,
        source_image=run.source_image,
        manifest=manifest,
    )
    applied = ", ".join(c.name for c in workload.customizations) or "none"
    entry = AuditEntry(
        at=ctx.now,
        kind="build-started",
        actor=run.requested_by,
        detail=f"{reason.value} build of {display} from {run.source_image}; customizations: {applied}",
        version=number,
        to_status=Status.BUILDING,
    )
    return Outcome(
        next_step="snapshot",
        version=version,
        pointers=ctx.pointers.evolve(newest=number),  # the ETag on pointers guards the number
        run_updates={
            "version": number,
            "source_manifest": manifest,
            "customization_index": len(workload.customizations),
        },
        audit=[entry],
    )


def _ensure(
    ctx: StepContext, resource_type: str, name: str, kind: str, start: Callable[[], str], expected: timedelta
) -> Outcome | None:
    """Start a resource once; None when it exists and succeeded, else the wait or failure.

    The first entry starts without a read (PUT of a deterministic name is idempotent; a
    redelivery that finds the operation under way gets Conflict and simply waits).
    """
    compute = ctx.deps.compute
    resource_id = compute.id_of(resource_type, name)
    pending = ctx.run.pending
    if pending is None or pending.kind != kind:
        start_once(start)
        return Outcome(wait=expected, pending=ctx.pending(kind, resource_id))
    state = compute.resource_state(resource_id)
    if state is OperationState.SUCCEEDED:
        return None
    if state is OperationState.FAILED:
        return Outcome(fail=f"{kind} {name} failed to provision")
    if state is OperationState.MISSING and pending.checks >= 2:
        return Outcome(fail=f"{kind} {name} was never created (started {pending.started_at:%H:%M})")
    elapsed = ctx.deps.clock.now() - pending.started_at
    return Outcome(wait=max(expected - elapsed, timedelta(seconds=30)), pending=ctx.pending(kind, resource_id))


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

    waiting = _ensure(ctx, "Microsoft.Compute/snapshots", name, "snapshot", start, timedelta(minutes=1))
    return waiting or Outcome(next_step="disk")


def step_disk(ctx: StepContext) -> Outcome:
    compute = ctx.deps.compute
    name = ctx.temp("disk")
    snapshot_id = compute.id_of("Microsoft.Compute/snapshots", ctx.temp("snap"))

    def start() -> str:
        return compute.start_disk_from_snapshot(name, ctx.workload.location, snapshot_id, ctx.tags("disk"))

    waiting = _ensure(ctx, "Microsoft.Compute/disks", name, "disk", start, timedelta(minutes=1))
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
            trusted_launch=_trusted_launch(ctx.workload),
            subnet_id=compute.ensure_network(ctx.workload.location),
            disposable=True,
        )
        return compute.start_create_vm(spec)

    waiting = _ensure(ctx, "Microsoft.Compute/virtualMachines", name, "temp-vm", start, timedelta(minutes=3))
    return waiting or Outcome(next_step="clone-check")


def step_clone_check(ctx: StepContext) -> Outcome:
    """The clone's content must match the source VM's; its BitLocker state is the evidence's start."""
    version, name = ctx.require_version(), ctx.temp("vm")
    result = ctx.script("inventory", name, guest_scripts.INVENTORY)
    if isinstance(result, Outcome):
        return result
    found = guest.inventory_from(guest.parse(result, f"inventory on {name}"))
    drift = guest.manifest_drift(ctx.run.source_manifest or version.manifest, found.manifest)
    detail = "clone matches the source VM" if not drift else "clone differs from the source VM: " + "; ".join(drift)
    evidence = BitLockerEvidence(state_before=found.bitlocker, started_at=ctx.now)
    return Outcome(
        next_step="bitlocker",
        version=version.evolve(drift=tuple(drift), bitlocker=evidence),
        audit=[ctx.audit("cloned" if not drift else "drift-detected", f"{detail}; BitLocker {found.bitlocker}")],
    )


def step_bitlocker(ctx: StepContext) -> Outcome:
    """Sysprep needs FullyDecrypted: turn BitLocker off and re-check until it is, within a time limit."""
    version, vm = ctx.require_version(), ctx.temp("vm")
    evidence = version.bitlocker or BitLockerEvidence(state_before="unknown", started_at=ctx.now)
    first = not evidence.prevent_device_encryption
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
            wait=timedelta(minutes=5),
            pending=waiting,
            version=version.evolve(bitlocker=evidence),
            audit=[ctx.audit("bitlocker-decrypting", detail)],
            run_updates={"marks": ctx.mark("decrypt-started")},
        )
    limit = timedelta(minutes=ctx.deps.settings.bitlocker_timeout_minutes)
    if ctx.now - evidence.started_at > limit:
        return Outcome(
            fail=f"BitLocker decryption of {vm} did not finish within {limit.total_seconds() / 60:.0f} minutes "
            f"(still {status}, {percent}% encrypted); sysprep would fail with ValidateBitLockerState (0x80310039)",
        )
    # Predict the end from the progress since decryption started; the next status script is
    # started one Run Command earlier, so that its answer arrives just after the end.
    elapsed = ctx.now - ctx.run.marks.get("decrypt-started", evidence.started_at)
    until_done = recheck_delay(elapsed, float(100 - percent), timedelta(minutes=1), timedelta(minutes=30))
    return Outcome(wait=max(until_done - SCRIPT_TYPICAL, timedelta(minutes=1)), pending=waiting)


SYSPREP_TYPICAL = timedelta(minutes=9)
SYSPREP_LOG_AFTER = timedelta(minutes=12)


def step_sysprep(ctx: StepContext) -> Outcome:
    """Start sysprep (/shutdown) without waiting; the VM stopping means resealed, else report the log."""
    compute, name = ctx.deps.compute, ctx.temp("vm")
    started = ctx.run.marks.get("sysprep-started")
    if started is None:
        result = ctx.script("sysprep-start", name, guest_scripts.SYSPREP_START)
        if isinstance(result, Outcome):
            return result
        guest.parse(result, f"sysprep on {name}")
        return Outcome(
            wait=SYSPREP_TYPICAL,
            pending=PendingOperation(kind="sysprep", resource_id=name, started_at=ctx.now),
            run_updates={"marks": ctx.mark("sysprep-started")},
        )
    pending = ctx.run.pending
    if pending is not None and pending.kind == "script:sysprep-status":
        result = ctx.script("sysprep-status", name, guest_scripts.SYSPREP_STATUS)
        if isinstance(result, Outcome):
            return result
        _, running, errors = guest.sysprep_state(guest.parse(result, f"sysprep status on {name}"))
        if not running and errors:
            return Outcome(fail=f"sysprep failed on {name}:\n" + "\n".join(errors[-12:]))
        return Outcome(
            wait=timedelta(minutes=1), pending=PendingOperation(kind="sysprep", resource_id=name, started_at=ctx.now)
        )
    vm = compute.get_vm(name)
    if vm is None:
        return Outcome(fail=f"temporary VM {name} disappeared during sysprep")
    if vm.power in ("stopped", "deallocated"):
        return Outcome(next_step="deallocate", audit=[ctx.audit("sysprep-done", f"{name}: generalized and shut down")])
    if ctx.now - started > SYSPREP_TIMEOUT:
        return Outcome(
            fail=f"sysprep on {name} did not finish within {SYSPREP_TIMEOUT.total_seconds() / 60:.0f} minutes"
        )
    # Sysprep failures leave the VM running; once it is overdue, read the log every 5 minutes.
    last_read = ctx.run.marks.get("sysprep-log-read", started)
    if ctx.now - started > SYSPREP_LOG_AFTER and ctx.now - last_read >= timedelta(minutes=5):
        outcome = ctx.script("sysprep-status", name, guest_scripts.SYSPREP_STATUS)
        if isinstance(outcome, Outcome):
            outcome.run_updates["marks"] = ctx.mark("sysprep-log-read")
            return outcome
    return Outcome(wait=timedelta(minutes=1), pending=ctx.pending("sysprep", name))


def step_deallocate(ctx: StepContext) -> Outcome:
    """Deallocate the stopped temp VM, then generalize it (Azure refuses generalize on a running VM)."""
    compute = ctx.deps.compute
    name = ctx.temp("vm")
    if ctx.run.pending is None or ctx.run.pending.kind != "deallocate":
        start_once(compute.start_deallocate, name)
        return Outcome(
            wait=timedelta(minutes=1),  # a deallocate typically takes a minute; its event usually comes first
            pending=ctx.pending("deallocate", compute.id_of("Microsoft.Compute/virtualMachines", name)),
        )
    vm = compute.get_vm(name)
    if vm is None:
        return Outcome(fail=f"temporary VM {name} disappeared before capture")
    if vm.power == "deallocated":
        if not vm.generalized:
            compute.generalize(name)
        return Outcome(next_step="capture")
    pending = ctx.pending("deallocate", vm.id)
    if vm.provisioning is OperationState.FAILED or pending.checks % 5 == 0:  # a failed or lost deallocate: ask again
        start_once(compute.start_deallocate, name)
    return Outcome(wait=timedelta(minutes=1), pending=pending)


DEFINITION_NOT_READY = frozenset({"ParentResourceNotFound", "ResourceNotFound", "NotFound"})


def _start_version(ctx: StepContext, version: ImageVersion) -> None:
    """Make sure the definition exists, then ask for the version (idempotent; a 409 means under way)."""
    compute, workload = ctx.deps.compute, ctx.workload
    gallery, market = workload.gallery, workload.base_image.marketplace
    compute.ensure_image_definition(
        ImageDefinitionSpec(
            resource_group=gallery.resource_group,
            gallery=gallery.name,
            name=gallery.definition,
            location=workload.location,
            security_type=workload.security_type.value,
            publisher="avd-lifecycle",
            offer=market.offer if market else "custom",
            sku=workload.name,
            tags={WORKLOAD_TAG: workload.name, "avd-lifecycle-owner": workload.owner},
        )
    )
    spec = VersionSpec(
        resource_group=gallery.resource_group,
        gallery=gallery.name,
        definition=gallery.definition,
        version=str(version.version),
        location=workload.location,
        source_vm_id=compute.id_of("Microsoft.Compute/virtualMachines", ctx.temp("vm")),
        target_regions=replication.target_regions(workload, Stage.TEST),
        tags=replication.version_tags(version, Stage.TEST),
    )
    try:
        start_once(compute.start_create_version, spec)
    except AzureOperationError as error:
        if error.code not in DEFINITION_NOT_READY:  # a brand-new definition may still be provisioning
            raise


def step_capture(ctx: StepContext) -> Outcome:
    """Create the next gallery version from the generalized temp VM, hidden from 'latest'."""
    compute, workload, version = ctx.deps.compute, ctx.workload, ctx.require_version()
    audit: list[AuditEntry] = []
    if version.status is Status.BUILDING:
        version = lifecycle.start_capture(version)
        detail = f"creating gallery version {version.version}"
        audit.append(ctx.audit("capture-started", detail, from_status=Status.BUILDING, to_status=Status.CAPTURING))
    pending = ctx.run.pending
    if pending is None or pending.kind != "version-create":
        _start_version(ctx, version)  # no read first: the PUT of a fixed name is idempotent
        return Outcome(wait=timedelta(minutes=20), pending=ctx.pending("version-create"), version=version, audit=audit)
    gallery = workload.gallery
    state = compute.get_gallery_version(gallery.name, gallery.definition, str(version.version))
    if state is None:  # the PUT was refused (definition not ready yet) or lost: ask again
        if pending.checks >= 5:
            return Outcome(fail=f"gallery version {version.version} was never created", version=version, audit=audit)
        _start_version(ctx, version)
        return Outcome(wait=timedelta(minutes=1), pending=ctx.pending("version-create"), version=version, audit=audit)
    replication_failed = any(r.state == "Failed" for r in state.regions)
    if state.provisioning is OperationState.FAILED and not replication_failed:
        return Outcome(fail=f"creating gallery version {version.version} failed", version=version, audit=audit)
    if state.provisioning is OperationState.IN_PROGRESS:
        return Outcome(
            wait=timedelta(minutes=5), pending=ctx.pending("version-create", state.id), version=version, audit=audit
        )
    captured = lifecycle.captured(version, state.id)
    detail = f"gallery version {state.id} created (excludeFromLatest)"
    audit.append(ctx.audit("captured", detail, from_status=Status.CAPTURING, to_status=Status.REPLICATING))
    wanted = replication.target_regions(workload, Stage.TEST)
    if replication.judge(state, captured, wanted, ctx.now, ctx.now).done:
        # Creation completes after replication to the target regions: usually ready at once.
        ready, entry = _ready(ctx, captured, wanted)
        return Outcome(next_step="cleanup", version=ready, audit=[*audit, entry])
    return Outcome(next_step="cleanup", version=captured, audit=audit)


def _remove_temp_resources(ctx: StepContext, *, thorough: bool = False) -> Outcome | None:
    """Delete the temp VM (its OS disk and NIC go with it: deleteOption Delete) and make sure the
    snapshot is gone; `thorough` (the failure path) also removes a disk or NIC that never got a VM."""
    compute = ctx.deps.compute
    vm_id = compute.id_of("Microsoft.Compute/virtualMachines", ctx.temp("vm"))
    snapshot_id = compute.id_of("Microsoft.Compute/snapshots", ctx.temp("snap"))
    # The snapshot's delete was asked for when the disk was made; it is checked (and asked again if
    # it failed). The failure path also checks a disk or NIC that never got a VM to take them along.
    leftovers = [snapshot_id]
    if thorough:
        leftovers += [
            compute.id_of("Microsoft.Compute/disks", ctx.temp("disk")),
            compute.id_of("Microsoft.Network/networkInterfaces", ctx.temp("vm") + "-nic"),
        ]
    pending = ctx.run.pending
    if pending is None or pending.kind != "delete-temp":
        start_once(compute.start_delete, vm_id)
        return Outcome(wait=timedelta(minutes=1), pending=ctx.pending("delete-temp", ",".join([vm_id, *leftovers])))
    if compute.resource_state(vm_id) is not OperationState.MISSING:
        if pending.checks % 5 == 4:  # a delete that was refused or lost: ask again now and then
            start_once(compute.start_delete, vm_id)
        return Outcome(wait=timedelta(minutes=1), pending=ctx.pending("delete-temp", pending.resource_id))
    remaining = [r for r in leftovers if compute.resource_state(r) is not OperationState.MISSING]
    if not remaining:
        return None
    for resource_id in remaining:
        start_once(compute.start_delete, resource_id)
    return Outcome(wait=timedelta(seconds=30), pending=ctx.pending("delete-temp", ",".join(remaining)))


def step_cleanup(ctx: StepContext) -> Outcome:
    waiting = _remove_temp_resources(ctx)
    if waiting is not None:
        return waiting
    version = ctx.require_version()
    if version.status is Status.READY:  # replication completed with the capture
        return _finish_ready(ctx, version)
    return Outcome(next_step="replicate")


def step_replicate(ctx: StepContext) -> Outcome:
    """Watch replication to the test stage's regions; then the version is ready in test."""
    compute, workload, version = ctx.deps.compute, ctx.workload, ctx.require_version()
    wanted = replication.target_regions(workload, Stage.TEST)
    state = compute.get_gallery_version(workload.gallery.name, workload.gallery.definition, str(version.version))
    since = ctx.run.pending.started_at if ctx.run.pending and ctx.run.pending.kind == "replication" else ctx.now
    verdict = replication.judge(state, version, wanted, since, ctx.now)
    if verdict.failed:
        return Outcome(fail=verdict.failed)
    if verdict.retry_region:
        retried, detail = replication.retry_region(compute, workload, version, wanted, verdict.retry_region)
        return Outcome(
            wait=timedelta(minutes=5),
            pending=ctx.pending("replication", version.gallery_version_id),
            version=retried,
            audit=[ctx.audit("replication-retried", detail)],
        )
    if not verdict.done:
        return Outcome(wait=verdict.wait, pending=ctx.pending("replication", version.gallery_version_id))
    ready, entry = _ready(ctx, version, wanted)
    return _finish_ready(ctx, ready, [entry])


def _ready(
    ctx: StepContext, version: ImageVersion, wanted: tuple[TargetRegion, ...]
) -> tuple[ImageVersion, AuditEntry]:
    ready = lifecycle.replicated(version)
    regions = ", ".join(t.name for t in wanted)
    entry = ctx.audit(
        "ready",
        f"{version.display_name} replicated to {regions}; ready in test",
        from_status=Status.REPLICATING,
        to_status=Status.READY,
        stage=Stage.TEST,
    )
    return ready, entry


def _finish_ready(ctx: StepContext, version: ImageVersion, audit: list[AuditEntry] | None = None) -> Outcome:
    """The build is done: the version serves test; validation in test starts now."""
    validate = ContinueVersion(
        workload=ctx.workload.name, version=str(version.version), operation="validate", attempt=version.op_attempt
    )
    return Outcome(finish=True, version=version, audit=audit or [], then=[Envelope.wrap(validate)])


def step_abort(ctx: StepContext) -> Outcome:
    """Failure path: remove everything the run created (temp resources, a half-made gallery version)."""
    waiting = _remove_temp_resources(ctx, thorough=True)
    if waiting is not None:
        return waiting
    version, compute, gallery = ctx.version, ctx.deps.compute, ctx.workload.gallery
    if version is not None and version.status is Status.FAILED:
        state = compute.get_gallery_version(gallery.name, gallery.definition, str(version.version))
        if state is not None:
            if ctx.run.pending is None or ctx.run.pending.kind != "delete-version":
                start_once(
                    lambda: compute.start_delete_gallery_version(gallery.name, gallery.definition, str(version.version))
                )
            return Outcome(wait=timedelta(minutes=2), pending=ctx.pending("delete-version", state.id))
    return Outcome(finish=True)


STEPS: dict[str, Callable[[StepContext], Outcome]] = {
    "source-vm": step_source_vm,
    "customize": step_customize,
    "snapshot": step_snapshot,
    "disk": step_disk,
    "temp-vm": step_temp_vm,
    "clone-check": step_clone_check,
    "bitlocker": step_bitlocker,
    "sysprep": step_sysprep,
    "deallocate": step_deallocate,
    "capture": step_capture,
    "cleanup": step_cleanup,
    "replicate": step_replicate,
    ABORT: step_abort,
}
FIRST_STEP = "source-vm"


def position(run: Run, trigger: Literal["next", "recheck", "event"] = "next") -> ContinueRun:
    return ContinueRun(
        workload=run.workload,
        run_id=run.run_id,
        step=run.step,
        attempt=run.attempt,
        trigger=trigger,
        version=str(run.version) if run.version else None,
    )


def start_build(command: StartBuild, deps: Deps) -> list[Envelope]:
    """Open a run; at most one run per workload at a time, and one per run id ever."""
    workload = deps.workload(command.workload)
    loaded = deps.records.load(workload.name, run_id=command.run_id)
    if loaded.run is not None:
        return [Envelope.wrap(position(loaded.run))] if loaded.run.state is RunState.RUNNING else []
    now = deps.clock.now()
    pointers = loaded.pointers
    if pointers.active_run is not None:
        raise RequestRefused(
            f"{workload.name} already has run {pointers.active_run} in progress; one run per workload at a time"
        )
    run = Run(
        workload=workload.name,
        run_id=command.run_id,
        reason=command.reason,
        requested_by=command.requested_by,
        started_at=now,
        step=FIRST_STEP,
        prepare_only=command.prepare_only,
        step_started_at=now,
    )
    mode = " (prepare only)" if command.prepare_only else ""
    entry = AuditEntry(
        at=now,
        kind="run-started",
        actor=command.requested_by,
        detail=f"{command.reason.value} run {command.run_id}{mode}",
    )
    deps.records.commit(
        Changes(workload=workload.name, run=run, pointers=pointers.evolve(active_run=run.run_id), audit=[entry])
    )
    return [Envelope.wrap(position(run))]


def continue_run(command: ContinueRun, deps: Deps) -> list[Envelope]:
    # The message names the run's version, so run and version come in one query.
    version = VersionNumber.parse(command.version) if command.version else None
    loaded = deps.records.load(command.workload, run_id=command.run_id, version=version)
    run = loaded.run
    if run is None:
        raise RequestRefused(f"run {command.run_id} of {command.workload} does not exist")
    if run.state is not RunState.RUNNING:
        return []
    if (command.step, command.attempt) != (run.step, run.attempt):
        return [Envelope.wrap(position(run))]  # stale or duplicate: re-send where the run is (deduplicated)
    if run.version != version:  # a message from before the version existed (only after a crash)
        loaded = deps.records.load(command.workload, run_id=command.run_id, version=run.version)
    now = deps.clock.now()
    ctx = StepContext(
        deps=deps,
        workload=deps.workload(command.workload),
        run=run,
        version=loaded.version,
        now=now,
        pointers=loaded.pointers,
    )
    try:
        overdue = run.pending is not None and run.step != ABORT and now - run.pending.started_at > STEP_TIMEOUT
        if overdue and run.pending is not None:
            hours = STEP_TIMEOUT.total_seconds() / 3600
            outcome = Outcome(fail=f"step {run.step} waited more than {hours:.0f} hours for {run.pending.kind}")
        else:
            outcome = STEPS[run.step](ctx)
    except AzureOperationError as error:
        outcome = _azure_trouble(ctx, error)
    except RequestRefused as error:
        outcome = Outcome(fail=str(error))
    return _apply(ctx, loaded, outcome)


AZURE_BUSY_LIMIT = 30  # consecutive throttled or 5xx checks of one step before the run fails


def _azure_trouble(ctx: StepContext, error: AzureOperationError) -> Outcome:
    """Throttling and server errors wait and try again (steps are idempotent); anything else fails."""
    if not error.transient:
        return Outcome(fail=str(error))
    busy = ctx.pending("azure-busy")
    if busy.checks >= AZURE_BUSY_LIMIT:
        return Outcome(fail=f"Azure kept failing transiently ({busy.checks} tries): {error}")
    return Outcome(wait=timedelta(minutes=min(1 + busy.checks, 10)), pending=busy)


def _apply(ctx: StepContext, loaded: Loaded, outcome: Outcome) -> list[Envelope]:
    run = ctx.run
    now = ctx.deps.clock.now()  # after the step's own calls (Run Command takes its time)
    version = outcome.version or ctx.version
    audit = [dataclasses.replace(entry, at=now) for entry in outcome.audit]  # when it was recorded
    pointers = outcome.pointers or loaded.pointers
    messages: list[Envelope] = []
    updates = dict(outcome.run_updates)
    step_times = dict(run.step_times)
    if run.step_started_at is not None:
        step_times[run.step] = step_times.get(run.step, 0.0) + (now - run.step_started_at).total_seconds()
    moved = {"attempt": run.attempt + 1, "step_times": step_times, "step_started_at": now}
    if outcome.fail and run.step == ABORT:
        checks = (run.pending.checks + 1) if run.pending else 1
        if checks < ABORT_MAX_CHECKS:  # cleanup hiccup: try again later, the sweeper is the backstop
            outcome = Outcome(wait=timedelta(minutes=5), pending=ctx.pending("abort-retry"))
        else:
            outcome = Outcome(finish=True)
    if outcome.fail:
        if version is not None and Status.FAILED in lifecycle.ALLOWED[version.status]:
            before = version.status
            version = lifecycle.fail(version, outcome.fail)
            audit.append(
                AuditEntry(
                    at=now,
                    kind="failed",
                    actor=f"step:{run.step}",
                    detail=outcome.fail,
                    version=version.version,
                    from_status=before,
                    to_status=Status.FAILED,
                )
            )
        else:
            audit.append(AuditEntry(at=now, kind="run-failed", actor=f"step:{run.step}", detail=outcome.fail))
        new_run = run.evolve(step=ABORT, pending=None, failure_reason=outcome.fail, **moved, **updates)
        messages.append(Envelope.wrap(position(new_run)))
    elif outcome.finish:
        state = RunState.FAILED if run.step == ABORT else RunState.SUCCEEDED
        new_run = run.evolve(state=state, ended_at=now, pending=None, **moved, **updates)
        if pointers.active_run == run.run_id:
            pointers = pointers.evolve(active_run=None)
        if version is not None and state is RunState.SUCCEEDED and version.status is Status.READY:
            pointers = pointers.evolve(test=version.version)
    elif outcome.next_step is not None:
        new_run = run.evolve(step=outcome.next_step, pending=None, **moved, **updates)
        messages.append(Envelope.wrap(position(new_run)))
    else:
        wait = outcome.wait or timedelta(minutes=1)
        new_run = run.evolve(
            pending=outcome.pending,
            **{**moved, "step_started_at": run.step_started_at, "step_times": run.step_times},
            **updates,
        )
        messages.append(Envelope.wrap(position(new_run, "recheck"), scheduled_for=now + wait))
    versions = (
        [version] if version is not None and (version is not ctx.version or any(a.version for a in audit)) else []
    )
    include_pointers = pointers is not loaded.pointers or any(a.version is None for a in audit)
    ctx.deps.records.commit(
        Changes(
            workload=run.workload,
            versions=versions,
            pointers=pointers if include_pointers else None,
            run=new_run,
            audit=audit,
        )
    )
    return messages + outcome.then
