"""The rebuild scheduler: which workloads are due for a build now, at most one run per window."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

from shared.domain.catalog import ScheduleKind, Workload
from shared.domain.commands import StartBuild
from shared.domain.model import BuildReason
from shared.steps.deps import Deps
from shared.steps.runs import blocking_run

SCHEDULER = "scheduler"


def patch_tuesday(year: int, month: int) -> date:
    """Microsoft's monthly security release: the second Tuesday of the month."""
    first = date(year, month, 1)
    first_tuesday = first + timedelta(days=(1 - first.weekday()) % 7)
    return first_tuesday + timedelta(days=7)


def patch_window(now: datetime, offset_days: int) -> tuple[str, datetime]:
    """The current window: (run id, start) of the latest Patch Tuesday + offset not after now."""
    year, month = now.year, now.month
    for _ in range(2):
        start = datetime.combine(patch_tuesday(year, month) + timedelta(days=offset_days), time(0), tzinfo=UTC)
        if start <= now:
            return f"patch-{year}-{month:02d}", start
        year, month = (year, month - 1) if month > 1 else (year - 1, 12)
    raise AssertionError("unreachable: last month's window always starts before now")


def due_builds(deps: Deps, now: datetime) -> list[StartBuild]:
    """Builds to start now; the run id names the window, so a repeated tick starts nothing new."""
    due: list[StartBuild] = []
    for workload in deps.catalog.workloads:
        command = _due(workload, deps, now)
        if command is not None:
            due.append(command)
    return due


def _due(workload: Workload, deps: Deps, now: datetime) -> StartBuild | None:
    if workload.schedule.kind is ScheduleKind.MANUAL:
        return None
    loaded = deps.records.load(workload.name)
    active = loaded.pointers.active_run
    if active is not None and blocking_run(deps, workload.name, active):
        return None  # one run per workload at a time; the next tick looks again
    versions = deps.records.list_versions(workload.name)
    patch = workload.schedule.kind is ScheduleKind.PATCH_TUESDAY
    window = patch_window(now, workload.schedule.offset_days) if patch else None
    decided = loaded.pointers.window
    if not versions:
        run_id, reason = "first-build", BuildReason.FIRST
    elif window is not None:
        run_id, start = window
        # The record decides, not a timestamp: the window of the newest scheduled run start is kept
        # on the workload's row (moved with its sequence), so an instance whose clock runs behind
        # never starts an older window again and one that ran ahead cannot mark a window built.
        if decided and decided >= run_id:
            return None  # this window (or a later one) already has its run
        # A workload never scheduled before (runs started by hand only): its builds in the window count.
        if not decided and any(start <= v.created_at <= now for v in versions):
            return None
        reason = BuildReason.PATCH
    else:
        market = workload.base_image.marketplace
        if market is None:
            return None
        latest = deps.compute.latest_marketplace_version(workload.location, market.publisher, market.offer, market.sku)
        newest = max(versions, key=lambda v: v.version)
        if newest.source_image.endswith(f":{latest}"):
            return None
        run_id, reason = f"base-{latest.replace('.', '-')}"[:32].rstrip("-"), BuildReason.PATCH
    if deps.records.find_run(workload.name, run_id) is not None:
        return None
    return StartBuild(
        workload=workload.name,
        run_id=run_id,
        reason=reason,
        requested_by=SCHEDULER,
        window=window[0] if window is not None else "",
    )
