"""In-memory stand-ins for handler unit tests (the real adapters are tested against Azurite and the simulator)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from localrun.issuer import LocalIssuer
from shared.adapters.memory_records import MemoryRecordStore
from shared.config import Settings
from shared.domain.catalog import Catalog, Workload
from shared.domain.compute import (
    GalleryVersionState,
    OperationState,
    RegionReplication,
    TaggedResource,
    TargetRegion,
    VmState,
)
from shared.domain.model import BuildReason, ImageVersion, PendingOperation, Pointers, Run, Stage, Status, VersionNumber
from shared.domain.records import Changes
from shared.steps.deps import Deps
from shared.steps.step_context import StepContext
from tests.conftest import T0, make_version


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


def run_world(
    catalog: Catalog,
    step: str = "probe",
    pending: PendingOperation | None = None,
    version: Status | None = Status.BUILDING,
    **fields: Any,
) -> Deps:
    """office's run-1 at `step` (attempt 3, step started 10 minutes before the fake clock's time), the
    active run of its pointers, with version 1.0.0 in `version` (READY serves test; None: no version)."""
    deps = make_deps(catalog)
    versions = [make_version(status=version, stage=Stage.TEST if version is Status.READY else None)] if version else []
    run = Run(workload="office", run_id="run-1", reason=BuildReason.FIRST, requested_by="a@b.c", started_at=T0,
              step=step, attempt=3, pending=pending, version=VersionNumber.parse("1.0.0") if version else None,
              step_started_at=FakeClock().current - timedelta(minutes=10), **fields)  # fmt: skip
    pointers = deps.records.get_pointers("office").evolve(active_run="run-1")
    deps.records.commit(Changes(workload="office", run=run, versions=versions, pointers=pointers))
    return deps


def step_context(
    catalog: Catalog,
    compute: Any,
    *,
    version: ImageVersion | None = None,
    pointers: Pointers | None = None,
    settings: Settings | None = None,
    workload: Workload | None = None,
    **run: Any,
) -> StepContext:
    """What a step of office's run-1 sees at the fake clock's time: any Run field can be given
    (`step`, `pending`, `reason`, `started_at`, `marks` ...); Event Grid off unless `settings` say."""
    now = FakeClock().current
    deps = make_deps(catalog, compute=compute)
    deps.settings = settings or Settings(event_grid=False)
    defaults: dict[str, Any] = {"workload": "office", "run_id": "run-1", "reason": BuildReason.FIRST,
                                "requested_by": "a@b.c", "started_at": now, "step": "build"}  # fmt: skip
    record = Run(**(defaults | run))
    chosen = workload or catalog.get("office")
    return StepContext(deps, chosen, record, version, now, pointers or Pointers(workload="office"))


@dataclass
class FakeHostPools:
    """Azure Virtual Desktop's port (shared.domain.hostpools.HostPools) in memory: hosts, sessions, VM and
    agent states by VM id, and every call the rollout steps make."""

    pools: dict[str, list[Any]] = field(default_factory=dict)  # pool id -> SessionHostState list
    sessions_on: dict[str, list[str]] = field(default_factory=dict)  # host -> session ids
    vm_states: dict[str, str] = field(default_factory=dict)  # VM id -> Missing | InProgress | Succeeded | Failed
    registrations: dict[str, str] = field(default_factory=dict)  # VM id -> agent state
    specs: dict[str, Any] = field(default_factory=dict)  # VM id -> HostSpec
    refuse_message: Exception | None = None
    calls: list[tuple[str, Any]] = field(default_factory=list)

    def hosts(self, pool_id: str) -> list[Any]:
        return list(self.pools.get(pool_id, []))

    def set_drain(self, pool_id: str, host: str, drained: bool) -> None:
        self.calls.append(("set_drain", (host, drained)))

    def sessions(self, pool_id: str, host: str) -> list[str]:
        return list(self.sessions_on.get(host, []))

    def send_message(self, pool_id: str, host: str, session: str, title: str, text: str) -> None:
        self.calls.append(("send_message", (host, session, title, text)))
        if self.refuse_message is not None:
            raise self.refuse_message

    def log_off(self, pool_id: str, host: str, session: str) -> None:
        self.calls.append(("log_off", (host, session)))

    def remove_host(self, pool_id: str, host: str) -> None:
        self.calls.append(("remove_host", host))

    def host_spec(self, vm_id: str) -> Any:
        return self.specs.get(vm_id)

    def start_delete_vm(self, vm_id: str) -> None:
        self.calls.append(("start_delete_vm", vm_id))

    def start_delete_disk(self, disk_id: str) -> None:
        self.calls.append(("start_delete_disk", disk_id))

    def vm_state(self, vm_id: str) -> str:
        return self.vm_states.get(vm_id, "Missing")

    def start_create_vm(self, spec: Any, image_version_id: str, tags: dict[str, str]) -> None:
        self.calls.append(("start_create_vm", (spec.vm_id, image_version_id, tags)))

    def registration_token(self, pool_id: str, now: datetime, valid_for: timedelta) -> str:
        self.calls.append(("registration_token", (pool_id, valid_for)))
        return "token-1"

    def start_register(self, vm_id: str, location: str, pool_id: str, token: str) -> None:
        self.calls.append(("start_register", (vm_id, location, token)))

    def registration_state(self, vm_id: str) -> str:
        return self.registrations.get(vm_id, "Missing")
