"""BitLocker is turned off once on a source VM, against the simulator: a later build on the same
OS disk starts its customizations at once, and a source that a policy encrypted again is
decrypted after the inventory sees it, before anything is cloned."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from localrun.runtime import LocalRuntime
from localrun.scenario import PATCH_BUILD_AT, build
from shared.domain import naming
from shared.domain.catalog import Catalog
from shared.domain.model import BuildReason, RunState, VersionNumber
from simulator import Simulator

ANALYST = "data-analyst"


def _runtime(catalog: Catalog, table_store: Any) -> LocalRuntime:
    simulator = Simulator(start=datetime(2026, 11, 2, 8, 0, tzinfo=UTC), auto_advance_on_poll=False)
    return LocalRuntime(catalog, records=table_store, simulator=simulator)


def _first_then_patch_time(runtime: LocalRuntime) -> None:
    build(runtime, ANALYST, "first-build", BuildReason.FIRST)
    runtime.sim.clock.advance_to(max(PATCH_BUILD_AT, runtime.sim.clock.now() + timedelta(minutes=1)))


def _action_scripts_on_source(runtime: LocalRuntime, since: int) -> int:
    """Action Run Commands (BitLocker off and status) sent to the source VM since request `since`."""
    source = f"/virtualmachines/{naming.source_vm_name(ANALYST)}/runcommand".lower()
    return sum(1 for e in runtime.sim.request_log[since:] if e.method == "POST" and source in e.path.lower())


def _source_guest(runtime: LocalRuntime) -> Any:
    name = naming.source_vm_name(ANALYST).lower()
    vm = next(v for v in runtime.sim.compute.vms.values() if v.res.name.lower() == name)
    return runtime.sim.compute.guest_of(vm)


def test_a_patch_build_on_the_decrypted_source_starts_customizing_at_once(catalog: Catalog, table_store: Any) -> None:
    """The first build decrypts the source VM; the patch build sends it no BitLocker script."""
    runtime = _runtime(catalog, table_store)
    _first_then_patch_time(runtime)
    assert _action_scripts_on_source(runtime, 0) >= 1  # the first build turned BitLocker off
    before = len(runtime.sim.request_log)
    build(runtime, ANALYST, "patch-build", BuildReason.PATCH)
    run = runtime.records.find_run(ANALYST, "patch-build")
    assert run is not None
    assert run.state is RunState.SUCCEEDED, run.failure_reason
    assert _action_scripts_on_source(runtime, before) == 0
    [said] = [e.detail for e in runtime.records.list_events(ANALYST) if e.kind == "source-bitlocker"][1:]
    assert "FullyDecrypted with PreventDeviceEncryption=1 at the end of the last run" in said
    evidence = runtime.records.get_version(ANALYST, VersionNumber.parse("1.0.1")).bitlocker
    assert evidence is not None
    assert evidence.state_before.startswith("FullyDecrypted")


def test_a_source_encrypted_again_is_decrypted_before_the_clone(catalog: Catalog, table_store: Any) -> None:
    """A policy re-encrypted the source between builds: the inventory sees it, BitLocker is turned
    off then, and the clone still arrives FullyDecrypted (no clone is decrypted)."""
    runtime = _runtime(catalog, table_store)
    _first_then_patch_time(runtime)
    _source_guest(runtime).set_encrypted()
    before = len(runtime.sim.request_log)
    build(runtime, ANALYST, "patch-build", BuildReason.PATCH)
    run = runtime.records.find_run(ANALYST, "patch-build")
    assert run is not None
    assert run.state is RunState.SUCCEEDED, run.failure_reason
    assert _action_scripts_on_source(runtime, before) >= 2  # BitLocker off, then its status until decrypted
    details = [e.detail for e in runtime.records.list_events(ANALYST) if e.kind == "source-bitlocker"]
    assert "decryption started" in details[-1]
    assert not [e for e in runtime.records.list_events(ANALYST) if e.kind == "bitlocker-decrypting"]
    evidence = runtime.records.get_version(ANALYST, VersionNumber.parse("1.0.1")).bitlocker
    assert evidence is not None
    assert evidence.state_before.startswith("FullyDecrypted")
