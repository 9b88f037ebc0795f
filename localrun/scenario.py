"""The lifecycle scenario shared by the end-to-end tests, the demo and the benchmarks.

Here, beside the local runtime it drives, rather than under tests/: the benchmarks run it
too, and product and benchmark code import nothing from tests/.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from localrun.issuer import APPROVERS as PEOPLE_BY_WORKLOAD
from localrun.runtime import LocalRuntime
from shared.adapters.memory_records import MemoryRecordStore
from shared.domain.commands import Promote, Rollback, StartBuild
from shared.domain.model import BuildReason, Stage
from shared.domain.records import Changes
from shared.steps.prepare import due_prepares

BUILDER = "builder@contoso.com"
# data-analyst's approvers (localrun/issuer.py): production takes two people of the change board.
APPROVERS = {Stage(stage): people for stage, people in PEOPLE_BY_WORKLOAD["data-analyst"].items()}
PATCH_BUILD_AT = datetime(2026, 12, 15, 6, 0, tzinfo=UTC)  # Patch Tuesday (Dec 8) + 7 days
# The rebuild timer's first daily tick (06:00) after December's updates came out (Tue 8th, 18:00 UTC).
PREPARE_AT = datetime(2026, 12, 9, 6, 0, tzinfo=UTC)


@dataclass
class Marks:
    """ARM request counts and virtual times at the scenario's milestones."""

    requests: dict[str, int] = field(default_factory=dict)
    times: dict[str, datetime] = field(default_factory=dict)


def mark(runtime: LocalRuntime, marks: Marks, name: str) -> None:
    marks.requests[name] = len(runtime.sim.request_log)
    marks.times[name] = runtime.sim.clock.now()


def build(runtime: LocalRuntime, workload: str, run_id: str, reason: BuildReason, **options: bool) -> None:
    runtime.submit(StartBuild(workload=workload, run_id=run_id, reason=reason, requested_by=BUILDER, **options))
    runtime.run()


def prepare(runtime: LocalRuntime, workload: str) -> None:
    """The scheduler's prepare run: the source VM takes the month's updates (no image)."""
    now = runtime.sim.clock.now()
    due = [c for c in due_prepares(runtime.deps, now) if c.workload == workload]
    if not due:
        raise RuntimeError(f"the scheduler has no prepare due for {workload} at {now:%Y-%m-%d %H:%M} UTC")
    runtime.submit(*due)
    runtime.run()


def approvers_of(workload: str, stage: Stage) -> list[str]:
    return PEOPLE_BY_WORKLOAD.get(workload, PEOPLE_BY_WORKLOAD["data-analyst"])[stage.value]


def promote(runtime: LocalRuntime, workload: str, version: str, stage: Stage, approver: str | None = None) -> None:
    """Every approver the stage needs signs an approval (the local issuer's real signatures)."""
    for person in [approver] if approver else approvers_of(workload, stage):
        command = Promote(
            workload=workload,
            version=version,
            target_stage=stage,
            approver_token=runtime.issuer.token_for(person),
            ticket=f"CHG-{version}-{stage.value}",
            reason="tested by the pilot group",
            requested_at=runtime.sim.clock.now(),
        )
        runtime.submit(command)
        runtime.run()


def to_production(runtime: LocalRuntime, workload: str, version: str, *, dr: bool = True) -> None:
    for stage in (Stage.VALIDATION, Stage.PRODUCTION) + ((Stage.DR,) if dr else ()):
        promote(runtime, workload, version, stage)


def rollback(runtime: LocalRuntime, workload: str) -> None:
    production = runtime.records.get_pointers(workload).production
    runtime.submit(
        Rollback(
            workload=workload,
            version=str(production),
            approver_token=runtime.issuer.token_for(approvers_of(workload, Stage.PRODUCTION)[0]),
            ticket="INC-4711",
            reason="Teams crashes at sign-in on 1.0.1",
            requested_at=runtime.sim.clock.now(),
        )
    )
    runtime.run()


def full_lifecycle(runtime: LocalRuntime, workload: str = "data-analyst") -> Marks:
    """First build -> production -> dr; the month's prepare run; a patch build -> production; a rollback."""
    marks = Marks()
    mark(runtime, marks, "start")
    build(runtime, workload, "first-build", BuildReason.FIRST)
    mark(runtime, marks, "built")
    to_production(runtime, workload, "1.0.0", dr=False)
    mark(runtime, marks, "production")
    promote(runtime, workload, "1.0.0", Stage.DR)
    mark(runtime, marks, "dr")
    runtime.sim.clock.advance_to(max(PREPARE_AT, runtime.sim.clock.now() + timedelta(minutes=1)))
    mark(runtime, marks, "prepare-start")
    prepare(runtime, workload)  # off the build's critical path: days before its window
    mark(runtime, marks, "prepared")
    runtime.sim.clock.advance_to(max(PATCH_BUILD_AT, runtime.sim.clock.now() + timedelta(minutes=1)))
    mark(runtime, marks, "patch-start")
    build(runtime, workload, "patch-2026-12", BuildReason.PATCH)
    to_production(runtime, workload, "1.0.1", dr=False)
    mark(runtime, marks, "patch-production")
    rollback(runtime, workload)
    mark(runtime, marks, "rolled-back")
    return marks


class InjectedCrash(ConnectionError):
    """The host dies: the invocation ends with an exception, nothing after it runs."""


@dataclass
class CrashingStore(MemoryRecordStore):
    """Fails the n-th commit once, as a host crash after the step's Azure calls (before its commit) would."""

    crash_at: int = 0
    commits: int = 0
    crashed: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        super().__init__()

    def commit(self, changes: Changes) -> None:
        self.commits += 1
        if self.commits == self.crash_at:
            self.crashed.append(changes.run.step if changes.run else "version")
            raise InjectedCrash("injected crash after the Azure call, before the commit")
        super().commit(changes)
