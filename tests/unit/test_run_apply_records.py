"""What the build run handler writes for one step's outcome (shared.steps.runs._apply).

A stand-in step returns a fixed Outcome; each test pins a field of the run or pointers record the
commit must carry: the step's time and start, the durations measured per operation (`took`), the
pending operation cleared when the step ends, the window and durations kept by a succeeded run,
the cleanup's retry count, and which records are rewritten at all.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from shared.domain.catalog import load_catalog
from shared.domain.commands import ContinueRun
from shared.domain.errors import AzureOperationError
from shared.domain.model import PendingOperation, Run, RunState, Status, VersionNumber
from shared.steps import runs
from shared.steps.deps import Deps
from shared.steps.outcome import Outcome
from tests.unit.fakes import FakeClock, run_world

ROOT = next(p for p in Path(__file__).resolve().parents if (p / "catalog").is_dir())  # also from a subfolder
CATALOG = load_catalog(ROOT / "catalog")
NOW = FakeClock().current
V100 = VersionNumber.parse("1.0.0")
CREATE = PendingOperation(kind="create-vm", started_at=NOW - timedelta(minutes=5))


@pytest.fixture
def step(monkeypatch: pytest.MonkeyPatch) -> list[Outcome | Exception]:
    """Stand-in steps 'probe' and 'abort' returning (or raising) what is queued here, one per call."""
    queued: list[Outcome | Exception] = []

    def stand_in(ctx: object) -> Outcome:
        behaviour = queued.pop(0)
        if isinstance(behaviour, Exception):
            raise behaviour
        return behaviour

    monkeypatch.setitem(runs.STEPS, "probe", stand_in)
    monkeypatch.setitem(runs.STEPS, "abort", stand_in)
    return queued


def world(step: str = "probe", pending: PendingOperation | None = None, version: Status | None = Status.BUILDING,
          **fields: Any) -> Deps:  # fmt: skip
    """office's run-1 at `step` (attempt 3, step started 10 minutes ago), with version 1.0.0 in `version`."""
    return run_world(CATALOG, step, pending, version, **fields)


def go(deps: Deps, step: str = "probe") -> None:
    version = "1.0.0" if deps.records.find_version("office", V100) else None
    runs.continue_run(ContinueRun(workload="office", run_id="run-1", step=step, attempt=3, version=version), deps)


def run_of(deps: Deps) -> Run:
    found = deps.records.find_run("office", "run-1")
    assert found is not None
    return found


def test_a_steps_first_time_is_counted_from_zero_and_the_next_step_starts_counting_now(
    step: list[Outcome | Exception],
) -> None:
    """No time recorded for the step yet: exactly its 600 s; the next step starts now with nothing counted."""
    deps = world()
    step.append(Outcome(next_step="cleanup"))
    go(deps)
    run = run_of(deps)
    assert run.step_times == {"probe": 600.0}
    assert (run.step_started_at, run.step_seen, run.step_progress, run.step_wait) == (NOW, NOW, 0.0, 0.0)


@pytest.mark.parametrize(
    ("outcome", "took"),
    [
        (Outcome(next_step="cleanup"), {"create-vm": 300.0}),  # moved on: the operation is done
        (Outcome(next_step="cleanup", pending=CREATE), {"create-vm": 300.0}),  # moved on, whatever it still names
        (Outcome(wait=timedelta(minutes=1), pending=PendingOperation(kind="start-vm", started_at=NOW)), {"create-vm": 300.0}),
        (Outcome(wait=timedelta(minutes=1), pending=CREATE.model_copy(update={"checks": 1})), {}),  # still waiting on it
        (Outcome(fail="boom"), {}),  # a failed step measured nothing
        (AzureOperationError("get vm", "TooManyRequests", "slow down", 429), {}),  # throttled: not done
    ],
)  # fmt: skip
def test_an_operation_is_timed_only_when_the_step_saw_it_done(
    step: list[Outcome | Exception], outcome: Outcome | Exception, took: dict[str, float]
) -> None:
    """The pending create-vm (5 minutes old) counts as took only once the step moved on or waits on another kind."""
    deps = world(pending=CREATE)
    step.append(outcome)
    go(deps)
    assert run_of(deps).took == took


def test_a_failed_step_clears_its_pending_operation_and_keeps_its_updates(step: list[Outcome | Exception]) -> None:
    """fail: the run goes to abort with no pending operation, and the step's own run updates are kept."""
    deps = world(pending=CREATE)
    step.append(Outcome(fail="boom", run_updates={"source_image": "img-1"}))
    go(deps)
    run = run_of(deps)
    assert (run.step, run.pending, run.source_image) == ("abort", None, "img-1")


def test_a_next_step_clears_the_pending_operation_and_keeps_the_steps_updates(step: list[Outcome | Exception]) -> None:
    """next_step: no pending operation carried into the next step; the step's run updates are written."""
    deps = world(pending=CREATE)
    step.append(Outcome(next_step="cleanup", run_updates={"source_image": "img-1"}))
    go(deps)
    run = run_of(deps)
    assert (run.step, run.pending, run.source_image) == ("cleanup", None, "img-1")


def test_a_succeeded_run_keeps_its_window_and_durations_on_the_workload(step: list[Outcome | Exception]) -> None:
    """finish: the run ends one attempt on with its step timed and no pending; the workload keeps window and took."""
    deps = world(pending=CREATE, version=Status.READY, window="patch-2026-10", event_lag=4.0)
    step.append(Outcome(finish=True, run_updates={"source_image": "img-1"}))
    go(deps)
    run = run_of(deps)
    assert (run.state, run.attempt, run.pending, run.took, run.source_image) == (
        RunState.SUCCEEDED, 4, None, {"create-vm": 300.0}, "img-1",
    )  # fmt: skip
    assert run.step_times == {"probe": 600.0}
    pointers = deps.records.get_pointers("office")
    assert (pointers.test, pointers.window, pointers.took, pointers.event_lag) == (
        V100, "patch-2026-10", {"create-vm": 300.0}, 4.0,
    )  # fmt: skip


def test_a_failed_run_leaves_the_workloads_durations(step: list[Outcome | Exception]) -> None:
    """The cleanup finishing ends the run FAILED: its durations (maybe cut short) are not kept."""
    deps = world(step="abort", pending=CREATE, event_lag=4.0)
    step.append(Outcome(finish=True))
    go(deps, step="abort")
    assert run_of(deps).state is RunState.FAILED
    pointers = deps.records.get_pointers("office")
    assert (pointers.took, pointers.event_lag, pointers.active_run) == ({}, None, None)


def test_the_cleanup_is_retried_up_to_its_twentieth_check(step: list[Outcome | Exception]) -> None:
    """A failing cleanup at its 19th check (18 recorded) is retried in 4 minutes, not given up."""
    retry = PendingOperation(kind="abort-retry", started_at=NOW, checks=18)
    deps = world(step="abort", pending=retry)
    step.append(Outcome(fail="delete refused"))
    go(deps, step="abort")
    run = run_of(deps)
    assert run.state is RunState.RUNNING
    assert run.pending is not None
    assert run.pending.checks == 19


def test_a_run_without_a_version_writes_no_version(step: list[Outcome | Exception]) -> None:
    """A run with no version yet moves on without a version record appearing."""
    deps = world(version=None)
    step.append(Outcome(next_step="cleanup"))
    go(deps)
    assert (run_of(deps).step, deps.records.list_versions("office")) == ("cleanup", [])


def test_a_version_changed_by_the_step_is_written_even_without_an_audit_entry(step: list[Outcome | Exception]) -> None:
    """outcome.version is committed with the run; an untouched version and pointers are not rewritten."""
    deps = world()
    before = deps.records.get_version("office", V100)
    pointers = deps.records.get_pointers("office")
    step.append(Outcome(next_step="cleanup", version=before.evolve(source_image="img-1")))
    go(deps)
    assert deps.records.get_version("office", V100).source_image == "img-1"
    assert deps.records.get_pointers("office").etag == pointers.etag
    untouched = world()
    kept = deps_etag(untouched)
    step.append(Outcome(next_step="cleanup"))
    go(untouched)
    assert deps_etag(untouched) == kept


def deps_etag(deps: Deps) -> tuple[str | None, str | None]:
    """The ETags of office's version 1.0.0 and pointers rows."""
    return deps.records.get_version("office", V100).etag, deps.records.get_pointers("office").etag
