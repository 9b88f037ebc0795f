"""Route Azure Resource Manager events (Event Grid) to the run or version waiting for them.

ARM has no dedicated compute/gallery event types: `Microsoft.Resources.Resource*` events are
routed on `data.operationName` and `data.resourceUri`. Events about resources the product
does not own, or nobody waits for, are ignored (the caller logs them); malformed events raise.
What the event alone decides is in shared.steps.event_sight.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from shared.domain import naming
from shared.domain.commands import ContinueVersion, Envelope, Prune, Reconcile
from shared.domain.errors import InvalidInput
from shared.domain.model import ImageVersion, Pointers, Run, RunState, Status, VersionNumber
from shared.steps.deps import Deps
from shared.steps.event_sight import GALLERY_VERSION, RESOURCE, ArmEvent, sight
from shared.steps.rollout_events import route_rollout_event
from shared.steps.runs import position
from shared.steps.versions import OPERATION_OF

RETENTION_BUCKET = timedelta(minutes=12)  # not 10: no product constant equals a simulator duration
# The operation each validation wait is for: a late event about another operation on the VM (its
# Run Command's write arriving while the VM is being deleted) would only cost an early re-check.
VALIDATION_EVENTS: dict[str, tuple[str, ...]] = {
    "validate-vm": ("microsoft.compute/virtualmachines/write",),
    "validate-script": ("microsoft.compute/virtualmachines/runcommands/write",),
    "validate-cleanup": ("microsoft.compute/virtualmachines/delete",),
}


def route_event(raw: Mapping[str, Any], deps: Deps) -> tuple[list[Envelope], str]:
    """The messages an event leads to, and one line saying why (for the log)."""
    event, why = sight(raw)
    if why or event is None:
        return [], why
    uri = event.data.resource_uri
    if match := GALLERY_VERSION.match(uri):
        return _gallery_version(event, match, deps)
    operation = event.data.operation_name.lower()
    lag = _lag(event, deps)
    if match := RESOURCE.match(uri):
        return _vm_or_disk(uri, match.group("name"), operation, deps, lag)
    return route_rollout_event(uri, deps, lag) or ([], f"ignored: {uri[:200]} is not a resource the product manages")


def _lag(event: ArmEvent, deps: Deps) -> float:
    """How late Event Grid delivered this event (its eventTime to now), never negative (clock skew)."""
    when = event.time if event.time.tzinfo else event.time.replace(tzinfo=UTC)
    return max(0.0, (deps.clock.now() - when).total_seconds())


def _vm_or_disk(uri: str, name: str, operation: str, deps: Deps, lag: float) -> tuple[list[Envelope], str]:
    parsed = naming.parse_resource_name(name)
    if parsed is None or parsed[0] not in deps.catalog:
        # Not a build's: perhaps a session host a rollout is replacing.
        return route_rollout_event(uri, deps, lag) or (
            [],
            f"ignored: {name[:80]} is not a resource the product created",
        )
    workload, owner, kind = parsed
    if kind.startswith("val-"):
        try:
            number = VersionNumber.parse(owner.removeprefix("v").replace("-", "."))
        except InvalidInput:
            return [], f"ignored: {name[:80]} names no version"
        version = _version(deps, workload, number)
        if version is None or version.pending is None or version.pending.kind not in OPERATION_OF:
            return [], f"ignored: nothing waits on {name}"
        wanted = VALIDATION_EVENTS.get(version.pending.kind)
        if wanted is not None and operation not in wanted:
            return [], f"ignored: validation of {number} waits for {version.pending.kind}, not {operation[:100]}"
        command = ContinueVersion(
            workload=workload,
            version=str(number),
            operation=OPERATION_OF[version.pending.kind],
            attempt=version.op_attempt,
            trigger="event",
        )
        return [Envelope.wrap(command)], f"continues validation of {workload} {number}"
    run_id = owner
    if owner == "image":
        active = _pointers(deps, workload).active_run
        if active is None:
            return [], f"ignored: no run of {workload} is active"
        run_id = active
    try:
        run = _run(deps, workload, run_id)
    except InvalidInput:
        return [], f"ignored: {name[:80]} names no run"
    if run is None or run.state is not RunState.RUNNING or run.pending is None:
        return [], f"ignored: run {run_id} of {workload} waits for nothing"
    if uri.lower() not in run.pending.resource_id.lower():
        if run.event_lag is None:
            # The run's first measure of how late events come (a NIC is made seconds into a VM
            # create): its looks stop (events at once) or go on (late) by it, not by a guess.
            return [_wake(run, lag)], f"run {run_id} of {workload} learns that events come {lag:.0f} s late"
        return [], f"ignored: run {run_id} waits for {run.pending.kind}, not {name}"
    return [_wake(run, lag)], f"continues run {run_id} of {workload} at {run.step}"


def _wake(run: Run, lag: float | None) -> Envelope:
    """The run's position, continued by an event that took `lag` seconds to arrive (waits use it)."""
    return Envelope.wrap(position(run, "event").model_copy(update={"event_lag": lag}))


def _gallery_version(event: ArmEvent, match: re.Match[str], deps: Deps) -> tuple[list[Envelope], str]:
    gallery, definition = match.group("gallery").lower(), match.group("definition").lower()
    workload = next(
        (
            w
            for w in deps.catalog.workloads
            if (w.gallery.name.lower(), w.gallery.definition.lower()) == (gallery, definition)
        ),
        None,
    )
    if workload is None:
        return [], f"ignored: {gallery}/{definition} is not in the catalog"
    try:
        number = VersionNumber.parse(match.group("version"))
    except InvalidInput:
        return [], "ignored: not a version name"
    messages: list[Envelope] = []
    why: list[str] = []
    version = _version(deps, workload.name, number)
    active = _pointers(deps, workload.name).active_run if version is not None else None
    if version is not None and version.status is Status.CAPTURING and active:
        run = _run(deps, workload.name, active)
        if run is not None and run.state is RunState.RUNNING and run.run_id == version.run_id:
            messages.append(_wake(run, _lag(event, deps)))
            why.append(f"continues run {run.run_id}")
    if version is not None and version.pending is not None and version.pending.kind in OPERATION_OF:
        command = ContinueVersion(
            workload=workload.name,
            version=str(number),
            operation=OPERATION_OF[version.pending.kind],
            attempt=version.op_attempt,
            trigger="event",
        )
        messages.append(Envelope.wrap(command))
        why.append(f"continues {command.operation} of {number}")
    if event.event_type.lower().endswith("success") and event.data.operation_name.lower().endswith(
        ("/write", "/delete")
    ):
        bucket = _floor(event.time, RETENTION_BUCKET)
        messages.append(Envelope.wrap(Prune(workload=workload.name, requested_at=bucket)))
        why.append("retention check")
    deleted = event.data.operation_name.lower().endswith("/delete") and event.event_type.lower().endswith("success")
    if deleted and version is not None and version.status not in (Status.DELETED, Status.FAILED):
        # Not deleted by the product (it records DELETED first): reconcile records it and repairs pointers.
        messages.append(Envelope.wrap(Reconcile(workload=workload.name, requested_at=event.time, after="event")))
        why.append("deleted outside the product: reconcile")
    return messages, f"{workload.name} {number}: " + (", ".join(why) or "nothing to do")


# Routing reads what this instance committed last when it can (no round trip), else the record.
# A hint that another instance outdated costs at most a stale message the step drops, or an event
# the step's own re-check stands in for: events are the fast path, never the only one.


def _pointers(deps: Deps, workload: str) -> Pointers:
    return deps.records.recall_pointers(workload) or deps.records.load(workload).pointers


def _run(deps: Deps, workload: str, run_id: str) -> Run | None:
    return deps.records.recall_run(workload, run_id) or deps.records.load(workload, run_id=run_id).run


def _version(deps: Deps, workload: str, number: VersionNumber) -> ImageVersion | None:
    return deps.records.recall_version(workload, number) or deps.records.load(workload, version=number).version


def _floor(when: datetime, bucket: timedelta) -> datetime:
    """Retention checks coalesce: one per workload per bucket, whatever the burst of events."""
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    aware = when if when.tzinfo else when.replace(tzinfo=UTC)
    return epoch + ((aware - epoch) // bucket) * bucket
