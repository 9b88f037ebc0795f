"""What an ARM event (Event Grid) is, and whether the event alone says the app ignores it.

Kept apart from the router (shared.steps.events) so that the Event Grid function can drop an
event about a resource the product does not own without importing the domain, the record store
or any Azure client: its first invocation then costs little more than `azure.functions`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from shared.domain import naming
from shared.domain.errors import InvalidInput

ARM_EVENT_TYPES = frozenset(
    f"microsoft.resources.resource{kind}{result}"
    for kind in ("write", "action", "delete")
    for result in ("success", "failure", "cancel")
)
# The ARM operations whose completion continues a waiting step or triggers retention, per
# resource type. infra/modules/eventgrid.bicep subscribes to exactly these operation names
# (tests/infra/test_event_filter.py compares them), so Event Grid delivers nothing the router
# drops and drops nothing the router handles. Nothing waits on a NIC, but its write is done
# seconds into a VM create: how late its event comes is a run's first measure of the delay.
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
    # The AVD agent (DSC extension) installed on a host a rollout recreated: it has joined the pool.
    "Microsoft.Compute/virtualMachines/extensions": ("write",),
    "Microsoft.Compute/disks": ("write", "delete"),
    "Microsoft.Compute/snapshots": ("write", "delete"),
    "Microsoft.Compute/galleries/images/versions": ("write", "delete"),
    "Microsoft.Network/networkInterfaces": ("write",),
}
OPERATION_NAMES = tuple(f"{kind}/{op}" for kind, operations in ROUTED_OPERATIONS.items() for op in operations)
_ROUTED = frozenset(name.lower() for name in OPERATION_NAMES)
RESOURCE = re.compile(
    r"^/subscriptions/[^/]+/resourcegroups/[^/]+/providers/"
    r"(?P<type>microsoft\.compute/virtualmachines|microsoft\.compute/disks|microsoft\.compute/snapshots"
    r"|microsoft\.network/networkinterfaces)"
    r"/(?P<name>[^/]+)(?:/runcommands/[^/]+)?$",
    re.IGNORECASE,
)
# A VM or its extension: rollouts wait on session hosts, whatever their names
# (shared.steps.rollout_events decides with the rollout records).
SESSION_HOST = re.compile(
    r"^/subscriptions/[^/]+/resourcegroups/[^/]+/providers/microsoft\.compute/virtualmachines/[^/]+"
    r"(?:/extensions/[^/]+)?$",
    re.IGNORECASE,
)
GALLERY_VERSION = re.compile(
    r"^/subscriptions/[^/]+/resourcegroups/[^/]+/providers/microsoft\.compute/galleries/(?P<gallery>[^/]+)"
    r"/images/(?P<definition>[^/]+)/versions/(?P<version>[^/]+)$",
    re.IGNORECASE,
)


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


def ignored_at_sight(raw: object) -> str:
    """Why the event is ignored, when the event alone says so ("" otherwise, malformed included):
    the caller needs no record store, no catalog and no client for it."""
    try:
        return sight(raw)[1]
    except InvalidInput:
        return ""  # route_event refuses it with the reason


def sight(raw: object) -> tuple[ArmEvent | None, str]:
    """The parsed event, or why it is ignored from what it says alone; raises when malformed."""
    if not isinstance(raw, Mapping):
        raise InvalidInput(f"an event must be a JSON object, got {type(raw).__name__}")
    event_type = str(raw.get("eventType", raw.get("type")) or "")
    if event_type.lower() not in ARM_EVENT_TYPES:
        # e.g. Microsoft.EventGrid.SubscriptionValidationEvent: the Functions trigger answers those
        return None, f"ignored: event type {event_type[:100]!r} is not an ARM resource event"
    event = ArmEvent.parse(raw)
    operation = event.data.operation_name.lower()
    uri = event.data.resource_uri
    if operation not in _ROUTED:
        return None, f"ignored: {operation[:200]} completes nothing the pipeline waits for"
    if GALLERY_VERSION.match(uri):
        return event, ""
    if match := RESOURCE.match(uri):
        name = match.group("name")
        if naming.parse_resource_name(name) is None and not SESSION_HOST.match(uri):
            return None, f"ignored: {name[:80]} is not a resource the product created"
        return event, ""  # a VM the product did not name may be a session host a rollout replaces
    if SESSION_HOST.match(uri):
        return event, ""
    return None, f"ignored: {uri[:200]} is not a resource type the product manages"


def ignored_unless_a_rollout_waits(raw: object) -> str:
    """Why the event is ignored when no host pool rollout waits on anything: a VM (or its extension)
    the product did not name ("" when a build or a validation may wait for it, or it is malformed).
    The note is the router's for the same event when no rollout waits (shared.steps.events)."""
    try:
        event, why = sight(raw)
    except InvalidInput:
        return ""
    if why or event is None:
        return why
    uri = event.data.resource_uri
    if GALLERY_VERSION.match(uri):
        return ""
    if match := RESOURCE.match(uri):
        name = match.group("name")
        return (
            ""
            if naming.parse_resource_name(name) is not None
            else f"ignored: {name[:80]} is not a resource the product created"
        )
    return f"ignored: {uri[:200]} is not a resource the product manages"  # a VM extension
