"""The compute port: what the steps need from Azure, in domain terms (no azure imports).

Methods named `start_*` begin an Azure operation and return at once (DESIGN rule 5); the
step records it and continues on the Event Grid event or a scheduled re-check. Nothing here
waits for an operation to finish, Run Command included.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Protocol

RUN_TAG = "avd-lifecycle-run"
WORKLOAD_TAG = "avd-lifecycle-workload"
EXPIRES_TAG = "avd-lifecycle-expires"


class OperationState(StrEnum):
    IN_PROGRESS = "InProgress"
    SUCCEEDED = "Succeeded"
    FAILED = "Failed"
    MISSING = "Missing"


@dataclass(frozen=True)
class VmState:
    id: str
    name: str
    provisioning: OperationState
    power: str  # running | stopped | deallocated | starting | stopping | deallocating | unknown
    generalized: bool
    os_disk_id: str
    nic_ids: tuple[str, ...]
    image_reference: str  # gallery version id or marketplace URN the VM was created from
    tags: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class VmSpec:
    """A VM to create: from a marketplace URN, a gallery version id, or an existing OS disk."""

    name: str
    location: str
    size: str
    tags: dict[str, str]
    marketplace_urn: str = ""
    gallery_version_id: str = ""
    attach_os_disk_id: str = ""
    trusted_launch: bool = False
    subnet_id: str = ""
    disposable: bool = False  # the OS disk and NIC are deleted with the VM (temp and validation VMs)


@dataclass(frozen=True)
class ScriptResult:
    stdout: str
    stderr: str


@dataclass(frozen=True)
class ManagedScriptResult:
    """A finished managed Run Command: how it ended, its exit code and its full output."""

    state: str  # Succeeded | Failed | TimedOut | Canceled
    exit_code: int | None
    stdout: str
    stderr: str
    message: str = ""
    truncated: bool = False  # output came from the instance view, cut to its last 4 KB
    started: datetime | None = None

    @property
    def ok(self) -> bool:
        return self.state == "Succeeded" and self.exit_code == 0


@dataclass(frozen=True)
class RegionReplication:
    region: str
    state: str  # Unknown | Replicating | Completed | Failed
    progress: int
    details: str = ""


@dataclass(frozen=True)
class GalleryVersionState:
    id: str
    name: str
    provisioning: OperationState
    aggregated: str  # Unknown | InProgress | Completed | Failed
    regions: tuple[RegionReplication, ...]
    target_regions: tuple[str, ...]
    exclude_from_latest: bool
    end_of_life: datetime | None
    tags: dict[str, str] = field(default_factory=dict)
    targets: tuple[TargetRegion, ...] = ()  # the target regions as Azure has them (count, storage type)

    def visible_in(self, region: str) -> bool:
        """Whether 'latest' may resolve to this version in `region`: neither the version's
        excludeFromLatest nor that region's own targetRegions[].excludeFromLatest hides it."""
        if self.exclude_from_latest:
            return False
        key = region_key(region)
        return not any(t.exclude_from_latest for t in self.targets if region_key(t.name) == key)

    def latest_regions(self) -> tuple[str, ...]:
        """The target regions where 'latest' may resolve to this version."""
        return tuple(t.name for t in self.targets if self.visible_in(t.name))

    def hidden_regions(self) -> tuple[str, ...]:
        """The target regions where 'latest' never resolves to this version."""
        return tuple(t.name for t in self.targets if not self.visible_in(t.name))


@dataclass(frozen=True)
class TargetRegion:
    name: str
    replica_count: int
    storage_account_type: str
    exclude_from_latest: bool | None = None  # the region's own flag; None: not sent (Azure keeps it)


def region_key(name: str) -> str:
    """'West Europe' and 'westeurope' name the same region."""
    return name.lower().replace(" ", "")


@dataclass(frozen=True)
class ImageDefinitionSpec:
    resource_group: str
    gallery: str
    name: str
    location: str
    security_type: str
    publisher: str
    offer: str
    sku: str
    tags: dict[str, str]


@dataclass(frozen=True)
class VersionSpec:
    resource_group: str
    gallery: str
    definition: str
    version: str
    location: str
    source_vm_id: str
    target_regions: tuple[TargetRegion, ...]
    tags: dict[str, str]
    exclude_from_latest: bool = True


@dataclass(frozen=True)
class TaggedResource:
    id: str
    type: str
    name: str
    tags: dict[str, str]


class Compute(Protocol):
    resource_group: str
    # The Retry-After (seconds) Azure answered the last operation this client started with; None
    # when it gave none. Steps record it on the pending operation: their first look waits that long.
    retry_after: float | None

    def id_of(self, resource_type: str, name: str) -> str:
        """Full resource id of a resource in the image resource group, e.g. ("Microsoft.Compute/disks", n)."""
        ...

    def latest_marketplace_version(self, location: str, publisher: str, offer: str, sku: str) -> str: ...

    def ensure_network(self, location: str) -> str:
        """Return the subnet id temp and source VMs use, creating the VNet once."""
        ...

    def get_vm(self, name: str) -> VmState | None: ...

    def start_create_vm(self, spec: VmSpec) -> str: ...

    def start_script(self, vm_name: str, script: str) -> str:
        """Start Run Command (RunPowerShellScript); returns the operation to ask for the result."""
        ...

    def script_result(self, operation: str) -> ScriptResult | None:
        """The Run Command output, or None while it is still running."""
        ...

    def start_managed_script(self, vm_name: str, name: str, script: str, timeout: timedelta, location: str) -> None:
        """Start a managed Run Command (full output, exit code, timeout) without waiting."""
        ...

    def managed_script_result(self, vm_name: str, name: str) -> ManagedScriptResult | None:
        """The finished managed Run Command, or None while it is still running."""
        ...

    def start_vm(self, vm_name: str) -> None: ...

    def start_restart(self, vm_name: str) -> None:
        """Restart a running VM (updates waiting for a restart take effect)."""
        ...

    def start_deallocate(self, vm_name: str) -> None: ...

    def generalize(self, vm_name: str) -> None: ...

    def start_snapshot(self, name: str, location: str, source_disk_id: str, tags: dict[str, str]) -> str: ...

    def start_disk_from_snapshot(self, name: str, location: str, snapshot_id: str, tags: dict[str, str]) -> str: ...

    def resource_state(self, resource_id: str) -> OperationState: ...

    def start_delete(self, resource_id: str) -> None: ...

    def ensure_image_definition(self, spec: ImageDefinitionSpec) -> str: ...

    def list_image_definitions(self, gallery: str) -> list[str]:
        """Names of the image definitions in a gallery (for the image sprawl report)."""
        ...

    def start_create_version(self, spec: VersionSpec) -> str: ...

    def get_gallery_version(self, gallery: str, definition: str, version: str) -> GalleryVersionState | None: ...

    def list_gallery_versions(self, gallery: str, definition: str) -> list[GalleryVersionState]:
        """Every version in the definition, as Azure has it (reconcile compares it with the records)."""
        ...

    def update_gallery_version(
        self,
        gallery: str,
        definition: str,
        version: str,
        *,
        target_regions: tuple[TargetRegion, ...] | None = None,
        exclude_from_latest: bool | None = None,
        end_of_life: datetime | None = None,
        tags: dict[str, str] | None = None,
    ) -> None: ...

    def start_delete_gallery_version(self, gallery: str, definition: str, version: str) -> None: ...

    def list_tagged(self, tag: str) -> list[TaggedResource]: ...

    def images_in_use(self) -> dict[str, int]:
        """How many VMs and scale sets reference each gallery version id (ids lower-cased)."""
        ...
