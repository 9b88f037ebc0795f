"""The helpers every build step uses (StepContext, ensure_resource): names, tags, pending operations, waits."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

import shared
from shared.config import Settings
from shared.domain.catalog import SecurityType, load_catalog
from shared.domain.compute import EXPIRES_TAG, RUN_TAG, WORKLOAD_TAG, OperationState, ScriptResult
from shared.domain.errors import AzureOperationError, RequestRefused
from shared.domain.model import BuildReason, PendingOperation, Pointers, Stage, VersionNumber
from shared.steps.outcome import Outcome
from shared.steps.step_context import StepContext, ensure_resource, trusted_launch
from tests.conftest import make_version
from tests.unit.fakes import FakeCompute, step_context

# The catalog beside the `shared` package: found the same way in mutmut's copy of the tree.
CATALOG = load_catalog(Path(shared.__file__).resolve().parents[1] / "catalog")
NOW = datetime(2026, 11, 2, 8, 0, tzinfo=UTC)
VM_TYPE = "Microsoft.Compute/virtualMachines"
VM_ID = f"/subscriptions/s/resourceGroups/rg-avd-images/providers/{VM_TYPE}/office--run-1--vm"


@dataclass
class StepCompute(FakeCompute):
    """FakeCompute with the Run Command and resource-state calls the helpers make."""

    states: dict[str, OperationState] = field(default_factory=dict)
    results: dict[str, ScriptResult] = field(default_factory=dict)
    start_error: AzureOperationError | None = None

    def resource_state(self, resource_id: str) -> OperationState:
        return self.states.get(resource_id, OperationState.MISSING)

    def start_script(self, vm_name: str, script: str) -> str:
        if self.start_error is not None:
            raise self.start_error
        self.calls.append(("start_script", (vm_name, script)))
        return f"op-{vm_name}"

    def script_result(self, operation: str) -> ScriptResult | None:
        self.calls.append(("script_result", operation))
        return self.results.get(operation)


def ctx(
    pending: PendingOperation | None = None,
    *,
    event_grid: bool = False,
    event_lag: float | None = None,
    took: dict[str, float] | None = None,
    compute: StepCompute | None = None,
    version: bool = False,
) -> StepContext:
    """A context for office's run-1 on step 'clone' at NOW; Event Grid off unless asked."""
    return step_context(
        CATALOG,
        compute or StepCompute(),
        version=make_version("1.2.3") if version else None,
        pointers=Pointers(workload="office", took=took or {}),
        settings=Settings(event_grid=event_grid, temp_resource_ttl_hours=5),
        reason=BuildReason.PATCH,
        step="clone",
        pending=pending,
        event_lag=event_lag,
    )


def op(kind: str, ago: float = 100, checks: int = 0, retry_after: float | None = None, **more: str) -> PendingOperation:
    return PendingOperation(
        kind=kind, started_at=NOW - timedelta(seconds=ago), checks=checks, retry_after=retry_after, **more
    )


def test_temp_names_tags_and_the_source_vm() -> None:
    """Temp names join workload, run and kind; tags name run, workload, kind and the expiry TTL hours ahead."""
    c = ctx()
    assert c.temp("vm") == "office--run-1--vm"
    assert c.source_vm == "office--image--src"
    assert c.tags("disk") == {
        RUN_TAG: "run-1",
        WORKLOAD_TAG: "office",
        EXPIRES_TAG: "2026-11-02T13:00:00+00:00",
        "avd-lifecycle-kind": "disk",
    }


def test_trusted_launch_only_for_the_trusted_launch_security_type() -> None:
    """Only TrustedLaunch itself asks for a Trusted Launch VM; 'supported' types do not."""
    office = CATALOG.get("office")
    assert trusted_launch(office.model_copy(update={"security_type": SecurityType.TRUSTED_LAUNCH})) is True
    assert trusted_launch(office.model_copy(update={"security_type": SecurityType.STANDARD})) is False


def test_a_new_pending_operation_starts_now_with_azures_retry_after() -> None:
    """A pending operation of a new kind starts now, unchecked, with the resource and the Retry-After Azure gave."""
    c = ctx(op("snapshot", checks=4), compute=StepCompute(retry_after=42.0))
    assert c.pending("disk", "/id/d") == PendingOperation(
        kind="disk", resource_id="/id/d", started_at=NOW, checks=0, retry_after=42.0
    )
    assert c.pending("disk").resource_id == ""


def test_a_pending_operation_of_the_same_kind_carries_over_with_one_more_check() -> None:
    """The same kind again keeps its start, resource and hint, and counts one more check."""
    current = op("snapshot", checks=4, retry_after=30.0, resource_id="/id/s")
    assert ctx(current).pending("snapshot", "/other") == current.model_copy(update={"checks": 5})


@pytest.mark.parametrize(
    ("kwargs", "pending", "evented", "expected"),
    [
        ({}, op("vm-create"), True, 20),  # no Event Grid: a fifth of the 100 s waited
        ({}, op("vm-create", retry_after=200), True, 100),  # Azure asked for 200 s: 100 s to go
        ({"event_grid": True, "event_lag": 0.0}, op("vm-create"), True, 260),  # safety net 6 min past the start
        ({"event_grid": True, "event_lag": 0.0}, op("vm-create"), False, 20),  # no event reports it: plain
        ({"event_grid": True}, op("vm-create"), True, 20),  # no delay measured yet: the plain back-off
        (
            {"event_grid": True, "event_lag": 30.0},
            op("vm-create"),
            True,
            6,
        ),  # events late: a sixth of their delay (the 6 s floor)
        ({"event_grid": True, "event_lag": 150.0}, op("vm-create"), True, 20),  # ... or a fifth if sooner
        ({"took": {"vm-create": 600.0}}, op("vm-create"), True, 200),  # first look at half of 600 s
        ({"took": {"vm-create": 600.0}}, op("snapshot"), True, 20),  # another kind's history says nothing
    ],
)
def test_backoff_reads_the_hint_events_and_history(
    kwargs: dict[str, object], pending: PendingOperation, evented: bool, expected: float
) -> None:
    """The next look at a pending operation follows its Retry-After, Event Grid (if it reports it) and history."""
    assert ctx(**kwargs).backoff(pending, evented=evented) == timedelta(seconds=expected)  # type: ignore[arg-type]


def test_backoff_counts_on_events_unless_told_otherwise() -> None:
    """Without `evented`, an operation is taken to be reported by an event: the safety net applies."""
    assert ctx(event_grid=True, event_lag=0.0).backoff(op("vm-create")) == timedelta(seconds=260)


@pytest.mark.parametrize(
    ("kwargs", "kind", "evented", "expected"),
    [
        ({}, "vm-create", True, 15),  # the opening
        ({"compute": StepCompute(retry_after=120.0)}, "vm-create", True, 120),  # Azure's Retry-After
        ({"event_grid": True, "event_lag": 0.0}, "vm-create", True, 360),  # the safety net behind the event
        ({"event_grid": True, "event_lag": 0.0}, "vm-create", False, 15),
        ({"event_grid": True}, "vm-create", True, 15),  # no delay measured yet: the opening
        ({"event_grid": True, "event_lag": 30.0}, "vm-create", True, 6),  # a first look beats a 30 s event
        ({"took": {"vm-create": 600.0}}, "vm-create", True, 300),  # half of last run's 600 s
        ({"took": {"vm-create": 600.0}}, "disk", True, 15),
    ],
)
def test_first_look_reads_the_hint_events_and_history(
    kwargs: dict[str, object], kind: str, evented: bool, expected: float
) -> None:
    """The first look at a just-started operation follows Azure's hint, Event Grid and the kind's history."""
    assert ctx(**kwargs).first_look(kind, evented=evented) == timedelta(seconds=expected)  # type: ignore[arg-type]


def test_first_look_counts_on_events_unless_told_otherwise() -> None:
    """Without `evented`, the first look is the safety net when Event Grid is on."""
    assert ctx(event_grid=True, event_lag=0.0).first_look("vm-create") == timedelta(seconds=360)


def test_expected_is_the_kinds_last_duration_but_never_a_scripts() -> None:
    """The workload's last duration of an operation kind; scripts have none."""
    c = ctx(took={"vm-create": 600.0, "script:inventory": 90.0})
    assert (c.expected("vm-create"), c.expected("disk"), c.expected("script:inventory")) == (600.0, None, None)


@pytest.mark.parametrize(
    ("pending", "took"),
    [(None, 0), (op("vm-create", ago=40), 0), (op("script:inventory", ago=40), 40)],
)
def test_script_took_is_the_run_commands_time_only(pending: PendingOperation | None, took: float) -> None:
    """How long the Run Command whose result the step reads took; nothing for no or another operation."""
    assert ctx(pending).script_took() == timedelta(seconds=took)


def test_script_starts_a_run_command_and_looks_first_after_the_hint() -> None:
    """A new script starts on the VM and looks first after Azure's hint (no history: scripts vary), pending on it."""
    compute = StepCompute(retry_after=25.0)
    c = ctx(op("vm-create"), compute=compute, took={"script:inventory": 900.0}, event_grid=True, event_lag=30.0)
    outcome = c.script("inventory", "office--run-1--vm", "Get-Stuff")
    assert compute.calls == [("start_script", ("office--run-1--vm", "Get-Stuff"))]
    assert outcome == Outcome(
        wait=timedelta(seconds=25),
        pending=PendingOperation(
            kind="script:inventory",
            resource_id=VM_ID,
            started_at=NOW,
            operation="op-office--run-1--vm",
            retry_after=25.0,
        ),
    )


def test_script_returns_the_result_once_it_is_there() -> None:
    """On the next look the script's result is returned as it is."""
    compute = StepCompute(results={"op-1": ScriptResult("out", "err")})
    result = ctx(op("script:inventory", operation="op-1"), compute=compute).script("inventory", "vm", "x")
    assert result == ScriptResult("out", "err")
    assert compute.calls == [("script_result", "op-1")]


def test_script_still_running_waits_on_the_backoff() -> None:
    """No result yet: wait on the back-off and carry the pending script over with one more check."""
    current = op("script:inventory", operation="op-1", checks=2)
    outcome = ctx(current).script("inventory", "vm", "x")
    assert outcome == Outcome(wait=timedelta(seconds=20), pending=current.model_copy(update={"checks": 3}))


def conflict() -> AzureOperationError:
    return AzureOperationError("run command", "Conflict", "another Run Command is in progress", status=409)


def test_a_busy_vm_waits_on_a_fresh_busy_operation() -> None:
    """Conflict on start: wait the opening, counting busy looks on a 'script-busy:' operation."""
    outcome = ctx(compute=StepCompute(start_error=conflict())).script("inventory", "vm", "x")
    assert outcome == Outcome(
        wait=timedelta(seconds=15), pending=PendingOperation(kind="script-busy:inventory", started_at=NOW)
    )


@pytest.mark.parametrize(("checks", "fails"), [(18, False), (19, True)])
def test_a_vm_busy_for_20_looks_fails_the_step(checks: int, fails: bool) -> None:
    """The 20th busy look fails the step naming the VM and Azure's error; before that it waits on the back-off."""
    busy = op("script-busy:inventory", checks=checks)
    outcome = ctx(busy, compute=StepCompute(start_error=conflict())).script("inventory", "office--run-1--vm", "x")
    if fails:
        assert outcome == Outcome(fail=f"Run Command on office--run-1--vm stayed busy: {conflict()}")
    else:
        assert outcome == Outcome(wait=timedelta(seconds=20), pending=busy.model_copy(update={"checks": checks + 1}))


def test_another_start_error_goes_up() -> None:
    """Any error but Conflict is Azure's to report: it is raised, not waited on."""
    error = AzureOperationError("run command", "conflict", "lowercase is another code", status=400)
    with pytest.raises(AzureOperationError) as raised:
        ctx(compute=StepCompute(start_error=error)).script("inventory", "vm", "x")
    assert raised.value is error


def test_audit_entries_name_the_step_and_the_version() -> None:
    """An audit entry is stamped now, by 'step:<step>', with the context's version and any extra field."""
    entry = ctx(version=True).audit("captured", "captured it", stage=Stage.TEST)
    assert (entry.at, entry.kind, entry.actor, entry.detail) == (NOW, "captured", "step:clone", "captured it")
    assert (entry.version, entry.stage) == (VersionNumber.parse("1.2.3"), Stage.TEST)
    assert ctx().audit("k", "d").version is None


def test_require_version_refuses_a_run_without_one() -> None:
    """A step that needs a version record refuses, naming the run and step, when there is none."""
    assert ctx(version=True).require_version().version == VersionNumber.parse("1.2.3")
    with pytest.raises(RequestRefused, match=r"^run run-1 reached clone without a version record$"):
        ctx().require_version()


def test_mark_adds_the_milestone_at_now() -> None:
    """A mark keeps the run's earlier marks and adds this one at now."""
    c = ctx()
    c.run = c.run.evolve(marks={"cloned": NOW - timedelta(hours=1)})
    assert c.mark("booted") == {"cloned": NOW - timedelta(hours=1), "booted": NOW}


# ensure_resource ------------------------------------------------------------------------------

DISK_ID = "/subscriptions/s/resourceGroups/rg-avd-images/providers/Microsoft.Compute/disks/office--run-1--disk"


class Starter:
    def __init__(self, error: AzureOperationError | None = None) -> None:
        self.calls, self.error = 0, error

    def __call__(self) -> str:
        self.calls += 1
        if self.error is not None:
            raise self.error
        return "started"


def ensure(pending: PendingOperation | None, state: OperationState, starter: Starter, **kwargs: object) -> object:
    compute = StepCompute(states={DISK_ID: state}, retry_after=33.0)
    c = ctx(pending, compute=compute, **kwargs)  # type: ignore[arg-type]
    return ensure_resource(c, "Microsoft.Compute/disks", "office--run-1--disk", "disk", starter)


@pytest.mark.parametrize("pending", [None, op("snapshot")])
def test_ensure_starts_the_resource_and_waits_the_first_look(pending: PendingOperation | None) -> None:
    """With no pending operation of its kind, the resource is started and the step waits its first look."""
    starter = Starter()
    outcome = ensure(pending, OperationState.MISSING, starter, took={"disk": 600.0})
    assert starter.calls == 1
    assert outcome == Outcome(
        wait=timedelta(seconds=300),
        pending=PendingOperation(kind="disk", resource_id=DISK_ID, started_at=NOW, retry_after=33.0),
    )


def test_ensure_after_a_crash_goes_on_when_the_resource_exists() -> None:
    """A redelivery whose start meets Conflict goes on when the resource exists, and fails when it does not."""
    starter = Starter(AzureOperationError("create disk", "Conflict", "busy", status=409))
    outcome = ensure(None, OperationState.IN_PROGRESS, starter)
    assert isinstance(outcome, Outcome)
    assert outcome.pending is not None
    assert outcome.pending.kind == "disk"
    with pytest.raises(AzureOperationError):
        ensure(None, OperationState.MISSING, starter)


@pytest.mark.parametrize(
    ("state", "checks", "expected"),
    [
        (OperationState.SUCCEEDED, 0, None),
        (OperationState.FAILED, 0, Outcome(fail="disk office--run-1--disk failed to provision")),
        (
            OperationState.MISSING,
            2,
            Outcome(fail="disk office--run-1--disk was never created (started 07:58)"),
        ),
    ],
)
def test_ensure_on_a_look_reads_the_resources_state(
    state: OperationState, checks: int, expected: Outcome | None
) -> None:
    """Succeeded: go on; failed: fail naming it; still missing on the third look: fail with its start time."""
    starter = Starter()
    assert ensure(op("disk", ago=120, checks=checks), state, starter) == expected
    assert starter.calls == 0


@pytest.mark.parametrize(("state", "checks"), [(OperationState.IN_PROGRESS, 5), (OperationState.MISSING, 1)])
def test_ensure_waits_while_the_resource_is_coming(state: OperationState, checks: int) -> None:
    """In progress, or missing on an early look: wait on the back-off with one more check."""
    current = op("disk", ago=100, checks=checks, resource_id=DISK_ID)
    outcome = ensure(current, state, Starter(), took={"disk": 600.0})
    assert outcome == Outcome(wait=timedelta(seconds=200), pending=current.model_copy(update={"checks": checks + 1}))
