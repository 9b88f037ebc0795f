"""Version-level operations: replication to a stage, validation, prune (approvals: promotion.py)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Literal

from shared.adapters import guest_scripts
from shared.domain import lifecycle, naming, retention
from shared.domain.catalog import SecurityType, Workload
from shared.domain.commands import ContinueVersion, Envelope, Prune, Reconcile
from shared.domain.compute import (
    EXPIRES_TAG,
    RUN_TAG,
    WORKLOAD_TAG,
    ManagedScriptResult,
    OperationState,
    ScriptResult,
    VmSpec,
)
from shared.domain.errors import AzureOperationError, RequestRefused
from shared.domain.model import (
    ImageVersion,
    PendingOperation,
    Pointers,
    Stage,
    Status,
    ValidationEvidence,
    VersionNumber,
)
from shared.domain.records import AuditEntry, Changes
from shared.steps import guest, replication, waits
from shared.steps.deps import Deps
from shared.steps.outcome import start_once

AZURE_BUSY_LIMIT = 30
OPERATION_OF: dict[str, Literal["replicate", "validate"]] = {
    "validate-script": "validate",
    "replicate": "replicate",
    "validate-vm": "validate",
    "validate-boot": "validate",
    "validate-cleanup": "validate",
}


def _command(
    version: ImageVersion, operation: Literal["replicate", "validate"], trigger: Literal["next", "recheck"]
) -> ContinueVersion:
    return ContinueVersion(
        workload=version.workload,
        version=str(version.version),
        operation=operation,
        attempt=version.op_attempt,
        trigger=trigger,
    )


def _next(version: ImageVersion, operation: Literal["replicate", "validate"]) -> Envelope:
    """The version's operation, to be handled now."""
    return Envelope.wrap(_command(version, operation, "next"))


def _message(
    version: ImageVersion, operation: Literal["replicate", "validate"], deps: Deps, delay: timedelta | None
) -> Envelope:
    """A re-check of the version's operation after `delay` (None: now)."""
    if not delay:
        return _next(version, operation)
    return Envelope.wrap(_command(version, operation, "recheck"), scheduled_for=deps.clock.now() + delay)


def continue_version(command: ContinueVersion, deps: Deps) -> list[Envelope]:
    workload = deps.workload(command.workload)
    number = VersionNumber.parse(command.version)
    known = deps.records.recall_version(workload.name, number)
    if known is not None and known.op_attempt > command.attempt:
        return _where_it_is(known, deps)  # stale for sure without a read (op_attempt only grows)
    if command.operation == "replicate":  # completion may need the previous production version too
        everything = deps.records.load_workload(workload.name)
        found = {v.version: v for v in everything.versions}
        pointers, version = everything.pointers, found.get(number)
    else:
        loaded = deps.records.load(workload.name, version=number)
        pointers, version, found = loaded.pointers, loaded.version, {}
    if version is None:
        raise RequestRefused(f"{workload.name} has no version {number}")
    if command.attempt != version.op_attempt:
        return _where_it_is(version, deps)
    try:
        if command.operation == "replicate":
            return _replicate(workload, version, pointers, found, deps)
        return _validate(workload, version, deps)
    except AzureOperationError as error:
        if not error.transient or command.retry >= AZURE_BUSY_LIMIT:
            raise
        # Throttled or a server error: the same step again later (it is idempotent), not a failure.
        later = command.model_copy(update={"retry": command.retry + 1, "trigger": "recheck"})
        return [Envelope.wrap(later, scheduled_for=deps.clock.now() + timedelta(minutes=min(1 + command.retry, 10)))]


def _where_it_is(version: ImageVersion, deps: Deps) -> list[Envelope]:
    """A stale or duplicate message: re-send where the version's operation is (deduplicated)."""
    pending = version.pending
    if pending is not None and pending.kind in OPERATION_OF:
        return [_next(version, OPERATION_OF[pending.kind])]
    return []


def _replicate(
    workload: Workload,
    version: ImageVersion,
    pointers: Pointers,
    by_number: dict[VersionNumber, ImageVersion],
    deps: Deps,
) -> list[Envelope]:
    if version.status is not Status.REPLICATING or version.target_stage is None:
        return []
    now = deps.clock.now()
    target = version.target_stage
    wanted = replication.target_regions(workload, target)
    gallery = workload.gallery
    state = None
    if version.pending is not None and version.pending.operation == replication.SAME_REGIONS:
        verdict = replication.Verdict(done=True)  # nothing replicates: no read needed
    else:
        state = deps.compute.get_gallery_version(gallery.name, gallery.definition, str(version.version))
        since = version.pending.started_at if version.pending else now
        event_grid, lag = deps.settings.event_grid, pointers.event_lag  # versions measure no lag: the runs'
        verdict = replication.judge(state, version, wanted, since, now, event_grid=event_grid, event_lag=lag)
    moved = {"op_attempt": version.op_attempt + 1}
    if verdict.failed:
        failed = lifecycle.fail(version, verdict.failed).evolve(pending=None, **moved)
        entry = AuditEntry(
            at=now,
            kind="failed",
            actor="step:replicate",
            detail=verdict.failed,
            version=version.version,
            from_status=version.status,
            to_status=Status.FAILED,
            stage=target,
        )
        deps.records.commit(Changes(workload=workload.name, versions=[failed], audit=[entry]))
        return []
    if verdict.retry_region:
        retried, detail = replication.retry_region(deps.compute, workload, version, wanted, verdict.retry_region, state)
        retried = retried.evolve(**moved)
        entry = AuditEntry(
            at=now, kind="replication-retried", actor="step:replicate", detail=detail, version=version.version
        )
        deps.records.commit(Changes(workload=workload.name, versions=[retried], audit=[entry]))
        return [
            _message(
                retried,
                "replicate",
                deps,
                waits.first_look(deps.compute.retry_after, deps.settings.event_grid, pointers.event_lag),
            )
        ]
    if not verdict.done:
        waiting = version.evolve(**moved)
        deps.records.commit(Changes(workload=workload.name, versions=[waiting]))
        return [_message(waiting, "replicate", deps, verdict.wait)]
    ready = lifecycle.replicated(version).evolve(pending=None, **moved)
    regions = ", ".join(t.name for t in wanted)
    audit = [
        AuditEntry(
            at=now,
            kind="promoted",
            actor="step:replicate",
            detail=f"{version.display_name} serves {target.value} ({regions})",
            version=version.version,
            from_status=Status.REPLICATING,
            to_status=Status.READY,
            stage=target,
        )
    ]
    versions = [ready]
    previous_number = pointers.production
    pointers = pointers.evolve(**{target.value: version.version})
    if target is Stage.PRODUCTION:
        start_once(
            deps.compute.update_gallery_version,
            gallery.name,
            gallery.definition,
            str(version.version),
            exclude_from_latest=False,
        )
        if previous_number is not None and previous_number != version.version:
            previous = by_number.get(previous_number) or deps.records.get_version(workload.name, previous_number)
            if previous.status is Status.READY:
                versions.append(lifecycle.supersede(previous))
                audit.append(
                    AuditEntry(
                        at=now,
                        kind="superseded",
                        actor="step:replicate",
                        detail=f"replaced in production by {version.version}; now the rollback target",
                        version=previous.version,
                        from_status=Status.READY,
                        to_status=Status.SUPERSEDED,
                        stage=Stage.PRODUCTION,
                    )
                )
            pointers = pointers.evolve(rollback=previous_number)
    deps.records.commit(Changes(workload=workload.name, versions=versions, pointers=pointers, audit=audit))
    if target is Stage.VALIDATION:
        return [_next(ready, "validate")]
    # A pointer moved: converge the gallery with it.
    return [reconcile_after(workload.name, f"{target.value}:{version.version}", deps)]


def _validate(workload: Workload, version: ImageVersion, deps: Deps) -> list[Envelope]:
    """Deploy one VM from the exact version, check BitLocker, the registry and the manifest, remove it."""
    compute, now = deps.compute, deps.clock.now()
    stage = version.stage
    pending = version.pending
    if stage is None:
        return []
    slug = naming.version_slug(version.version)
    vm_name = naming.temp_resource_name(workload.name, slug, f"val-{stage.value}")
    moved = {"op_attempt": version.op_attempt + 1}
    if pending is None or pending.kind == "validate-vm":
        if pending is None and (version.status is not Status.READY or version.validated_for(stage)):
            return []
        policy = workload.stages.policy(stage)
        region = policy.regions[0] if policy else workload.location
        reused = _reused_evidence(version, stage, region, now) if pending is None else None
        if reused is not None:
            judged, entry = reused
            deps.records.commit(Changes(workload=workload.name, versions=[judged], audit=[entry]))
            return []
        vm = compute.get_vm(vm_name) if pending is not None else None
        if pending is None or vm is None:
            expires = now + timedelta(hours=deps.settings.temp_resource_ttl_hours)
            spec = VmSpec(
                name=vm_name,
                location=region,
                size=workload.vm_size,
                tags={RUN_TAG: f"validate-{slug}", WORKLOAD_TAG: workload.name, EXPIRES_TAG: expires.isoformat()},
                gallery_version_id=version.gallery_version_id,
                # Hosts run Trusted Launch (Azure's default for Gen2); a Standard definition cannot.
                trusted_launch=workload.security_type is not SecurityType.STANDARD,
                subnet_id=compute.ensure_network(region),
                disposable=True,
            )
            start_once(lambda: compute.start_create_vm(spec))
            started = version.evolve(
                pending=PendingOperation(
                    kind="validate-vm", resource_id=vm_name, started_at=now, retry_after=compute.retry_after
                ),
                **moved,
            )
            entry = AuditEntry(
                at=now,
                kind="validation-started",
                actor="step:validate",
                detail=f"deploying {vm_name} from {version.version} in {region}",
                version=version.version,
                stage=stage,
            )
            deps.records.commit(Changes(workload=workload.name, versions=[started], audit=[entry]))
            return [
                _message(started, "validate", deps, waits.first_look(compute.retry_after, deps.settings.event_grid))
            ]
        if vm.provisioning is OperationState.IN_PROGRESS:
            waiting = version.evolve(**moved)
            deps.records.commit(Changes(workload=workload.name, versions=[waiting]))
            since, hint = (pending.started_at, pending.retry_after) if pending is not None else (now, None)
            return [
                _message(
                    waiting, "validate", deps, waits.backoff(since, now, hint, event_grid=deps.settings.event_grid)
                )
            ]
        if vm.provisioning is not OperationState.SUCCEEDED:
            return _judge(workload, version, vm_name, {"deployment": "failed"}, deps, moved)
        try:
            # A managed Run Command: a real image's inventory is far over action Run Command's 4 KB.
            operation = VALIDATION_COMMAND
            compute.start_managed_script(
                vm_name, operation, guest_scripts.INVENTORY, VALIDATION_TIMEOUT, workload.location
            )
        except AzureOperationError as error:
            if error.code != "Conflict":
                raise
            # One Run Command at a time per VM: after a crash ours may still be running. Try again later.
            waiting = version.evolve(**moved)
            deps.records.commit(Changes(workload=workload.name, versions=[waiting]))
            return [_message(waiting, "validate", deps, waits.OPENING)]
        vm_id = compute.id_of("Microsoft.Compute/virtualMachines", vm_name)
        checking = version.evolve(
            pending=PendingOperation(
                kind="validate-script",
                resource_id=vm_id,
                started_at=now,
                operation=operation,
                retry_after=compute.retry_after,
            ),
            **moved,
        )
        deps.records.commit(Changes(workload=workload.name, versions=[checking]))
        return [_message(checking, "validate", deps, waits.first_look(compute.retry_after, deps.settings.event_grid))]
    if pending.kind == "validate-script":
        managed = compute.managed_script_result(vm_name, pending.operation)
        result = None if managed is None else _as_script_result(managed)
        if result is None:
            waiting = version.evolve(pending=pending.model_copy(update={"checks": pending.checks + 1}), **moved)
            deps.records.commit(Changes(workload=workload.name, versions=[waiting]))
            later = waits.backoff(pending.started_at, now, pending.retry_after, event_grid=deps.settings.event_grid)
            return [_message(waiting, "validate", deps, later)]
        return _judge(workload, version, vm_name, _validation_checks(version, result, vm_name), deps, moved)
    # validate-cleanup: the VM takes its disk and NIC with it (deleteOption Delete). The first pass
    # deletes without a read: the check script just ran on it (and a delete of a missing VM is a no-op).
    if pending.checks == 0 or compute.get_vm(vm_name) is not None:
        if pending.checks % 5 == 0:  # first time, and now and then in case a delete was lost
            start_once(compute.start_delete, compute.id_of("Microsoft.Compute/virtualMachines", vm_name))
        waiting = version.evolve(pending=pending.model_copy(update={"checks": pending.checks + 1}), **moved)
        deps.records.commit(Changes(workload=workload.name, versions=[waiting]))
        return [
            _message(
                waiting,
                "validate",
                deps,
                waits.backoff(pending.started_at, now, pending.retry_after, event_grid=deps.settings.event_grid),
            )
        ]
    done = version.evolve(pending=None, **moved)
    deps.records.commit(Changes(workload=workload.name, versions=[done]))
    return []


def _reused_evidence(
    version: ImageVersion, stage: Stage, region: str, now: datetime
) -> tuple[ImageVersion, AuditEntry] | None:
    """The same immutable version in the same region gives the same results: reuse them.

    Saves a VM deployment (about ten ARM requests) when stages share their first region.
    """
    prior = next((e for e in version.validations if e.passed and e.region == region and e.stage is not stage), None)
    if prior is None or version.status is not Status.READY:
        return None
    checks = {
        name: f"{value} (from the {prior.stage.value} validation in {region})" for name, value in prior.checks.items()
    }
    evidence = ValidationEvidence(stage=stage, passed=True, checks=checks, at=now, region=region)
    judged = lifecycle.record_validation(version, evidence).evolve(op_attempt=version.op_attempt + 1)
    detail = f"same version already validated in {region} for {prior.stage.value}; evidence reused"
    entry = AuditEntry(
        at=now, kind="validation-passed", actor="step:validate", detail=detail, version=version.version, stage=stage
    )
    return judged, entry


def _judge(
    workload: Workload, version: ImageVersion, vm_name: str, checks: dict[str, str], deps: Deps, moved: dict[str, int]
) -> list[Envelope]:
    """Record the evidence (a failed check fails the version), then clean the VM up."""
    now, stage = deps.clock.now(), version.stage
    if stage is None:
        return []
    passed = all(value.startswith("ok") for value in checks.values())
    policy = workload.stages.policy(stage)
    evidence = ValidationEvidence(
        stage=stage, passed=passed, checks=checks, at=now, region=policy.regions[0] if policy else workload.location
    )
    judged = lifecycle.record_validation(version, evidence) if version.status is Status.READY else version
    # The judgment is committed before the VM is deleted: a redelivery must never redeploy it.
    judged = judged.evolve(
        pending=PendingOperation(kind="validate-cleanup", resource_id=vm_name, started_at=now), **moved
    )
    summary = "; ".join(f"{k}: {v}" for k, v in checks.items())
    entry = AuditEntry(
        at=now,
        kind="validation-passed" if passed else "validation-failed",
        actor="step:validate",
        detail=f"{vm_name}: {summary}",
        version=version.version,
        from_status=version.status,
        to_status=judged.status,
        stage=stage,
    )
    deps.records.commit(Changes(workload=workload.name, versions=[judged], audit=[entry]))
    return [_next(judged, "validate")]


VALIDATION_COMMAND = "avd-validate"
VALIDATION_TIMEOUT = timedelta(minutes=30)


def _as_script_result(managed: ManagedScriptResult) -> ScriptResult:
    """A failed, timed-out or cut inventory becomes the error the checks report."""
    if managed.truncated:
        return ScriptResult(managed.stdout, "the inventory was cut to its last 4 KB (no blob store configured)")
    if not managed.ok:
        return ScriptResult(managed.stdout, managed.stderr.strip()[-300:] or f"{managed.state} ({managed.exit_code})")
    return ScriptResult(managed.stdout, "")


def _validation_checks(version: ImageVersion, result: ScriptResult, vm_name: str) -> dict[str, str]:
    if result.stderr.strip():
        return {"inventory": f"failed on {vm_name}: {result.stderr.strip()[:300]}"}
    found = guest.parse_inventory(result.stdout, f"inventory on {vm_name}")
    prevent = found.manifest.registry.get(guest.PREVENT_DEVICE_ENCRYPTION)
    drift = guest.manifest_drift(version.manifest, found.manifest)
    return {
        "bitlocker": "ok: FullyDecrypted after first boot"
        if found.volume_status == "FullyDecrypted"
        else found.bitlocker,
        "PreventDeviceEncryption": "ok: 1" if prevent == "1" else f"missing (value {prevent!r})",
        "manifest": "ok: matches the recorded manifest" if not drift else "differs: " + "; ".join(drift[:10]),
    }


def reconcile_after(workload: str, move: str, deps: Deps) -> Envelope:
    """A reconcile pass right after a pointer moved (shared.steps.reconcile)."""
    return Envelope.wrap(Reconcile(workload=workload, requested_at=deps.clock.now(), after=move))


INVENTORY_FRESH = timedelta(minutes=30)  # a sweep's inventory older than this is listed again


def plan_prune(workload_name: str, deps: Deps, in_use: Mapping[str, int] | None = None) -> list[retention.Decision]:
    """The retention plan; `in_use` is a sweep's compute inventory, else compute is listed if needed."""
    workload = deps.workload(workload_name)
    everything = deps.records.load_workload(workload.name)
    versions, pointers = everything.versions, everything.pointers
    now = deps.clock.now()
    decisions = retention.plan(versions, pointers, workload.retention, {}, now)
    if all(d.action is retention.Action.KEEP for d in decisions):
        return decisions  # nothing to retire: no need to list every VM and scale set
    if in_use is None:
        in_use = deps.compute.images_in_use()
    return retention.plan(versions, pointers, workload.retention, in_use, now)


def prune(command: Prune, deps: Deps) -> list[Envelope]:
    """Apply the retention plan; each version changes in its own transaction with its audit entry."""
    fresh = command.in_use is not None and deps.clock.now() - command.requested_at <= INVENTORY_FRESH
    decisions = plan_prune(command.workload, deps, command.in_use if fresh else None)
    if command.dry_run:
        return []
    workload = deps.workload(command.workload)
    gallery = workload.gallery
    now = deps.clock.now()
    for decision in decisions:
        if decision.action is retention.Action.KEEP:
            continue
        version = deps.records.get_version(workload.name, decision.version)
        if decision.action is retention.Action.DEPRECATE and decision.end_of_life is not None:
            changed = lifecycle.deprecate(version, decision.end_of_life)
            detail = f"deprecated ({decision.reason}); end of life {decision.end_of_life:%Y-%m-%d}"
            if version.gallery_version_id:
                try:
                    start_once(
                        deps.compute.update_gallery_version,
                        gallery.name,
                        gallery.definition,
                        str(version.version),
                        exclude_from_latest=True,
                        end_of_life=decision.end_of_life,
                    )
                except AzureOperationError as error:
                    if error.status != 404:
                        raise
                    if version.status is not Status.FAILED:  # a failed run's cleanup removes its own
                        # Deleted by hand: record it, so retention never trips over it again.
                        changed = lifecycle.vanished(version, "found missing by retention")
                        detail = changed.failure_reason
        else:
            if version.gallery_version_id:
                start_once(
                    deps.compute.start_delete_gallery_version, gallery.name, gallery.definition, str(version.version)
                )
            changed = lifecycle.delete(version)
            detail = f"deleted ({decision.reason})"
        entry = AuditEntry(
            at=now,
            kind=decision.action.value + "d",
            actor="retention",
            detail=detail,
            version=version.version,
            from_status=version.status,
            to_status=changed.status,
        )
        deps.records.commit(Changes(workload=workload.name, versions=[changed], audit=[entry]))
    return []
