"""The temp-resource sweeper: removes what a crashed or finished run left behind."""

from __future__ import annotations

from datetime import datetime

from shared.domain import naming
from shared.domain.compute import EXPIRES_TAG, RUN_TAG, WORKLOAD_TAG, TaggedResource
from shared.domain.errors import InvalidInput
from shared.domain.model import RunState, VersionNumber
from shared.steps.deps import Deps
from shared.steps.outcome import start_once

# VMs first: their disks and NICs can only go once the VM has.
ORDER = {"Microsoft.Compute/virtualMachines": 0, "Microsoft.Compute/snapshots": 1}


def sweep(deps: Deps, now: datetime) -> list[str]:
    """Delete tagged temp resources that expired or whose run (or validation) is over; say why."""
    removed: list[str] = []
    resources = sorted(deps.compute.list_tagged(RUN_TAG), key=lambda r: ORDER.get(r.type, 2))
    for resource in resources:
        why = _abandoned(resource, deps, now)
        if why:
            start_once(deps.compute.start_delete, resource.id)
            removed.append(f"{resource.name}: {why}")
    return removed


def _abandoned(resource: TaggedResource, deps: Deps, now: datetime) -> str:
    expires = resource.tags.get(EXPIRES_TAG, "")
    try:
        if expires and datetime.fromisoformat(expires) < now:
            return f"expired at {expires}"
    except ValueError:
        return f"unreadable expiry tag {expires[:40]!r}"
    workload, owner = resource.tags.get(WORKLOAD_TAG, ""), resource.tags.get(RUN_TAG, "")
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
