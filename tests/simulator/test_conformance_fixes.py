"""Behaviours the REST examples brought in, checked through the real SDK both ways in."""

from __future__ import annotations

from typing import Any

import pytest
from azure.core.exceptions import HttpResponseError

from tests.simulator.conftest import LOC, RG, SUB, Env, make_network, make_nic, make_vm, vm_body
from tests.simulator.test_pipeline import DEF, GALLERY, _gallery, _prepared_vm

VM_ID = f"/subscriptions/{SUB}/resourceGroups/{RG}/providers/Microsoft.Compute/virtualMachines/tmp"
DEF_ID = f"/subscriptions/{SUB}/resourceGroups/{RG}/providers/Microsoft.Compute/galleries/{GALLERY}/images/{DEF}"


def _version(env: Env, name: str, target_regions: list[dict[str, Any]]) -> None:
    env.compute.gallery_image_versions.begin_create_or_update(
        RG,
        GALLERY,
        DEF,
        name,
        {
            "location": LOC,
            "properties": {
                "storageProfile": {"source": {"virtualMachineId": VM_ID}},
                "publishingProfile": {"targetRegions": target_regions},
            },
        },
    ).result()


def test_vm_carries_an_etag_and_returns_user_data_only_when_expanded(env: Env) -> None:
    """A VM has an etag that changes with each write; userData comes back only with $expand=userData."""
    make_network(env)
    body = vm_body(make_nic(env, "ud-nic"))
    body["properties"]["userData"] = "RXhhbXBsZSBVc2VyRGF0YQ=="
    env.compute.virtual_machines.begin_create_or_update(RG, "ud", body).result()
    plain = env.compute.virtual_machines.get(RG, "ud")
    assert plain.etag == '"1"'
    assert plain.user_data is None
    expanded = env.compute.virtual_machines.get(RG, "ud", expand="userData")
    assert expanded.user_data == "RXhhbXBsZSBVc2VyRGF0YQ=="
    body["tags"] = {"k": "v"}
    env.compute.virtual_machines.begin_create_or_update(RG, "ud", body).result()
    assert env.compute.virtual_machines.get(RG, "ud").etag == '"2"'


def test_instance_view_reports_update_and_fault_domain(env: Env) -> None:
    """The instance view carries platformUpdateDomain and platformFaultDomain (VirtualMachine_Get_InstanceView)."""
    make_vm(env)
    view = env.compute.virtual_machines.instance_view(RG, "vm1")
    assert view.platform_update_domain == 0
    assert view.platform_fault_domain == 0


def test_region_exclude_from_latest_hides_the_version_in_that_region_only(env: Env) -> None:
    """targetRegions[].excludeFromLatest keeps 'latest' on the older version in that region, not elsewhere."""
    _gallery(env)
    _prepared_vm(env)
    _version(env, "1.0.0", [{"name": LOC, "regionalReplicaCount": 1}, {"name": "northeurope"}])
    _version(
        env,
        "1.0.1",
        [{"name": LOC, "regionalReplicaCount": 1, "excludeFromLatest": True}, {"name": "northeurope"}],
    )
    stored = env.compute.gallery_image_versions.get(RG, GALLERY, DEF, "1.0.1")
    regions = {r.name: r for r in stored.publishing_profile.target_regions}
    assert regions["West Europe"].exclude_from_latest is True
    assert regions["North Europe"].exclude_from_latest is False
    assert env.sim.gallery.resolve_for_deployment(DEF_ID, LOC).res.name == "1.0.0"
    assert env.sim.gallery.resolve_for_deployment(DEF_ID, "northeurope").res.name == "1.0.1"


def test_region_encryption_survives_a_patch_that_leaves_it_out(env: Env) -> None:
    """A region's encryption is kept when a later PATCH sends the region without it (GalleryImageVersion_Update)."""
    _gallery(env)
    _prepared_vm(env)
    des = f"/subscriptions/{SUB}/resourceGroups/{RG}/providers/Microsoft.Compute/diskEncryptionSets/des"
    _version(env, "1.0.0", [{"name": LOC, "encryption": {"osDiskImage": {"diskEncryptionSetId": des}}}])
    env.compute.gallery_image_versions.begin_update(
        RG,
        GALLERY,
        DEF,
        "1.0.0",
        {
            "properties": {
                "publishingProfile": {"targetRegions": [{"name": LOC}, {"name": "northeurope"}]},
                "storageProfile": {},
            }
        },
    ).result()
    regions = {
        r.name: r
        for r in env.compute.gallery_image_versions.get(RG, GALLERY, DEF, "1.0.0").publishing_profile.target_regions
    }
    assert regions["West Europe"].encryption.os_disk_image.disk_encryption_set_id == des
    assert regions["North Europe"].encryption is None


def test_specialized_image_refuses_an_os_profile(env: Env) -> None:
    """A VM from a specialized gallery image is created without osProfile; one that sends it is refused."""
    env.compute.galleries.begin_create_or_update(RG, GALLERY, {"location": LOC}).result()
    env.compute.gallery_images.begin_create_or_update(
        RG,
        GALLERY,
        "spec",
        {
            "location": LOC,
            "properties": {
                "osType": "Windows",
                "osState": "Specialized",
                "hyperVGeneration": "V2",
                "identifier": {"publisher": "contoso", "offer": "avd", "sku": "spec"},
                # the source VM is Trusted Launch: its guest state needs a TrustedLaunch definition
                "features": [{"name": "SecurityType", "value": "TrustedLaunch"}],
            },
        },
    ).result()
    make_vm(env, "src")
    env.compute.virtual_machines.begin_deallocate(RG, "src").result()
    src_id = VM_ID.replace("/tmp", "/src")
    env.compute.gallery_image_versions.begin_create_or_update(
        RG,
        GALLERY,
        "spec",
        "1.0.0",
        {"location": LOC, "properties": {"storageProfile": {"source": {"virtualMachineId": src_id}}}},
    ).result()
    image = {"id": DEF_ID.replace(f"/images/{DEF}", "/images/spec")}
    body = vm_body(make_nic(env, "s1-nic"), image=image)
    with pytest.raises(HttpResponseError) as refused:
        env.compute.virtual_machines.begin_create_or_update(RG, "s1", body).result()
    assert refused.value.status_code == 400
    assert "osProfile" in str(refused.value.message)
    del body["properties"]["osProfile"]
    vm = env.compute.virtual_machines.begin_create_or_update(RG, "s1", body).result()
    assert vm.provisioning_state == "Succeeded"
    assert vm.os_profile is None
