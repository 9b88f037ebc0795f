"""Build phase 1: the source VM (authoritative content), its customizations and the new version record."""

from __future__ import annotations

from datetime import timedelta

from shared.adapters import guest_scripts
from shared.domain import naming
from shared.domain.catalog import Builtin, Customization
from shared.domain.compute import (
    WORKLOAD_TAG,
    OperationState,
    VmSpec,
)
from shared.domain.errors import RequestRefused
from shared.domain.model import (
    BuildReason,
    ImageVersion,
    Manifest,
    PendingOperation,
    Status,
    next_version,
)
from shared.domain.records import AuditEntry
from shared.steps import deadlines, guest
from shared.steps.managed_script import failure, managed_script, restarted
from shared.steps.outcome import Outcome, start_once, status_recheck
from shared.steps.step_context import StepContext, trusted_launch


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
            trusted_launch=trusted_launch(workload),
            subnet_id=compute.ensure_network(workload.location),
        )
        resource_id = compute.start_create_vm(spec)
        return Outcome(
            wait=ctx.first_look("vm-create"),
            pending=ctx.pending("vm-create", resource_id),
            run_updates={"source_image": urn},
        )
    if vm.provisioning is OperationState.FAILED:
        return Outcome(fail=f"source VM {vm.name} failed to provision")
    if vm.provisioning is OperationState.IN_PROGRESS:
        creating = ctx.pending("vm-create", vm.id)
        return Outcome(wait=ctx.backoff(creating), pending=creating)
    if vm.power != "running":
        if ctx.run.pending is None or ctx.run.pending.kind != "vm-start":
            start_once(lambda: compute.start_vm(vm.name))
        starting = ctx.pending("vm-start", vm.id)
        return Outcome(wait=ctx.backoff(starting), pending=starting)
    updates = {"source_image": ctx.run.source_image or vm.image_reference, "source_os_disk_id": vm.os_disk_id}
    audit = []
    if _seen_decrypted(ctx, vm.os_disk_id) and SOURCE_BITLOCKER not in ctx.run.marks:
        detail = (
            f"source VM {vm.name}: its OS disk was FullyDecrypted with PreventDeviceEncryption=1 at the "
            "end of the last run; BitLocker left as it is (this run's inventory checks it again)"
        )
        audit.append(ctx.audit("source-bitlocker", detail))
    return Outcome(next_step="customize", run_updates=updates, audit=audit)


def _seen_decrypted(ctx: StepContext, os_disk_id: str) -> bool:
    """Whether the last finished run's inventory saw this OS disk FullyDecrypted with
    PreventDeviceEncryption=1: a source VM re-created since has another disk and is decrypted again."""
    return bool(os_disk_id) and os_disk_id.lower() == ctx.pointers.source_decrypted.lower()


MAX_UPDATE_PASSES = 8  # Windows Update passes before the run gives up (each may restart the VM)
INVENTORY_TIMEOUT = timedelta(minutes=30)
SOURCE_BITLOCKER = "source-bitlocker"  # mark: decryption started and PreventDeviceEncryption set


def customization_script(customization: Customization) -> str:
    """What a customization runs: any error stops it with a non-zero exit code."""
    body = guest_scripts.WINDOWS_UPDATE if customization.builtin is Builtin.WINDOWS_UPDATE else customization.script
    return f"$ErrorActionPreference = 'Stop'\n{body.strip()}"


def step_customize(ctx: StepContext) -> Outcome:
    """Decrypt the source VM once, apply the customizations in order, then take its inventory.

    BitLocker is turned off on the source VM first (decryption runs in the background while the
    customizations run), so every clone arrives decrypted; not again on a source disk the last run
    saw decrypted (the inventory below re-checks it, and turns BitLocker off if a policy turned
    it back on). Each customization is its own managed Run Command: its exit code decides, and a
    restart follows when it asks for one.
    """
    vm = ctx.source_vm
    if SOURCE_BITLOCKER not in ctx.run.marks and not _seen_decrypted(ctx, ctx.run.source_os_disk_id):
        return _source_bitlocker_off(ctx, then="customize")
    index = ctx.run.customization_index
    if index < len(ctx.workload.customizations):
        return _customization(ctx, index)
    result = managed_script(ctx, "inventory", vm, guest_scripts.INVENTORY, INVENTORY_TIMEOUT)
    if isinstance(result, Outcome):
        return result
    if not result.ok:
        return Outcome(fail=failure("the inventory", vm, result))
    if result.truncated:
        return Outcome(fail=f"the inventory of {vm} was cut to its last 4 KB: configure AVD_BLOBS_ENDPOINT")
    found = guest.parse_inventory(result.stdout, f"inventory on {vm}")
    if found.volume_status != "FullyDecrypted":
        return Outcome(next_step="source-decrypted", run_updates={"source_manifest": found.manifest})
    return step_inventory(ctx, found.manifest)


def _source_bitlocker_off(ctx: StepContext, then: str) -> Outcome:
    vm = ctx.source_vm
    result = ctx.script("source-bitlocker-off", vm, guest_scripts.BITLOCKER_OFF)
    if isinstance(result, Outcome):
        return result
    status, percent = guest.volume(guest.parse(result, f"bitlocker-off on {vm}"), f"bitlocker-off on {vm}")
    detail = (
        f"source VM {vm}: BitLocker {status} ({percent}% encrypted)"
        + ("" if status == "FullyDecrypted" else ", decryption started")
        + "; PreventDeviceEncryption=1 set"
    )
    return Outcome(
        next_step=then,
        run_updates={"marks": ctx.mark(SOURCE_BITLOCKER)},
        audit=[ctx.audit("source-bitlocker", detail)],
    )


def _customization(ctx: StepContext, index: int) -> Outcome:
    vm, customization = ctx.source_vm, ctx.workload.customizations[index]
    if ctx.run.pending is not None and ctx.run.pending.kind == "vm-restart":
        return restarted(ctx, vm) or Outcome(next_step="customize")
    passes = ctx.run.customization_pass
    timeout = timedelta(minutes=customization.timeout_minutes)
    # Windows Update's passes ("wu") take as long as the month's updates; other customizations
    # ("c") do the same work every run, so their time carries over (shared/steps/history.py).
    purpose = f"{'wu' if customization.builtin is Builtin.WINDOWS_UPDATE else 'c'}{index}-p{passes}"
    result = managed_script(ctx, purpose, vm, customization_script(customization), timeout)
    if isinstance(result, Outcome):
        return result
    what = f"customization {customization.name!r}"
    if not result.ok:
        return Outcome(fail=failure(what, vm, result))
    following = {"customization_index": index + 1, "customization_pass": 0}
    restart = customization.restart
    audit = []
    if customization.builtin is Builtin.WINDOWS_UPDATE:
        report = guest.last_json_line(result.stdout, f"{what} on {vm}")
        installed = [str(u.get("kb", "")) for u in report.get("installed") or [] if isinstance(u, dict)]
        restart = bool(report.get("rebootRequired"))
        if installed or restart:
            if passes + 1 >= MAX_UPDATE_PASSES:
                return Outcome(fail=f"{what} still found updates after {MAX_UPDATE_PASSES} passes on {vm}")
            following = {"customization_index": index, "customization_pass": passes + 1}
        detail = f"Windows Update pass {passes + 1} on {vm}: installed {', '.join(installed) or 'nothing'}"
        audit.append(ctx.audit("windows-update", detail + ("; restarting" if restart else "")))
    if restart:
        waiting = restarted(ctx, vm)
        if waiting is not None:
            waiting.run_updates = following
            waiting.audit = audit
            return waiting
    return Outcome(next_step="customize", run_updates=following, audit=audit)


def step_source_decrypted(ctx: StepContext) -> Outcome:
    """Wait until the source VM is FullyDecrypted, then open the version with its manifest."""
    vm, manifest = ctx.source_vm, ctx.run.source_manifest
    if manifest is None:
        return Outcome(fail=f"run {ctx.run.run_id} lost the source manifest before decryption ended")
    if SOURCE_BITLOCKER not in ctx.run.marks:
        return _source_bitlocker_off(ctx, then="source-decrypted")
    result = ctx.script("source-bitlocker-status", vm, guest_scripts.BITLOCKER_STATUS)
    if isinstance(result, Outcome):
        return result
    status, percent = guest.volume(guest.parse(result, f"bitlocker-status on {vm}"), f"bitlocker-status on {vm}")
    if status == "FullyDecrypted":
        return step_inventory(ctx, manifest)
    started = ctx.run.marks.get(SOURCE_BITLOCKER, ctx.run.started_at)
    limit = timedelta(minutes=ctx.deps.settings.bitlocker_timeout_minutes)
    if deadlines.overdue(ctx.run, ctx.now, limit):  # counted on the run's record, not this instance's clock
        return Outcome(
            fail=f"BitLocker decryption of the source VM {vm} did not finish within "
            f"{limit.total_seconds() / 60:.0f} minutes (still {status}, {percent}% encrypted)"
        )
    wait = status_recheck(ctx.now - started, percent, ctx.script_took(), ctx.floor)
    waiting = PendingOperation(kind="source-decrypt", resource_id=vm, started_at=ctx.now)
    return Outcome(wait=wait, pending=waiting)


def step_inventory(ctx: StepContext, manifest: Manifest) -> Outcome:
    """Open the new version with the source VM's manifest (or stop here: prepare only).

    The source VM is FullyDecrypted here; with PreventDeviceEncryption=1 its disk is remembered."""
    run, workload = ctx.run, ctx.workload
    prevented = manifest.registry.get(guest.PREVENT_DEVICE_ENCRYPTION) == "1"
    decrypted = {"source_decrypted": run.source_os_disk_id if prevented else ""}
    if run.prepare_only:
        detail = (
            f"source VM {ctx.source_vm} prepared (OS build {manifest.os_build}, {len(manifest.apps)} apps); "
            "no image captured"
        )
        return Outcome(
            finish=True,
            run_updates={
                "source_manifest": manifest,
                "customization_index": len(workload.customizations),
                **decrypted,
            },
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
            **decrypted,
        },
        audit=[entry],
    )
