"""Build invariants on the simulator: hidden from latest until promoted, nothing temporary left behind."""

from __future__ import annotations

from datetime import timedelta

from localrun.runtime import LocalRuntime
from localrun.scenario import BUILDER, build
from shared.domain.catalog import Catalog
from shared.domain.commands import ContinueRun, StartBuild
from shared.domain.compute import RUN_TAG
from shared.domain.model import BuildReason, RunState, Stage, Status

WORKLOAD = "office"


def test_a_fresh_build_is_hidden_from_latest(catalog: Catalog) -> None:
    """A version that only serves test is never what 'latest' resolves to: excludeFromLatest is set at capture."""
    runtime = LocalRuntime(catalog)
    build(runtime, WORKLOAD, "first-build", BuildReason.FIRST)
    version = runtime.records.find_version(WORKLOAD, runtime.records.get_pointers(WORKLOAD).test)  # type: ignore[arg-type]
    assert version is not None
    assert (version.status, version.stage) == (Status.READY, Stage.TEST)
    gallery = catalog.get(WORKLOAD).gallery
    state = runtime.compute.get_gallery_version(gallery.name, gallery.definition, str(version.version))
    assert state is not None
    assert state.exclude_from_latest is True


def test_a_temp_vm_refused_by_azure_leaves_no_disk_or_nic(catalog: Catalog) -> None:
    """The failure path also removes the cloned disk and the NIC that never got their VM."""
    runtime = LocalRuntime(catalog)
    build(runtime, WORKLOAD, "first-build", BuildReason.FIRST)  # the source VM exists from here on
    runtime.sim.faults.fail_once(
        "Microsoft.Compute/virtualMachines/write", "InvalidParameter", "The value of parameter x is invalid."
    )
    build(runtime, WORKLOAD, "patch-build", BuildReason.PATCH)
    run = runtime.records.find_run(WORKLOAD, "patch-build")
    assert run is not None
    assert run.state is RunState.FAILED
    assert "The value of parameter x is invalid." in run.failure_reason
    left = [(r["type"], r["name"]) for r in runtime.sim.live_resources(tag=RUN_TAG)]
    assert left == []
    assert runtime.records.get_pointers(WORKLOAD).active_run is None


def test_a_stale_step_message_does_not_run_its_step_again(catalog: Catalog) -> None:
    """Re-delivering the message of a step the running build has moved past starts nothing in Azure again."""
    runtime = LocalRuntime(catalog)
    build(runtime, WORKLOAD, "first-build", BuildReason.FIRST)
    runtime.submit(StartBuild(workload=WORKLOAD, run_id="patch", reason=BuildReason.PATCH, requested_by=BUILDER))
    early = ("source-vm", "customize", "snapshot", "disk")
    run = runtime.records.find_run(WORKLOAD, "patch")
    while run is None or run.step in early:  # bounded: a build leaves these steps within its first hour
        runtime.run_until(runtime.sim.clock.now() + timedelta(minutes=1))  # the clock moves even when nothing falls due
        run = runtime.records.find_run(WORKLOAD, "patch")
    assert run.state is RunState.RUNNING
    before = len(runtime.sim.request_log)
    runtime.submit(ContinueRun(workload=WORKLOAD, run_id="patch", step="snapshot", attempt=1, trigger="next"))
    runtime.run(until=runtime.sim.clock.now())
    writes = [r.action.lower() for r in runtime.sim.request_log[before:] if r.method != "GET"]
    assert not [w for w in writes if "snapshots" in w or "disks" in w]
    assert runtime.records.find_run(WORKLOAD, "patch") == run  # not even the current step ran out of turn
