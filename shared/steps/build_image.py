"""Build phase 3: sysprep, capture into the gallery, clean up, replicate; and the failure path."""

from __future__ import annotations

from datetime import timedelta

from shared.adapters import guest_scripts
from shared.domain import lifecycle
from shared.domain.commands import ContinueVersion, Envelope
from shared.domain.compute import (
    WORKLOAD_TAG,
    ImageDefinitionSpec,
    OperationState,
    TargetRegion,
    VersionSpec,
)
from shared.domain.errors import AzureOperationError
from shared.domain.model import (
    ImageVersion,
    Stage,
    Status,
)
from shared.domain.records import AuditEntry
from shared.steps import deadlines, guest, replication, waits
from shared.steps.managed_script import failure, managed_script
from shared.steps.outcome import Outcome, recheck_delay, start_once
from shared.steps.step_context import StepContext

SYSPREP_TIMEOUT = timedelta(minutes=90)  # the Run Command's own limit (timeoutInSeconds) and the step's


def step_sysprep(ctx: StepContext) -> Outcome:
    """Generalize the temp VM: sysprep /quit in a managed Run Command that ends when sysprep does.

    The command's completion event continues the run (a guest shutting itself down, as with
    /shutdown, is no ARM operation and has no event, so it could only be watched by reads).
    ImageState decides: resealed goes on to deallocate, anything else fails with the log lines."""
    name = ctx.temp("vm")
    # The deadline counts from the step's recorded start on the run's own record: an instance
    # whose clock runs ahead cannot time a healthy sysprep out (steps/deadlines.py). Azure ends the
    # command at the same limit (TimedOut); this one holds when its report never comes.
    if ctx.run.pending is not None and deadlines.overdue(ctx.run, ctx.now, SYSPREP_TIMEOUT):
        return Outcome(fail=_timed_out(name))
    try:
        result = managed_script(ctx, "sysprep", name, guest_scripts.SYSPREP, SYSPREP_TIMEOUT)
    except AzureOperationError as error:
        if error.code == "NotFound" and ctx.deps.compute.get_vm(name) is None:  # adapters map 404 to NotFound
            return Outcome(fail=f"temporary VM {name} was deleted outside the product during sysprep")
        raise
    if isinstance(result, Outcome):
        return result
    if result.state == "TimedOut":
        return Outcome(fail=_timed_out(name))
    if not result.ok:
        return Outcome(fail=failure("sysprep", name, result))
    state, _, errors = guest.sysprep_state(guest.last_json_line(result.stdout, f"sysprep on {name}"))
    if state != guest_scripts.RESEALED:
        why = "\n".join(errors[-12:]) or "setuperr.log has no error lines"
        return Outcome(fail=f"sysprep failed on {name} (ImageState {state or 'not set'}):\n{why}")
    return Outcome(next_step="deallocate", audit=[ctx.audit("sysprep-done", f"{name}: generalized ({state})")])


def _timed_out(name: str) -> str:
    return f"sysprep on {name} did not finish within {SYSPREP_TIMEOUT.total_seconds() / 60:.0f} minutes"


def step_deallocate(ctx: StepContext) -> Outcome:
    """Deallocate the resealed temp VM (it stops it), then generalize it (Azure refuses generalize on a running VM)."""
    compute = ctx.deps.compute
    name = ctx.temp("vm")
    if ctx.run.pending is None or ctx.run.pending.kind != "deallocate":
        start_once(compute.start_deallocate, name)
        return Outcome(
            wait=ctx.first_look("deallocate"),  # its event usually comes first
            pending=ctx.pending("deallocate", compute.id_of("Microsoft.Compute/virtualMachines", name)),
        )
    vm = compute.get_vm(name)
    if vm is None:
        return Outcome(fail=f"temporary VM {name} was deleted outside the product before capture")
    if vm.power == "deallocated":
        if not vm.generalized:
            compute.generalize(name)
        return Outcome(next_step="capture")
    pending = ctx.pending("deallocate", vm.id)
    if vm.provisioning is OperationState.FAILED or pending.checks % 5 == 0:  # a failed or lost deallocate: ask again
        start_once(compute.start_deallocate, name)
    return Outcome(wait=ctx.backoff(pending), pending=pending)


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

    def made() -> bool:
        return compute.get_gallery_version(gallery.name, gallery.definition, spec.version) is not None

    try:
        start_once(compute.start_create_version, spec, exists=made)
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
        return Outcome(
            wait=ctx.first_look("version-create"),
            pending=ctx.pending("version-create"),
            version=version,
            audit=audit,
        )
    gallery = workload.gallery
    state = compute.get_gallery_version(gallery.name, gallery.definition, str(version.version))
    if state is None:  # the PUT was refused (definition not ready yet) or lost: ask again
        if pending.checks >= 5:
            return Outcome(fail=f"gallery version {version.version} was never created", version=version, audit=audit)
        _start_version(ctx, version)
        return Outcome(wait=ctx.backoff(pending), pending=ctx.pending("version-create"), version=version, audit=audit)
    replication_failed = any(r.state == "Failed" for r in state.regions)
    if state.provisioning is OperationState.FAILED and not replication_failed:
        return Outcome(fail=f"creating gallery version {version.version} failed", version=version, audit=audit)
    if state.provisioning is OperationState.IN_PROGRESS:
        # Azure reports each region's progress while the version is created: predict its end from it.
        least = min((r.progress for r in state.regions), default=0)
        elapsed = ctx.now - pending.started_at
        event_grid, lag = ctx.deps.settings.event_grid, ctx.event_lag
        until_end = recheck_delay(elapsed, float(least), ctx.floor, waits.LONGEST)
        later = waits.predicted(until_end, event_grid=event_grid, event_lag=lag) if least > 0 else ctx.backoff(pending)
        return Outcome(wait=later, pending=ctx.pending("version-create", state.id), version=version, audit=audit)
    captured = lifecycle.captured(version, state.id)
    detail = f"gallery version {state.id} created (excludeFromLatest)"
    audit.append(ctx.audit("captured", detail, from_status=Status.CAPTURING, to_status=Status.REPLICATING))
    wanted = replication.target_regions(workload, Stage.TEST)
    if replication.judge(state, captured, wanted, ctx.now, ctx.now).done:
        # Creation completes after replication to the target regions: usually ready at once. The
        # version serves test now; the temp resources are removed after, off the critical path.
        ready, entry = _ready(ctx, captured, wanted)
        return _serves_test(ctx, ready, Outcome(next_step="cleanup", audit=[*audit, entry]))
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
        deleting = ctx.pending("delete-temp", ",".join([vm_id, *leftovers]))
        return Outcome(wait=ctx.first_look("delete-temp"), pending=deleting)
    if compute.resource_state(vm_id) is not OperationState.MISSING:
        if pending.checks % 5 == 4:  # a delete that was refused or lost: ask again now and then
            start_once(compute.start_delete, vm_id)
        return Outcome(wait=ctx.backoff(pending), pending=ctx.pending("delete-temp"))  # carried over
    remaining = [r for r in leftovers if compute.resource_state(r) is not OperationState.MISSING]
    if not remaining:
        return None
    for resource_id in remaining:
        start_once(compute.start_delete, resource_id)
    return Outcome(wait=ctx.backoff(pending), pending=ctx.pending("delete-temp"))  # carried over


def step_cleanup(ctx: StepContext) -> Outcome:
    waiting = _remove_temp_resources(ctx)
    if waiting is not None:
        return waiting
    version = ctx.require_version()
    if version.status is Status.READY:  # it serves test since the capture (its validation started then)
        return Outcome(finish=True)
    return Outcome(next_step="replicate")


def step_replicate(ctx: StepContext) -> Outcome:
    """Watch replication to the test stage's regions; then the version is ready in test."""
    compute, workload, version = ctx.deps.compute, ctx.workload, ctx.require_version()
    wanted = replication.target_regions(workload, Stage.TEST)
    state = compute.get_gallery_version(workload.gallery.name, workload.gallery.definition, str(version.version))
    since = ctx.run.pending.started_at if ctx.run.pending and ctx.run.pending.kind == "replication" else ctx.now
    event_grid, lag = ctx.deps.settings.event_grid, ctx.event_lag
    verdict = replication.judge(state, version, wanted, since, ctx.now, event_grid=event_grid, event_lag=lag)
    if verdict.failed:
        return Outcome(fail=verdict.failed)
    if verdict.retry_region:
        retried, detail = replication.retry_region(compute, workload, version, wanted, verdict.retry_region, state)
        return Outcome(
            wait=ctx.first_look(),
            pending=ctx.pending("replication", version.gallery_version_id),
            version=retried,
            audit=[ctx.audit("replication-retried", detail)],
        )
    if not verdict.done:
        return Outcome(wait=verdict.wait, pending=ctx.pending("replication", version.gallery_version_id))
    ready, entry = _ready(ctx, version, wanted)
    return _serves_test(ctx, ready, Outcome(finish=True, audit=[entry]))


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


def _serves_test(ctx: StepContext, version: ImageVersion, outcome: Outcome) -> Outcome:
    """The version is replicated to test: the test pointer moves now, in the same transaction, and
    its validation in test starts beside the rest of the run (it gates the promotion to validation,
    not the version's use in test)."""
    validate = ContinueVersion(
        workload=ctx.workload.name, version=str(version.version), operation="validate", attempt=version.op_attempt
    )
    outcome.version = version
    outcome.pointers = ctx.pointers.evolve(test=version.version)
    outcome.then = [*outcome.then, Envelope.wrap(validate)]
    return outcome


VERSION_DELETE_ASKED = "version-delete-asked"


def step_abort(ctx: StepContext) -> Outcome:
    """Failure path: remove everything the run created (temp resources, a half-made gallery version)."""
    waiting = _remove_temp_resources(ctx, thorough=True)
    if waiting is not None:
        return waiting
    version, compute, gallery = ctx.version, ctx.deps.compute, ctx.workload.gallery
    deleting = VERSION_DELETE_ASKED in ctx.run.marks
    if version is not None and (version.status is Status.FAILED or deleting):
        state = compute.get_gallery_version(gallery.name, gallery.definition, str(version.version))
        if state is not None:
            if not deleting:
                start_once(
                    lambda: compute.start_delete_gallery_version(gallery.name, gallery.definition, str(version.version))
                )
            pending = ctx.pending("delete-version", state.id)
            return Outcome(
                wait=ctx.backoff(pending), pending=pending, run_updates={"marks": ctx.mark(VERSION_DELETE_ASKED)}
            )
        if deleting and version.status in (Status.FAILED, Status.DEPRECATED):
            # Record what Azure now has, before its (late) delete event could read as a deletion by hand.
            detail = f"gallery version {version.version} removed by the cleanup of failed run {ctx.run.run_id}"
            entry = ctx.audit("deleted", detail, from_status=version.status, to_status=Status.DELETED)
            return Outcome(finish=True, version=lifecycle.delete(version), audit=[entry])
    return Outcome(finish=True)
