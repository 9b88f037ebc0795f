"""The prepare scheduler: the source VM takes the month's updates at their release, once (issue 16).

On fakes and a virtual clock: `office` rebuilds on Patch Tuesday + 7 days; December 2026's
updates come out on Tuesday the 8th (10:00 Pacific Time, 18:00 UTC in winter).
"""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from shared.domain import naming
from shared.domain.catalog import Catalog, Schedule, ScheduleKind, load_catalog, parse_workload
from shared.domain.commands import StartBuild
from shared.domain.compute import OperationState, VmState
from shared.domain.model import BuildReason, Run, RunState
from shared.domain.records import Changes
from shared.messagebus import MessageBus
from shared.steps.deps import Deps
from shared.steps.prepare import due_prepares, prepare_month
from shared.steps.schedule import SCHEDULER
from tests.conftest import make_version
from tests.unit.fakes import FakeClock, FakeCompute, make_deps

ROOT = Path(__file__).resolve().parents[2]
CATALOG = load_catalog(ROOT / "catalog")
WORKLOAD = "office"
RELEASED = datetime(2026, 12, 8, 18, 0, tzinfo=UTC)


def source_vm(workload: str = WORKLOAD) -> VmState:
    name = naming.source_vm_name(workload)
    return VmState(
        id=f"/subscriptions/s/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/{name}",
        name=name,
        provisioning=OperationState.SUCCEEDED,
        power="running",
        generalized=False,
        os_disk_id="disk",
        nic_ids=(),
        image_reference="MicrosoftWindowsDesktop:windows-11:win11-24h2-avd:26100.7171.251107",
    )


def built_estate(now: datetime, catalog: Catalog = CATALOG) -> tuple[Deps, FakeClock, FakeCompute]:
    """`office` built once on November 17 (its source VM exists); the clock at `now`."""
    clock = FakeClock(now)
    compute = FakeCompute(vms={naming.source_vm_name(WORKLOAD): source_vm()})
    deps = make_deps(catalog, compute=compute, clock=clock)
    built_at = datetime(2026, 11, 17, 6, tzinfo=UTC)
    run = Run(
        workload=WORKLOAD,
        run_id="patch-2026-11",
        reason=BuildReason.PATCH,
        requested_by=SCHEDULER,
        started_at=built_at,
        state=RunState.SUCCEEDED,
    )
    version = make_version("1.0.0", created_at=built_at)
    deps.records.commit(Changes(workload=WORKLOAD, run=run, versions=[version]))
    return deps, clock, compute


def office_prepares(deps: Deps) -> list[StartBuild]:
    return [c for c in due_prepares(deps, deps.clock.now()) if c.workload == WORKLOAD]


def finish(deps: Deps, run_id: str) -> None:
    """The run succeeds and frees the workload."""
    run = deps.records.find_run(WORKLOAD, run_id)
    assert run is not None
    pointers = deps.records.get_pointers(WORKLOAD).evolve(active_run=None)
    deps.records.commit(Changes(workload=WORKLOAD, run=run.evolve(state=RunState.SUCCEEDED), pointers=pointers))


def test_the_prepare_month_opens_at_the_release_plus_the_offset() -> None:
    """Before 18:00 UTC on Patch Tuesday (plus the offset) the newest month is the previous one."""
    assert prepare_month(RELEASED - timedelta(minutes=1), 0)[0] == "prepare-2026-11"
    assert prepare_month(RELEASED, 0) == ("prepare-2026-12", RELEASED)
    assert prepare_month(RELEASED + timedelta(days=1), 2)[0] == "prepare-2026-11"
    assert prepare_month(RELEASED + timedelta(days=2), 2) == ("prepare-2026-12", RELEASED + timedelta(days=2))
    assert prepare_month(datetime(2027, 1, 3, tzinfo=UTC), 0)[0] == "prepare-2026-12"


def test_a_prepare_is_due_when_the_months_updates_are_released() -> None:
    """At the release the source VM's prepare-only run is due: scheduler's, no image, its own window."""
    deps, clock, _ = built_estate(RELEASED - timedelta(hours=1))
    assert office_prepares(deps) == []  # November's updates: the November build took them
    clock.current = RELEASED
    assert office_prepares(deps) == [
        StartBuild(
            workload=WORKLOAD,
            run_id="prepare-2026-12",
            reason=BuildReason.PATCH,
            requested_by=SCHEDULER,
            prepare_only=True,
            window="prepare-2026-12",
        )
    ]


def test_a_months_prepare_starts_once_however_often_the_timer_fires() -> None:
    """Hourly ticks for a month start December's prepare once, then January's at its release."""
    deps, clock, _ = built_estate(RELEASED)
    started: list[str] = []
    while clock.now() < datetime(2027, 1, 13, tzinfo=UTC):
        for command in office_prepares(deps):
            MessageBus(deps).handle(command)
            started.append(command.run_id)
            finish(deps, command.run_id)
        clock.advance(timedelta(hours=1))
    assert started == ["prepare-2026-12", "prepare-2027-01"]
    pointers = deps.records.get_pointers(WORKLOAD)
    assert (pointers.prepared, pointers.window, pointers.sequence) == ("prepare-2027-01", "", 2)


def test_an_instance_behind_never_starts_the_months_prepare_again() -> None:
    """Once December's prepare started, a clock 25 h behind (still November's month) starts nothing."""
    deps, clock, _ = built_estate(RELEASED + timedelta(hours=12))
    (command,) = office_prepares(deps)
    MessageBus(deps).handle(command)
    finish(deps, command.run_id)
    behind = dataclasses.replace(deps, clock=FakeClock(clock.now() - timedelta(hours=25)))
    assert prepare_month(behind.clock.now(), 0)[0] == "prepare-2026-11"
    assert [c for c in due_prepares(behind, behind.clock.now()) if c.workload == WORKLOAD] == []
    assert office_prepares(deps) == []


def test_no_prepare_while_a_run_is_active_and_it_never_blocks_a_rebuild() -> None:
    """A running rebuild defers the prepare; a running prepare makes the rebuild wait, not fail."""
    deps, clock, _ = built_estate(RELEASED)
    admin = StartBuild(workload=WORKLOAD, run_id="manual-7", reason=BuildReason.PATCH, requested_by="admin@x.com")
    MessageBus(deps).handle(admin)
    assert office_prepares(deps) == []
    finish(deps, "manual-7")
    clock.advance(timedelta(hours=1))
    assert office_prepares(deps) == []  # manual-7 started after the release: it took the updates


def test_a_due_rebuild_goes_first_in_the_same_tick() -> None:
    """The workloads a tick starts a rebuild for get no prepare in that tick."""
    deps, _, _ = built_estate(RELEASED)
    assert [c.workload for c in due_prepares(deps, RELEASED)] == [WORKLOAD]
    assert due_prepares(deps, RELEASED, busy={WORKLOAD}) == []


def test_a_run_since_the_release_makes_the_months_prepare_moot() -> None:
    """A build that started after the release (succeeded) took the month's updates already."""
    deps, _, _ = built_estate(RELEASED + timedelta(days=1))
    run = Run(
        workload=WORKLOAD,
        run_id="manual-8",
        reason=BuildReason.PATCH,
        requested_by="admin@x.com",
        started_at=RELEASED + timedelta(hours=2),
        state=RunState.SUCCEEDED,
    )
    deps.records.commit(Changes(workload=WORKLOAD, run=run))
    assert office_prepares(deps) == []
    stored = deps.records.find_run(WORKLOAD, "manual-8")
    assert stored is not None
    deps.records.commit(Changes(workload=WORKLOAD, run=stored.evolve(state=RunState.FAILED)))
    assert [c.run_id for c in office_prepares(deps)] == ["prepare-2026-12"]  # a failed run proves nothing


def test_no_prepare_for_manual_workloads() -> None:
    """A manual workload's admins decide when its source VM changes: the scheduler leaves it alone."""
    manual = Catalog(
        workloads=tuple(
            w.model_copy(update={"schedule": Schedule(kind=ScheduleKind.MANUAL)}) if w.name == WORKLOAD else w
            for w in CATALOG.workloads
        )
    )
    deps, _, compute = built_estate(RELEASED, manual)
    assert office_prepares(deps) == []
    assert ("get_vm", naming.source_vm_name(WORKLOAD)) not in compute.calls


def test_no_prepare_without_a_source_vm() -> None:
    """A workload whose source VM does not exist gets no prepare (its next build creates the VM)."""
    deps, _, compute = built_estate(RELEASED)
    compute.vms.clear()
    assert office_prepares(deps) == []
    assert ("get_vm", naming.source_vm_name(WORKLOAD)) in compute.calls  # Azure asked, the records cannot tell


def test_the_scheduled_prepare_moves_only_its_own_marker() -> None:
    """Starting the prepare records `prepared`; the rebuild's window marker is left as it was."""
    deps, _, _ = built_estate(RELEASED)
    before = deps.records.get_pointers(WORKLOAD)
    (command,) = office_prepares(deps)
    MessageBus(deps).handle(command)
    after = deps.records.get_pointers(WORKLOAD)
    assert (after.prepared, after.window, after.active_run) == ("prepare-2026-12", before.window, "prepare-2026-12")
    run = deps.records.find_run(WORKLOAD, "prepare-2026-12")
    assert run is not None
    assert run.prepare_only


@pytest.mark.parametrize(("offset", "prepare", "ok"), [(7, 0, True), (7, 6, True), (7, 7, False), (0, 0, True)])
def test_a_prepare_after_the_rebuild_window_is_refused(offset: int, prepare: int, ok: bool) -> None:
    """prepare_offset_days must come before the Patch Tuesday window it shortens; the error says so."""
    text = (ROOT / "catalog" / "office.toml").read_text(encoding="utf-8")
    text = text.replace("offset_days = 7", f"offset_days = {offset}\nprepare_offset_days = {prepare}")
    workload, issues = parse_workload(text, "office.toml")
    if ok:
        assert workload is not None, issues
        assert workload.schedule.prepare_offset_days == prepare
        return
    assert workload is None
    assert any("prepare_offset_days (7) must be less than offset_days (7)" in str(i) for i in issues), issues
