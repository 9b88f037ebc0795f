"""Azure's refusals through the whole product: a quota stops a build with Azure's words and leaves nothing;
office's first production promotion keeps each region's storage type."""

from __future__ import annotations

from collections.abc import Callable

from localrun.runtime import LocalRuntime
from localrun.scenario import build, promote
from shared.domain.catalog import Catalog
from shared.domain.compute import RUN_TAG
from shared.domain.model import BuildReason, RunState, Stage, Status, VersionNumber
from shared.domain.naming import source_vm_name
from simulator.backends.policy import vcpus


def test_quota_refused_temp_vm_fails_the_run_quoting_azure_and_removes_disk_and_nic(
    catalog: Catalog, runtime_factory: Callable[..., LocalRuntime]
) -> None:
    """A vCPU quota that fits the source VM but not the temp VM: the run fails with the quota message, no leak."""
    runtime = runtime_factory(catalog)
    cores, _ = vcpus(catalog.get("data-analyst").vm_size)
    runtime.sim.compute.quotas.set("westeurope", cores)  # the source VM uses all of it
    build(runtime, "data-analyst", "quota-run", BuildReason.FIRST)
    [run] = runtime.records.list_runs("data-analyst")
    assert run.state is RunState.FAILED
    assert run.failure_reason is not None
    assert "OperationNotAllowed" in run.failure_reason
    assert "exceeding approved Total Regional Cores quota" in run.failure_reason
    assert "was never created" not in run.failure_reason
    assert [r["name"] for r in runtime.sim.live_resources(tag=RUN_TAG)] == []
    names = {r["name"] for r in runtime.sim.live_resources()}
    assert not [n for n in names if "quota-run" in n or "-tmp" in n], names
    assert runtime.bus.dead_letters == []


def test_office_reaches_production_without_changing_a_region_storage_type(
    catalog: Catalog, runtime_factory: Callable[..., LocalRuntime]
) -> None:
    """westeurope is replicated ZRS from the test build on, so the production promotion is accepted;
    the source VM of a TrustedLaunchSupported workload is explicitly Standard, so its capture is too."""
    runtime, office, v100 = runtime_factory(catalog), catalog.get("office"), VersionNumber.parse("1.0.0")
    build(runtime, "office", "office-first", BuildReason.FIRST)
    for stage in (Stage.VALIDATION, Stage.PRODUCTION):
        promote(runtime, "office", "1.0.0", stage)  # signed by every approver the stage needs
    history = [f"{e.kind}: {e.detail}" for e in runtime.records.list_events("office", v100)]
    version = runtime.records.get_version("office", v100)
    assert (version.status, version.stage) == (Status.READY, Stage.PRODUCTION), history
    gallery = office.gallery
    state = runtime.compute.get_gallery_version(gallery.name, gallery.definition, "1.0.0")
    assert state is not None
    source = runtime.compute.compute.virtual_machines.get(runtime.compute.resource_group, source_vm_name("office"))
    assert source.security_profile.security_type == "Standard"
    kinds = {t.name.replace(" ", "").lower(): (t.storage_account_type, t.replica_count) for t in state.targets}
    assert kinds == {"westeurope": ("Standard_ZRS", 2), "northeurope": ("Standard_ZRS", 2)}


def test_quota_refused_source_vm_fails_the_run_and_leaves_no_nic(
    catalog: Catalog, runtime_factory: Callable[..., LocalRuntime]
) -> None:
    """No room even for the source VM: the run fails quoting Azure, and the NIC made for the VM is removed."""
    runtime = runtime_factory(catalog)
    runtime.sim.compute.quotas.set("westeurope", 2)
    build(runtime, "data-analyst", "no-room", BuildReason.FIRST)
    [run] = runtime.records.list_runs("data-analyst")
    assert run.state is RunState.FAILED
    assert "exceeding approved Total Regional Cores quota" in (run.failure_reason or "")
    runtime.sim.clock.run_until_idle()
    names = {r["name"] for r in runtime.sim.live_resources() if r["type"] == "Microsoft.Network/networkInterfaces"}
    assert names == set()
