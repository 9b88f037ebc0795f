"""What the rebuild and prepare schedulers start on a tick, pinned as whole StartBuild commands.

The sample catalog: `data-analyst` rebuilds on a new marketplace base image, `office` on Patch
Tuesday + 7 days (December 2026: the 8th, so its window opens on the 15th).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest

import shared
from shared.domain import naming
from shared.domain.catalog import BaseImage, Catalog, Schedule, ScheduleKind, Workload, load_catalog
from shared.domain.commands import StartBuild
from shared.domain.compute import OperationState, VmState
from shared.domain.model import BuildReason, Run, RunState
from shared.domain.records import Changes
from shared.steps.deps import Deps
from shared.steps.prepare import due_prepares
from shared.steps.schedule import due_builds
from tests.conftest import make_version
from tests.unit.fakes import FakeCompute, make_deps

# The catalog beside the `shared` package: found the same way in mutmut's copy of the tree.
CATALOG = load_catalog(Path(shared.__file__).resolve().parents[1] / "catalog")
IN_WINDOW = datetime(2026, 12, 16, 6, tzinfo=UTC)  # office's December window is open
RELEASED = datetime(2026, 12, 8, 19, tzinfo=UTC)  # an hour after December's updates came out
BASE = "MicrosoftWindowsDesktop:windows-11:win11-25h2-avd"


@dataclass
class MarketCompute(FakeCompute):
    """Records every argument of the marketplace lookup."""

    def latest_marketplace_version(self, location: str, publisher: str, offer: str, sku: str) -> str:
        self.calls.append(("latest_marketplace_version", (location, publisher, offer, sku)))
        return self.marketplace_version


def start(workload: str, run_id: str, reason: BuildReason, window: str = "", prepare: bool = False) -> StartBuild:
    return StartBuild(
        workload=workload,
        run_id=run_id,
        reason=reason,
        requested_by="scheduler",
        prepare_only=prepare,
        window=window,
    )


def with_schedule(workload: Workload, kind: ScheduleKind, **changes: object) -> Workload:
    return workload.model_copy(update={"schedule": Schedule(kind=kind), **changes})


def commit_run(deps: Deps, workload: str, run_id: str, state: RunState, started_at: datetime) -> None:
    run = Run(
        workload=workload, run_id=run_id, reason=BuildReason.PATCH, requested_by="s", started_at=started_at, state=state
    )
    deps.records.commit(Changes(workload=workload, run=run))


def test_first_builds_name_the_window_of_a_patch_workload() -> None:
    """A workload without versions builds 'first-build'; a patch workload's first build fills its window."""
    deps = make_deps(CATALOG)
    assert due_builds(deps, IN_WINDOW) == [
        start("data-analyst", "first-build", BuildReason.FIRST),
        start("office", "first-build", BuildReason.FIRST, window="patch-2026-12"),
    ]


def test_a_manual_workload_is_never_scheduled() -> None:
    """Manual workloads build only when an admin asks, even without any version."""
    office = with_schedule(CATALOG.get("office"), ScheduleKind.MANUAL)
    deps = make_deps(Catalog(workloads=(office,)))
    assert due_builds(deps, IN_WINDOW) == []
    assert due_prepares(deps, RELEASED) == []


def office_built(compute: FakeCompute | None = None) -> Deps:
    deps = make_deps(CATALOG, compute=compute)
    deps.records.commit(Changes(workload="office", versions=[make_version("1.0.0")]))
    return deps


def office_builds(deps: Deps, now: datetime = IN_WINDOW) -> list[StartBuild]:
    return [b for b in due_builds(deps, now) if b.workload == "office"]


def test_a_patch_workload_builds_its_open_window() -> None:
    """With versions, a patch workload builds the open window as a patch rebuild."""
    assert office_builds(office_built()) == [start("office", "patch-2026-12", BuildReason.PATCH, "patch-2026-12")]


def test_the_row_that_filled_the_window_decides_not_a_run_record() -> None:
    """A window the workload's row already names gets no build, even when no run record of it is left."""
    deps = office_built()
    filled = deps.records.get_pointers("office").evolve(window="patch-2026-12")
    deps.records.commit(Changes(workload="office", pointers=filled))
    assert office_builds(deps) == []


def test_an_existing_run_of_the_window_is_not_started_again() -> None:
    """A run record with the window's id (started by hand, say) stops a second start."""
    deps = office_built()
    commit_run(deps, "office", "patch-2026-12", RunState.FAILED, IN_WINDOW)
    assert office_builds(deps) == []


@pytest.mark.parametrize(("state", "builds"), [(RunState.FAILED, ["patch-2026-12"]), (RunState.RUNNING, [])])
def test_only_a_running_active_run_blocks_the_rebuild(state: RunState, builds: list[str]) -> None:
    """A row naming a running run waits for it; one naming a failed run blocks nothing."""
    deps = office_built()
    commit_run(deps, "office", "manual-1", state, IN_WINDOW)
    pointers = deps.records.get_pointers("office").evolve(active_run="manual-1")
    deps.records.commit(Changes(workload="office", pointers=pointers))
    assert [b.run_id for b in office_builds(deps)] == builds


def analyst_built(latest: str, *sources: str) -> tuple[Deps, MarketCompute]:
    compute = MarketCompute(marketplace_version=latest)
    deps = make_deps(CATALOG, compute=compute)
    versions = [make_version(v, workload="data-analyst", source_image=f"{BASE}:{s}") for v, s in sources]
    deps.records.commit(Changes(workload="data-analyst", versions=versions))
    return deps, compute


def analyst_builds(deps: Deps) -> list[StartBuild]:
    return [b for b in due_builds(deps, IN_WINDOW) if b.workload == "data-analyst"]


def test_a_new_base_image_is_looked_up_for_the_workloads_image_and_region() -> None:
    """The marketplace is asked for the workload's own location, publisher, offer and SKU."""
    deps, compute = analyst_built("26200.7462.251209", ("1.0.0", "26200.7171.251107"))
    assert analyst_builds(deps) == [start("data-analyst", "base-26200-7462-251209", BuildReason.PATCH)]
    assert ("latest_marketplace_version", ("westeurope", *BASE.split(":"))) in compute.calls


def test_the_newest_version_by_number_decides_whether_the_base_is_new() -> None:
    """1.0.10 is newer than 1.0.9: its base decides (here it is already the latest, so nothing starts)."""
    deps, _ = analyst_built("2.0", ("1.0.9", "1.0"), ("1.0.10", "2.0"), ("1.0.2", "1.0"))
    assert analyst_builds(deps) == []


def test_a_long_base_version_is_cut_to_a_run_id_without_a_trailing_dash() -> None:
    """The run id keeps 32 characters of 'base-<version>' and drops a dash left at the cut."""
    deps, _ = analyst_built("1234567890.1234567890.1234.5", ("1.0.0", "1.0"))
    assert [b.run_id for b in analyst_builds(deps)] == ["base-1234567890-1234567890-1234"]


def test_a_base_image_run_already_recorded_is_not_started_again() -> None:
    """The run id names the base version: its run record stops a second start."""
    deps, _ = analyst_built("2.0", ("1.0.0", "1.0"))
    commit_run(deps, "data-analyst", "base-2-0", RunState.FAILED, IN_WINDOW)
    assert analyst_builds(deps) == []


def test_a_source_vm_workload_has_no_base_image_to_follow() -> None:
    """A new-base-image workload built from an admin's source VM has no marketplace version to watch."""
    vm = "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/v"
    analyst = CATALOG.get("data-analyst")
    analyst = analyst.model_copy(update={"base_image": BaseImage(source_vm=vm)})
    deps = make_deps(Catalog(workloads=(analyst,)))
    deps.records.commit(Changes(workload="data-analyst", versions=[make_version("1.0.0", workload="data-analyst")]))
    assert due_builds(deps, IN_WINDOW) == []


# prepare ----------------------------------------------------------------------------------------


def source_vms() -> FakeCompute:
    """Both workloads have their source VM (they were built before)."""
    vms = {}
    for name in CATALOG.names:
        vm = naming.source_vm_name(name)
        vms[vm] = VmState(
            id=f"/x/{vm}",
            name=vm,
            provisioning=OperationState.SUCCEEDED,
            power="running",
            generalized=False,
            os_disk_id="disk",
            nic_ids=(),
            image_reference=f"{BASE}:1.0",
        )
    return FakeCompute(vms=vms)


def test_prepares_start_for_every_workload_but_the_busy_ones() -> None:
    """Each scheduled workload's source VM takes the month's updates, unless this tick starts its rebuild."""
    deps = make_deps(CATALOG, compute=source_vms())
    december = [start(w, "prepare-2026-12", BuildReason.PATCH, "prepare-2026-12", prepare=True) for w in CATALOG.names]
    assert due_prepares(deps, RELEASED) == december
    assert due_prepares(deps, RELEASED, busy=("data-analyst",)) == december[1:]
    assert due_prepares(deps, RELEASED, busy=("office",)) == december[:1]


def test_the_row_that_started_the_months_prepare_decides_not_a_run_record() -> None:
    """A month the row marks as prepared gets no second prepare, even when its run record is gone."""
    deps = make_deps(CATALOG, compute=source_vms())
    pointers = deps.records.get_pointers("office").evolve(prepared="prepare-2026-12")
    deps.records.commit(Changes(workload="office", pointers=pointers))
    assert [c.workload for c in due_prepares(deps, RELEASED)] == ["data-analyst"]


@pytest.mark.parametrize(("state", "due"), [(RunState.FAILED, True), (RunState.RUNNING, False)])
def test_only_a_running_active_run_holds_the_prepare_back(state: RunState, due: bool) -> None:
    """The source VM is busy only while the run the row names is really running."""
    deps = make_deps(CATALOG, compute=source_vms())
    commit_run(deps, "office", "manual-1", state, datetime(2026, 12, 1, tzinfo=UTC))
    pointers = deps.records.get_pointers("office").evolve(active_run="manual-1")
    deps.records.commit(Changes(workload="office", pointers=pointers))
    assert ("office" in [c.workload for c in due_prepares(deps, RELEASED)]) is due
