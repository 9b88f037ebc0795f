"""What the build run handler (shared.steps.runs.continue_run) reads and passes on around one step.

A stand-in step records what it saw and returns a fixed Outcome (or raises), so each test pins one
input the handler must honour: the version named by the message (read with the run, in one query),
an event's delivery delay, the 6-hour timeout's edge, an Azure error or refusal raised by the step,
and the words a failure gets when the step's temp resource was deleted by hand.
"""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from shared.domain.catalog import load_catalog
from shared.domain.commands import ContinueRun, Envelope
from shared.domain.compute import OperationState
from shared.domain.errors import AzureOperationError, RequestRefused
from shared.domain.model import BuildReason, PendingOperation, Run, Status, VersionNumber
from shared.domain.records import Changes
from shared.steps import runs
from shared.steps.deps import Deps
from shared.steps.outcome import Outcome
from shared.steps.step_context import StepContext
from tests.conftest import T0, make_version
from tests.unit.fakes import FakeClock, FakeCompute, make_deps

ROOT = next(p for p in Path(__file__).resolve().parents if (p / "catalog").is_dir())  # also from a subfolder
CATALOG = load_catalog(ROOT / "catalog")
NOW = FakeClock().current
V100 = VersionNumber.parse("1.0.0")


class GoneCompute(FakeCompute):
    """Answers resource_state: MISSING for the ids listed in `gone`, SUCCEEDED for any other."""

    gone: tuple[str, ...] = ()

    def resource_state(self, resource_id: str) -> OperationState:
        return OperationState.MISSING if resource_id in self.gone else OperationState.SUCCEEDED


Behaviour = Outcome | Exception


@pytest.fixture
def seen() -> list[StepContext]:
    """The contexts the stand-in steps 'probe' and 'capture' were called with."""
    return []


def stand_in(monkeypatch: pytest.MonkeyPatch, seen: list[StepContext], name: str, behaviour: Behaviour) -> None:
    """Step `name` records its context, then returns the outcome or raises the error given."""

    def step(ctx: StepContext) -> Outcome:
        seen.append(ctx)
        if isinstance(behaviour, Exception):
            raise behaviour
        return behaviour

    monkeypatch.setitem(runs.STEPS, name, step)


def world(step: str = "probe", pending: PendingOperation | None = None, compute: FakeCompute | None = None,
          **fields: Any) -> Deps:  # fmt: skip
    deps = make_deps(CATALOG, compute=compute)
    run = Run(workload="office", run_id="run-1", reason=BuildReason.FIRST, requested_by="a@b.c", started_at=T0,
              step=step, attempt=3, pending=pending, version=V100, step_started_at=NOW, **fields)  # fmt: skip
    pointers = deps.records.get_pointers("office").evolve(active_run="run-1")
    version = make_version(status=Status.BUILDING)
    deps.records.commit(Changes(workload="office", run=run, versions=[version], pointers=pointers))
    return deps


def go(deps: Deps, step: str = "probe", version: str | None = "1.0.0", **fields: Any) -> list[Envelope]:
    command = ContinueRun(workload="office", run_id="run-1", step=step, attempt=3, version=version, **fields)
    return runs.continue_run(command, deps)


def run_of(deps: Deps) -> Run:
    found = deps.records.find_run("office", "run-1")
    assert found is not None
    return found


def count_loads(monkeypatch: pytest.MonkeyPatch, deps: Deps) -> list[dict[str, Any]]:
    """Every records.load call's keyword arguments, in order (the store still answers them)."""
    calls: list[dict[str, Any]] = []
    real = deps.records.load

    def load(workload: str, **keys: Any) -> Any:
        calls.append({"workload": workload, **keys})
        return real(workload, **keys)

    monkeypatch.setattr(deps.records, "load", load)
    return calls


def test_the_position_message_names_the_runs_version() -> None:
    """position() carries the run's version as text, and None for a run without one yet."""
    run = Run(workload="office", run_id="run-1", reason=BuildReason.FIRST, requested_by="a@b.c", started_at=T0,
              step="capture", attempt=4, version=V100)  # fmt: skip
    message = runs.position(run, "recheck")
    assert (message.step, message.attempt, message.trigger, message.version) == ("capture", 4, "recheck", "1.0.0")
    assert runs.position(run.evolve(version=None)).version is None


def test_a_message_naming_the_version_reads_run_and_version_in_one_query(
    monkeypatch: pytest.MonkeyPatch, seen: list[StepContext]
) -> None:
    """With the version in the message the handler loads once, and the step sees that version."""
    deps = world()
    loads = count_loads(monkeypatch, deps)
    stand_in(monkeypatch, seen, "probe", Outcome(next_step="cleanup"))
    go(deps)
    assert loads == [{"workload": "office", "run_id": "run-1", "version": V100}]
    assert seen[0].version is not None
    assert seen[0].version.version == V100


def test_a_message_from_before_the_version_existed_still_gives_the_step_its_version(
    monkeypatch: pytest.MonkeyPatch, seen: list[StepContext]
) -> None:
    """A message without a version (sent before the run had one) re-reads the run's version for the step."""
    deps = world()
    loads = count_loads(monkeypatch, deps)
    stand_in(monkeypatch, seen, "probe", Outcome(next_step="cleanup"))
    go(deps, version=None)
    assert [call["version"] for call in loads] == [None, V100]
    assert loads[1]["workload"] == "office"
    assert seen[0].version is not None
    assert (seen[0].version.version, seen[0].version.status) == (V100, Status.BUILDING)
    assert seen[0].pointers.active_run == "run-1"


@pytest.mark.parametrize(
    ("trigger", "kept", "lag", "expected"),
    [
        ("recheck", None, 7.0, None),  # only an event's delay is a delivery delay
        ("next", 5.0, 9.0, 5.0),
        ("event", None, 0.5, 0.5),  # the first event's delay, however small
        ("event", 5.0, 0.5, 5.0),  # the longest seen stays
        ("event", 5.0, 9.0, 9.0),
    ],
)
def test_only_events_record_how_late_they_came(
    monkeypatch: pytest.MonkeyPatch,
    seen: list[StepContext],
    trigger: str,
    kept: float | None,
    lag: float,
    expected: float | None,
) -> None:
    """The run's event_lag is the longest delay of the events that continued it; other messages leave it."""
    deps = world(event_lag=kept)
    stand_in(monkeypatch, seen, "probe", Outcome(wait=timedelta(minutes=1)))
    go(deps, trigger=trigger, event_lag=lag)
    assert run_of(deps).event_lag == expected


def test_an_operation_waited_on_for_exactly_six_hours_is_not_yet_overdue(
    monkeypatch: pytest.MonkeyPatch, seen: list[StepContext]
) -> None:
    """The step timeout is strictly more than 6 hours: at exactly 6 the step still runs."""
    waited = PendingOperation(kind="create-vm", started_at=NOW - timedelta(hours=6), checks=3)
    deps = world(pending=waited)
    stand_in(monkeypatch, seen, "probe", Outcome(next_step="cleanup"))
    go(deps)
    assert (run_of(deps).step, len(seen)) == ("cleanup", 1)


def test_a_transient_azure_error_raised_by_a_step_waits_and_counts_a_try(
    monkeypatch: pytest.MonkeyPatch, seen: list[StepContext]
) -> None:
    """Throttling raised inside a step: no failure, a re-check in 1 minute with an azure-busy operation."""
    deps = world()
    stand_in(monkeypatch, seen, "probe", AzureOperationError("create vm", "TooManyRequests", "slow down", 429))
    [message] = go(deps)
    run = run_of(deps)
    assert (run.step, run.failure_reason) == ("probe", "")
    assert run.pending is not None
    assert (run.pending.kind, run.pending.checks, run.pending.started_at) == ("azure-busy", 0, NOW)
    assert message.scheduled_for == NOW + timedelta(minutes=1)


def test_a_permanent_azure_error_raised_by_a_step_fails_the_run_with_azures_words(
    monkeypatch: pytest.MonkeyPatch, seen: list[StepContext]
) -> None:
    """A non-transient Azure error fails the run (and its version) with Azure's own message."""
    deps = world()
    stand_in(monkeypatch, seen, "probe", AzureOperationError("create vm", "InvalidParameter", "bad size", 400))
    go(deps)
    assert (run_of(deps).step, run_of(deps).failure_reason) == ("abort", "create vm failed: InvalidParameter: bad size")
    assert deps.records.get_version("office", V100).failure_reason == "create vm failed: InvalidParameter: bad size"


def test_a_refusal_raised_by_a_step_fails_the_run_with_its_text(
    monkeypatch: pytest.MonkeyPatch, seen: list[StepContext]
) -> None:
    """RequestRefused inside a step fails the run with exactly the refusal's words."""
    deps = world()
    stand_in(monkeypatch, seen, "probe", RequestRefused("image definition office is missing"))
    [message] = go(deps)
    assert (run_of(deps).step, run_of(deps).failure_reason) == ("abort", "image definition office is missing")
    assert json.loads(message.body)["step"] == "abort"


VM_ID = GoneCompute().id_of("Microsoft.Compute/virtualMachines", "office--run-1--vm")


@pytest.mark.parametrize(
    ("gone", "behaviour", "reason"),
    [
        # capture fails and its temp VM is gone: the reason starts with the VM's name and 'deleted outside'
        (
            (VM_ID,),
            Outcome(fail="capture refused: VM not generalized"),
            "vm office--run-1--vm was deleted outside the product: capture refused: VM not generalized",
        ),
        # a 404 inside capture already says 'deleted outside the product': the reason is not doubled
        (
            (VM_ID,),
            AzureOperationError("get vm", "ResourceNotFound", "no vm", 404),
            "step capture: a resource was deleted outside the product: get vm failed: ResourceNotFound: no vm",
        ),
        # capture fails while its VM exists: the reason is the step's, unprefixed
        ((), Outcome(fail="capture refused: VM not generalized"), "capture refused: VM not generalized"),
    ],
    ids=["vm-gone-says-so-first", "hand-deletion-not-prefixed-again", "vm-still-there-keeps-own-words"],
)
def test_a_failure_names_a_temp_vm_deleted_by_hand_once(
    monkeypatch: pytest.MonkeyPatch, seen: list[StepContext], gone: tuple[str, ...], behaviour: Behaviour, reason: str
) -> None:
    """A failing capture's reason says first, and only once, that its temp VM was deleted outside the product."""
    compute = GoneCompute()
    compute.gone = gone
    deps = world(step="capture", compute=compute)
    stand_in(monkeypatch, seen, "capture", behaviour)
    go(deps, step="capture")
    assert run_of(deps).failure_reason == reason
