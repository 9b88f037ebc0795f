"""The rebuild scheduler's windows and the temp-resource sweeper, on fakes."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from shared.domain.catalog import load_catalog
from shared.domain.compute import EXPIRES_TAG, RUN_TAG, WORKLOAD_TAG, TaggedResource
from shared.domain.model import BuildReason, Run, RunState
from shared.domain.records import Changes
from shared.domain.windows import patch_tuesday, patch_window
from shared.steps.schedule import due_builds
from shared.steps.sweep import sweep
from tests.conftest import make_version
from tests.unit.fakes import FakeClock, FakeCompute, make_deps

CATALOG = load_catalog(Path(__file__).resolve().parents[2] / "catalog")


@pytest.mark.parametrize(
    ("year", "month", "expected"),
    [
        (2026, 11, date(2026, 11, 10)),
        (2026, 12, date(2026, 12, 8)),
        (2027, 1, date(2027, 1, 12)),
        (2027, 9, date(2027, 9, 14)),
    ],
)
def test_patch_tuesday_is_the_second_tuesday(year: int, month: int, expected: date) -> None:
    """Microsoft's release day: the second Tuesday of each month."""
    assert patch_tuesday(year, month) == expected


def test_patch_window_rolls_back_a_month_before_the_offset() -> None:
    """Before this month's Patch Tuesday + offset, the current window is last month's."""
    assert patch_window(datetime(2026, 12, 15, 6, tzinfo=UTC), 7) == (
        "patch-2026-12",
        datetime(2026, 12, 15, tzinfo=UTC),
    )
    assert patch_window(datetime(2026, 12, 14, 23, tzinfo=UTC), 7)[0] == "patch-2026-11"
    assert patch_window(datetime(2027, 1, 3, tzinfo=UTC), 7)[0] == "patch-2026-12"


def test_first_builds_then_one_run_per_window() -> None:
    """New workloads build at once; a patch workload builds once per window (its row says which), however often the timer fires."""
    clock = FakeClock(datetime(2026, 12, 16, 6, tzinfo=UTC))
    deps = make_deps(CATALOG, clock=clock)
    assert [(b.workload, b.run_id, b.reason) for b in due_builds(deps, clock.now())] == [
        ("data-analyst", "first-build", BuildReason.FIRST),
        ("office", "first-build", BuildReason.FIRST),
    ]
    deps.records.commit(
        Changes(workload="office", versions=[make_version("1.0.0", created_at=datetime(2026, 12, 1, tzinfo=UTC))])
    )
    office = [b for b in due_builds(deps, clock.now()) if b.workload == "office"]
    assert [(b.run_id, b.reason) for b in office] == [("patch-2026-12", BuildReason.PATCH)]
    deps.records.commit(Changes(workload="office", versions=[make_version("1.0.1", created_at=clock.now())]))
    # A version's own stamp decides nothing (a skewed clock may have written it); the workload's row does.
    assert [b.run_id for b in due_builds(deps, clock.now()) if b.workload == "office"] == ["patch-2026-12"]
    filled = deps.records.get_pointers("office").evolve(window="patch-2026-12")
    deps.records.commit(Changes(workload="office", pointers=filled))
    assert [b for b in due_builds(deps, clock.now()) if b.workload == "office"] == []


def test_new_base_image_schedule_follows_the_marketplace() -> None:
    """A new-base-image workload rebuilds when the marketplace has a newer version than its newest build."""
    compute = FakeCompute(marketplace_version="26200.7462.251209")
    deps = make_deps(CATALOG, compute=compute)
    built = make_version(
        "1.0.0",
        workload="data-analyst",
        source_image="MicrosoftWindowsDesktop:windows-11:win11-25h2-avd:26200.7171.251107",
    )
    deps.records.commit(Changes(workload="data-analyst", versions=[built]))
    due = [b for b in due_builds(deps, deps.clock.now()) if b.workload == "data-analyst"]
    assert [(b.run_id, b.reason) for b in due] == [("base-26200-7462-251209", BuildReason.PATCH)]
    compute.marketplace_version = "26200.7171.251107"
    assert [b for b in due_builds(deps, deps.clock.now()) if b.workload == "data-analyst"] == []


def test_no_new_run_while_one_is_active() -> None:
    """One run per workload at a time: the scheduler waits for the active run."""
    deps = make_deps(CATALOG)
    pointers = deps.records.get_pointers("office").evolve(active_run="first-build")
    run = Run(
        workload="office", run_id="first-build", reason=BuildReason.FIRST, requested_by="s", started_at=deps.clock.now()
    )
    deps.records.commit(Changes(workload="office", pointers=pointers, run=run))
    assert "office" not in [b.workload for b in due_builds(deps, deps.clock.now())]


def test_a_failed_run_never_blocks_the_next() -> None:
    """A run that ended (or has no record) but is still named active does not stop the scheduler."""
    deps = make_deps(CATALOG)
    pointers = deps.records.get_pointers("office").evolve(active_run="manual-1")
    run = Run(
        workload="office",
        run_id="manual-1",
        reason=BuildReason.FIRST,
        requested_by="s",
        started_at=deps.clock.now(),
        state=RunState.FAILED,
    )
    deps.records.commit(Changes(workload="office", pointers=pointers, run=run))
    assert "office" in [b.workload for b in due_builds(deps, deps.clock.now())]


def tagged(name: str, owner: str, expires: datetime, workload: str = "office") -> TaggedResource:
    tags = {RUN_TAG: owner, WORKLOAD_TAG: workload, EXPIRES_TAG: expires.isoformat()}
    return TaggedResource(
        f"/subscriptions/s/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/{name}",
        "Microsoft.Compute/virtualMachines",
        name,
        tags,
    )


def test_sweeper_removes_only_abandoned_resources() -> None:
    """Orphaned or finished-run resources go; a running run's resources stay, even past their expiry tag."""
    clock = FakeClock()
    later = clock.now() + timedelta(hours=20)
    compute = FakeCompute(
        tagged=[
            tagged("office--live--vm", "live", later),
            tagged("office--done--vm", "done", later),
            tagged("office--old--vm", "live", clock.now() - timedelta(minutes=1)),
            tagged("office--ghost--vm", "ghost", later),
            tagged("other--x--vm", "x", later, workload="not-in-catalog"),
        ]
    )
    deps = make_deps(CATALOG, compute=compute, clock=clock)
    for run_id, state in (("live", RunState.RUNNING), ("done", RunState.FAILED)):
        run = Run(
            workload="office",
            run_id=run_id,
            reason=BuildReason.PATCH,
            requested_by="s",
            started_at=clock.now(),
            state=state,
        )
        deps.records.commit(Changes(workload="office", run=run))
    removed = sweep(deps, clock.now())
    assert sorted(r.split(":")[0] for r in removed) == [
        "office--done--vm",
        "office--ghost--vm",
        "other--x--vm",
    ]
    assert ("start_delete", compute.tagged[2].id) not in compute.calls  # expired, but its run is running
    assert any("run done failed" in r for r in removed)
    assert ("start_delete", compute.tagged[0].id) not in compute.calls
