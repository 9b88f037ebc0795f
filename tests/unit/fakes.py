"""In-memory stand-ins for handler unit tests (the real adapters are tested against Azurite and the simulator)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from localrun.issuer import LocalIssuer
from shared.adapters.memory_records import MemoryRecordStore
from shared.config import Settings
from shared.domain.catalog import Catalog
from shared.domain.compute import (
    GalleryVersionState,
    OperationState,
    RegionReplication,
    TaggedResource,
    TargetRegion,
    VmState,
)
from shared.steps.deps import Deps


@dataclass
class FakeClock:
    current: datetime = datetime(2026, 11, 2, 8, 0, tzinfo=UTC)

    def now(self) -> datetime:
        return self.current

    def advance(self, delta: timedelta) -> None:
        self.current += delta


@dataclass
class FakeCompute:
    """Records calls; answers the few reads the handlers under test make."""

    resource_group: str = "rg-avd-images"
    marketplace_version: str = "26100.7171.251107"
    versions: dict[str, GalleryVersionState] = field(default_factory=dict)
    tagged: list[TaggedResource] = field(default_factory=list)
    in_use: dict[str, int] = field(default_factory=dict)
    calls: list[tuple[str, Any]] = field(default_factory=list)
    retry_after: float | None = None
    vms: dict[str, VmState] = field(default_factory=dict)  # by name: what get_vm answers

    def get_vm(self, name: str) -> VmState | None:
        self.calls.append(("get_vm", name))
        return self.vms.get(name)

    def id_of(self, resource_type: str, name: str) -> str:
        return f"/subscriptions/s/resourceGroups/{self.resource_group}/providers/{resource_type}/{name}"

    def latest_marketplace_version(self, location: str, publisher: str, offer: str, sku: str) -> str:
        self.calls.append(("latest_marketplace_version", sku))
        return self.marketplace_version

    def get_gallery_version(self, gallery: str, definition: str, version: str) -> GalleryVersionState | None:
        return self.versions.get(version)

    def update_gallery_version(self, gallery: str, definition: str, version: str, **changes: Any) -> None:
        self.calls.append(("update_gallery_version", (version, changes)))

    def start_delete_gallery_version(self, gallery: str, definition: str, version: str) -> None:
        self.calls.append(("start_delete_gallery_version", version))

    def start_delete(self, resource_id: str) -> None:
        self.calls.append(("start_delete", resource_id))

    def list_tagged(self, tag: str) -> list[TaggedResource]:
        return [r for r in self.tagged if tag in r.tags]

    def images_in_use(self) -> dict[str, int]:
        self.calls.append(("images_in_use", None))
        return dict(self.in_use)


def replicated(version: str, regions: tuple[str, ...] = ("westeurope",)) -> GalleryVersionState:
    return GalleryVersionState(
        id=f"/subscriptions/s/resourceGroups/rg/providers/Microsoft.Compute/galleries/g/images/d/versions/{version}",
        name=version,
        provisioning=OperationState.SUCCEEDED,
        aggregated="Completed",
        regions=tuple(RegionReplication(r, "Completed", 100) for r in regions),
        target_regions=regions,
        exclude_from_latest=True,
        end_of_life=None,
    )


def target(name: str) -> TargetRegion:
    return TargetRegion(name, 1, "Standard_LRS")


# Entra ID's local stand-in: tokens carry real RS256 signatures, checked by the production verifier.
ISSUER = LocalIssuer(FakeClock())


def make_deps(catalog: Catalog, compute: FakeCompute | None = None, clock: FakeClock | None = None) -> Deps:
    clock = clock or FakeClock()
    return Deps(
        records=MemoryRecordStore(),
        compute=compute or FakeCompute(),  # type: ignore[arg-type]
        catalog=catalog,
        clock=clock,
        settings=Settings(),
        verifier=ISSUER.verifier(clock),
    )
