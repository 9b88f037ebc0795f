"""The world each replayed example expects to exist: built over HTTP before the request is sent."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tests.simulator import spec_setups as s
from tests.simulator.spec_replay import Arm

Setup = Callable[[Arm], Any]


def vm(rg: str, name: str, then: str | None = None, **kw: Any) -> Setup:
    def setup(arm: Arm) -> Any:
        body = s.vm(arm, rg, name, **kw)
        if then:
            s.vm_action(arm, rg, name, then)
        return body

    return setup


def nic_for_vm_create(arm: Arm) -> None:
    s.network_for(arm, "myResourceGroup", "nsgExistingNic")


def shared_image(os_state: str) -> Setup:
    def setup(arm: Arm) -> None:
        rg = "myResourceGroup"
        nic_for_vm_create(arm)
        snap = s.os_snapshot(arm, rg)
        s.gallery(arm, rg, "mySharedGallery", "westus")
        s.definition(arm, rg, "mySharedGallery", "mySharedImage", "westus", os_type="Linux", os_state=os_state)
        s.simple_version(arm, rg, "mySharedGallery", "mySharedImage", "1.0.0", snap, "westus")

    return setup


def instance_view_vm(arm: Arm) -> Any:
    return s.vm(
        arm,
        "myResourceGroup",
        "myVM",
        os_disk={"name": "myOsDisk"},
        diagnosticsProfile={"bootDiagnostics": {"enabled": True}},
    )


_ENCRYPTION_SETTINGS = {
    "enabled": True,
    "encryptionSettings": [
        {
            "diskEncryptionKey": {
                "sourceVault": {"id": s.KEYVAULT},
                "secretUrl": "https://myvmvault.vault-int.azure-int.net/secrets/replay-secret",
            },
            "keyEncryptionKey": {
                "sourceVault": {"id": s.KEYVAULT},
                "keyUrl": "https://myvmvault.vault-int.azure-int.net/keys/replay-key",
            },
        }
    ],
}
_PLAN = {"name": "test_sku", "publisher": "test_test_pmc2pc1", "product": "marketplace_vm_test"}


def disk_get(arm: Arm) -> Any:
    rg = "myResourceGroup"
    image_id = (
        f"/Subscriptions/{s.SUB}/Providers/Microsoft.Compute/Locations/westus/Publishers/MicrosoftWindowsServer"
        "/ArtifactTypes/VMImage/Offers/WindowsServer/Skus/2016-Datacenter/Versions/latest"
    )
    body = {
        "location": "westus",
        "tags": {"department": "Development", "project": "ManagedDisks"},
        "sku": {"name": "Standard_LRS"},
        "properties": {
            "osType": "Windows",
            "hyperVGeneration": "V1",
            "purchasePlan": _PLAN,
            "supportedCapabilities": {"acceleratedNetwork": True},
            "supportsHibernation": True,
            "securityProfile": {"securityType": "TrustedLaunch"},
            "creationData": {"createOption": "FromImage", "imageReference": {"id": image_id}},
            "encryptionSettingsCollection": _ENCRYPTION_SETTINGS,
        },
    }
    arm.ok("PUT", s.rid(rg, "Microsoft.Compute/disks/myManagedDisk"), body)
    nic_id = s.network_for(arm, rg, "testvm-nic")
    arm.ok(
        "PUT",
        s.rid(rg, "Microsoft.Compute/virtualMachines/TestVM"),
        {
            "location": "westus",
            "properties": {
                "hardwareProfile": {"vmSize": "Standard_D2s_v3"},
                "storageProfile": {
                    "osDisk": {
                        "createOption": "Attach",
                        "osType": "Windows",
                        "managedDisk": {"id": s.rid(rg, "Microsoft.Compute/disks/myManagedDisk")},
                    }
                },
                "networkProfile": {"networkInterfaces": [{"id": nic_id}]},
            },
        },
    )
    return body


def snapshot_get(name: str, incremental: bool = False) -> Setup:
    def setup(arm: Arm) -> Any:
        rg = "myResourceGroup"
        s.disk(arm, rg, "myDisk", 100, osType="Windows")
        extra: dict[str, Any] = {
            "tags": {"department": "Development", "project": "Snapshots"},
            "osType": "Windows",
            "hyperVGeneration": "V1",
            "purchasePlan": _PLAN,
            "supportedCapabilities": {"acceleratedNetwork": True},
            "supportsHibernation": True,
            "encryptionSettingsCollection": _ENCRYPTION_SETTINGS,
        }
        if incremental:
            extra["incremental"] = True
        return s.snapshot(arm, rg, name, s.rid(rg, "Microsoft.Compute/disks/myDisk"), **extra)

    return setup


def snapshot_list(arm: Arm) -> Any:
    rg = "myResourceGroup"
    s.disk(arm, rg, "baseDisk", 200, osType="Windows")
    body = s.snapshot(
        arm,
        rg,
        "mySnapshot",
        s.rid(rg, "Microsoft.Compute/disks/baseDisk"),
        tags={"department": "Development", "project": "Snapshots"},
        osType="Windows",
        encryptionSettingsCollection=_ENCRYPTION_SETTINGS,
    )
    return {"value": [{"name": "mySnapshot", **body}]}


def snapshot_of_new_disk(name: str) -> Setup:
    def setup(arm: Arm) -> Any:
        s.disk(arm, "myResourceGroup", "base")
        return s.snapshot(arm, "myResourceGroup", name, s.rid("myResourceGroup", "Microsoft.Compute/disks/base"))

    return setup


def vnet_get(arm: Arm) -> Any:
    body = s.vnet(arm, "rg1", "test-vnet", "westus", subnets=(("subnet1", "10.0.1.0/24"),))
    s.nic(arm, "rg1", "lb-stand-in", s.rid("rg1", "Microsoft.Network/virtualNetworks/test-vnet/subnets/subnet1"))
    return body


def vnet_list(arm: Arm) -> Any:
    one = s.vnet(
        arm,
        "rg1",
        "vnet1",
        prefixes=("10.0.0.0/8",),
        subnets=(("test-1", "10.0.0.0/24"),),
        dhcpOptions={"dnsServers": []},
    )
    two = s.vnet(arm, "rg1", "vnet2", subnets=(), dhcpOptions={"dnsServers": ["8.8.8.8"]})
    return {"value": [{"name": "vnet1", **one}, {"name": "vnet2", **two}]}


def subnets(*names: str) -> Setup:
    def setup(arm: Arm) -> Any:
        s.vnet(arm, "subnet-test", "vnetname", prefixes=("10.0.0.0/8",), subnets=())
        for name in names:
            arm.ok(
                "PUT",
                s.rid("subnet-test", f"Microsoft.Network/virtualNetworks/vnetname/subnets/{name}"),
                {"properties": {"addressPrefix": "10.0.0.0/16"}},
            )
        return {"value": [{"name": n, "properties": {"addressPrefix": "10.0.0.0/16"}} for n in names]}

    return setup


_NIC_SUBNET = s.rid("rg1", "Microsoft.Network/virtualNetworks/rg1-vnet/subnets/default")
_NIC_BODY = {
    "location": "eastus",
    "properties": {
        "enableAcceleratedNetworking": True,
        "disableTcpStateTracking": True,
        "ipConfigurations": [
            {
                "name": "ipconfig1",
                "properties": {
                    "publicIPAddress": {"id": s.rid("rg1", "Microsoft.Network/publicIPAddresses/test-ip")},
                    "subnet": {"id": _NIC_SUBNET},
                },
            },
            {"name": "ipconfig2", "properties": {"privateIPAddressPrefixLength": 28}},
        ],
    },
}


def nic_vnet(arm: Arm) -> None:
    s.vnet(arm, "rg1", "rg1-vnet", "eastus", prefixes=("172.20.0.0/16",), subnets=(("default", "172.20.2.0/24"),))


def nic_get(arm: Arm) -> Any:
    nic_vnet(arm)
    arm.ok("PUT", s.rid("rg1", "Microsoft.Network/networkInterfaces/test-nic"), _NIC_BODY)
    arm.ok(
        "PUT",
        s.rid("rg1", "Microsoft.Compute/virtualMachines/vm1"),
        {
            "location": "eastus",
            "properties": {
                "hardwareProfile": {"vmSize": "Standard_D2s_v3"},
                "storageProfile": {"imageReference": dict(s.WS2016), "osDisk": {"createOption": "FromImage"}},
                "osProfile": {
                    "computerName": "vm1",
                    "adminUsername": "azureuser",
                    "adminPassword": "N0t-a-real-secret!",
                },
                "networkProfile": {
                    "networkInterfaces": [{"id": s.rid("rg1", "Microsoft.Network/networkInterfaces/test-nic")}]
                },
            },
        },
    )
    return _NIC_BODY


def nic_delete(arm: Arm) -> None:
    nic_vnet(arm)
    arm.ok("PUT", s.rid("rg1", "Microsoft.Network/networkInterfaces/test-nic"), _NIC_BODY)


def gallery(arm: Arm) -> Any:
    return s.gallery(arm, "myResourceGroup")


def gallery_list(arm: Arm) -> Any:
    return {"value": [{"name": "myGalleryName", **s.gallery(arm, "myResourceGroup")}]}


def definition(arm: Arm) -> Any:
    s.gallery(arm, "myResourceGroup")
    return s.definition(arm, "myResourceGroup")


def definition_list(arm: Arm) -> Any:
    return {"value": [{"name": "myGalleryImageName", **definition(arm)}]}


def version_from_snapshots(arm: Arm) -> None:
    rg = "myResourceGroup"
    definition(arm)
    s.os_snapshot(arm, rg, "osSnapshot", "West US")
    s.disk(arm, rg, "dataDisk", 10, "West US")


def version_from_vm(arm: Arm) -> None:
    definition(arm)
    vm("myResourceGroup", "sourceVM", "deallocate", location="West US")(arm)
    s.vm_action(arm, "myResourceGroup", "sourceVM", "generalize")


def version_from_version(arm: Arm) -> None:
    rg = "myResourceGroup"
    definition(arm)
    s.gallery(arm, rg, "sourceGallery")
    s.definition(arm, rg, "sourceGallery", "sourceDefinition")
    snap = s.os_snapshot(arm, rg, "sourceSnapshot", "West US")
    s.simple_version(arm, rg, "sourceGallery", "sourceDefinition", "1.0.0", snap)


def version_from_image(arm: Arm) -> None:
    definition(arm)
    s.managed_image(arm, "myResourceGroup")


def existing_version(east_sku: str = "Standard_LRS", one_data_set: bool = False) -> Setup:
    def setup(arm: Arm) -> Any:
        version_from_image(arm)
        source = {"source": {"id": s.rid("myResourceGroup", "Microsoft.Compute/images/sourceImage")}}
        body = s.image_version_body(source, one_data_set=one_data_set, east_sku=east_sku)
        return s.version(arm, "myResourceGroup", "myGalleryName", "myGalleryImageName", "1.0.0", body)

    return setup


def version_list(arm: Arm) -> Any:
    return {"value": [{"name": "1.0.0", **existing_version()(arm)}]}


def version_snapshots_get(arm: Arm) -> Any:
    rg = "myResourceGroup"
    definition(arm)
    os_snap = s.os_snapshot(arm, rg, "osSnapshot", "West US")
    s.disk(arm, rg, "dataSnapshot-disk", 10, "West US")
    data_snap = s.rid(rg, "Microsoft.Compute/snapshots/dataSnapshot")
    s.snapshot(arm, rg, "dataSnapshot", s.rid(rg, "Microsoft.Compute/disks/dataSnapshot-disk"), "West US")
    source = {
        "osDiskImage": {"source": {"id": os_snap}, "hostCaching": "ReadOnly"},
        "dataDiskImages": [{"source": {"id": data_snap}, "lun": 1, "hostCaching": "None"}],
    }
    body = s.image_version_body(source, one_data_set=True)
    return s.version(arm, rg, "myGalleryName", "myGalleryImageName", "1.0.0", body)


def gallery_image_for_disk(arm: Arm) -> None:
    rg = "myResourceGroup"
    s.gallery(arm, rg, "sourceGallery")
    features = [
        {"name": "SecurityType", "value": "TrustedLaunchSupported"},
        {"name": "IsAcceleratedNetworkSupported", "value": "True"},
    ]
    s.definition(arm, rg, "sourceGallery", "sourceImage", features=features)
    snap = s.os_snapshot(arm, rg, "galleryImageSnapshot", "West US")
    s.simple_version(arm, rg, "sourceGallery", "sourceImage", "1.0.0", snap)
