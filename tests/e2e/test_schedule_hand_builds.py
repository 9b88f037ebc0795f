"""Builds started by hand fill their patch window on the workload's row, not by their versions' stamps (issue 13).

The scheduler decides a window from the record: a hand build that delivered its version moves the
row's window when it succeeds, so a scheduler whose clock runs a day behind does not start the
previous window's build, and a hand run that built no image leaves the window to the scheduler.
"""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

from localrun.runtime import LocalRuntime
from localrun.scenario import build
from shared.domain.catalog import Catalog
from shared.domain.model import BuildReason, RunState
from shared.domain.records import Changes
from shared.steps.schedule import due_builds
from simulator import Simulator

WORKLOAD = "office"  # Patch Tuesday + 7 days: December 2026's window opens on the 15th at 00:00
WINDOW_OPEN = datetime(2026, 12, 15, 6, tzinfo=UTC)


@dataclasses.dataclass
class ClockBehind:
    """A scheduler instance whose clock runs behind the real one."""

    runtime: LocalRuntime
    lag: timedelta

    def now(self) -> datetime:
        return self.runtime.sim.clock.now() - self.lag


def _runtime(catalog: Catalog) -> LocalRuntime:
    from shared.config import Settings

    return LocalRuntime(catalog, simulator=Simulator(subscription_id=Settings().subscription_id, start=WINDOW_OPEN))


def _due_for(runtime: LocalRuntime, lag: timedelta = timedelta(0)) -> list[str]:
    deps = dataclasses.replace(runtime.deps, clock=ClockBehind(runtime, lag))
    return [b.run_id for b in due_builds(deps, deps.clock.now()) if b.workload == WORKLOAD]


def test_a_hand_build_fills_its_window_for_a_scheduler_a_day_behind(catalog: Catalog) -> None:
    """Built by hand in December's window: neither a scheduler on time nor one 25 h behind starts a build."""
    runtime = _runtime(catalog)
    build(runtime, WORKLOAD, "manual-1", BuildReason.FIRST)
    run = runtime.records.find_run(WORKLOAD, "manual-1")
    assert run is not None
    assert (run.state, run.window) == (RunState.SUCCEEDED, "patch-2026-12")
    assert runtime.records.get_pointers(WORKLOAD).window == "patch-2026-12"
    assert _due_for(runtime) == []
    assert _due_for(runtime, timedelta(hours=25)) == []  # its clock shows November's window


def test_a_prepare_only_hand_run_leaves_the_window_to_the_scheduler(catalog: Catalog) -> None:
    """A hand run that built no image (prepare only) fills no window: the scheduler still builds December's."""
    runtime = _runtime(catalog)
    build(runtime, WORKLOAD, "manual-1", BuildReason.FIRST)
    window = runtime.records.get_pointers(WORKLOAD).evolve(window="patch-2026-11")
    runtime.records.commit(Changes(workload=WORKLOAD, pointers=window))  # as if built in November
    build(runtime, WORKLOAD, "prepare-1", BuildReason.PATCH, prepare_only=True)
    prepared = runtime.records.find_run(WORKLOAD, "prepare-1")
    assert prepared is not None
    assert (prepared.state, prepared.window) == (RunState.SUCCEEDED, "")
    assert runtime.records.get_pointers(WORKLOAD).window == "patch-2026-11"
    assert _due_for(runtime) == ["patch-2026-12"]
