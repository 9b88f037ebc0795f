"""Build phase 1: the source VM (authoritative content), its customizations and the new version record."""

from __future__ import annotations

from shared.adapters import guest_scripts
from shared.domain import naming
from shared.domain.catalog import Workload
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
    Status,
    next_version,
)
from shared.domain.records import AuditEntry
from shared.steps import guest, waits
from shared.steps.outcome import Outcome, start_once
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
            wait=waits.first_look(waits.FIRST_LOOK_VM, ctx.deps.settings.event_grid),
            pending=ctx.pending("vm-create", resource_id),
            run_updates={"source_image": urn},
        )
    if vm.provisioning is OperationState.FAILED:
        return Outcome(fail=f"source VM {vm.name} failed to provision")
    if vm.provisioning is OperationState.IN_PROGRESS:
        creating = ctx.pending("vm-create", vm.id)
        return Outcome(
            wait=waits.backoff(
                creating.started_at, ctx.now, waits.FIRST_LOOK_VM, event_grid=ctx.deps.settings.event_grid
            ),
            pending=creating,
        )
    if vm.power != "running":
        if ctx.run.pending is None or ctx.run.pending.kind != "vm-start":
            start_once(lambda: compute.start_vm(vm.name))
        starting = ctx.pending("vm-start", vm.id)
        return Outcome(
            wait=waits.backoff(
                starting.started_at, ctx.now, waits.FIRST_LOOK_SHORT, event_grid=ctx.deps.settings.event_grid
            ),
            pending=starting,
        )
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
