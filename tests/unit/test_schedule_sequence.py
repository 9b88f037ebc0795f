"""The schedule is decided by the workload's record, not by one instance's clock (issue 13).

Two scheduler instances share the records; one clock runs 25 h ahead, the other 25 h behind.
Each hourly tick of either may start a run. The record's sequence and window decide: no window
gets two patch runs, and none is skipped because a build was stamped by the skewed clock.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from shared.domain.catalog import load_catalog
from shared.domain.commands import StartBuild
from shared.domain.model import BuildReason, RunState, VersionNumber
from shared.domain.records import Changes
from shared.messagebus import MessageBus
from shared.steps.deps import Deps
from shared.steps.schedule import due_builds
from tests.conftest import make_version
from tests.unit.fakes import FakeClock, make_deps

CATALOG = load_catalog(Path(__file__).resolve().parents[2] / "catalog")
WORKLOAD = "office"  # a Patch Tuesday + 7 days workload; December 2026's window opens on the 15th


@dataclass
class SkewedClock:
    """One instance's clock: the virtual time plus its own error."""

    real: FakeClock
    skew: timedelta

    def now(self) -> datetime:
        return self.real.now() + self.skew


class Estate:
    """Two instances over one record store; builds take two hours and are stamped by their instance."""

    def __init__(self, start: datetime) -> None:
        self.real = FakeClock(start)
        base = make_deps(CATALOG, clock=self.real)
        self.ahead = dataclasses.replace(base, clock=SkewedClock(self.real, timedelta(hours=25)))
        self.behind = dataclasses.replace(base, clock=SkewedClock(self.real, -timedelta(hours=25)))
        self.records = base.records
        self.building: dict[str, tuple[Deps, datetime]] = {}
        self.started: list[str] = []

    def start(self, deps: Deps, command: StartBuild) -> None:
        MessageBus(deps).handle(command)
        run = self.records.find_run(WORKLOAD, command.run_id)
        assert run is not None
        assert run.state is RunState.RUNNING
        self.started.append(command.run_id)
        self.building[command.run_id] = (deps, self.real.now() + timedelta(hours=2))

    def tick(self, deps: Deps) -> None:
        """One hourly timer on one instance: the scheduler's decisions, handled on that instance."""
        for command in due_builds(deps, deps.clock.now()):
            if command.workload == WORKLOAD:
                self.start(deps, command)

    def finish(self) -> None:
        """Runs whose two hours passed succeed; their version is stamped by their instance's clock."""
        for run_id, (deps, due) in list(self.building.items()):
            if self.real.now() < due:
                continue
            run = self.records.find_run(WORKLOAD, run_id)
            assert run is not None
            pointers = self.records.get_pointers(WORKLOAD)
            number = VersionNumber(major=1, minor=0, patch=len(self.records.list_versions(WORKLOAD)))
            built = make_version(str(number), workload=WORKLOAD, run_id=run_id, created_at=deps.clock.now())
            ended = run.evolve(state=RunState.SUCCEEDED)
            done = pointers.evolve(active_run=None)
            self.records.commit(Changes(workload=WORKLOAD, run=ended, versions=[built], pointers=done))
            del self.building[run_id]

    def hours(self, count: int) -> None:
        for _ in range(count):
            self.tick(self.ahead)
            self.tick(self.behind)
            self.real.advance(timedelta(hours=1))
            self.finish()


def test_two_skewed_schedulers_neither_double_start_nor_skip_a_patch_rebuild() -> None:
    """Clocks 50 h apart: one first build, one hand build, and exactly one run for December's window."""
    estate = Estate(datetime(2026, 12, 1, 6, tzinfo=UTC))
    estate.hours(3)
    assert estate.started == ["first-build"]  # the instance behind does not add November's window
    estate.real.current = datetime(2026, 12, 13, 22, tzinfo=UTC)  # ahead: Dec 14 23:00, before the window
    manual = StartBuild(workload=WORKLOAD, run_id="manual-1", reason=BuildReason.PATCH, requested_by="admin@x.com")
    estate.start(estate.ahead, manual)
    estate.hours(24 * 5)  # across the window's start on every instance's clock
    assert estate.started == ["first-build", "manual-1", "patch-2026-12"]
    pointers = estate.records.get_pointers(WORKLOAD)
    assert (pointers.sequence, pointers.window) == (3, "patch-2026-12")
    run = estate.records.find_run(WORKLOAD, "patch-2026-12")
    assert run is not None
    assert run.started_at == datetime(2026, 12, 14, 0, tzinfo=UTC) + timedelta(hours=25)  # on the ahead instance


def test_an_instance_behind_never_starts_an_older_window_again() -> None:
    """Once a window's run started, an instance whose clock still shows the previous window starts nothing."""
    estate = Estate(datetime(2026, 12, 15, 2, tzinfo=UTC))
    estate.hours(3)
    assert estate.started == ["first-build"]
    estate.hours(24 * 3)
    assert estate.started == ["first-build"]
    assert estate.records.get_pointers(WORKLOAD).window == "patch-2026-12"
