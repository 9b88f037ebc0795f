"""Time and the hourly timer (issue 13): a skewed clock decides nothing alone; one error costs nothing else."""

from __future__ import annotations

import dataclasses
from datetime import timedelta
from pathlib import Path

from shared.adapters.local_bus import LocalBus
from shared.domain.catalog import load_catalog
from shared.domain.commands import ContinueRun, Envelope
from shared.domain.compute import EXPIRES_TAG, RUN_TAG, WORKLOAD_TAG, OperationState, TaggedResource
from shared.domain.errors import AzureOperationError
from shared.domain.model import BuildReason, PendingOperation, Run, RunState, Status
from shared.domain.records import Changes
from shared.entrypoints import Entrypoints
from shared.messagebus import MessageBus
from shared.steps import runs
from shared.steps.schedule import due_builds
from shared.steps.sweep import sweep
from tests.conftest import make_version
from tests.unit.fakes import FakeClock, FakeCompute, make_deps, replicated

CATALOG = load_catalog(Path(__file__).resolve().parents[2] / "catalog")
NIC = "Microsoft.Network/networkInterfaces"


class NicInUseCompute(FakeCompute):
    """Azure refuses to delete a NIC whose VM is still being deleted."""

    def start_delete(self, resource_id: str) -> None:
        if NIC in resource_id:
            raise AzureOperationError("delete NIC", "NicInUse", "the NIC is attached to a VM being deleted", 400)
        super().start_delete(resource_id)


def resource(kind: str, name: str, owner: str, expires: str) -> TaggedResource:
    tags = {RUN_TAG: owner, WORKLOAD_TAG: "office", EXPIRES_TAG: expires}
    return TaggedResource(f"/subscriptions/s/resourceGroups/rg/providers/{kind}/{name}", kind, name, tags)


def running(clock: FakeClock, run_id: str = "patch-2026-11", **changes: object) -> Run:
    run = Run(workload="office", run_id=run_id, reason=BuildReason.PATCH, requested_by="s", started_at=clock.now())
    return run.evolve(**changes)


def test_the_sweeper_keeps_a_running_builds_vm_whatever_its_expiry_tag_says() -> None:
    """On an instance whose clock is 25 h ahead every tag looks expired: the run's state decides."""
    clock = FakeClock()
    tag = (clock.now() + timedelta(hours=24)).isoformat()
    compute = FakeCompute(tagged=[resource("Microsoft.Compute/virtualMachines", "office--patch--vm", "patch", tag)])
    deps = make_deps(CATALOG, compute=compute, clock=clock)
    deps.records.commit(Changes(workload="office", run=running(clock, "patch")))
    assert sweep(deps, clock.now() + timedelta(hours=25)) == []
    assert compute.calls == []


def test_nic_in_use_never_costs_the_hours_prune_messages() -> None:
    """The sweeper's first pass after removing a VM meets NicInUse: the prunes are still sent."""
    clock = FakeClock()
    tag = clock.now().isoformat()
    compute = NicInUseCompute(
        tagged=[
            resource("Microsoft.Compute/virtualMachines", "office--done--vm", "done", tag),
            resource(NIC, "office--old--vm-nic", "old", tag),
        ]
    )
    deps = make_deps(CATALOG, compute=compute, clock=clock)
    for run_id in ("done", "old"):
        deps.records.commit(Changes(workload="office", run=running(clock, run_id, state=RunState.FAILED)))
    bus = LocalBus(clock, lambda envelope: None)
    handled = Entrypoints(deps, bus).retention_and_sweep()
    assert {e.subject for e in handled.sent} >= {"prune", "reconcile"}
    assert "NicInUse" in handled.note
    assert ("start_delete", compute.tagged[0].id) in compute.calls


def test_a_version_stamped_60_days_ahead_does_not_skip_the_next_patch_rebuild() -> None:
    """A forward clock jump recorded a build in the future: the scheduler still builds this window."""
    clock = FakeClock()
    clock.current = clock.current.replace(month=12, day=15, hour=6)
    deps = make_deps(CATALOG, clock=clock)
    future = make_version("1.0.0", workload="office", created_at=clock.now() + timedelta(days=60))
    deps.records.commit(Changes(workload="office", versions=[future]))
    assert [b.run_id for b in due_builds(deps, clock.now()) if b.workload == "office"] == ["patch-2026-12"]


def test_one_skewed_check_does_not_time_a_step_out() -> None:
    """An instance 25 h ahead sees a step 'overdue' on its first re-check: the run's own sequence says no."""
    clock = FakeClock()
    capturing = dataclasses.replace(replicated("1.0.0"), provisioning=OperationState.IN_PROGRESS)
    deps = make_deps(CATALOG, compute=FakeCompute(versions={"1.0.0": capturing}), clock=clock)
    pending = PendingOperation(kind="version-create", started_at=clock.now(), checks=1)
    version = make_version("1.0.0", workload="office", status=Status.CAPTURING)
    run = running(clock, step="capture", pending=pending, version=version.version, attempt=4)
    deps.records.commit(Changes(workload="office", run=run, versions=[version]))
    clock.advance(timedelta(hours=25))
    command = ContinueRun(workload="office", run_id=run.run_id, step="capture", attempt=4, version="1.0.0")
    sent = MessageBus(deps).handle(command)
    after = deps.records.find_run("office", run.run_id)
    assert after is not None
    assert (after.state, after.step, after.failure_reason) == (RunState.RUNNING, "capture", "")
    assert [e.subject for e in sent] == ["continue-run"]  # a re-check, as without the skew


def test_the_watchdog_fails_only_a_run_whose_sequence_did_not_move() -> None:
    """The watchdog's check fails a run still at the step and attempt it saw; a run that moved on is left."""
    clock = FakeClock()
    deps = make_deps(CATALOG, clock=clock)
    deps.records.commit(
        Changes(
            workload="office",
            run=running(clock, step="sysprep", attempt=7),
            pointers=deps.records.get_pointers("office").evolve(active_run="patch-2026-11"),
        )
    )
    clock.advance(timedelta(hours=4))
    checks = runs.watchdog(deps, clock.now())
    assert len(checks) == 1
    assert checks[0].scheduled_for == clock.now() + runs.WATCHDOG_GRACE
    moved = deps.records.find_run("office", "patch-2026-11")
    assert moved is not None
    deps.records.commit(Changes(workload="office", run=moved.evolve(attempt=8)))
    bus = MessageBus(deps)
    command = Envelope.model_validate(checks[0].model_dump())
    from shared.messagebus import decode

    assert bus.handle(decode(command.body)) == []
    assert deps.records.find_run("office", "patch-2026-11").state is RunState.RUNNING  # type: ignore[union-attr]
    stuck = deps.records.find_run("office", "patch-2026-11")
    assert stuck is not None
    deps.records.commit(Changes(workload="office", run=stuck.evolve(attempt=7)))
    sent = bus.handle(decode(command.body))
    failed = deps.records.find_run("office", "patch-2026-11")
    assert failed is not None
    assert failed.step == "abort"
    assert "no progress in step sysprep" in failed.failure_reason
    assert [e.subject for e in sent] == ["continue-run"]
