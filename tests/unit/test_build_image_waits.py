"""The waits and records of build phase 3 (shared.steps.build_image) outside sysprep.

First looks at deallocation, capture and temp-resource deletion start from what the same operation
took on the workload's last run; capture and replication waits honour Event Grid and its measured
lag; a failed capture keeps the version's audit; a retried region and a ready version say so.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from shared.config import Settings
from shared.domain.catalog import load_catalog
from shared.domain.compute import (
    GalleryVersionState,
    ImageDefinitionSpec,
    OperationState,
    RegionReplication,
    VersionSpec,
    VmState,
)
from shared.domain.model import ImageVersion, PendingOperation, Pointers, Stage, Status
from shared.steps.build_image import step_capture, step_cleanup, step_deallocate, step_replicate
from shared.steps.step_context import StepContext
from tests.conftest import make_version
from tests.unit.fakes import FakeClock, FakeCompute, replicated, step_context

ROOT = next(p for p in Path(__file__).resolve().parents if (p / "catalog").is_dir())
CATALOG = load_catalog(ROOT / "catalog")
OFFICE = CATALOG.get("office")
NOW = FakeClock().current
RG = "/subscriptions/s/resourceGroups/rg-avd-images/providers"
VM = f"{RG}/Microsoft.Compute/virtualMachines/office--run-1--vm"
GALLERY_VERSION = replicated("1.0.0").id
TOOK = {"deallocate": 600.0, "version-create": 600.0, "delete-temp": 600.0}  # last run: 10 minutes each


@dataclass
class ImageCompute(FakeCompute):
    """Records deallocation, capture and delete asks; answers resource and version reads."""

    states: dict[str, OperationState] = field(default_factory=dict)

    def start_deallocate(self, name: str) -> None:
        self.calls.append(("start_deallocate", name))

    def generalize(self, name: str) -> None:
        self.calls.append(("generalize", name))

    def ensure_image_definition(self, spec: ImageDefinitionSpec) -> None:
        self.calls.append(("ensure_image_definition", spec.name))

    def start_create_version(self, spec: VersionSpec) -> None:
        self.calls.append(("start_create_version", spec.version))

    def resource_state(self, resource_id: str) -> OperationState:
        return self.states.get(resource_id, OperationState.MISSING)


def context(
    compute: ImageCompute,
    version: ImageVersion | None,
    pending: PendingOperation | None = None,
    *,
    took: dict[str, float] | None = None,
    event_grid: bool = False,
    event_lag: float | None = None,
    workload: Any = OFFICE,
) -> StepContext:
    pointers = Pointers(workload="office", took=took or {})
    return step_context(CATALOG, compute, version=version, pointers=pointers, settings=Settings(event_grid=event_grid),
                        workload=workload, step="capture", pending=pending, event_lag=event_lag)  # fmt: skip


@pytest.mark.parametrize(
    ("step", "version"),
    [
        (step_deallocate, None),
        (step_capture, make_version(status=Status.BUILDING)),
        (step_cleanup, make_version(status=Status.REPLICATING)),
    ],
)
def test_first_looks_start_from_what_the_last_run_took(step: Any, version: ImageVersion | None) -> None:
    """10 minutes last run: the first look at deallocation, capture or deletion comes at half of it, 5 minutes."""
    assert step(context(ImageCompute(), version)).wait == timedelta(seconds=15)
    assert step(context(ImageCompute(), version, took=TOOK)).wait == timedelta(minutes=5)


def test_deallocation_asked_waits_on_the_vm() -> None:
    """The first entry asks for deallocation and waits on the temp VM's id."""
    compute = ImageCompute()
    outcome = step_deallocate(context(compute, None))
    assert compute.calls == [("start_deallocate", "office--run-1--vm")]
    assert outcome.pending == PendingOperation(kind="deallocate", resource_id=VM, started_at=NOW)


def vm_state(power: str) -> VmState:
    return VmState(VM, "office--run-1--vm", OperationState.SUCCEEDED, power, False, "", (), "")


def test_a_capture_whose_creation_failed_keeps_the_versions_record_and_audit() -> None:
    """Provisioning Failed (no region failed): the run fails naming the version, with the version moved to CAPTURING."""
    failed = replace(replicated("1.0.0"), provisioning=OperationState.FAILED)
    compute = ImageCompute(versions={"1.0.0": failed})
    creating = PendingOperation(kind="version-create", started_at=NOW - timedelta(minutes=3))
    outcome = step_capture(context(compute, make_version(status=Status.BUILDING), creating))
    assert outcome.fail == "creating gallery version 1.0.0 failed"
    assert outcome.version is not None
    assert outcome.version.status is Status.CAPTURING
    assert [(a.kind, a.from_status, a.to_status) for a in outcome.audit] == [
        ("capture-started", Status.BUILDING, Status.CAPTURING)
    ]
    still = step_capture(context(compute, make_version(status=Status.CAPTURING), creating))
    assert (still.fail, still.audit) == ("creating gallery version 1.0.0 failed", [])
    assert still.version == make_version(status=Status.CAPTURING)


def in_progress(percent: int) -> GalleryVersionState:
    region = RegionReplication("westeurope", "Replicating", percent)
    return replace(
        replicated("1.0.0"), provisioning=OperationState.IN_PROGRESS, regions=(region,), aggregated="InProgress"
    )


@pytest.mark.parametrize(
    ("event_grid", "lag", "wait"),
    [
        (False, None, timedelta(minutes=2, seconds=35)),  # the predicted end
        (True, 0.0, timedelta(minutes=8, seconds=35)),  # events at once: the safety net 6 min past it
        (True, None, timedelta(minutes=2, seconds=35)),  # no delay measured yet: the predicted end
        # events a minute late: sooner still, at the soonest end 80 % allows (a whole percent leaves
        # 9 s of doubt, more than the 6 s floor of late events: the next reading narrows it)
        (True, 60.0, timedelta(seconds=600 * 19 / 81)),
    ],
)
def test_a_capture_in_progress_honours_event_grid_and_its_lag(event_grid: bool, lag: float | None,
                                                               wait: timedelta) -> None:  # fmt: skip
    """80 % after 10 minutes: the predicted end, or with events the safety net, unless events come late."""
    compute = ImageCompute(versions={"1.0.0": in_progress(80)})
    creating = PendingOperation(kind="version-create", started_at=NOW - timedelta(minutes=10))
    ctx = context(compute, make_version(status=Status.CAPTURING), creating, event_grid=event_grid, event_lag=lag)
    assert step_capture(ctx).wait == wait


def replicating() -> ImageVersion:
    return make_version(status=Status.REPLICATING, target_stage=Stage.TEST, gallery_version_id=GALLERY_VERSION)


@pytest.mark.parametrize(
    ("lag", "wait"),
    [
        (0.0, timedelta(minutes=8, seconds=35)),
        (None, timedelta(minutes=2, seconds=35)),  # a run's delay not measured yet: looks go on
        (60.0, timedelta(seconds=600 * 19 / 81)),  # late: the soonest end 80 % allows
    ],
)
def test_replication_waits_honour_the_measured_event_lag(lag: float | None, wait: timedelta) -> None:
    """With Event Grid: the safety net while events come at once, the predicted end once they come late."""
    compute = ImageCompute(versions={"1.0.0": in_progress(80)})
    started = PendingOperation(kind="replication", resource_id=GALLERY_VERSION, started_at=NOW - timedelta(minutes=10))
    ctx = context(compute, replicating(), started, event_grid=True, event_lag=lag)
    assert step_replicate(ctx).wait == wait


def test_a_retried_region_is_followed_on_the_gallery_version_and_audited() -> None:
    """A Failed region: the retry waits on the gallery version, and the audit says which region and which retry."""
    failed = replace(replicated("1.0.0"), regions=(RegionReplication("westeurope", "Failed", 10, "disk error"),))
    outcome = step_replicate(context(ImageCompute(versions={"1.0.0": failed}), replicating()))
    assert outcome.pending == PendingOperation(kind="replication", resource_id=GALLERY_VERSION, started_at=NOW)
    assert [(a.kind, a.detail) for a in outcome.audit] == [
        ("replication-retried", "replication to westeurope failed; re-applied its target region (retry 1)")
    ]


def test_a_version_ready_in_two_regions_names_both() -> None:
    """The ready audit lists every test region, separated by ', '."""
    test = OFFICE.stages.test.model_copy(update={"regions": ("westeurope", "northeurope")})
    two = OFFICE.model_copy(update={"stages": OFFICE.stages.model_copy(update={"test": test})})
    done = replicated("1.0.0", ("westeurope", "northeurope"))
    outcome = step_replicate(context(ImageCompute(versions={"1.0.0": done}), replicating(), workload=two))
    [entry] = outcome.audit
    assert entry.detail == "Win11 | Office | v1.0 | 2026-11 replicated to westeurope, northeurope; ready in test"
