"""Sysprep and BitLocker deadlines count on the run's record (issue 13), not on one instance's clock.

The step's age is counted from its recorded start, one handled delivery at a time, on the
product's clock (virtual here): a hung sysprep fails after 90 minutes of virtual time, and an
instance whose clock runs 25 h ahead cannot fail a healthy one on its first look.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from shared.domain.catalog import load_catalog
from shared.domain.commands import ContinueRun
from shared.domain.compute import OperationState, ScriptResult, VmState
from shared.domain.model import BitLockerEvidence, BuildReason, PendingOperation, Run, RunState, Status
from shared.domain.records import Changes
from shared.messagebus import MessageBus, decode
from shared.steps import deadlines
from shared.steps.build_image import SYSPREP_TIMEOUT
from shared.steps.deps import Deps
from tests.conftest import make_version
from tests.unit.fakes import FakeClock, FakeCompute, make_deps

CATALOG = load_catalog(Path(__file__).resolve().parents[2] / "catalog")
STILL_RUNNING = '{"imageState":"IMAGE_STATE_UNDEPLOYABLE","sysprepRunning":true,"errors":[]}'
NOT_DONE = '{"volumeStatus":"DecryptionInProgress","encryptionPercentage":60}'


@dataclass
class HungGuest(FakeCompute):
    """A temp VM that keeps running: sysprep's command never reports, BitLocker never finishes decrypting."""

    answer: str = STILL_RUNNING

    def get_vm(self, name: str) -> VmState:
        return VmState(f"/vms/{name}", name, OperationState.SUCCEEDED, "running", False, "/disks/os", (), "")

    def resource_state(self, resource_id: str) -> OperationState:
        return OperationState.SUCCEEDED

    def start_script(self, vm_name: str, script: str) -> str:
        self.calls.append(("start_script", vm_name))
        return f"op-{len(self.calls)}"

    def script_result(self, operation: str) -> ScriptResult:
        return ScriptResult(self.answer, "")

    def start_managed_script(self, vm_name: str, name: str, text: str, timeout: timedelta, location: str) -> None:
        self.calls.append(("start_managed_script", vm_name))

    def managed_script_result(self, vm_name: str, name: str) -> None:
        return None  # sysprep's command never reports


@dataclass
class SkewedClock:
    real: FakeClock
    skew: timedelta

    def now(self) -> datetime:
        return self.real.now() + self.skew


def at_step(deps: Deps, step: str, bitlocker: BitLockerEvidence | None = None, **changes: object) -> Run:
    """A running run of office at `step`, just entered (as the step before it leaves it)."""
    now = deps.clock.now()
    version = make_version("1.0.0", workload="office", status=Status.BUILDING, bitlocker=bitlocker)
    run = Run(workload="office", run_id="patch-1", reason=BuildReason.PATCH, requested_by="s", started_at=now)
    run = run.evolve(step=step, version=version.version, step_started_at=now, **deadlines.started(now), **changes)
    deps.records.commit(Changes(workload="office", run=run, versions=[version]))
    stored = deps.records.find_run("office", run.run_id)
    assert stored is not None
    return stored


def deliver(deps: Deps, run: Run) -> list[ContinueRun]:
    """Handle the run's current message; returns the re-checks it scheduled."""
    command = ContinueRun(workload="office", run_id=run.run_id, step=run.step, attempt=run.attempt, version="1.0.0")
    sent = MessageBus(deps).handle(command)
    return [decode(e.body) for e in sent]  # type: ignore[misc]


def until_it_ends(deps: Deps, clock: FakeClock, step: str) -> tuple[Run, timedelta]:
    """Deliver every scheduled re-check at its time until the run leaves `step`; the virtual time it took."""
    start = clock.now()
    for _ in range(500):
        run = deps.records.find_run("office", "patch-1")
        assert run is not None
        if run.step != step:
            return run, clock.now() - start
        handled = MessageBus(deps).handle(
            ContinueRun(workload="office", run_id=run.run_id, step=run.step, attempt=run.attempt, version="1.0.0")
        )
        later = [e.scheduled_for for e in handled if e.scheduled_for is not None]
        if later:
            clock.current = max(clock.current, min(later))
    raise AssertionError(f"the run never left {step}")


def test_a_hung_sysprep_fails_after_its_deadline_in_virtual_time() -> None:
    """A sysprep whose command never reports fails once 90 virtual minutes have passed since the step began, not before."""
    clock = FakeClock()
    deps = make_deps(CATALOG, compute=HungGuest(), clock=clock)
    at_step(deps, "sysprep")
    run, took = until_it_ends(deps, clock, "sysprep")
    assert run.step == "abort"
    assert run.failure_reason.endswith(f"did not finish within {SYSPREP_TIMEOUT.total_seconds() / 60:.0f} minutes")
    assert SYSPREP_TIMEOUT < took <= SYSPREP_TIMEOUT + timedelta(minutes=30)


def test_an_instance_25_hours_ahead_does_not_time_sysprep_out() -> None:
    """The first look of an instance whose clock runs 25 h ahead counts one re-check's wait, not 25 hours."""
    real = FakeClock()
    deps = make_deps(CATALOG, compute=HungGuest(), clock=real)
    run = at_step(deps, "sysprep")
    waiting = deadlines.waiting(run, real.now(), timedelta(minutes=5))  # the step's first look asked for 5 min
    pending = PendingOperation(kind="managed:sysprep", resource_id="vm/runCommands/avd-sysprep", started_at=real.now())
    deps.records.commit(Changes(workload="office", run=run.evolve(pending=pending, **waiting)))
    real.advance(timedelta(minutes=5))
    ahead = dataclasses.replace(deps, clock=SkewedClock(real, timedelta(hours=25)))
    after = deps.records.find_run("office", "patch-1")
    assert after is not None
    sent = deliver(ahead, after)
    checked = deps.records.find_run("office", "patch-1")
    assert checked is not None
    assert (checked.state, checked.step, checked.failure_reason) == (RunState.RUNNING, "sysprep", "")
    assert sent
    assert timedelta(seconds=checked.step_progress) <= timedelta(minutes=5) + deadlines.SLACK


def test_an_instance_25_hours_ahead_does_not_time_bitlocker_out() -> None:
    """BitLocker's limit counts on the run's record: a skewed first look is a re-check, not a failure."""
    real = FakeClock()
    deps = make_deps(CATALOG, compute=HungGuest(answer=NOT_DONE), clock=real)
    evidence = BitLockerEvidence(state_before="FullyEncrypted", started_at=real.now())  # read at clone-check
    run = at_step(deps, "bitlocker", bitlocker=evidence)
    for _ in range(2):  # BitLocker turned off on the clone, decryption under way
        deliver(deps, run)
        run = deps.records.find_run("office", "patch-1")  # type: ignore[assignment]
        real.advance(timedelta(minutes=2))
    assert run.pending is not None
    assert run.pending.kind == "bitlocker-decrypt"
    ahead = dataclasses.replace(deps, clock=SkewedClock(real, timedelta(hours=25)))
    for _ in range(6):  # decryption confirmed, then status scripts started and read
        current = deps.records.find_run("office", "patch-1")
        assert current is not None
        deliver(ahead, current)
        real.advance(timedelta(minutes=2))
    checked = deps.records.find_run("office", "patch-1")
    assert checked is not None
    assert (checked.state, checked.step, checked.failure_reason) == (RunState.RUNNING, "bitlocker", "")
