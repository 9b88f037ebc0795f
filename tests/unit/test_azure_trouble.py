"""How a build step treats an Azure error (shared.steps.runs._azure_trouble).

A resource gone mid-step was deleted by hand: the run fails and says so. Throttling and server
errors wait and try again, longer each time, up to AZURE_BUSY_LIMIT checks. Anything else fails
the run with Azure's own words.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from shared.domain.catalog import load_catalog
from shared.domain.compute import OperationState
from shared.domain.errors import AzureOperationError
from shared.domain.model import BuildReason, PendingOperation, Pointers, Run
from shared.steps.runs import AZURE_BUSY_LIMIT, BUSY, _azure_trouble, _gone_input
from shared.steps.step_context import StepContext
from tests.unit.fakes import FakeClock, FakeCompute, make_deps

CATALOG = load_catalog(Path(__file__).resolve().parents[2] / "catalog")
NOW = FakeClock().current


def context(busy_checks: int | None = None) -> StepContext:
    pending = None if busy_checks is None else PendingOperation(kind=BUSY, started_at=NOW, checks=busy_checks)
    run = Run(
        workload="office",
        run_id="run-1",
        reason=BuildReason.FIRST,
        requested_by="a@b.c",
        started_at=NOW,
        step="capture",
        pending=pending,
    )
    return StepContext(make_deps(CATALOG), CATALOG.get("office"), run, None, NOW, Pointers(workload="office"))


def test_a_resource_gone_mid_step_fails_the_run_naming_a_deletion_by_hand() -> None:
    """NotFound (or any 404) fails the step with the words the status page shows for a hand deletion."""
    for error in (
        AzureOperationError("get vm", "ResourceNotFound", "no vm"),
        AzureOperationError("get vm", "SomethingElse", "gone", status=404),
    ):
        outcome = _azure_trouble(context(), error)
        assert outcome.fail == f"step capture: a resource was deleted outside the product: {error}"


def test_a_permanent_error_fails_the_run_with_azures_words() -> None:
    """A 400 with a non-transient code is not retried: it fails with Azure's message."""
    error = AzureOperationError("create vm", "InvalidParameter", "bad size", status=400)
    outcome = _azure_trouble(context(), error)
    assert outcome.fail == "create vm failed: InvalidParameter: bad size"
    assert (outcome.wait, outcome.pending) == (None, None)


def test_throttling_waits_longer_each_time_and_is_counted() -> None:
    """429: wait 1 minute on the first, one more minute per check, at most 10 minutes."""
    error = AzureOperationError("create vm", "TooManyRequests", "slow down", status=429)
    first = _azure_trouble(context(), error)
    assert first.fail is None
    assert first.pending is not None
    assert (first.pending.kind, first.pending.checks, first.wait) == (BUSY, 0, timedelta(minutes=1))
    third = _azure_trouble(context(busy_checks=2), error)
    assert third.pending is not None
    assert (third.pending.checks, third.wait) == (3, timedelta(minutes=4))
    late = _azure_trouble(context(busy_checks=20), error)
    assert late.wait == timedelta(minutes=10)


def test_transient_errors_fail_the_run_after_the_limit() -> None:
    """After AZURE_BUSY_LIMIT (60) checks a server error fails the run and says how many tries it took."""
    error = AzureOperationError("create vm", "InternalServerError", "oops", status=500)
    assert _azure_trouble(context(busy_checks=AZURE_BUSY_LIMIT - 2), error).fail is None
    outcome = _azure_trouble(context(busy_checks=AZURE_BUSY_LIMIT - 1), error)
    assert outcome.fail == f"Azure kept failing transiently (60 tries): {error}"


class GoneCompute(FakeCompute):
    """Answers resource_state for the temp VM, or refuses to."""

    state: OperationState = OperationState.MISSING
    refuse: bool = False

    def resource_state(self, resource_id: str) -> OperationState:
        self.calls.append(("resource_state", resource_id))
        if self.refuse:
            raise AzureOperationError("get", "InternalServerError", "down", status=500)
        return self.state


def gone_context(compute: GoneCompute, step: str = "capture") -> StepContext:
    deps = make_deps(CATALOG, compute=compute)
    run = Run(
        workload="office", run_id="run-1", reason=BuildReason.FIRST, requested_by="a@b.c", started_at=NOW, step=step
    )
    return StepContext(deps, CATALOG.get("office"), run, None, NOW, Pointers(workload="office"))


def test_a_failed_step_whose_temp_vm_is_gone_says_it_was_deleted_by_hand() -> None:
    """The capture step's VM is missing: the failure names it as deleted outside the product."""
    compute = GoneCompute()
    assert _gone_input(gone_context(compute)) == "vm office--run-1--vm was deleted outside the product"
    vm_id = (
        "/subscriptions/s/resourceGroups/rg-avd-images/providers/Microsoft.Compute/virtualMachines/office--run-1--vm"
    )
    assert compute.calls == [("resource_state", vm_id)]
    disk = GoneCompute()
    assert _gone_input(gone_context(disk, step="temp-vm")) == "disk office--run-1--disk was deleted outside the product"


def test_a_temp_resource_still_there_or_unreadable_adds_nothing() -> None:
    """The VM exists, or Azure cannot say: the failure is left as it is."""
    there = GoneCompute()
    there.state = OperationState.SUCCEEDED
    assert _gone_input(gone_context(there)) == ""
    down = GoneCompute()
    down.refuse = True
    assert _gone_input(gone_context(down)) == ""
