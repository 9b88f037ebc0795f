"""Shared machinery for backends: resource ids, regions, long-running operations, events."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal, Protocol

from simulator.errors import ArmError
from simulator.timing import Variance

if TYPE_CHECKING:
    from simulator.clock import VirtualClock
    from simulator.events import EventBus
    from simulator.faults import Faults

EventKind = Literal["Write", "Action", "Delete"]

_REGIONS = {
    "eastus": "East US",
    "eastus2": "East US 2",
    "westus": "West US",
    "westus2": "West US 2",
    "westus3": "West US 3",
    "centralus": "Central US",
    "northcentralus": "North Central US",
    "southcentralus": "South Central US",
    "westeurope": "West Europe",
    "northeurope": "North Europe",
    "uksouth": "UK South",
    "ukwest": "UK West",
    "francecentral": "France Central",
    "germanywestcentral": "Germany West Central",
    "swedencentral": "Sweden Central",
    "switzerlandnorth": "Switzerland North",
    "norwayeast": "Norway East",
    "australiaeast": "Australia East",
    "japaneast": "Japan East",
    "southeastasia": "Southeast Asia",
    "canadacentral": "Canada Central",
}


def region_key(name: str) -> str:
    """``"West Europe"`` and ``"westeurope"`` name the same region."""
    return name.replace(" ", "").lower()


def region_display(name: str) -> str:
    return _REGIONS.get(region_key(name), name)


def iso(dt: datetime) -> str:
    """ARM timestamp format (7 fractional digits, ``+00:00``)."""
    return dt.strftime("%Y-%m-%dT%H:%M:%S.%f") + "0+00:00"


def parse_time(text: str) -> datetime:
    value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if value.tzinfo is None:
        from datetime import UTC

        value = value.replace(tzinfo=UTC)
    return value


_ID_RE = re.compile(
    r"^/subscriptions/(?P<sub>[^/]+)/resourceGroups/(?P<rg>[^/]+)/providers/(?P<rest>.+)$", re.IGNORECASE
)


def split_id(resource_id: str) -> tuple[str, str, str]:
    """(subscription, resource group, provider path) of a resource id."""
    m = _ID_RE.match(resource_id.rstrip("/"))
    if not m:
        raise ArmError("InvalidParameter", f"'{resource_id}' is not a valid resource id.", target="id")
    return m.group("sub"), m.group("rg"), m.group("rest")


@dataclass
class Resource:
    """Common envelope of every ARM resource."""

    id: str
    name: str
    type: str
    location: str
    resource_group: str
    tags: dict[str, str] = field(default_factory=dict)
    provisioning_state: str = "Succeeded"
    created: datetime | None = None

    def envelope(self) -> dict[str, Any]:
        body: dict[str, Any] = {"name": self.name, "id": self.id, "type": self.type, "location": self.location}
        body["tags"] = dict(self.tags)
        return body


@dataclass
class AsyncOperation:
    """A long-running ARM operation, tracked by its Azure-AsyncOperation URL."""

    id: str
    operation_name: str  # ARM action, e.g. Microsoft.Compute/virtualMachines/start/action
    kind: EventKind
    resource_id: str
    location: str
    provider: str
    start: datetime
    due: datetime
    http_method: str
    status: str = "InProgress"
    error: ArmError | None = None
    output: dict[str, Any] | None = None
    result_status: int = 200  # status of the final Location GET when it has a body
    on_success: Callable[[], dict[str, Any] | None] | None = None
    on_failure: Callable[[ArmError], None] | None = None
    end: datetime | None = None

    @property
    def done(self) -> bool:
        return self.status != "InProgress"

    def status_body(self) -> dict[str, Any]:
        body: dict[str, Any] = {"startTime": iso(self.start), "status": self.status, "name": self.id}
        if self.end:
            body["endTime"] = iso(self.end)
        if self.error:
            body["error"] = self.error.body()["error"]
        if self.output is not None and self.status == "Succeeded":
            body["properties"] = {"output": self.output}
        return body


# What a backend may ask of the others (through the Context). Protocols, so that this module
# imports no backend and the backends import only this one.
class ComputePeer(Protocol):
    def find_vm(self, vm_id: str) -> Any: ...
    def guest_of(self, vm: Any) -> Any: ...
    def find_disk_or_snapshot(self, resource_id: str) -> Any: ...


class NetworkPeer(Protocol):
    nics: dict[str, Any]

    def find_nic(self, nic_id: str) -> Any: ...


class GalleryPeer(Protocol):
    def resolve_for_deployment(self, ref_id: str, location: str) -> Any: ...
    def definition_for(self, ref_id: str) -> Any: ...
    def definition_security_type(self, ref_id: str) -> str: ...


class ImagesPeer(Protocol):
    def find(self, image_id: str) -> Any: ...


class Context:
    """What backends share: the clock, durations, faults, events, LROs and each other."""

    compute: ComputePeer
    network: NetworkPeer
    gallery: GalleryPeer
    images: ImagesPeer

    def __init__(
        self,
        subscription_id: str,
        clock: VirtualClock,
        durations: dict[str, float],
        faults: Faults,
        events: EventBus,
        variance: Variance | None = None,
    ) -> None:
        self.variance = variance or Variance(None)
        self.subscription_id = subscription_id
        self.clock = clock
        self.durations = durations
        self.faults = faults
        self.events = events
        self.operations: dict[str, AsyncOperation] = {}
        self.resource_groups: dict[str, Resource] = {}
        self.base_url = "https://management.azure.com"

    def now(self) -> datetime:
        return self.clock.now()

    def seconds(self, key: str) -> float:
        """How long this run of operation ``key`` takes: the table's value, varied when seeded."""
        return self.variance.apply(self.durations[key])

    def guest_durations(self) -> dict[str, float]:
        """The duration table for one guest's first boot (device encryption), varied; scripts use the table."""
        return self.variance.table(self.durations)

    # -- resource groups ----------------------------------------------------------------------
    def rg_id(self, rg: str) -> str:
        return f"/subscriptions/{self.subscription_id}/resourceGroups/{rg}"

    def ensure_rg(self, rg: str, location: str = "westeurope") -> Resource:
        """Resource groups exist implicitly: created on first use."""
        existing = self.resource_groups.get(rg.lower())
        if existing:
            return existing
        res = Resource(self.rg_id(rg), rg, "Microsoft.Resources/resourceGroups", location, rg, created=self.now())
        self.resource_groups[rg.lower()] = res
        return res

    def resource_id(self, rg: str, provider_path: str) -> str:
        self.ensure_rg(rg)
        return f"/subscriptions/{self.subscription_id}/resourceGroups/{rg}/providers/{provider_path}"

    # -- long-running operations -------------------------------------------------------------------
    def start_operation(
        self,
        operation_name: str,
        resource_id: str,
        location: str,
        seconds: float,
        *,
        kind: EventKind,
        http_method: str,
        on_success: Callable[[], dict[str, Any] | None] | None = None,
        on_failure: Callable[[ArmError], None] | None = None,
        due: datetime | None = None,
    ) -> AsyncOperation:
        """Start an LRO that completes ``seconds`` from now (or at ``due``) on the virtual clock."""
        now = self.now()
        op = AsyncOperation(
            id=str(uuid.uuid4()),
            operation_name=operation_name,
            kind=kind,
            resource_id=resource_id,
            location=location,
            provider=operation_name.split("/", 1)[0],
            start=now,
            due=due or now + timedelta(seconds=seconds),
            http_method=http_method,
            on_success=on_success,
            on_failure=on_failure,
        )
        self.operations[op.id] = op
        self.clock.schedule(op.due, lambda: self.complete_operation(op))
        return op

    def put_operation(
        self, operation_name: str, resource_id: str, location: str, seconds: float, res: Resource
    ) -> AsyncOperation:
        """The LRO of a PUT whose only effect is ``res`` becoming Succeeded when it ends."""

        def done() -> None:
            res.provisioning_state = "Succeeded"

        return self.start_operation(
            operation_name, resource_id, location, seconds, kind="Write", http_method="PUT", on_success=done
        )

    def delete_operation(
        self, operation_name: str, resource_id: str, location: str, seconds: float, store: dict[str, Any]
    ) -> AsyncOperation:
        """The LRO of a DELETE whose only effect is the resource leaving ``store`` (keyed by lower-case id)."""

        def done() -> None:
            store.pop(resource_id.lower(), None)

        return self.start_operation(
            operation_name, resource_id, location, seconds, kind="Delete", http_method="DELETE", on_success=done
        )

    def complete_operation(self, op: AsyncOperation, error: ArmError | None = None) -> None:
        """Finish ``op`` now: apply its effect (or failure) and publish its event."""
        if op.done:
            return
        failure = error or self.faults.take_lro_failure(op.operation_name)
        if failure is None and op.on_success is not None:
            try:
                op.output = op.on_success()
            except ArmError as exc:
                failure = exc
        op.end = self.now()
        if failure is not None:
            op.status = "Failed"
            op.error = failure
            if op.on_failure is not None:
                op.on_failure(failure)
        else:
            op.status = "Succeeded"
        self.emit(op.operation_name, op.resource_id, op.kind, failure is None, op.http_method, op.id)

    def emit(
        self,
        operation_name: str,
        resource_id: str,
        kind: EventKind,
        succeeded: bool,
        http_method: str,
        correlation_id: str | None = None,
    ) -> None:
        from simulator.events import arm_event

        event = arm_event(
            subscription_id=self.subscription_id,
            resource_id=resource_id,
            operation_name=operation_name,
            kind=kind,
            succeeded=succeeded,
            event_time=self.now().strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
            correlation_id=correlation_id or str(uuid.uuid4()),
            http_method=http_method,
            url=f"{self.base_url}{resource_id}",
        )
        self.events.publish([event])

    def pending_operation(self, resource_id: str) -> AsyncOperation | None:
        for op in self.operations.values():
            if not op.done and op.resource_id.lower() == resource_id.lower():
                return op
        return None
