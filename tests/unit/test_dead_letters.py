"""A dead-lettered step message ends what it was advancing (invariant 14, docs/invariants.md).

A run's step message fails the run (its cleanup starts) while the run is still at that step and
attempt; a version's replication or validation message fails the version, or only drops the
operation when the version can no longer fail. Anything that moved on since is left alone.
"""

from __future__ import annotations

from pathlib import Path

from shared.domain.catalog import load_catalog
from shared.domain.commands import ContinueRun, ContinueVersion, StartBuild
from shared.domain.model import BuildReason, ImageVersion, PendingOperation, Run, Stage, Status, VersionNumber
from shared.domain.records import Changes
from shared.steps.dead_letters import abandon_operation, dead_lettered
from shared.steps.deps import Deps
from tests.conftest import make_version
from tests.unit.fakes import FakeClock, make_deps

CATALOG = load_catalog(Path(__file__).resolve().parents[2] / "catalog")
NOW = FakeClock().current
V100 = VersionNumber.parse("1.0.0")


def with_run(step: str = "capture", attempt: int = 2) -> Deps:
    deps = make_deps(CATALOG)
    run = Run(
        workload="office",
        run_id="run-1",
        reason=BuildReason.FIRST,
        requested_by="a@b.c",
        started_at=NOW,
        step=step,
        attempt=attempt,
    )
    deps.records.commit(Changes(workload="office", run=run))
    return deps


def test_a_dead_lettered_step_fails_its_run_with_the_reason_and_starts_the_cleanup() -> None:
    """The run at capture/2 whose message was dead-lettered moves to abort with the reason recorded."""
    deps = with_run()
    out = dead_lettered(
        ContinueRun(workload="office", run_id="run-1", step="capture", attempt=2), "max deliveries", deps
    )
    run = deps.records.find_run("office", "run-1")
    assert run is not None
    assert (run.step, run.failure_reason) == ("abort", "step capture was dead-lettered: max deliveries")
    assert [m.message_id for m in out] == ["office:run-1:abort:3"]
    assert [(e.kind, e.detail) for e in deps.records.list_events("office")] == [
        ("run-failed", "step capture was dead-lettered: max deliveries")
    ]


def test_a_dead_lettered_start_fails_the_run_at_its_first_step() -> None:
    """A StartBuild message stands for the first step (source-vm, attempt 0)."""
    deps = with_run(step="source-vm", attempt=0)
    start = StartBuild(workload="office", run_id="run-1", reason=BuildReason.FIRST, requested_by="a@b.c")
    dead_lettered(start, "poison", deps)
    run = deps.records.find_run("office", "run-1")
    assert run is not None
    assert (run.step, run.failure_reason) == ("abort", "step source-vm was dead-lettered: poison")


def test_a_dead_letter_of_an_older_attempt_leaves_the_run_alone() -> None:
    """The run moved on (attempt 3) since the message (attempt 2): nothing changes."""
    deps = with_run(attempt=3)
    out = dead_lettered(ContinueRun(workload="office", run_id="run-1", step="capture", attempt=2), "late", deps)
    run = deps.records.find_run("office", "run-1")
    assert (out, run is not None and run.step, deps.records.list_events("office")) == ([], "capture", [])


def test_a_long_reason_is_cut_to_what_a_record_holds() -> None:
    """The failure reason is at most 1000 characters."""
    deps = with_run()
    dead_lettered(ContinueRun(workload="office", run_id="run-1", step="capture", attempt=2), "x" * 2000, deps)
    run = deps.records.find_run("office", "run-1")
    assert run is not None
    assert run.failure_reason == ("step capture was dead-lettered: " + "x" * 2000)[:1000]


def with_version(status: Status, attempt: int = 3, pending: str | None = "replicate") -> tuple[Deps, ImageVersion]:
    deps = make_deps(CATALOG)
    operation = None if pending is None else PendingOperation(kind=pending, started_at=NOW)
    version = make_version(
        status=status, stage=Stage.TEST, target_stage=Stage.VALIDATION if status is Status.REPLICATING else None,
        op_attempt=attempt, pending=operation,
    )  # fmt: skip
    deps.records.commit(Changes(workload="office", versions=[version]))
    return deps, deps.records.get_version("office", V100)


def abandon(deps: Deps, attempt: int = 3, reason: str = "max deliveries", operation: str = "replicate") -> None:
    command = ContinueVersion(workload="office", version="1.0.0", operation=operation, attempt=attempt)  # type: ignore[arg-type]
    assert abandon_operation(command, reason, deps) == []


def test_a_dead_lettered_replication_fails_the_version_with_the_reason() -> None:
    """Replicating 1.0.0 whose message died: FAILED, the operation cleared, the attempt moved on, audited."""
    deps, _ = with_version(Status.REPLICATING)
    abandon(deps)
    version = deps.records.get_version("office", V100)
    assert (version.status, version.pending, version.op_attempt) == (Status.FAILED, None, 4)
    assert version.failure_reason == "replicate of 1.0.0 was dead-lettered: max deliveries"
    [event] = deps.records.list_events("office", V100)
    assert (event.kind, event.actor, event.from_status, event.to_status, event.at) == (
        "failed", "dead-letter", Status.REPLICATING, Status.FAILED, NOW,
    )  # fmt: skip
    assert event.detail == "replicate of 1.0.0 was dead-lettered: max deliveries"


def test_a_version_that_cannot_fail_only_drops_the_operation() -> None:
    """A withdrawn version's validation cleanup died: it stays WITHDRAWN, the operation is abandoned."""
    deps, _ = with_version(Status.WITHDRAWN, pending="validate-cleanup")
    abandon(deps, operation="validate")
    version = deps.records.get_version("office", V100)
    assert (version.status, version.pending, version.op_attempt) == (Status.WITHDRAWN, None, 4)
    [event] = deps.records.list_events("office", V100)
    assert (event.kind, event.from_status, event.to_status) == (
        "operation-abandoned",
        Status.WITHDRAWN,
        Status.WITHDRAWN,
    )


def test_a_dead_letter_of_an_older_operation_attempt_changes_nothing() -> None:
    """The version moved on (attempt 4) since the message (attempt 3): nothing is written."""
    deps, before = with_version(Status.REPLICATING, attempt=4)
    abandon(deps, attempt=3)
    assert deps.records.get_version("office", V100) == before
    assert deps.records.list_events("office", V100) == []


def test_a_version_without_a_pending_operation_is_left_alone() -> None:
    """Nothing in flight (the operation ended meanwhile): a late dead letter changes nothing."""
    deps, before = with_version(Status.READY, pending=None)
    abandon(deps)
    assert deps.records.get_version("office", V100) == before
    assert deps.records.list_events("office", V100) == []


def test_a_dead_letter_for_a_version_never_recorded_is_ignored() -> None:
    """No such version: no error, nothing written."""
    deps = make_deps(CATALOG)
    abandon(deps)
    assert deps.records.list_versions("office") == []


def test_a_long_operation_reason_is_cut_to_what_a_record_holds() -> None:
    """The version's failure reason is at most 1000 characters."""
    deps, _ = with_version(Status.REPLICATING)
    abandon(deps, reason="y" * 2000)
    reason = deps.records.get_version("office", V100).failure_reason
    assert reason == ("replicate of 1.0.0 was dead-lettered: " + "y" * 2000)[:1000]


def test_a_dead_lettered_step_fails_the_runs_version_too() -> None:
    """The run's version (BUILDING) fails with the same reason, so it can never be promoted."""
    deps = make_deps(CATALOG)
    version = make_version("1.0.0", status=Status.BUILDING, run_id="run-1")
    run = Run(workload="office", run_id="run-1", reason=BuildReason.FIRST, requested_by="a@b.c", started_at=NOW,
              step="capture", attempt=2, version=version.version)  # fmt: skip
    deps.records.commit(Changes(workload="office", run=run, versions=[version]))
    dead_lettered(ContinueRun(workload="office", run_id="run-1", step="capture", attempt=2), "max deliveries", deps)
    failed = deps.records.get_version("office", V100)
    assert (failed.status, failed.failure_reason) == (Status.FAILED, "step capture was dead-lettered: max deliveries")


def test_a_dead_lettered_cleanup_ends_the_run_failed_keeping_the_first_reason() -> None:
    """The abort step itself died: the run ends FAILED now, its first reason kept, the cleanup's end audited."""
    deps = with_run()
    dead_lettered(ContinueRun(workload="office", run_id="run-1", step="capture", attempt=2), "max deliveries", deps)
    aborting = deps.records.find_run("office", "run-1")
    assert aborting is not None
    out = dead_lettered(
        ContinueRun(workload="office", run_id="run-1", step="abort", attempt=aborting.attempt), "again", deps
    )
    ended = deps.records.find_run("office", "run-1")
    assert ended is not None
    assert out == []
    assert (ended.state.value, ended.failure_reason, ended.pending, ended.ended_at) == (
        "failed", "step capture was dead-lettered: max deliveries", None, NOW,
    )  # fmt: skip
    last = deps.records.list_events("office")[-1]
    assert (last.kind, last.actor, last.detail, last.at) == (
        "run-failed", "dead-letter", "cleanup ended: step abort was dead-lettered: again", NOW,
    )  # fmt: skip


def test_a_cleanup_dead_lettered_without_an_earlier_reason_records_its_own() -> None:
    """A run whose abort dies with no failure recorded yet ends with the dead letter's reason."""
    deps = with_run(step="abort", attempt=4)
    dead_lettered(ContinueRun(workload="office", run_id="run-1", step="abort", attempt=4), "poison", deps)
    ended = deps.records.find_run("office", "run-1")
    assert ended is not None
    assert ended.failure_reason == "step abort was dead-lettered: poison"
