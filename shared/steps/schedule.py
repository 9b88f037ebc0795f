"""The rebuild scheduler: which workloads are due for a build now, at most one run per window."""

from __future__ import annotations

from datetime import datetime

from shared.domain.catalog import ScheduleKind, Workload
from shared.domain.commands import StartBuild
from shared.domain.model import BuildReason
from shared.domain.windows import patch_window
from shared.steps.deps import Deps
from shared.steps.runs import blocking_run

SCHEDULER = "scheduler"


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
        run_id = window[0]
        # The record decides, not a timestamp: the workload's row keeps the newest window filled - by a
        # scheduled start (moved with its sequence) or a build started by hand that delivered its
        # version (moved when it succeeded) - so an instance whose clock runs behind never starts an
        # older window again and a version stamped by a skewed clock decides nothing.
        if decided >= run_id:
            return None  # this window (or a later one) already has its build
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
