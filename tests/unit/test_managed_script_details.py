"""Managed Run Command details (shared.steps.managed_script): command names, the VM each read is
about, and Azure's Retry-After carried onto the pending operation."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

from shared.config import Settings
from shared.domain.catalog import load_catalog
from shared.domain.compute import ManagedScriptResult, OperationState, VmState
from shared.domain.model import BuildReason, PendingOperation, Pointers, Run
from shared.steps import managed_script as ms
from shared.steps.outcome import Outcome
from shared.steps.step_context import StepContext
from tests.unit.fakes import FakeClock, make_deps

ROOT = next(p for p in Path(__file__).resolve().parents if (p / "catalog").is_dir())
CATALOG = load_catalog(ROOT / "catalog")
NOW = FakeClock().current
VM_ID = "/subscriptions/s/resourceGroups/rg-avd-images/providers/Microsoft.Compute/virtualMachines/vm1"


@dataclass
class PerVmCompute:
    """Answers per VM: a read about another VM than the one asked finds nothing."""

    results: dict[tuple[str, str], ManagedScriptResult | None] = field(default_factory=dict)
    vms: dict[str, VmState] = field(default_factory=dict)
    retry_after: float | None = 30.0
    calls: list[tuple[str, Any]] = field(default_factory=list)

    def id_of(self, resource_type: str, name: str) -> str:
        return f"/subscriptions/s/resourceGroups/rg-avd-images/providers/{resource_type}/{name}"

    def managed_script_result(self, vm_name: str, name: str) -> ManagedScriptResult | None:
        return self.results.get((vm_name, name))

    def start_managed_script(self, vm_name: str, name: str, text: str, timeout: timedelta, location: str) -> None:
        self.calls.append(("start_managed_script", (vm_name, name)))

    def start_restart(self, vm_name: str) -> None:
        self.calls.append(("start_restart", vm_name))

    def get_vm(self, name: str) -> VmState | None:
        return self.vms.get(name)


def context(compute: PerVmCompute, pending: PendingOperation | None = None) -> StepContext:
    deps = make_deps(CATALOG, compute=compute)  # type: ignore[arg-type]
    deps.settings = Settings(event_grid=False)
    run = Run(workload="office", run_id="r1", reason=BuildReason.FIRST, requested_by="a@b.c", started_at=NOW,
              pending=pending)  # fmt: skip
    return StepContext(deps, CATALOG.get("office"), run, None, NOW, Pointers(workload="office"))


def test_command_names_keep_letters_of_both_cases_digits_and_dashes() -> None:
    """Upper- and lower-case letters, digits and '-' stay; anything else becomes '-'; 80 characters at most."""
    assert ms.command_name("Inventory-2") == "avd-Inventory-2"
    assert ms.command_name("c0 p1_x.y") == "avd-c0-p1-x-y"
    assert ms.command_name("Z" * 100) == "avd-" + "Z" * 76


def test_the_result_is_read_from_the_vm_it_ran_on() -> None:
    """The finished command is looked up on the named VM."""
    done = ManagedScriptResult("Succeeded", 0, "ok", "", started=NOW)
    compute = PerVmCompute(results={("vm1", "avd-inventory"): done})
    pending = PendingOperation(kind="managed:inventory", started_at=NOW, operation="avd-inventory")
    assert ms.managed_script(context(compute, pending), "inventory", "vm1", "x", timedelta(minutes=5)) is done


def test_a_redelivered_start_checks_the_command_on_its_own_vm() -> None:
    """Whether our earlier start is under way is read on the named VM: running there means follow it."""
    compute = PerVmCompute(
        results={("vm1", "avd-inventory"): ManagedScriptResult("Running", None, "", "", started=NOW)}
    )
    waiting = PendingOperation(kind="managed-start:inventory", started_at=NOW, checks=1)
    outcome = ms.managed_script(context(compute, waiting), "inventory", "vm1", "x", timedelta(minutes=5))
    assert isinstance(outcome, Outcome)
    assert outcome.pending is not None
    assert outcome.pending.kind == "managed:inventory"
    assert compute.calls == []


def test_azures_retry_after_is_kept_on_started_scripts_and_restarts() -> None:
    """The Retry-After of the start is recorded on the pending operation, for the back-off to honour."""
    compute = PerVmCompute()
    started = ms.managed_script(context(compute), "inventory", "vm1", "x", timedelta(minutes=5))
    assert isinstance(started, Outcome)
    assert started.pending is not None
    assert started.pending.retry_after == 30.0
    assert started.wait == timedelta(seconds=30)
    restart = ms.restarted(context(compute), "vm1")
    assert restart is not None
    assert restart.pending == PendingOperation(kind="vm-restart", resource_id=VM_ID, started_at=NOW, retry_after=30.0)


def test_a_restart_reads_the_vm_it_restarted() -> None:
    """Back and running is read on the named VM."""
    running = VmState(VM_ID, "vm1", OperationState.SUCCEEDED, "running", False, "", (), "")
    compute = PerVmCompute(vms={"vm1": running})
    restarting = PendingOperation(kind="vm-restart", started_at=NOW - timedelta(minutes=2))
    assert ms.restarted(context(compute, restarting), "vm1") is None


def test_an_earlier_runs_command_on_the_vm_is_not_taken_for_ours() -> None:
    """A finished command of an hour ago on the named VM is an earlier run's: the script is started anew."""
    old = ManagedScriptResult("Succeeded", 0, "", "", started=NOW - timedelta(hours=1))
    compute = PerVmCompute(results={("vm1", "avd-inventory"): old})
    waiting = PendingOperation(kind="managed-start:inventory", started_at=NOW, checks=1)
    ms.managed_script(context(compute, waiting), "inventory", "vm1", "x", timedelta(minutes=5))
    assert compute.calls == [("start_managed_script", ("vm1", "avd-inventory"))]
