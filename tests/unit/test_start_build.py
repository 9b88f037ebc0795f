"""Opening a build run (shared.steps.runs.start_build): one run per workload, one per run id, ever.

Pins the run record a StartBuild writes (first step, its start, the window it fills), the audit
entry an admin reads, the refusal while another run is in progress, and what a duplicate
StartBuild does (re-sends the running run's position, or nothing once it ended).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from shared.domain.catalog import load_catalog
from shared.domain.commands import StartBuild
from shared.domain.errors import RequestRefused
from shared.domain.model import BuildReason, Run, RunState
from shared.domain.records import Changes
from shared.steps import runs
from shared.steps.deps import Deps
from tests.conftest import T0
from tests.unit.fakes import FakeClock, make_deps

ROOT = next(p for p in Path(__file__).resolve().parents if (p / "catalog").is_dir())  # also from a subfolder
CATALOG = load_catalog(ROOT / "catalog")
NOW = FakeClock().current  # 2026-11-02: before November's window opens, so office's is October's


def start(deps: Deps, run_id: str = "run-2", **fields: Any) -> list[Any]:
    command = StartBuild(workload="office", run_id=run_id, reason=BuildReason.PATCH, requested_by="a@b.c", **fields)
    return runs.start_build(command, deps)


def earlier(deps: Deps, state: RunState, active: bool = True) -> Run:
    """run-1 of office in `state`, named as the active run when `active`."""
    run = Run(workload="office", run_id="run-1", reason=BuildReason.FIRST, requested_by="a@b.c", started_at=T0,
              step="capture", attempt=5, state=state)  # fmt: skip
    pointers = deps.records.get_pointers("office").evolve(active_run="run-1" if active else None)
    deps.records.commit(Changes(workload="office", run=run, pointers=pointers))
    return run


def test_a_new_run_starts_at_the_first_step_now_for_the_current_window() -> None:
    """The run starts at source-vm, its step started now, filling office's current patch window."""
    deps = make_deps(CATALOG)
    [message] = start(deps)
    run = deps.records.find_run("office", "run-2")
    assert run is not None
    assert (run.step, run.attempt, run.started_at, run.step_started_at, run.window) == (
        "source-vm", 0, NOW, NOW, "patch-2026-10",
    )  # fmt: skip
    body = json.loads(message.body)
    assert (body["kind"], body["step"], body["attempt"], message.scheduled_for) == (
        "continue-run",
        "source-vm",
        0,
        None,
    )
    pointers = deps.records.get_pointers("office")
    assert (pointers.active_run, pointers.sequence) == ("run-2", 1)


@pytest.mark.parametrize(
    ("fields", "window", "detail"),
    [
        ({}, "patch-2026-10", "patch run run-2"),
        ({"window": "patch-2026-09"}, "patch-2026-09", "patch run run-2"),  # a scheduled run's own window
        ({"prepare_only": True}, "", "patch run run-2 (prepare only)"),  # builds no image: fills no window
    ],
)
def test_the_run_started_entry_says_what_was_started(fields: dict[str, Any], window: str, detail: str) -> None:
    """The audit entry 'run-started' names the reason, the run and a prepare-only mode; the window follows."""
    deps = make_deps(CATALOG)
    start(deps, **fields)
    run = deps.records.find_run("office", "run-2")
    assert run is not None
    assert run.window == window
    [entry] = deps.records.list_events("office")
    assert (entry.kind, entry.actor, entry.detail, entry.at) == ("run-started", "a@b.c", detail, NOW)


def test_a_second_run_is_refused_while_one_is_in_progress() -> None:
    """Another running run of the workload: refused with both names, and nothing is written."""
    deps = make_deps(CATALOG)
    earlier(deps, RunState.RUNNING)
    with pytest.raises(RequestRefused) as refused:
        start(deps)
    assert str(refused.value) == "office already has run run-1 in progress; one run per workload at a time"
    assert deps.records.find_run("office", "run-2") is None


def test_an_active_pointer_to_an_ended_run_does_not_block_the_next() -> None:
    """The pointer still names run-1, which failed: run-2 starts and takes its place."""
    deps = make_deps(CATALOG)
    earlier(deps, RunState.FAILED)
    [message] = start(deps)
    assert json.loads(message.body)["run_id"] == "run-2"
    assert deps.records.get_pointers("office").active_run == "run-2"


def test_a_duplicate_start_re_sends_the_running_runs_position() -> None:
    """The same run id again while it runs: its current position, not a new run."""
    deps = make_deps(CATALOG)
    earlier(deps, RunState.RUNNING)
    [message] = start(deps, run_id="run-1")
    body = json.loads(message.body)
    assert (body["run_id"], body["step"], body["attempt"]) == ("run-1", "capture", 5)
    assert deps.records.list_events("office") == []


def test_a_duplicate_start_of_an_ended_run_does_nothing() -> None:
    """The same run id again after it ended (pointer cleared): no message, no new run, no audit."""
    deps = make_deps(CATALOG)
    earlier(deps, RunState.SUCCEEDED, active=False)
    assert start(deps, run_id="run-1") == []
    run = deps.records.find_run("office", "run-1")
    assert run is not None
    assert (run.state, run.step, run.attempt) == (RunState.SUCCEEDED, "capture", 5)
    assert deps.records.list_events("office") == []
