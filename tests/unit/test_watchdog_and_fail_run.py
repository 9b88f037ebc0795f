"""The stuck-run watchdog (shared.steps.runs.watchdog) and the FailRun command it sends (fail_run).

The watchdog looks at every workload's active run and schedules a FailRun check for the ones past
their step's deadline, counted from the latest of the run's start, its step's start and its pending
operation's start; fail_run then fails only a run still running at the step and attempt it names.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from shared.domain.catalog import load_catalog
from shared.domain.commands import FailRun
from shared.domain.model import BuildReason, PendingOperation, Run, RunState
from shared.domain.records import Changes
from shared.steps import runs
from shared.steps.deps import Deps
from shared.steps.outcome import Outcome
from tests.unit.fakes import FakeClock, make_deps

ROOT = next(p for p in Path(__file__).resolve().parents if (p / "catalog").is_dir())  # also from a subfolder
CATALOG = load_catalog(ROOT / "catalog")
NOW = FakeClock().current


def running(workload: str, started: datetime, step: str = "sysprep", **fields: Any) -> Run:
    return Run(workload=workload, run_id="run-1", reason=BuildReason.FIRST, requested_by="a@b.c", started_at=started,
               step=step, attempt=7, step_started_at=started, **fields)  # fmt: skip


def active(deps: Deps, run: Run) -> None:
    """Record the run as its workload's active run."""
    pointers = deps.records.get_pointers(run.workload).evolve(active_run=run.run_id)
    deps.records.commit(Changes(workload=run.workload, run=run, pointers=pointers))


def reasons(deps: Deps) -> list[tuple[str, str]]:
    """(workload, reason) of each FailRun the watchdog schedules now."""
    found = []
    for envelope in runs.watchdog(deps, NOW):
        assert envelope.scheduled_for == NOW + timedelta(hours=2)
        body = json.loads(envelope.body)
        found.append((body["workload"], body["reason"]))
    return found


def test_the_catalog_lists_data_analyst_before_office() -> None:
    """The tests below rely on the watchdog visiting data-analyst first, then office."""
    assert [w.name for w in CATALOG.workloads] == ["data-analyst", "office"]


def test_a_run_stuck_past_the_default_deadline_is_checked_with_a_readable_reason() -> None:
    """3 hours and a minute in sysprep: a check naming the step, since when, and the 3 h deadline."""
    deps = make_deps(CATALOG)
    active(deps, running("office", NOW - timedelta(hours=3, minutes=1)))
    assert reasons(deps) == [("office", "no progress in step sysprep since 2026-11-02 04:59 UTC (deadline 3 h)")]


@pytest.mark.parametrize(
    ("step", "stuck", "expected"),
    [
        ("sysprep", timedelta(hours=3), []),  # exactly at the deadline: not yet
        ("customize", timedelta(hours=4), []),  # customize has 8 hours
        ("customize", timedelta(hours=8, minutes=1), ["no progress in step customize since 2026-11-01 23:59 UTC (deadline 8 h)"]),
        ("replicate", timedelta(hours=12, minutes=1), ["no progress in step replicate since 2026-11-01 19:59 UTC (deadline 12 h)"]),
    ],
)  # fmt: skip
def test_each_step_has_its_own_deadline(step: str, stuck: timedelta, expected: list[str]) -> None:
    """The deadline is the step's own (customize 8 h, replicate 12 h, others 3 h), and strictly exceeded."""
    deps = make_deps(CATALOG)
    active(deps, running("office", NOW - stuck, step=step))
    assert [reason for _, reason in reasons(deps)] == expected


def test_a_recent_pending_operation_counts_as_progress() -> None:
    """A step started 4 hours ago whose operation started 1 hour ago is not stuck."""
    deps = make_deps(CATALOG)
    pending = PendingOperation(kind="create-vm", started_at=NOW - timedelta(hours=1))
    active(deps, running("office", NOW - timedelta(hours=4), pending=pending))
    assert reasons(deps) == []


def test_one_workload_without_a_stuck_run_does_not_hide_the_next() -> None:
    """data-analyst idle, ended, or busy within its deadline: office's stuck run is still checked."""
    idle = make_deps(CATALOG)
    active(idle, running("office", NOW - timedelta(hours=5)))
    assert [w for w, _ in reasons(idle)] == ["office"]
    healthy = make_deps(CATALOG)
    active(healthy, running("data-analyst", NOW - timedelta(minutes=30)))
    active(healthy, running("office", NOW - timedelta(hours=5)))
    assert [w for w, _ in reasons(healthy)] == ["office"]
    ended = make_deps(CATALOG)
    active(ended, running("data-analyst", NOW - timedelta(hours=5)).evolve(state=RunState.FAILED))
    active(ended, running("office", NOW - timedelta(hours=5)))
    assert [w for w, _ in reasons(ended)] == ["office"]


def test_an_active_pointer_to_a_missing_or_ended_run_is_not_checked() -> None:
    """A pointer left on a run that ended (or was never written) gets no check."""
    deps = make_deps(CATALOG)
    ended = running("office", NOW - timedelta(hours=5)).evolve(state=RunState.FAILED)
    active(deps, ended)
    assert reasons(deps) == []
    missing = make_deps(CATALOG)
    pointers = missing.records.get_pointers("office").evolve(active_run="run-9")
    missing.records.commit(Changes(workload="office", pointers=pointers))
    assert reasons(missing) == []


def fail(deps: Deps, step: str = "sysprep", attempt: int = 7) -> list[Any]:
    command = FailRun(workload="office", run_id="run-1", step=step, attempt=attempt, reason="stuck", source="watchdog")
    return runs.fail_run(command, deps)


def test_fail_run_leaves_an_ended_or_unknown_run_alone() -> None:
    """A FailRun for a run that already ended, or never existed, changes nothing and sends nothing."""
    deps = make_deps(CATALOG)
    active(deps, running("office", NOW).evolve(state=RunState.SUCCEEDED, ended_at=NOW))
    assert fail(deps) == []
    run = deps.records.find_run("office", "run-1")
    assert run is not None
    assert (run.state, run.step, run.failure_reason) == (RunState.SUCCEEDED, "sysprep", "")
    assert fail(make_deps(CATALOG)) == []


def test_fail_run_in_the_cleanup_ends_the_run_without_recording_the_cleanups_wait(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A stuck abort ends FAILED with 'cleanup ended: <reason>'; its pending wait is dropped, not timed."""
    monkeypatch.setitem(runs.STEPS, "abort", lambda ctx: Outcome(fail="must not run"))
    deps = make_deps(CATALOG)
    pending = PendingOperation(kind="delete-temp", started_at=NOW - timedelta(hours=1))
    active(deps, running("office", NOW - timedelta(hours=5), step="abort", pending=pending))
    assert fail(deps, step="abort") == []
    run = deps.records.find_run("office", "run-1")
    assert run is not None
    assert (run.state, run.pending, run.took, run.failure_reason) == (RunState.FAILED, None, {}, "stuck")
    [entry] = deps.records.list_events("office")
    assert (entry.kind, entry.actor, entry.detail, entry.at) == ("run-failed", "watchdog", "cleanup ended: stuck", NOW)
