"""The request each stored example describes (method, path template, body, query) and its setup."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from tests.simulator import spec_setups as s
from tests.simulator.spec_replay import Arm

CP = "/subscriptions/{subscriptionId}/resourceGroups/{resourceGroupName}/providers/Microsoft.Compute"
NP = "/subscriptions/{subscriptionId}/resourceGroups/{resourceGroupName}/providers/Microsoft.Network"
VM = CP + "/virtualMachines/{vmName}"
GIV = CP + "/galleries/{galleryName}/images/{galleryImageName}/versions/{galleryImageVersionName}"

Setup = Callable[[Arm], Any]


@dataclass(frozen=True)
class Op:
    method: str
    path: str
    body: str | None = None  # the example parameter holding the request body
    query: tuple[str, ...] = ()  # example parameters sent as query parameters
    setup: Setup | None = None
    not_modelled: dict[str, str] = field(default_factory=dict)


# -- setups -------------------------------------------------------------------------------------------
def _vm(rg: str, name: str, then: str | None = None, **kw: Any) -> Setup:
    def setup(arm: Arm) -> Any:
        body = s.vm(arm, rg, name, **kw)
        if then:
            s.vm_action(arm, rg, name, then)
        return body

    return setup


def _nic_for_vm_create(arm: Arm) -> None:
    s.network_for(arm, "myResourceGroup", "nsgExistingNic")


def _shared_image(os_state: str) -> Setup:
    def setup(arm: Arm) -> None:
        rg = "myResourceGroup"
        _nic_for_vm_create(arm)
        snap = s.os_snapshot(arm, rg)
        s.gallery(arm, rg, "mySharedGallery", "westus")
        s.definition(arm, rg, "mySharedGallery", "mySharedImage", "westus", os_type="Linux", os_state=os_state)
        s.simple_version(arm, rg, "mySharedGallery", "mySharedImage", "1.0.0", snap, "westus")

    return setup


def _instance_view_vm(arm: Arm) -> Any:
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


def _disk_get(arm: Arm) -> Any:
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


def _snapshot_get(name: str, incremental: bool = False) -> Setup:
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


def _snapshot_list(arm: Arm) -> Any:
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


def _snapshot_of_new_disk(name: str) -> Setup:
    def setup(arm: Arm) -> Any:
        s.disk(arm, "myResourceGroup", "base")
        return s.snapshot(arm, "myResourceGroup", name, s.rid("myResourceGroup", "Microsoft.Compute/disks/base"))

    return setup


def _vnet_get(arm: Arm) -> Any:
    body = s.vnet(arm, "rg1", "test-vnet", "westus", subnets=(("subnet1", "10.0.1.0/24"),))
    s.nic(arm, "rg1", "lb-stand-in", s.rid("rg1", "Microsoft.Network/virtualNetworks/test-vnet/subnets/subnet1"))
    return body


def _vnet_list(arm: Arm) -> Any:
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


def _subnets(*names: str) -> Setup:
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


def _nic_vnet(arm: Arm) -> None:
    s.vnet(arm, "rg1", "rg1-vnet", "eastus", prefixes=("172.20.0.0/16",), subnets=(("default", "172.20.2.0/24"),))


def _nic_get(arm: Arm) -> Any:
    _nic_vnet(arm)
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


def _nic_delete(arm: Arm) -> None:
    _nic_vnet(arm)
    arm.ok("PUT", s.rid("rg1", "Microsoft.Network/networkInterfaces/test-nic"), _NIC_BODY)


def _gallery(arm: Arm) -> Any:
    return s.gallery(arm, "myResourceGroup")


def _gallery_list(arm: Arm) -> Any:
    return {"value": [{"name": "myGalleryName", **s.gallery(arm, "myResourceGroup")}]}


def _definition(arm: Arm) -> Any:
    s.gallery(arm, "myResourceGroup")
    return s.definition(arm, "myResourceGroup")


def _definition_list(arm: Arm) -> Any:
    return {"value": [{"name": "myGalleryImageName", **_definition(arm)}]}


def _version_from_snapshots(arm: Arm) -> None:
    rg = "myResourceGroup"
    _definition(arm)
    s.os_snapshot(arm, rg, "osSnapshot", "West US")
    s.disk(arm, rg, "dataDisk", 10, "West US")


def _version_from_vm(arm: Arm) -> None:
    _definition(arm)
    _vm("myResourceGroup", "sourceVM", "deallocate", location="West US")(arm)
    s.vm_action(arm, "myResourceGroup", "sourceVM", "generalize")


def _version_from_version(arm: Arm) -> None:
    rg = "myResourceGroup"
    _definition(arm)
    s.gallery(arm, rg, "sourceGallery")
    s.definition(arm, rg, "sourceGallery", "sourceDefinition")
    snap = s.os_snapshot(arm, rg, "sourceSnapshot", "West US")
    s.simple_version(arm, rg, "sourceGallery", "sourceDefinition", "1.0.0", snap)


def _version_from_image(arm: Arm) -> None:
    _definition(arm)
    s.managed_image(arm, "myResourceGroup")


def _existing_version(east_sku: str = "Standard_LRS", one_data_set: bool = False) -> Setup:
    def setup(arm: Arm) -> Any:
        _version_from_image(arm)
        source = {"source": {"id": s.rid("myResourceGroup", "Microsoft.Compute/images/sourceImage")}}
        body = s.image_version_body(source, one_data_set=one_data_set, east_sku=east_sku)
        return s.version(arm, "myResourceGroup", "myGalleryName", "myGalleryImageName", "1.0.0", body)

    return setup


def _version_list(arm: Arm) -> Any:
    return {"value": [{"name": "1.0.0", **_existing_version()(arm)}]}


def _version_snapshots_get(arm: Arm) -> Any:
    rg = "myResourceGroup"
    _definition(arm)
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


_VM_DATA_DISKS = {
    r"storageProfile\.dataDiskImages\[lun=1\]$": "VM data disks are not simulated: the source VM has an OS disk only"
}
_CREATE_VM = Op("PUT", VM, "parameters", setup=lambda arm: _nic_for_vm_create(arm))

OPS: dict[str, Op] = {
    # virtual machines
    "compute/VirtualMachine_Start_MaximumSet_Gen": Op(
        "POST", VM + "/start", setup=_vm("rgcompute", "a" * 20, "deallocate")
    ),
    "compute/VirtualMachine_Start_MinimumSet_Gen": Op(
        "POST", VM + "/start", setup=_vm("rgcompute", "a" * 5, "deallocate")
    ),
    "compute/VirtualMachine_PowerOff_MaximumSet_Gen": Op(
        "POST", VM + "/powerOff", query=("skipShutdown",), setup=_vm("rgcompute", "a" * 27)
    ),
    "compute/VirtualMachine_PowerOff_MinimumSet_Gen": Op("POST", VM + "/powerOff", setup=_vm("rgcompute", "a" * 18)),
    "compute/VirtualMachine_Deallocate_MinimumSet_Gen": Op(
        "POST", VM + "/deallocate", setup=_vm("rgcompute", "a" * 16)
    ),
    "compute/VirtualMachine_Restart_MinimumSet_Gen": Op("POST", VM + "/restart", setup=_vm("rgcompute", "aaa")),
    "compute/VirtualMachine_Generalize": Op(
        "POST", VM + "/generalize", setup=_vm("myResourceGroup", "myVMName", "powerOff")
    ),
    "compute/VirtualMachine_Delete_Force": Op(
        "DELETE", VM, query=("forceDeletion",), setup=_vm("myResourceGroup", "myVM")
    ),
    "compute/VirtualMachineRunCommand": Op(
        "POST", VM + "/runCommand", "parameters", setup=_vm("crptestar98131", "vm3036")
    ),
    "compute/VirtualMachine_Get_InstanceView": Op("GET", VM + "/instanceView", setup=_instance_view_vm),
    "compute/VirtualMachine_Create_FromASpecializedSharedImage": Op(
        "PUT", VM, "parameters", setup=_shared_image("Specialized")
    ),
    "compute/VirtualMachine_Create_FromAGeneralizedSharedImage": Op(
        "PUT", VM, "parameters", setup=_shared_image("Generalized")
    ),
    "compute/VirtualMachine_Create_WithUserData": _CREATE_VM,
    "compute/VirtualMachine_Create_WindowsVmWithPatchSettingModeOfManual": _CREATE_VM,
    "compute/VirtualMachine_Create_WindowsVmWithPatchSettingModeOfAutomaticByOS": _CREATE_VM,
    "compute/VirtualMachine_Create_WindowsVmWithPatchSettingAssessmentModeOfImageDefault": _CREATE_VM,
    "compute/VirtualMachine_Create_WithPremiumStorage": _CREATE_VM,
    "compute/VirtualMachine_Create_WithBootDiagnostics": _CREATE_VM,
    "compute/VirtualMachine_Create_WithManagedBootDiagnostics": _CREATE_VM,
    # disks and snapshots
    "disks/Disk_Create_ByCopyingASnapshot": Op(
        "PUT",
        CP + "/disks/{diskName}",
        "disk",
        setup=_snapshot_of_new_disk("mySnapshot"),
    ),
    "disks/Disk_Create_FromAnExistingManagedDisk": Op(
        "PUT", CP + "/disks/{diskName}", "disk", setup=lambda arm: s.disk(arm, "myResourceGroup", "myDisk1")
    ),
    "disks/Disk_Create_Empty": Op("PUT", CP + "/disks/{diskName}", "disk"),
    "disks/Disk_Create_FromAnAzureComputeGalleryImage": Op(
        "PUT",
        CP + "/disks/{diskName}",
        "disk",
        setup=lambda arm: _gallery_image_for_disk(arm),
    ),
    "disks/Disk_Create_WithSSDZRSAccountType": Op("PUT", CP + "/disks/{diskName}", "disk"),
    "disks/Disk_Create_WithDataAccessAuthMode": Op("PUT", CP + "/disks/{diskName}", "disk"),
    "disks/Disk_Create_WithOptimizedForFrequentAttach": Op("PUT", CP + "/disks/{diskName}", "disk"),
    "disks/Disk_CreateOrUpdate_BurstingEnabled": Op(
        "PUT",
        CP + "/disks/{diskName}",
        "disk",
        setup=lambda arm: s.disk(arm, "myResourceGroup", "myDisk", 512, "West US"),
    ),
    "disks/Disk_Get": Op("GET", CP + "/disks/{diskName}", setup=_disk_get),
    "disks/Disk_Delete": Op(
        "DELETE", CP + "/disks/{diskName}", setup=lambda arm: s.disk(arm, "myResourceGroup", "myDisk")
    ),
    "disks/Snapshot_Create_FromAnExistingSnapshot": Op(
        "PUT",
        CP + "/snapshots/{snapshotName}",
        "snapshot",
        setup=_snapshot_of_new_disk("mySnapshot1"),
    ),
    "disks/Snapshot_Get": Op("GET", CP + "/snapshots/{snapshotName}", setup=_snapshot_get("mySnapshot")),
    "disks/Snapshot_GetIncrementalSnapshot": Op(
        "GET", CP + "/snapshots/{snapshotName}", setup=_snapshot_get("myIncrementalSnapshot", incremental=True)
    ),
    "disks/Snapshot_Delete": Op(
        "DELETE",
        CP + "/snapshots/{snapshotName}",
        setup=_snapshot_of_new_disk("mySnapshot"),
    ),
    "disks/Snapshot_ListByResourceGroup": Op("GET", CP + "/snapshots", setup=_snapshot_list),
    # network
    "network/VirtualNetworkCreate": Op("PUT", NP + "/virtualNetworks/{virtualNetworkName}", "parameters"),
    "network/VirtualNetworkCreateSubnet": Op("PUT", NP + "/virtualNetworks/{virtualNetworkName}", "parameters"),
    "network/VirtualNetworkGet": Op("GET", NP + "/virtualNetworks/{virtualNetworkName}", setup=_vnet_get),
    "network/VirtualNetworkDelete": Op(
        "DELETE", NP + "/virtualNetworks/{virtualNetworkName}", setup=lambda arm: s.vnet(arm, "rg1", "test-vnet")
    ),
    "network/VirtualNetworkList": Op("GET", NP + "/virtualNetworks", setup=_vnet_list),
    "network/SubnetCreate": Op(
        "PUT", NP + "/virtualNetworks/{virtualNetworkName}/subnets/{subnetName}", "subnetParameters", setup=_subnets()
    ),
    "network/SubnetGet": Op(
        "GET",
        NP + "/virtualNetworks/{virtualNetworkName}/subnets/{subnetName}",
        setup=lambda arm: _subnets("subnet1")(arm)["value"][0],
    ),
    "network/SubnetList": Op(
        "GET", NP + "/virtualNetworks/{virtualNetworkName}/subnets", setup=_subnets("subnet1", "subnet2")
    ),
    "network/NetworkInterfaceCreate": Op(
        "PUT", NP + "/networkInterfaces/{networkInterfaceName}", "parameters", setup=_nic_vnet
    ),
    "network/NetworkInterfaceGet": Op("GET", NP + "/networkInterfaces/{networkInterfaceName}", setup=_nic_get),
    "network/NetworkInterfaceDelete": Op("DELETE", NP + "/networkInterfaces/{networkInterfaceName}", setup=_nic_delete),
    # galleries
    "gallery/Gallery_Create": Op("PUT", CP + "/galleries/{galleryName}", "gallery"),
    "gallery/Gallery_Get": Op("GET", CP + "/galleries/{galleryName}", setup=_gallery),
    "gallery/Gallery_Delete": Op("DELETE", CP + "/galleries/{galleryName}", setup=_gallery),
    "gallery/Gallery_ListByResourceGroup": Op("GET", CP + "/galleries", setup=_gallery_list),
    "gallery/GalleryImage_Create": Op(
        "PUT", CP + "/galleries/{galleryName}/images/{galleryImageName}", "galleryImage", setup=_gallery
    ),
    "gallery/GalleryImage_Get": Op("GET", CP + "/galleries/{galleryName}/images/{galleryImageName}", setup=_definition),
    "gallery/GalleryImage_Delete": Op(
        "DELETE", CP + "/galleries/{galleryName}/images/{galleryImageName}", setup=_definition
    ),
    "gallery/GalleryImage_ListByGallery": Op("GET", CP + "/galleries/{galleryName}/images", setup=_definition_list),
    "gallery/GalleryImageVersion_Create_WithSnapshotsAsSource": Op(
        "PUT", GIV, "galleryImageVersion", setup=_version_from_snapshots
    ),
    "gallery/GalleryImageVersion_Create_WithVmAsSource": Op(
        "PUT", GIV, "galleryImageVersion", setup=_version_from_vm, not_modelled=_VM_DATA_DISKS
    ),
    "gallery/GalleryImageVersion_Create_WithImageVersionAsSource": Op(
        "PUT",
        GIV,
        "galleryImageVersion",
        setup=_version_from_version,
        not_modelled={
            r"storageProfile\.dataDiskImages\[lun=1\]$": "the source version the setup created has an OS disk only"
        },
    ),
    "gallery/GalleryImageVersion_Create_WithShallowReplicationMode": Op(
        "PUT", GIV, "galleryImageVersion", setup=_version_from_image
    ),
    "gallery/GalleryImageVersion_Get": Op("GET", GIV, setup=_existing_version()),
    "gallery/GalleryImageVersion_Get_WithReplicationStatus": Op(
        "GET", GIV, query=("$expand",), setup=_existing_version()
    ),
    "gallery/GalleryImageVersion_Get_WithSnapshotsAsSource": Op("GET", GIV, setup=_version_snapshots_get),
    "gallery/GalleryImageVersion_ListByGalleryImage": Op(
        "GET", CP + "/galleries/{galleryName}/images/{galleryImageName}/versions", setup=_version_list
    ),
    "gallery/GalleryImageVersion_Update": Op(
        "PATCH", GIV, "galleryImageVersion", setup=_existing_version("Standard_ZRS", one_data_set=True)
    ),
    "gallery/GalleryImageVersion_Update_WithoutSourceId": Op(
        "PATCH", GIV, "galleryImageVersion", setup=_existing_version("Standard_ZRS", one_data_set=True)
    ),
    "gallery/GalleryImageVersion_Delete": Op("DELETE", GIV, setup=_existing_version()),
}


def _gallery_image_for_disk(arm: Arm) -> None:
    rg = "myResourceGroup"
    s.gallery(arm, rg, "sourceGallery")
    features = [
        {"name": "SecurityType", "value": "TrustedLaunchSupported"},
        {"name": "IsAcceleratedNetworkSupported", "value": "True"},
    ]
    s.definition(arm, rg, "sourceGallery", "sourceImage", features=features)
    snap = s.os_snapshot(arm, rg, "galleryImageSnapshot", "West US")
    s.simple_version(arm, rg, "sourceGallery", "sourceImage", "1.0.0", snap)
