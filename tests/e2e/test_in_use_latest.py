"""Retention on the simulator: a session host deployed from the image definition ("latest") keeps its version.

ARM answers such a VM with the definition id in `storageProfile.imageReference.id` and the version
it got in `exactVersion` (docs/simulator.md, "Conformance: image references"). The in-use check
used to match version ids only, so the version under a "latest" host was deprecated.
"""

from __future__ import annotations

from localrun.runtime import LocalRuntime
from localrun.scenario import PATCH_BUILD_AT, build
from shared.domain.catalog import Catalog
from shared.domain.compute import VmSpec
from shared.domain.model import BuildReason, Status, VersionNumber
from shared.domain.retention import Action
from shared.steps.versions import plan_prune
from tests.e2e.conftest import with_retention

WORKLOAD = "data-analyst"
V100 = VersionNumber.parse("1.0.0")


def test_host_on_latest_keeps_the_version_it_runs(catalog: Catalog) -> None:
    """keep=1 keeps 1.0.0 while a host deployed from the definition runs it, and retires it once the host is gone."""
    runtime = LocalRuntime(with_retention(catalog, WORKLOAD, keep=1, grace_days=7))
    build(runtime, WORKLOAD, "first-build", BuildReason.FIRST)
    gallery = runtime.catalog.get(WORKLOAD).gallery
    first = runtime.compute.get_gallery_version(gallery.name, gallery.definition, "1.0.0")
    assert first is not None
    runtime.compute.update_gallery_version(gallery.name, gallery.definition, "1.0.0", exclude_from_latest=False)
    runtime.run()
    definition_id = first.id.rsplit("/versions/", 1)[0]
    runtime.compute.start_create_vm(
        VmSpec(
            name="host-latest-1",
            location="westeurope",
            size="Standard_D4s_v5",
            tags={},
            gallery_version_id=definition_id,  # "latest": the definition, no version
            subnet_id=runtime.compute.ensure_network("westeurope"),
        )
    )
    runtime.run()
    host = runtime.compute.compute.virtual_machines.get(runtime.compute.resource_group, "host-latest-1")
    assert host.storage_profile.image_reference.id.lower() == definition_id.lower()
    assert host.storage_profile.image_reference.exact_version == "1.0.0"

    runtime.sim.clock.advance_to(PATCH_BUILD_AT)
    build(runtime, WORKLOAD, "patch-build", BuildReason.PATCH)  # 1.0.1 is newest; 1.0.0 leaves the newest 1
    decisions = {d.version: d for d in plan_prune(WORKLOAD, runtime.deps)}
    assert len(decisions) == 2
    assert (decisions[V100].action, decisions[V100].reason) == (Action.KEEP, "used by a VM or scale set")

    runtime.compute.start_delete(runtime.compute.id_of("Microsoft.Compute/virtualMachines", "host-latest-1"))
    runtime.run()
    assert plan_prune(WORKLOAD, runtime.deps)[-1].action is Action.DEPRECATE
    assert runtime.records.get_version(WORKLOAD, V100).status is not Status.DELETED
