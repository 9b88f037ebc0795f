"""Route Azure Resource Manager events (Event Grid) to the run or version waiting for them.

ARM has no dedicated compute/gallery event types: `Microsoft.Resources.Resource*` events are
routed on `data.operationName` and `data.resourceUri`. Events about resources the product
does not own, or nobody waits for, are ignored (the caller logs them); malformed events raise.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from shared.domain import naming
from shared.domain.commands import ContinueVersion, Envelope, Prune, Reconcile
from shared.domain.errors import InvalidInput
from shared.domain.model import RunState, Status, VersionNumber
from shared.steps.deps import Deps
from shared.steps.runs import position
from shared.steps.versions import OPERATION_OF

ARM_EVENT_TYPES = frozenset(
    f"microsoft.resources.resource{kind}{result}"
    for kind in ("write", "action", "delete")
    for result in ("success", "failure", "cancel")
)
# The ARM operations whose completion continues a waiting step or triggers retention, per
# resource type. infra/modules/eventgrid.bicep subscribes to exactly these operation names
# (tests/infra/test_event_filter.py compares them), so Event Grid delivers nothing the router
# drops and drops nothing the router handles. NICs are absent: nothing waits on them.
ROUTED_OPERATIONS: dict[str, tuple[str, ...]] = {
    "Microsoft.Compute/virtualMachines": (
        "write",
        "delete",
        "deallocate/action",
        "start/action",
        "powerOff/action",
        "runCommand/action",
    ),
    # A managed Run Command's PUT ends with its script (asyncExecution off): its result is ready.
    "Microsoft.Compute/virtualMachines/runCommands": ("write",),
    "Microsoft.Compute/disks": ("write", "delete"),
    "Microsoft.Compute/snapshots": ("write", "delete"),
    "Microsoft.Compute/galleries/images/versions": ("write", "delete"),
}
OPERATION_NAMES = tuple(f"{kind}/{op}" for kind, operations in ROUTED_OPERATIONS.items() for op in operations)
_ROUTED = frozenset(name.lower() for name in OPERATION_NAMES)
RESOURCE = re.compile(
    r"^/subscriptions/[^/]+/resourcegroups/[^/]+/providers/"
    r"(?P<type>microsoft\.compute/virtualmachines|microsoft\.compute/disks|microsoft\.compute/snapshots)"
    r"/(?P<name>[^/]+)(?:/runcommands/[^/]+)?$",
    re.IGNORECASE,
)
GALLERY_VERSION = re.compile(
    r"^/subscriptions/[^/]+/resourcegroups/[^/]+/providers/microsoft\.compute/galleries/(?P<gallery>[^/]+)"
    r"/images/(?P<definition>[^/]+)/versions/(?P<version>[^/]+)$",
    re.IGNORECASE,
)
RETENTION_BUCKET = timedelta(minutes=12)  # not 10: no product constant equals a simulator duration


class ArmEventData(BaseModel):
    model_config = ConfigDict(extra="allow", populate_by_name=True)
    operation_name: str = Field(alias="operationName", min_length=1, max_length=500)
    resource_uri: str = Field(alias="resourceUri", min_length=1, max_length=2000)
    status: str = ""


class ArmEvent(BaseModel):
    """Both delivery schemas: Event Grid (eventType/eventTime) and CloudEvents (type/time)."""

    model_config = ConfigDict(extra="allow", populate_by_name=True)
    id: str = Field(min_length=1, max_length=200)
    event_type: str = Field(min_length=1, max_length=200)
    time: datetime
    data: ArmEventData

    @classmethod
    def parse(cls, raw: Mapping[str, Any]) -> ArmEvent:
        if not isinstance(raw, Mapping):
            raise InvalidInput(f"an event must be a JSON object, got {type(raw).__name__}")
        event_type = raw.get("eventType", raw.get("type"))
        when = raw.get("eventTime", raw.get("time"))
        try:
            return cls.model_validate(
                {"id": raw.get("id"), "event_type": event_type, "time": when, "data": raw.get("data")}
            )
        except ValidationError as error:
            problems = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in error.errors())
            raise InvalidInput(f"malformed ARM event {str(raw.get('id'))[:60]!r}: {problems}") from None


def route_event(raw: Mapping[str, Any], deps: Deps) -> tuple[list[Envelope], str]:
    """The messages an event leads to, and one line saying why (for the log)."""
    if not isinstance(raw, Mapping):
        raise InvalidInput(f"an event must be a JSON object, got {type(raw).__name__}")
    event_type = str(raw.get("eventType", raw.get("type")) or "")
    if event_type.lower() not in ARM_EVENT_TYPES:
        # e.g. Microsoft.EventGrid.SubscriptionValidationEvent: the Functions trigger answers those
        return [], f"ignored: event type {event_type[:100]!r} is not an ARM resource event"
    event = ArmEvent.parse(raw)
    operation = event.data.operation_name.lower()
    uri = event.data.resource_uri
    if operation not in _ROUTED:
        return [], f"ignored: {operation[:200]} completes nothing the pipeline waits for"
    if match := GALLERY_VERSION.match(uri):
        return _gallery_version(event, match, deps)
    if match := RESOURCE.match(uri):
        return _vm_or_disk(uri, match.group("name"), deps, _lag(event, deps))
    return [], f"ignored: {uri[:200]} is not a resource type the product manages"


def _lag(event: ArmEvent, deps: Deps) -> float:
    """How late Event Grid delivered this event (its eventTime to now), never negative (clock skew)."""
    when = event.time if event.time.tzinfo else event.time.replace(tzinfo=UTC)
    return max(0.0, (deps.clock.now() - when).total_seconds())


def _vm_or_disk(uri: str, name: str, deps: Deps, lag: float = 0.0) -> tuple[list[Envelope], str]:
    parsed = naming.parse_resource_name(name)
    if parsed is None or parsed[0] not in deps.catalog:
        return [], f"ignored: {name[:80]} is not a resource the product created"
    workload, owner, kind = parsed
    if kind.startswith("val-"):
        try:
            number = VersionNumber.parse(owner.removeprefix("v").replace("-", "."))
        except InvalidInput:
            return [], f"ignored: {name[:80]} names no version"
        version = deps.records.load(workload, version=number).version
        if version is None or version.pending is None or version.pending.kind not in OPERATION_OF:
            return [], f"ignored: nothing waits on {name}"
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
        active = deps.records.load(workload).pointers.active_run
        if active is None:
            return [], f"ignored: no run of {workload} is active"
        run_id = active
    try:
        run = deps.records.load(workload, run_id=run_id).run
    except InvalidInput:
        return [], f"ignored: {name[:80]} names no run"
    if run is None or run.state is not RunState.RUNNING or run.pending is None:
        return [], f"ignored: run {run_id} of {workload} waits for nothing"
    if uri.lower() not in run.pending.resource_id.lower():
        return [], f"ignored: run {run_id} waits for {run.pending.kind}, not {name}"
    woken = position(run, "event").model_copy(update={"event_lag": lag})
    return [Envelope.wrap(woken)], f"continues run {run_id} of {workload} at {run.step}"


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
    loaded = deps.records.load(workload.name, version=number)
    version = loaded.version
    if version is not None and version.status is Status.CAPTURING and loaded.pointers.active_run:
        run = deps.records.load(workload.name, run_id=loaded.pointers.active_run).run
        if run is not None and run.state is RunState.RUNNING and run.run_id == version.run_id:
            messages.append(Envelope.wrap(position(run, "event").model_copy(update={"event_lag": _lag(event, deps)})))
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


def _floor(when: datetime, bucket: timedelta) -> datetime:
    """Retention checks coalesce: one per workload per bucket, whatever the burst of events."""
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    aware = when if when.tzinfo else when.replace(tzinfo=UTC)
    return epoch + ((aware - epoch) // bucket) * bucket
