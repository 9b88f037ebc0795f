"""The build run handler (shared.steps.runs.continue_run and _apply) around one step's outcome.

A stand-in step returns a fixed Outcome, so each test pins what the handler does with it: move on,
wait, finish, fail (and fail the version, unless it serves test), retry a failing cleanup; and which
messages are stale, duplicated or overdue.
"""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest

from shared.domain.catalog import load_catalog
from shared.domain.commands import ContinueRun, Envelope
from shared.domain.errors import RequestRefused
from shared.domain.model import PendingOperation, Run, RunState, Status, VersionNumber
from shared.domain.records import AuditEntry, Changes
from shared.steps import runs
from shared.steps.deps import Deps
from shared.steps.outcome import Outcome
from tests.conftest import T0
from tests.unit.fakes import FakeClock, run_world

CATALOG = load_catalog(Path(__file__).resolve().parents[2] / "catalog")
NOW = FakeClock().current
V100 = VersionNumber.parse("1.0.0")


@pytest.fixture
def step(monkeypatch: pytest.MonkeyPatch) -> list[Outcome]:
    """A stand-in step 'probe' returning the outcomes queued here, one per call."""
    queued: list[Outcome] = []
    monkeypatch.setitem(runs.STEPS, "probe", lambda ctx: queued.pop(0))
    monkeypatch.setitem(runs.STEPS, "abort", lambda ctx: queued.pop(0))
    return queued


def world(step: str = "probe", pending: PendingOperation | None = None, version: Status | None = Status.BUILDING,
          **fields: object) -> Deps:  # fmt: skip
    """fakes.run_world with the step's time so far at 60 seconds."""
    return run_world(CATALOG, step, pending, version, step_times={step: 60.0}, **fields)


def go(deps: Deps, step: str = "probe", attempt: int = 3, **fields: object) -> list[Envelope]:
    command = ContinueRun(workload="office", run_id="run-1", step=step, attempt=attempt,
                          version="1.0.0" if deps.records.find_version("office", V100) else None, **fields)  # type: ignore[arg-type]  # fmt: skip
    return runs.continue_run(command, deps)


def run_of(deps: Deps) -> Run:
    found = deps.records.find_run("office", "run-1")
    assert found is not None
    return found


def test_a_next_step_moves_the_run_on_and_counts_the_steps_time(step: list[Outcome]) -> None:
    """next_step: the run moves, one more attempt, the 10 minutes added to the step's time, sent now."""
    deps = world()
    step.append(Outcome(next_step="cleanup"))
    [message] = go(deps)
    run = run_of(deps)
    assert (run.step, run.attempt, run.step_started_at, run.pending) == ("cleanup", 4, NOW, None)
    assert run.step_times == {"probe": 660.0}
    body = json.loads(message.body)
    assert (body["step"], body["attempt"], message.scheduled_for) == ("cleanup", 4, None)


def test_a_wait_keeps_the_step_and_schedules_the_recheck(step: list[Outcome]) -> None:
    """wait: pending recorded, the step's start kept, the re-check at now + wait (15 s when none is given)."""
    deps = world()
    pending = PendingOperation(kind="create-vm", started_at=NOW)
    step.append(Outcome(wait=timedelta(minutes=3), pending=pending))
    [message] = go(deps)
    run = run_of(deps)
    assert (run.step, run.attempt, run.pending, run.step_started_at) == (
        "probe",
        4,
        pending,
        NOW - timedelta(minutes=10),
    )
    assert run.step_times == {"probe": 60.0}
    assert message.scheduled_for == NOW + timedelta(minutes=3)
    assert json.loads(message.body)["trigger"] == "recheck"
    step.append(Outcome(pending=pending))
    [default] = go(deps, attempt=4)
    assert default.scheduled_for == NOW + timedelta(seconds=15)


def test_a_finished_run_succeeds_frees_the_workload_and_a_ready_version_serves_test(step: list[Outcome]) -> None:
    """finish: SUCCEEDED now, the active run cleared, the READY version in test."""
    deps = world(version=Status.READY)
    step.append(Outcome(finish=True))
    assert go(deps) == []
    run = run_of(deps)
    assert (run.state, run.ended_at, run.pending) == (RunState.SUCCEEDED, NOW, None)
    pointers = deps.records.get_pointers("office")
    assert (pointers.active_run, pointers.test) == (None, V100)


def test_a_finished_run_with_a_version_not_ready_moves_no_pointer(step: list[Outcome]) -> None:
    """A prepare-only or failed version does not become the test version."""
    deps = world(version=Status.BUILDING)
    step.append(Outcome(finish=True))
    go(deps)
    assert deps.records.get_pointers("office").test is None


def test_a_failed_step_fails_the_version_and_starts_the_cleanup(step: list[Outcome]) -> None:
    """fail: the BUILDING version fails with the reason (audited), the run goes to abort with it."""
    deps = world()
    step.append(Outcome(fail="boom"))
    [message] = go(deps)
    run = run_of(deps)
    assert (run.step, run.failure_reason, run.pending, run.attempt) == ("abort", "boom", None, 4)
    assert json.loads(message.body)["step"] == "abort"
    version = deps.records.get_version("office", V100)
    assert (version.status, version.failure_reason) == (Status.FAILED, "boom")
    [event] = deps.records.list_events("office", V100)
    assert (event.kind, event.actor, event.from_status, event.to_status, event.at) == (
        "failed", "step:probe", Status.BUILDING, Status.FAILED, NOW,
    )  # fmt: skip


def test_a_failure_never_fails_the_version_serving_test(step: list[Outcome]) -> None:
    """The version serving test stays READY; the run's failure is recorded on its own."""
    deps = world(version=Status.READY)
    pointers = deps.records.get_pointers("office").evolve(test=V100)
    deps.records.commit(Changes(workload="office", pointers=pointers))
    step.append(Outcome(fail="cleanup hiccup"))
    go(deps)
    assert deps.records.get_version("office", V100).status is Status.READY
    assert [(e.kind, e.detail) for e in deps.records.list_events("office")][-1] == ("run-failed", "cleanup hiccup")


def test_a_failing_cleanup_is_retried_then_ends_the_run_failed(step: list[Outcome]) -> None:
    """In abort a failure waits 4 minutes and tries again; at the 20th check the run ends FAILED."""
    retry = PendingOperation(kind="abort-retry", started_at=NOW, checks=5)
    deps = world(step="abort", pending=retry)
    step.append(Outcome(fail="delete refused"))
    [message] = go(deps, step="abort")
    assert message.scheduled_for == NOW + timedelta(minutes=4)
    assert run_of(deps).pending is not None
    assert run_of(deps).pending.checks == 6  # type: ignore[union-attr]
    last = world(step="abort", pending=retry.model_copy(update={"checks": 19}))
    step.append(Outcome(fail="delete refused"))
    assert go(last, step="abort") == []
    assert (run_of(last).state, run_of(last).ended_at) == (RunState.FAILED, NOW)
    first = world(step="abort")
    step.append(Outcome(fail="delete refused"))
    go(first, step="abort")
    assert run_of(first).pending.checks == 0  # type: ignore[union-attr]


def test_audit_entries_are_stamped_when_recorded(step: list[Outcome]) -> None:
    """A step's audit entry carries the handler's time, not the step's."""
    deps = world()
    step.append(
        Outcome(next_step="cleanup", audit=[AuditEntry(at=T0, kind="x", actor="step:probe", detail="d", version=V100)])
    )
    go(deps)
    assert [(e.kind, e.at) for e in deps.records.list_events("office")] == [("x", NOW)]


def test_an_operation_waited_on_for_six_hours_fails_the_step(step: list[Outcome]) -> None:
    """Over 6 hours and at least 3 looks: the step fails saying what it waited for; fewer looks: not yet."""
    old = PendingOperation(kind="create-vm", started_at=NOW - timedelta(hours=6, seconds=1), checks=3)
    deps = world(pending=old)
    go(deps)
    assert run_of(deps).failure_reason == "step probe waited more than 6 hours for create-vm"
    young = world(pending=old.model_copy(update={"checks": 2}))
    step.append(Outcome(next_step="cleanup"))
    go(young)
    assert run_of(young).step == "cleanup"
    busy = world(pending=old.model_copy(update={"kind": "azure-busy"}))
    step.append(Outcome(next_step="cleanup"))
    go(busy)
    assert run_of(busy).step == "cleanup"


def test_an_event_records_how_late_events_come(step: list[Outcome]) -> None:
    """An event's delivery delay is kept as the run's longest seen."""
    deps = world(event_lag=5.0)
    step.append(Outcome(wait=timedelta(minutes=1)))
    go(deps, trigger="event", event_lag=12.5)
    assert run_of(deps).event_lag == 12.5
    step.append(Outcome(wait=timedelta(minutes=1)))
    go(deps, attempt=4, trigger="event", event_lag=3.0)
    assert run_of(deps).event_lag == 12.5


def test_stale_duplicate_and_unknown_messages(step: list[Outcome]) -> None:
    """An older attempt re-sends the position; a finished run ignores it; an unknown run is refused."""
    deps = world()
    [again] = go(deps, attempt=1)
    assert (json.loads(again.body)["attempt"], run_of(deps).attempt) == (3, 3)
    step.append(Outcome(finish=True))
    go(deps)
    assert go(deps, attempt=1) == []
    assert go(deps, attempt=9) == []
    command = ContinueRun(workload="office", run_id="run-9", step="probe", attempt=0)
    with pytest.raises(RequestRefused, match="^run run-9 of office does not exist$"):
        runs.continue_run(command, deps)
