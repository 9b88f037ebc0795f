"""The simulator refuses what Azure refuses, with Azure's codes and messages, through the real SDK.

Sources per behaviour: docs/simulator.md, "Conformance: refusals and timing".
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from azure.core.exceptions import HttpResponseError

from shared.adapters import guest_scripts as gs
from tests.simulator import test_pipeline as pipeline
from tests.simulator.conftest import LOC, RG, SUB, Env, make_network, make_nic, make_vm, vm_body

VM_ID = f"/subscriptions/{SUB}/resourceGroups/{RG}/providers/Microsoft.Compute/virtualMachines/tmp"


def _error(exc: pytest.ExceptionInfo[HttpResponseError]) -> tuple[int | None, str, str]:
    err = exc.value.error
    assert err is not None
    return exc.value.status_code, str(err.code), str(err.message)


def _version_body(regions: list[dict[str, Any]], **props: Any) -> dict[str, Any]:
    return {
        "location": LOC,
        "properties": {
            "storageProfile": {"source": {"virtualMachineId": VM_ID}},
            "publishingProfile": {"targetRegions": regions},
            **props,
        },
    }


def _prepared(env: Env, security: str | None) -> None:
    """A decrypted, sysprepped, deallocated, generalized VM 'tmp' of the given (or omitted) security type."""
    make_network(env)
    body = vm_body(make_nic(env, "tmp-nic"))
    if security is None:
        del body["properties"]["securityProfile"]
    else:
        body["properties"]["securityProfile"] = {"securityType": security}
    env.compute.virtual_machines.begin_create_or_update(RG, "tmp", body).result()
    pipeline.run(env, "tmp", gs.BITLOCKER_OFF)
    pipeline._wait_decrypted(env, "tmp")
    pipeline._sysprep(env, "tmp")
    env.compute.virtual_machines.begin_deallocate(RG, "tmp").result()
    env.compute.virtual_machines.generalize(RG, "tmp")


def _captured(env: Env, storage: str = "Standard_LRS") -> None:
    pipeline._gallery(env, "TrustedLaunchSupported")
    _prepared(env, "Standard")
    regions = [{"name": LOC, "regionalReplicaCount": 1, "storageAccountType": storage}]
    env.compute.gallery_image_versions.begin_create_or_update(
        RG, pipeline.GALLERY, pipeline.DEF, "1.0.0", _version_body(regions)
    ).result()


def test_unknown_body_member_is_refused_and_nothing_is_created(env: Env) -> None:
    """A member the contract lacks is 400 InvalidRequestContent naming the member and its path; nothing exists."""
    make_network(env)
    body = vm_body(make_nic(env, "vm-nic"))
    body["properties"]["storageProfile"]["osDisk"]["deleteOptions"] = "Delete"  # the member is deleteOption
    with pytest.raises(HttpResponseError) as exc:
        env.compute.virtual_machines.begin_create_or_update(RG, "vm", body).result()
    status, code, message = _error(exc)
    assert (status, code) == (400, "InvalidRequestContent")
    assert "Could not find member 'deleteOptions'" in message
    assert "Path 'properties.storageProfile.osDisk.deleteOptions'" in message
    assert [v.name for v in env.compute.virtual_machines.list(RG)] == []
    assert [d.name for d in env.compute.disks.list_by_resource_group(RG)] == []


def test_member_in_another_case_is_read_as_the_contract_member(env: Env) -> None:
    """Json.NET matches members case-insensitively: 'PublishingProfile'/'TargetRegions' still set the regions."""
    pipeline._gallery(env, "TrustedLaunchSupported")
    _prepared(env, "Standard")
    body = {
        "Location": LOC,
        "Properties": {
            "StorageProfile": {"Source": {"VirtualMachineId": VM_ID}},
            "PublishingProfile": {"TargetRegions": [{"Name": LOC}, {"Name": "northeurope", "RegionalReplicaCount": 3}]},
        },
    }
    env.compute.gallery_image_versions.begin_create_or_update(
        RG, pipeline.GALLERY, pipeline.DEF, "1.0.0", body
    ).result()
    got = env.compute.gallery_image_versions.get(RG, pipeline.GALLERY, pipeline.DEF, "1.0.0")
    counts = {t.name: t.regional_replica_count for t in got.publishing_profile.target_regions}
    assert counts == {"West Europe": 1, "North Europe": 3}


def test_gen2_vm_without_security_type_is_trusted_launch(env: Env) -> None:
    """Omitting securityProfile.securityType makes a Gen2 VM Trusted Launch, with BitLocker on from the start."""
    make_network(env)
    body = vm_body(make_nic(env, "vm-nic"))
    del body["properties"]["securityProfile"]
    vm = env.compute.virtual_machines.begin_create_or_update(RG, "vm", body).result()
    assert vm.security_profile.security_type == "TrustedLaunch"
    status = json.loads(pipeline.run(env, "vm", gs.BITLOCKER_STATUS)[0])
    assert status["volumeStatus"] == "FullyEncrypted"
    standard = make_vm(env, "std", trusted_launch=False)
    assert standard.security_profile.security_type == "Standard"


def test_trusted_launch_source_into_trusted_launch_supported_is_conflict(env: Env) -> None:
    """A VM left to the Trusted Launch default cannot be captured into a TrustedLaunchSupported definition (409)."""
    pipeline._gallery(env, "TrustedLaunchSupported")
    _prepared(env, None)
    regions = [{"name": LOC}]
    with pytest.raises(HttpResponseError) as exc:
        env.compute.gallery_image_versions.begin_create_or_update(
            RG, pipeline.GALLERY, pipeline.DEF, "1.0.0", _version_body(regions)
        ).result()
    status, code, message = _error(exc)
    assert (status, code) == (409, "Conflict")
    assert "contains TrustedLaunch or ConfidentialVM security data" in message
    assert "'TrustedLaunchSupported' security type" in message


def test_standard_source_captures_into_trusted_launch_supported(env: Env) -> None:
    """An explicit Standard VM captures into a TrustedLaunchSupported definition; hosts may then be TL."""
    _captured(env)
    image = f"{VM_ID.rsplit('/providers/', 1)[0]}/providers/Microsoft.Compute/galleries/{pipeline.GALLERY}"
    host = make_vm(env, "host", image={"id": f"{image}/images/{pipeline.DEF}/versions/1.0.0"})
    assert host.security_profile.security_type == "TrustedLaunch"


def test_trusted_launch_definition_refuses_a_standard_vm(env: Env) -> None:
    """A TrustedLaunch definition only deploys Trusted Launch VMs: a Standard VM from it is 400."""
    pipeline._gallery(env, "TrustedLaunch")
    pipeline._prepared_vm(env)
    pipeline._capture(env, "tmp")
    env.sim.clock.run_until_idle()
    image = f"/subscriptions/{SUB}/resourceGroups/{RG}/providers/Microsoft.Compute/galleries/{pipeline.GALLERY}"
    with pytest.raises(HttpResponseError) as exc:
        make_vm(env, "host", image={"id": f"{image}/images/{pipeline.DEF}/versions/1.0.0"}, trusted_launch=False)
    status, _, message = _error(exc)
    assert status == 400
    assert "only supports creation of VMs and VM Scale Sets with 'TrustedLaunch' security type" in message


def test_disk_copies_keep_the_security_type_of_their_source(env: Env) -> None:
    """Snapshot and disk copies of a TL OS disk stay TL; a Standard VM cannot attach them, an omitted type inherits."""
    vm = make_vm(env, "src")
    os_disk = vm.storage_profile.os_disk.managed_disk.id
    copy = {"location": LOC, "properties": {"creationData": {"createOption": "Copy", "sourceResourceId": os_disk}}}
    snap = env.compute.snapshots.begin_create_or_update(RG, "snap", copy).result()
    disk_body = {
        "location": LOC,
        "properties": {"creationData": {"createOption": "Copy", "sourceResourceId": snap.id}},
    }
    disk = env.compute.disks.begin_create_or_update(RG, "clone", disk_body).result()
    assert disk.security_profile.security_type == "TrustedLaunch"
    body = vm_body(make_nic(env, "clone-nic"))
    body["properties"]["storageProfile"] = {
        "osDisk": {"osType": "Windows", "createOption": "Attach", "managedDisk": {"id": disk.id}}
    }
    del body["properties"]["osProfile"]
    body["properties"]["securityProfile"] = {"securityType": "Standard"}
    with pytest.raises(HttpResponseError) as exc:
        env.compute.virtual_machines.begin_create_or_update(RG, "clone", body).result()
    assert exc.value.status_code == 400
    del body["properties"]["securityProfile"]
    clone = env.compute.virtual_machines.begin_create_or_update(RG, "clone", body).result()
    assert clone.security_profile.security_type == "TrustedLaunch"


def test_region_storage_type_is_not_updatable(env: Env) -> None:
    """Changing a replicated region's storageAccountType is 409; omitting it keeps it; a new region may choose."""
    _captured(env, "Standard_LRS")
    versions = env.compute.gallery_image_versions
    change = {
        "properties": {
            "publishingProfile": {"targetRegions": [{"name": LOC, "storageAccountType": "Standard_ZRS"}]},
            "storageProfile": {},
        }
    }
    with pytest.raises(HttpResponseError) as exc:
        versions.begin_update(RG, pipeline.GALLERY, pipeline.DEF, "1.0.0", change).result()
    status, code, message = _error(exc)
    assert (status, code) == (409, "PropertyChangeNotAllowed")
    assert "from 'Standard_LRS' to 'Standard_ZRS'" in message
    keep = {
        "properties": {
            "publishingProfile": {
                "targetRegions": [
                    {"name": LOC, "regionalReplicaCount": 2},
                    {"name": "northeurope", "storageAccountType": "Standard_ZRS"},
                ]
            },
            "storageProfile": {},
        }
    }
    got = versions.begin_update(RG, pipeline.GALLERY, pipeline.DEF, "1.0.0", keep).result()
    types = {t.name: (t.storage_account_type, t.regional_replica_count) for t in got.publishing_profile.target_regions}
    assert types == {"West Europe": ("Standard_LRS", 2), "North Europe": ("Standard_ZRS", 1)}


@pytest.mark.parametrize("method", ["PATCH", "PUT"])
def test_version_update_without_storage_profile_is_refused(env: Env, method: str) -> None:
    """storageProfile is required on version PUT and PATCH alike: without it 400 InvalidParameter, no change."""
    _captured(env)
    versions = env.compute.gallery_image_versions
    body: dict[str, Any] = {"properties": {"publishingProfile": {"excludeFromLatest": True}}}
    start = (
        (lambda: versions.begin_update(RG, pipeline.GALLERY, pipeline.DEF, "1.0.0", body))
        if method == "PATCH"
        else (
            lambda: versions.begin_create_or_update(
                RG, pipeline.GALLERY, pipeline.DEF, "1.0.0", {"location": LOC, **body}
            )
        )
    )
    with pytest.raises(HttpResponseError) as exc:
        start()
    status, code, message = _error(exc)
    assert (status, code) == (400, "InvalidParameter")
    assert "'storageProfile'" in message
    got = versions.get(RG, pipeline.GALLERY, pipeline.DEF, "1.0.0")
    assert not got.publishing_profile.exclude_from_latest


def test_version_location_must_be_among_its_target_regions(env: Env) -> None:
    """targetRegions without the version's own location are 400 InvalidParameter, on create and on update."""
    pipeline._gallery(env, "TrustedLaunchSupported")
    _prepared(env, "Standard")
    versions = env.compute.gallery_image_versions
    with pytest.raises(HttpResponseError) as exc:
        versions.begin_create_or_update(
            RG, pipeline.GALLERY, pipeline.DEF, "1.0.0", _version_body([{"name": "northeurope"}])
        ).result()
    assert _error(exc)[:2] == (400, "InvalidParameter")
    versions.begin_create_or_update(
        RG, pipeline.GALLERY, pipeline.DEF, "1.0.0", _version_body([{"name": LOC}])
    ).result()
    move = {"properties": {"publishingProfile": {"targetRegions": [{"name": "northeurope"}]}, "storageProfile": {}}}
    with pytest.raises(HttpResponseError) as exc:
        versions.begin_update(RG, pipeline.GALLERY, pipeline.DEF, "1.0.0", move).result()
    assert _error(exc)[:2] == (400, "InvalidParameter")


def test_vcpu_quota_refuses_a_create_with_azures_message(env: Env) -> None:
    """Over the regional vCPU limit a VM PUT is 409 OperationNotAllowed quoting limit/usage; no disk is made."""
    env.sim.compute.quotas.set(LOC, 8)
    make_vm(env, "vm1")
    make_vm(env, "vm2")
    env.compute.virtual_machines.begin_deallocate(RG, "vm2").result()  # deallocated cores still count
    with pytest.raises(HttpResponseError) as exc:
        make_vm(env, "vm3")
    status, code, message = _error(exc)
    assert (status, code) == (409, "OperationNotAllowed")
    assert "exceeding approved Total Regional Cores quota" in message
    assert "Location: westeurope, Current Limit: 8, Current Usage: 8, Additional Required: 4" in message
    assert "vm3" not in {v.name for v in env.compute.virtual_machines.list(RG)}
    assert not [d for d in env.compute.disks.list_by_resource_group(RG) if d.name.startswith("vm3")]


def test_vcpu_family_quota_names_the_family(env: Env) -> None:
    """A per-family limit is refused the same way, naming the family (standardDSv5Family for D4s_v5)."""
    env.sim.compute.quotas.set(LOC, 2, family="standardDSv5Family")
    with pytest.raises(HttpResponseError) as exc:
        make_vm(env, "vm1")
    assert "exceeding approved standardDSv5Family Cores quota" in _error(exc)[2]
