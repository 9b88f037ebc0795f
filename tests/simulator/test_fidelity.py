"""Response bodies carry the property names and JSON types of Azure's published REST examples.

The expected shapes below are our own small fixtures, written from the property names and
types in azure-rest-api-specs examples (VirtualMachine_Get_WithVMSizeProperties,
VirtualMachine_Get_InstanceView, GalleryImageVersion_Get_WithReplicationStatus,
VirtualMachineRunCommand, Disk_Get, Snapshot_Get); they are not copies of those files.
"""

from __future__ import annotations

import json
from typing import Any

from tests.simulator.conftest import RG, SUB, Env, make_vm
from tests.simulator.test_pipeline import DEF, GALLERY, _capture, _gallery, _prepared_vm

VM_SHAPE = {
    "name": str,
    "id": str,
    "type": str,
    "location": str,
    "tags": dict,
    "properties": {
        "vmId": str,
        "hardwareProfile": {"vmSize": str},
        "provisioningState": str,
        "timeCreated": str,
        "securityProfile": {"securityType": str, "uefiSettings": {"secureBootEnabled": bool, "vTpmEnabled": bool}},
        "storageProfile": {
            "imageReference": {"publisher": str, "offer": str, "sku": str, "version": str, "exactVersion": str},
            "osDisk": {
                "osType": str,
                "name": str,
                "createOption": str,
                "caching": str,
                "deleteOption": str,
                "diskSizeGB": int,
                "managedDisk": {"storageAccountType": str, "id": str},
            },
            "dataDisks": list,
        },
        "osProfile": {
            "computerName": str,
            "adminUsername": str,
            "secrets": list,
            "windowsConfiguration": {"provisionVMAgent": bool, "enableAutomaticUpdates": bool},
        },
        "networkProfile": {"networkInterfaces": [{"id": str}]},
    },
}
INSTANCE_VIEW_SHAPE = {
    "computerName": str,
    "osName": str,
    "osVersion": str,
    "hyperVGeneration": str,
    "vmAgent": {"vmAgentVersion": str, "statuses": [{"code": str, "level": str, "displayStatus": str}]},
    "disks": [{"name": str, "statuses": [{"code": str, "level": str, "displayStatus": str, "time": str}]}],
    "statuses": [{"code": str, "level": str, "displayStatus": str}],
}
VERSION_SHAPE = {
    "name": str,
    "id": str,
    "type": str,
    "location": str,
    "properties": {
        "publishingProfile": {
            "targetRegions": [{"name": str, "regionalReplicaCount": int, "storageAccountType": str}],
            "replicaCount": int,
            "excludeFromLatest": bool,
            "publishedDate": str,
            "storageAccountType": str,
        },
        "storageProfile": {"source": {"virtualMachineId": str}, "osDiskImage": {"sizeInGB": int, "hostCaching": str}},
        "safetyProfile": {"allowDeletionOfReplicatedLocations": bool, "reportedForPolicyViolation": bool},
        "provisioningState": str,
        "replicationStatus": {
            "aggregatedState": str,
            "summary": [{"region": str, "state": str, "details": str, "progress": int}],
        },
    },
}
RUN_COMMAND_SHAPE = {"value": [{"code": str, "level": str, "displayStatus": str, "message": str}]}
DISK_SHAPE = {
    "name": str,
    "id": str,
    "type": str,
    "location": str,
    "managedBy": str,
    "sku": {"name": str, "tier": str},
    "properties": {
        "osType": str,
        "hyperVGeneration": str,
        "creationData": {"createOption": str},
        "diskSizeGB": int,
        "timeCreated": str,
        "provisioningState": str,
        "diskState": str,
        "uniqueId": str,
        "encryption": {"type": str},
    },
}
OPERATION_SHAPE = {"name": str, "status": str, "startTime": str, "endTime": str}


def _conforms(body: Any, shape: Any, path: str = "$") -> list[str]:
    if isinstance(shape, dict):
        if not isinstance(body, dict):
            return [f"{path}: expected object, got {type(body).__name__}"]
        problems = []
        for key, sub in shape.items():
            if key not in body:
                problems.append(f"{path}.{key}: missing")
            else:
                problems.extend(_conforms(body[key], sub, f"{path}.{key}"))
        return problems
    if isinstance(shape, list):
        if not isinstance(body, list) or not body:
            return [f"{path}: expected a non-empty array"]
        return [p for item in body for p in _conforms(item, shape[0], f"{path}[]")]
    if shape is int and isinstance(body, bool):
        return [f"{path}: expected int, got bool"]
    return [] if isinstance(body, shape) else [f"{path}: expected {shape.__name__}, got {type(body).__name__}"]


def _raw(env: Env, method: str, path: str, body: dict[str, Any] | None = None) -> tuple[int, dict[str, str], Any]:
    url = f"https://management.simulator.local{path}{'&' if '?' in path else '?'}api-version=2024-07-01"
    status, headers, payload = env.sim.handle(method, url, {}, json.dumps(body).encode() if body else None)
    return status, headers, json.loads(payload) if payload else None


def test_vm_and_instance_view_shapes(env: Env) -> None:
    """GET VM and GET instanceView have Azure's property names and JSON types."""
    make_vm(env)
    vm_path = f"/subscriptions/{SUB}/resourceGroups/{RG}/providers/Microsoft.Compute/virtualMachines/vm1"
    assert _conforms(_raw(env, "GET", vm_path)[2], VM_SHAPE) == []
    assert _conforms(_raw(env, "GET", f"{vm_path}/instanceView")[2], INSTANCE_VIEW_SHAPE) == []
    assert "adminPassword" not in json.dumps(_raw(env, "GET", vm_path)[2])


def test_lro_headers_and_operation_status_shape(env: Env) -> None:
    """A POST action answers 202 with Azure-AsyncOperation, Location and Retry-After; status bodies match ARM."""
    vm = make_vm(env)
    status, headers, body = _raw(
        env, "POST", f"{vm.id}/runCommand", {"commandId": "RunPowerShellScript", "script": ["hostname"]}
    )
    assert status == 202
    assert body is None
    assert int(headers["Retry-After"]) >= 1
    assert "/providers/Microsoft.Compute/locations/westeurope/operations/" in headers["Azure-AsyncOperation"]
    op_path = headers["Azure-AsyncOperation"].split("management.simulator.local")[1].split("?")[0]
    status, _, op = _raw(env, "GET", op_path)
    assert op["status"] == "Succeeded"
    assert _conforms(op, OPERATION_SHAPE) == []
    location = headers["Location"].split("management.simulator.local")[1]
    status, _, result = _raw(env, "GET", location.split("?")[0] + "?monitor=true")
    assert status == 200
    assert _conforms(result, RUN_COMMAND_SHAPE) == []
    assert headers["x-ms-ratelimit-remaining-subscription-writes"].isdigit()


def test_gallery_version_and_disk_shapes(env: Env) -> None:
    """GET image version with $expand=ReplicationStatus and GET disk match the published shapes."""
    _gallery(env)
    _prepared_vm(env)
    _capture(env, "tmp")
    env.sim.clock.run_until_idle()
    gal = f"/subscriptions/{SUB}/resourceGroups/{RG}/providers/Microsoft.Compute/galleries/{GALLERY}"
    _, _, version = _raw(env, "GET", f"{gal}/images/{DEF}/versions/1.0.0?$expand=ReplicationStatus")
    assert _conforms(version, VERSION_SHAPE) == []
    assert version["properties"]["publishingProfile"]["targetRegions"][0]["name"] == "West Europe"
    disk_id = env.compute.virtual_machines.get(RG, "tmp").storage_profile.os_disk.managed_disk.id
    _, _, disk = _raw(env, "GET", disk_id)
    assert _conforms(disk, DISK_SHAPE) == []
    assert disk["properties"]["diskState"] == "Reserved"  # attached to a deallocated VM


def test_error_shape(env: Env) -> None:
    """Errors are {"error": {"code", "message"}} with the Azure status code."""
    status, _, body = _raw(
        env, "GET", f"/subscriptions/{SUB}/resourceGroups/{RG}/providers/Microsoft.Compute/disks/none"
    )
    assert status == 404
    assert set(body["error"]) >= {"code", "message"}
    assert body["error"]["code"] == "ResourceNotFound"
