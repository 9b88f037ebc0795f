"""What each replayed example needs to exist first, built over HTTP like any client would.

A setup returns the request bodies that created the resources the example reads: the replay
compares echoed values against them (for GET and list examples the example's own request has
no body).
"""

from __future__ import annotations

import copy
from typing import Any

from tests.simulator.spec_replay import Arm

SUB = "00000000-0000-0000-0000-000000000000"
WS2016 = {
    "publisher": "MicrosoftWindowsServer",
    "offer": "WindowsServer",
    "sku": "2016-Datacenter",
    "version": "latest",
}
DES = f"/subscriptions/{SUB}/resourceGroups/myResourceGroup/providers/Microsoft.Compute/diskEncryptionSet/"
KEYVAULT = f"/subscriptions/{SUB}/resourceGroups/myResourceGroup/providers/Microsoft.KeyVault/vaults/myVMVault"

# The examples' placeholders and what they stand for in the replay.
SUBSTITUTIONS = {
    "{subscription-id}": SUB,
    "{subscriptionId}": SUB,
    "/subscriptions/subid/": f"/subscriptions/{SUB}/",
    "{existing-nic-name}": "nsgExistingNic",
    "{vm-name}": "myVM",
    "{existing-storage-account-name}": "nsgdiagnostic",
    "{resourceGroup}": "myResourceGroup",
    "{resourceGroupName}": "myResourceGroup",
    "{osSnapshotName}": "osSnapshot",
    "{snapshotName}": "osSnapshot",
    "{diskSnapshotName}": "dataSnapshot",
    "{dataDiskName}": "dataDisk",
    "{vmName}": "sourceVM",
    "{imageName}": "sourceImage",
    "{galleryName}": "sourceGallery",
    "{imageDefinitionName}": "sourceDefinition",
    "{versionName}": "1.0.0",
    "{secret}": "replay-secret",
    "{key}": "replay-key",
}


def rid(rg: str, provider_path: str) -> str:
    return f"/subscriptions/{SUB}/resourceGroups/{rg}/providers/{provider_path}"


# -- network ----------------------------------------------------------------------------------------
def vnet(
    arm: Arm,
    rg: str,
    name: str = "vnet",
    location: str = "westus",
    prefixes: tuple[str, ...] = ("10.0.0.0/16",),
    subnets: tuple[tuple[str, str], ...] = (("default", "10.0.0.0/24"),),
    **props: Any,
) -> dict[str, Any]:
    body = {
        "location": location,
        "properties": {
            "addressSpace": {"addressPrefixes": list(prefixes)},
            "subnets": [{"name": n, "properties": {"addressPrefix": p}} for n, p in subnets],
            **props,
        },
    }
    arm.ok("PUT", rid(rg, f"Microsoft.Network/virtualNetworks/{name}"), body)
    return body


def nic(arm: Arm, rg: str, name: str, subnet_id: str, location: str = "westus", **props: Any) -> dict[str, Any]:
    body = {
        "location": location,
        "properties": {
            "ipConfigurations": [{"name": "ipconfig1", "properties": {"subnet": {"id": subnet_id}}}],
            **props,
        },
    }
    arm.ok("PUT", rid(rg, f"Microsoft.Network/networkInterfaces/{name}"), body)
    return body


def network_for(arm: Arm, rg: str, nic_name: str, location: str = "westus") -> str:
    vnet(arm, rg, f"vnet-{nic_name}", location)
    nic(arm, rg, nic_name, rid(rg, f"Microsoft.Network/virtualNetworks/vnet-{nic_name}/subnets/default"), location)
    return rid(rg, f"Microsoft.Network/networkInterfaces/{nic_name}")


# -- compute ----------------------------------------------------------------------------------------
def vm(
    arm: Arm,
    rg: str,
    name: str,
    location: str = "westus",
    *,
    nic_name: str | None = None,
    os_disk: dict[str, Any] | None = None,
    **props: Any,
) -> dict[str, Any]:
    nic_id = network_for(arm, rg, nic_name or f"{name}-nic", location)
    body = {
        "location": location,
        "properties": {
            "hardwareProfile": {"vmSize": "Standard_D2s_v3"},
            "storageProfile": {
                "imageReference": dict(WS2016),
                "osDisk": {
                    "createOption": "FromImage",
                    "managedDisk": {"storageAccountType": "Premium_LRS"},
                    **(os_disk or {}),
                },
            },
            "osProfile": {
                "computerName": name[:15],
                "adminUsername": "azureuser",
                "adminPassword": "N0t-a-real-secret!",
            },
            "networkProfile": {"networkInterfaces": [{"id": nic_id, "properties": {"primary": True}}]},
            # explicit, as the product does: omitted means Trusted Launch on Gen2 images
            "securityProfile": {"securityType": "Standard"},
            **props,
        },
    }
    arm.ok("PUT", rid(rg, f"Microsoft.Compute/virtualMachines/{name}"), body)
    return body


def vm_action(arm: Arm, rg: str, name: str, action: str) -> None:
    arm.ok("POST", rid(rg, f"Microsoft.Compute/virtualMachines/{name}/{action}"))


def disk(arm: Arm, rg: str, name: str, size: int = 10, location: str = "westus", **props: Any) -> dict[str, Any]:
    body = {
        "location": location,
        "properties": {"creationData": {"createOption": "Empty"}, "diskSizeGB": size, **props},
    }
    arm.ok("PUT", rid(rg, f"Microsoft.Compute/disks/{name}"), body)
    return body


def snapshot(arm: Arm, rg: str, name: str, source_id: str, location: str = "westus", **extra: Any) -> dict[str, Any]:
    body = {
        "location": location,
        "properties": {"creationData": {"createOption": "Copy", "sourceResourceId": source_id}},
    }
    for key, value in extra.items():
        if key in ("tags", "sku"):
            body[key] = value
        else:
            body["properties"][key] = value
    arm.ok("PUT", rid(rg, f"Microsoft.Compute/snapshots/{name}"), body)
    return body


def os_snapshot(arm: Arm, rg: str, name: str = "osSnapshot", location: str = "westus") -> str:
    """A snapshot of a Windows Server OS disk (the guest travels with it)."""
    vm(arm, rg, f"{name}-vm", location, os_disk={"name": f"{name}-osdisk"})
    vm_action(arm, rg, f"{name}-vm", "deallocate")
    snapshot(arm, rg, name, rid(rg, f"Microsoft.Compute/disks/{name}-osdisk"), location)
    return rid(rg, f"Microsoft.Compute/snapshots/{name}")


def managed_image(arm: Arm, rg: str, name: str = "sourceImage", location: str = "West US") -> str:
    snap = os_snapshot(arm, rg, f"{name}-os", location)
    disk(arm, rg, f"{name}-data", 10, location)
    body = {
        "location": location,
        "properties": {
            "storageProfile": {
                "osDisk": {"osType": "Windows", "osState": "Generalized", "snapshot": {"id": snap}},
                "dataDisks": [{"lun": 1, "managedDisk": {"id": rid(rg, f"Microsoft.Compute/disks/{name}-data")}}],
            },
            "hyperVGeneration": "V1",
        },
    }
    arm.ok("PUT", rid(rg, f"Microsoft.Compute/images/{name}"), body)
    return rid(rg, f"Microsoft.Compute/images/{name}")


# -- gallery ----------------------------------------------------------------------------------------
def gallery(arm: Arm, rg: str, name: str = "myGalleryName", location: str = "West US") -> dict[str, Any]:
    body = {"location": location, "properties": {"description": "This is the gallery description."}}
    arm.ok("PUT", rid(rg, f"Microsoft.Compute/galleries/{name}"), body)
    return body


def definition(
    arm: Arm,
    rg: str,
    g: str = "myGalleryName",
    name: str = "myGalleryImageName",
    location: str = "West US",
    *,
    os_type: str = "Windows",
    os_state: str = "Generalized",
    features: list[dict[str, str]] | None = None,
) -> dict[str, Any]:
    props: dict[str, Any] = {
        "osType": os_type,
        "osState": os_state,
        "hyperVGeneration": "V1",
        "identifier": {"publisher": "myPublisherName", "offer": "myOfferName", "sku": "mySkuName"},
    }
    if features:
        props["features"] = features
    body = {"location": location, "properties": props}
    arm.ok("PUT", rid(rg, f"Microsoft.Compute/galleries/{g}/images/{name}"), body)
    return body


def version(arm: Arm, rg: str, g: str, d: str, name: str, body: dict[str, Any]) -> dict[str, Any]:
    arm.ok("PUT", rid(rg, f"Microsoft.Compute/galleries/{g}/images/{d}/versions/{name}"), body)
    return body


def encryption(os_set: str, data: list[tuple[int, str]]) -> dict[str, Any]:
    return {
        "osDiskImage": {"diskEncryptionSetId": DES + os_set},
        "dataDiskImages": [{"lun": lun, "diskEncryptionSetId": DES + s} for lun, s in data],
    }


def image_version_body(
    source: dict[str, Any], *, one_data_set: bool = False, east_sku: str = "Standard_LRS"
) -> dict[str, Any]:
    """The version the GET/list/update examples show: West US encrypted, East US with 2 replicas."""
    data = (
        [(1, "myDiskEncryptionSet")] if one_data_set else [(0, "myOtherDiskEncryptionSet"), (1, "myDiskEncryptionSet")]
    )
    return {
        "location": "West US",
        "properties": {
            "publishingProfile": {
                "targetRegions": [
                    {
                        "name": "West US",
                        "regionalReplicaCount": 1,
                        "storageAccountType": "Standard_LRS",
                        "encryption": encryption("myDiskEncryptionSet", data),
                        "excludeFromLatest": False,
                    },
                    {
                        "name": "East US",
                        "regionalReplicaCount": 2,
                        "storageAccountType": east_sku,
                        "excludeFromLatest": False,
                    },
                ]
            },
            "storageProfile": source,
            "safetyProfile": {"allowDeletionOfReplicatedLocations": False, "blockDeletionBeforeEndOfLife": False},
        },
    }


def simple_version(arm: Arm, rg: str, g: str, d: str, name: str, source_id: str, location: str = "West US") -> None:
    version(
        arm,
        rg,
        g,
        d,
        name,
        {
            "location": location,
            "properties": {
                "publishingProfile": {"targetRegions": [{"name": location, "regionalReplicaCount": 1}]},
                "storageProfile": {"osDiskImage": {"source": {"id": source_id}}},
            },
        },
    )


def deep_merge(base: Any, update: Any) -> Any:
    """``update`` over ``base``; lists of named items merge item by item (as an ARM PATCH does)."""
    if isinstance(base, dict) and isinstance(update, dict):
        merged = copy.deepcopy(base)
        for key, value in update.items():
            merged[key] = deep_merge(base.get(key), value)
        return merged
    if isinstance(base, list) and isinstance(update, list) and all(isinstance(i, dict) and "name" in i for i in update):
        named = {str(i.get("name")).lower(): i for i in base if isinstance(i, dict)}
        return [deep_merge(named.get(str(i["name"]).lower()), i) for i in update]
    return copy.deepcopy(update) if update is not None else copy.deepcopy(base)
