"""Capture creates the gallery version hidden from latest (invariant 1), and cleanup removes the temp VM (12).

step_capture and _start_version (shared.steps.build_image) against a recording compute: the image
definition and version asked for, the waits while Azure creates it, the failure reasons; then
step_cleanup's deletion of the temp VM and the snapshot.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import timedelta
from pathlib import Path

import pytest

from shared.config import Settings
from shared.domain.catalog import load_catalog
from shared.domain.compute import (
    GalleryVersionState,
    ImageDefinitionSpec,
    OperationState,
    RegionReplication,
    TargetRegion,
    VersionSpec,
)
from shared.domain.errors import AzureOperationError
from shared.domain.model import BuildReason, ImageVersion, PendingOperation, Pointers, Run, Stage, Status
from shared.steps.build_image import step_capture, step_cleanup
from shared.steps.step_context import StepContext
from tests.conftest import make_version
from tests.unit.fakes import FakeClock, FakeCompute, make_deps, replicated

CATALOG = load_catalog(Path(__file__).resolve().parents[2] / "catalog")
OFFICE = CATALOG.get("office")
NOW = FakeClock().current
RG = "/subscriptions/s/resourceGroups/rg-avd-images/providers"
VM = f"{RG}/Microsoft.Compute/virtualMachines/office--run-1--vm"
SNAP = f"{RG}/Microsoft.Compute/snapshots/office--run-1--snap"


@dataclass
class CaptureCompute(FakeCompute):
    definitions: list[ImageDefinitionSpec] = field(default_factory=list)
    specs: list[VersionSpec] = field(default_factory=list)
    refuse: AzureOperationError | None = None
    states: dict[str, OperationState] = field(default_factory=dict)

    def ensure_image_definition(self, spec: ImageDefinitionSpec) -> None:
        self.definitions.append(spec)

    def start_create_version(self, spec: VersionSpec) -> None:
        self.specs.append(spec)
        if self.refuse is not None:
            raise self.refuse

    def resource_state(self, resource_id: str) -> OperationState:
        return self.states.get(resource_id, OperationState.MISSING)


def context(compute: CaptureCompute, version: ImageVersion, pending: PendingOperation | None = None) -> StepContext:
    deps = make_deps(CATALOG, compute=compute)
    deps.settings = Settings(event_grid=False)
    run = Run(workload="office", run_id="run-1", reason=BuildReason.FIRST, requested_by="a@b.c", started_at=NOW,
              step="capture", pending=pending)  # fmt: skip
    return StepContext(deps, OFFICE, run, version, NOW, Pointers(workload="office"))


def building() -> ImageVersion:
    return make_version(status=Status.BUILDING)


def creating(checks: int = 0, ago: timedelta = timedelta(minutes=10)) -> PendingOperation:
    return PendingOperation(kind="version-create", started_at=NOW - ago, checks=checks)


def test_capture_asks_for_the_definition_and_a_version_hidden_from_latest() -> None:
    """The first entry: the definition (Trusted Launch, tagged), then the version from the temp VM, excluded from latest."""
    compute = CaptureCompute()
    outcome = step_capture(context(compute, building()))
    [definition] = compute.definitions
    assert definition == ImageDefinitionSpec(
        resource_group=OFFICE.gallery.resource_group,
        gallery="gal_avd_images",
        name="win11-24h2-office",
        location="westeurope",
        security_type=OFFICE.security_type.value,
        publisher="avd-lifecycle",
        offer=OFFICE.base_image.marketplace.offer if OFFICE.base_image.marketplace else "custom",
        sku="office",
        tags={"avd-lifecycle-workload": "office", "avd-lifecycle-owner": OFFICE.owner},
    )
    [spec] = compute.specs
    assert spec.exclude_from_latest is True
    assert (spec.gallery, spec.definition, spec.version, spec.location, spec.source_vm_id) == (
        "gal_avd_images", "win11-24h2-office", "1.0.0", "westeurope", VM,
    )  # fmt: skip
    assert spec.resource_group == OFFICE.gallery.resource_group
    assert spec.target_regions == (TargetRegion("westeurope", 1, "Standard_ZRS"),)
    assert spec.tags["avd-lifecycle-stage"] == "test"
    assert outcome.version is not None
    assert outcome.version.status is Status.CAPTURING
    assert [(a.kind, a.detail, a.from_status, a.to_status) for a in outcome.audit] == [
        ("capture-started", "creating gallery version 1.0.0", Status.BUILDING, Status.CAPTURING)
    ]
    assert outcome.pending is not None
    assert (outcome.pending.kind, outcome.wait) == ("version-create", timedelta(seconds=15))


def test_a_definition_still_provisioning_is_not_a_failure() -> None:
    """ParentResourceNotFound right after the definition was made: waited for, asked again later."""
    compute = CaptureCompute(refuse=AzureOperationError("create version", "ParentResourceNotFound", "not yet", 404))
    outcome = step_capture(context(compute, building()))
    assert outcome.fail is None
    assert outcome.pending is not None
    other = CaptureCompute(refuse=AzureOperationError("create version", "QuotaExceeded", "no room", 400))
    with pytest.raises(AzureOperationError, match="QuotaExceeded"):
        step_capture(context(other, building()))


def test_a_version_never_created_is_asked_again_then_fails() -> None:
    """No version after the ask: asked again while checks < 5, then the run fails with the reason."""
    compute = CaptureCompute()
    capturing = make_version(status=Status.CAPTURING)
    again = step_capture(context(compute, capturing, creating(checks=4)))
    assert len(compute.specs) == 1
    assert again.pending is not None
    assert (again.pending.checks, again.wait) == (5, timedelta(minutes=2))
    failed = step_capture(context(compute, capturing, creating(checks=5)))
    assert failed.fail == "gallery version 1.0.0 was never created"
    assert len(compute.specs) == 1


def state(provisioning: OperationState, *regions: RegionReplication) -> GalleryVersionState:
    return replace(replicated("1.0.0"), provisioning=provisioning, regions=regions, aggregated="InProgress")


def test_a_version_creation_in_progress_is_predicted_from_its_progress() -> None:
    """80 % after 10 minutes: look again in 2 min 35 s; no progress yet: the plain back-off (2 min)."""
    compute = CaptureCompute(
        versions={"1.0.0": state(OperationState.IN_PROGRESS, RegionReplication("westeurope", "Replicating", 80))}
    )
    capturing = make_version(status=Status.CAPTURING)
    outcome = step_capture(context(compute, capturing, creating()))
    assert outcome.wait == timedelta(minutes=2, seconds=35)
    assert outcome.pending is not None
    assert outcome.pending.checks == 1
    compute.versions["1.0.0"] = state(OperationState.IN_PROGRESS)
    assert step_capture(context(compute, capturing, creating())).wait == timedelta(minutes=2)


def test_a_failed_creation_fails_the_run_unless_only_a_region_failed() -> None:
    """Provisioning Failed: the run fails; Failed with a failed region is replication's to retry."""
    capturing = make_version(status=Status.CAPTURING)
    compute = CaptureCompute(versions={"1.0.0": state(OperationState.FAILED)})
    assert step_capture(context(compute, capturing, creating())).fail == "creating gallery version 1.0.0 failed"
    compute.versions["1.0.0"] = state(OperationState.FAILED, RegionReplication("westeurope", "Failed", 10))
    outcome = step_capture(context(compute, capturing, creating()))
    assert outcome.fail is None
    assert outcome.next_step == "cleanup"


def test_a_created_and_replicated_version_serves_test_at_once() -> None:
    """Created and Completed: captured, ready in test (pointer moved), validation started, cleanup next."""
    compute = CaptureCompute(versions={"1.0.0": replicated("1.0.0")})
    outcome = step_capture(context(compute, make_version(status=Status.CAPTURING), creating()))
    assert outcome.next_step == "cleanup"
    assert outcome.version is not None
    assert (outcome.version.status, outcome.version.stage) == (Status.READY, Stage.TEST)
    assert outcome.version.gallery_version_id == replicated("1.0.0").id
    assert [a.kind for a in outcome.audit] == ["captured", "ready"]
    assert outcome.audit[0].detail == f"gallery version {replicated('1.0.0').id} created (excludeFromLatest)"
    assert (outcome.audit[0].from_status, outcome.audit[0].to_status) == (Status.CAPTURING, Status.REPLICATING)
    assert outcome.pointers is not None
    assert str(outcome.pointers.test) == "1.0.0"


def test_a_created_version_still_replicating_goes_on_to_cleanup_and_replicate() -> None:
    """Created but not yet Completed: captured (REPLICATING), cleanup next; the test pointer does not move."""
    compute = CaptureCompute(versions={"1.0.0": replace(replicated("1.0.0"), regions=(), aggregated="InProgress")})
    outcome = step_capture(context(compute, make_version(status=Status.CAPTURING), creating()))
    assert outcome.version is not None
    assert (outcome.next_step, outcome.version.status, outcome.pointers) == ("cleanup", Status.REPLICATING, None)


def test_cleanup_deletes_the_temp_vm_then_checks_the_snapshot() -> None:
    """First: delete the VM (its disk and NIC go with it) and follow VM and snapshot; then only what is left."""
    compute = CaptureCompute()
    ready = make_version(status=Status.READY, stage=Stage.TEST)
    first = step_cleanup(context(compute, ready))
    assert compute.calls == [("start_delete", VM)]
    assert first.pending is not None
    assert (first.pending.kind, first.pending.resource_id) == ("delete-temp", f"{VM},{SNAP}")
    compute.calls.clear()
    compute.states = {SNAP: OperationState.SUCCEEDED}
    deleting = PendingOperation(kind="delete-temp", resource_id=f"{VM},{SNAP}", started_at=NOW - timedelta(minutes=2))
    left = step_cleanup(context(compute, ready, deleting))
    assert compute.calls == [("start_delete", SNAP)]
    assert left.wait == timedelta(seconds=24)
    compute.states = {}
    assert step_cleanup(context(compute, ready, deleting)).finish


def test_after_cleanup_a_version_not_yet_ready_goes_on_to_replicate() -> None:
    """Temp resources gone, the version still replicating to test: the replicate step follows."""
    compute = CaptureCompute()
    replicating = make_version(status=Status.REPLICATING, target_stage=Stage.TEST)
    deleting = PendingOperation(kind="delete-temp", resource_id=VM, started_at=NOW)
    assert step_cleanup(context(compute, replicating, deleting)).next_step == "replicate"


@dataclass
class ConflictCompute(CaptureCompute):
    """The version PUT answers 409 (under way after a crash); reads are recorded with their names."""

    reads: list[tuple[str, str, str]] = field(default_factory=list)

    def get_gallery_version(self, gallery: str, definition: str, version: str) -> GalleryVersionState | None:
        self.reads.append((gallery, definition, version))
        return super().get_gallery_version(gallery, definition, version)


def test_a_conflict_on_the_version_is_under_way_only_if_the_version_exists() -> None:
    """409 with the version there: under way, go on; 409 with no version: the refusal is raised."""
    conflict = AzureOperationError("create version", "Conflict", "another operation is in progress", 409)
    there = ConflictCompute(refuse=conflict, versions={"1.0.0": replicated("1.0.0")})
    assert step_capture(context(there, building())).pending is not None
    assert there.reads == [("gal_avd_images", "win11-24h2-office", "1.0.0")]
    missing = ConflictCompute(refuse=conflict)
    with pytest.raises(AzureOperationError, match="Conflict"):
        step_capture(context(missing, building()))


def test_a_workload_built_from_a_source_vm_gets_a_custom_offer() -> None:
    """No marketplace image: the definition's offer is 'custom'."""
    compute = CaptureCompute()
    ctx = context(compute, building())
    source_vm = "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/src"
    base = OFFICE.base_image.model_copy(update={"marketplace": None, "source_vm": source_vm})
    ctx = replace(ctx, workload=OFFICE.model_copy(update={"base_image": base}))
    step_capture(ctx)
    assert compute.definitions[0].offer == "custom"


def test_the_capture_start_is_kept_on_every_way_out_of_the_first_look() -> None:
    """A BUILDING version moves to CAPTURING (audited) whether the version is asked again, failed or under way."""
    for checks, versions in ((4, {}), (5, {}), (0, {"1.0.0": state(OperationState.IN_PROGRESS)})):
        compute = ConflictCompute(versions=dict(versions))
        outcome = step_capture(context(compute, building(), creating(checks=checks)))
        assert outcome.version is not None
        assert outcome.version.status is Status.CAPTURING
        assert [a.kind for a in outcome.audit] == ["capture-started"]
        assert compute.reads == [("gal_avd_images", "win11-24h2-office", "1.0.0")]


def test_one_percent_is_enough_to_predict_from() -> None:
    """1 % after 10 minutes predicts a long wait: the longest look (8 min), not the plain back-off."""
    compute = CaptureCompute(
        versions={"1.0.0": state(OperationState.IN_PROGRESS, RegionReplication("westeurope", "Replicating", 1))}
    )
    assert step_capture(context(compute, make_version(status=Status.CAPTURING), creating())).wait == timedelta(
        minutes=8
    )


def test_a_captured_version_still_replicating_keeps_its_capture_audit() -> None:
    """The 'captured' entry goes with the version to the cleanup step."""
    compute = CaptureCompute(versions={"1.0.0": replace(replicated("1.0.0"), regions=(), aggregated="InProgress")})
    outcome = step_capture(context(compute, make_version(status=Status.CAPTURING), creating()))
    assert [a.kind for a in outcome.audit] == ["captured"]
