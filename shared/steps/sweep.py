"""The temp-resource sweeper: removes what a crashed, failed or finished run left behind.

It decides from the owner's record (is its run still running, does its version still validate),
never from the expiry tag alone: an instance with a skewed clock must not delete the VM of a build
in progress. Runs that stopped making progress are ended by the watchdog first; then their
resources are swept. An Azure error on one resource (e.g. `NicInUse` while its VM is still being
deleted) is reported and left for the next pass; it never stops the others.
"""

from __future__ import annotations

from datetime import datetime

from shared.domain import naming
from shared.domain.compute import EXPIRES_TAG, RUN_TAG, WORKLOAD_TAG, TaggedResource
from shared.domain.errors import AzureOperationError, InvalidInput
from shared.domain.model import RunState, VersionNumber
from shared.steps.deps import Deps
from shared.steps.outcome import start_once

# VMs first: their disks and NICs can only go once the VM has.
ORDER = {"Microsoft.Compute/virtualMachines": 0, "Microsoft.Compute/snapshots": 1}
VM = "Microsoft.Compute/virtualMachines"


def sweep(deps: Deps, now: datetime) -> list[str]:
    """Delete tagged temp resources whose run (or validation) is over; say why, and what must wait."""
    removed: list[str] = []
    resources = sorted(deps.compute.list_tagged(RUN_TAG), key=lambda r: ORDER.get(r.type, 2))
    vms_going: set[str] = set()
    for resource in resources:
        why = _abandoned(resource, deps)
        if not why:
            continue
        owner = resource.tags.get(RUN_TAG, "")
        if resource.type != VM and owner in vms_going:
            removed.append(f"{resource.name}: {why}; goes with its VM (next pass if not)")
            continue
        try:
            start_once(deps.compute.start_delete, resource.id)
        except AzureOperationError as error:
            removed.append(f"{resource.name}: {why}; not deleted yet ({error.code}), next pass")
            continue
        if resource.type == VM:
            vms_going.add(owner)
        expired = _expired(resource, now)
        removed.append(f"{resource.name}: {why}" + (f" (tag expired {expired})" if expired else ""))
    return removed


def _expired(resource: TaggedResource, now: datetime) -> str:
    expires = resource.tags.get(EXPIRES_TAG, "")
    try:
        return expires if expires and datetime.fromisoformat(expires) < now else ""
    except ValueError:
        return ""


def _abandoned(resource: TaggedResource, deps: Deps) -> str:
    """Why the resource is no longer needed, from its owner's record; "" while its owner needs it."""
    workload, owner = resource.tags.get(WORKLOAD_TAG, ""), resource.tags.get(RUN_TAG, "")
    if any(d.name == workload for d in deps.catalog.disabled):
        return ""  # its catalog file is broken, not its runs: keep everything until it is fixed
    if workload not in deps.catalog:
        return f"workload {workload[:40]!r} is not in the catalog"
    try:
        if owner.startswith("validate-v"):
            number = VersionNumber.parse(owner.removeprefix("validate-v").replace("-", "."))
            version = deps.records.find_version(workload, number)
            return "" if version is not None and version.pending is not None else f"validation of {number} is over"
        run = deps.records.find_run(workload, naming.run_id(owner))
    except InvalidInput:
        return f"unknown owner {owner[:40]!r}"
    if run is None:
        return f"run {owner} has no record"
    return "" if run.state is RunState.RUNNING else f"run {owner} {run.state.value}"
