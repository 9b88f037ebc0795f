"""The prepare scheduler: each workload's source VM takes the month's updates when they come out.

Microsoft patches a marketplace image before it publishes it; this keeps the source VM current
the same way. When the month's updates are released (Patch Tuesday, plus the workload's
`schedule.prepare_offset_days`), the scheduler starts a prepare-only run: the customizations
(Windows Update first) run on the source VM, no image is captured. The rebuild in the
workload's window then finds nothing new to install, and an update that fails does so days
before the window, on the source VM, where an admin can look at it.

Decided from the workload's record, like the rebuilds (shared/steps/schedule.py): the month's
marker (`pointers.prepared`, e.g. `prepare-2026-12`) moves with the run's start, so a repeated
tick or an instance whose clock runs behind never starts the same month's prepare twice.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import UTC, datetime, time, timedelta

from shared.domain import naming
from shared.domain.catalog import ScheduleKind, Workload
from shared.domain.commands import StartBuild
from shared.domain.model import BuildReason, RunState
from shared.domain.windows import latest_opening, patch_tuesday
from shared.steps.deps import Deps
from shared.steps.runs import blocking_run
from shared.steps.schedule import SCHEDULER

# Windows Update offers Patch Tuesday's updates from 10:00 Pacific Time (Microsoft, "Windows 10
# update servicing cadence", Windows IT Pro blog, 2018: the "B" release): 17:00 UTC under daylight
# saving time, 18:00 UTC in winter. The later hour holds all year.
RELEASE_HOUR_UTC = 18


def prepare_opening(year: int, month: int, offset_days: int) -> datetime:
    """When the month's prepare may start: the release on Patch Tuesday, plus the workload's offset."""
    day = patch_tuesday(year, month) + timedelta(days=offset_days)
    return datetime.combine(day, time(RELEASE_HOUR_UTC), tzinfo=UTC)


def prepare_month(now: datetime, offset_days: int) -> tuple[str, datetime]:
    """(run id, opening) of the newest month whose prepare opened at or before `now`."""
    year, month, opening = latest_opening(now, lambda y, m: prepare_opening(y, m, offset_days))
    return f"prepare-{year}-{month:02d}", opening


def due_prepares(deps: Deps, now: datetime, busy: Collection[str] = ()) -> list[StartBuild]:
    """Prepare runs to start now; `busy` names workloads this tick starts a rebuild for (it goes first)."""
    due: list[StartBuild] = []
    for workload in deps.catalog.workloads:
        if workload.name in busy:
            continue  # one run per workload at a time: the next tick looks again
        command = _due_prepare(workload, deps, now)
        if command is not None:
            due.append(command)
    return due


def _due_prepare(workload: Workload, deps: Deps, now: datetime) -> StartBuild | None:
    if workload.schedule.kind is ScheduleKind.MANUAL:
        return None  # its admins decide when the source VM changes
    run_id, opening = prepare_month(now, workload.schedule.prepare_offset_days)
    pointers = deps.records.load(workload.name).pointers
    if pointers.prepared >= run_id:
        return None  # this month's prepare (or a later one) already started
    active = pointers.active_run
    if active is not None and blocking_run(deps, workload.name, active):
        return None  # a rebuild (or an admin's run) is on the source VM; the next tick looks again
    runs = deps.records.list_runs(workload.name)
    if any(r.run_id == run_id for r in runs):
        return None
    if any(r.state is RunState.SUCCEEDED and r.started_at >= opening for r in runs):
        return None  # a run since the release (a first build, an admin's) already took the month's updates
    if deps.compute.get_vm(naming.source_vm_name(workload.name)) is None:
        return None  # no source VM yet: its first build creates it from the current image
    return StartBuild(
        workload=workload.name,
        run_id=run_id,
        reason=BuildReason.PATCH,
        requested_by=SCHEDULER,
        prepare_only=True,
        window=run_id,
    )
