"""The request each stored example describes (method, path template, body, query) and which setup it needs."""

from __future__ import annotations

from dataclasses import dataclass, field

from tests.simulator import spec_scenarios as sc
from tests.simulator import spec_setups as s
from tests.simulator.spec_scenarios import Setup

CP = "/subscriptions/{subscriptionId}/resourceGroups/{resourceGroupName}/providers/Microsoft.Compute"
NP = "/subscriptions/{subscriptionId}/resourceGroups/{resourceGroupName}/providers/Microsoft.Network"
VM = CP + "/virtualMachines/{vmName}"
GIV = CP + "/galleries/{galleryName}/images/{galleryImageName}/versions/{galleryImageVersionName}"


@dataclass(frozen=True)
class Op:
    method: str
    path: str
    body: str | None = None  # the example parameter holding the request body
    query: tuple[str, ...] = ()  # example parameters sent as query parameters
    setup: Setup | None = None
    not_modelled: dict[str, str] = field(default_factory=dict)


_VM_DATA_DISKS = {
    r"storageProfile\.dataDiskImages\[lun=1\]$": "VM data disks are not simulated: the source VM has an OS disk only"
}
_CREATE_VM = Op("PUT", VM, "parameters", setup=lambda arm: sc.nic_for_vm_create(arm))

OPS: dict[str, Op] = {
    # virtual machines
    "compute/VirtualMachine_Start_MaximumSet_Gen": Op(
        "POST", VM + "/start", setup=sc.vm("rgcompute", "a" * 20, "deallocate")
    ),
    "compute/VirtualMachine_Start_MinimumSet_Gen": Op(
        "POST", VM + "/start", setup=sc.vm("rgcompute", "a" * 5, "deallocate")
    ),
    "compute/VirtualMachine_PowerOff_MaximumSet_Gen": Op(
        "POST", VM + "/powerOff", query=("skipShutdown",), setup=sc.vm("rgcompute", "a" * 27)
    ),
    "compute/VirtualMachine_PowerOff_MinimumSet_Gen": Op("POST", VM + "/powerOff", setup=sc.vm("rgcompute", "a" * 18)),
    "compute/VirtualMachine_Deallocate_MinimumSet_Gen": Op(
        "POST", VM + "/deallocate", setup=sc.vm("rgcompute", "a" * 16)
    ),
    "compute/VirtualMachine_Restart_MinimumSet_Gen": Op("POST", VM + "/restart", setup=sc.vm("rgcompute", "aaa")),
    "compute/VirtualMachine_Generalize": Op(
        "POST", VM + "/generalize", setup=sc.vm("myResourceGroup", "myVMName", "powerOff")
    ),
    "compute/VirtualMachine_Delete_Force": Op(
        "DELETE", VM, query=("forceDeletion",), setup=sc.vm("myResourceGroup", "myVM")
    ),
    "compute/VirtualMachineRunCommand": Op(
        "POST", VM + "/runCommand", "parameters", setup=sc.vm("crptestar98131", "vm3036")
    ),
    "compute/VirtualMachine_Get_InstanceView": Op("GET", VM + "/instanceView", setup=sc.instance_view_vm),
    "compute/VirtualMachine_Create_FromASpecializedSharedImage": Op(
        "PUT", VM, "parameters", setup=sc.shared_image("Specialized")
    ),
    "compute/VirtualMachine_Create_FromAGeneralizedSharedImage": Op(
        "PUT", VM, "parameters", setup=sc.shared_image("Generalized")
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
        setup=sc.snapshot_of_new_disk("mySnapshot"),
    ),
    "disks/Disk_Create_FromAnExistingManagedDisk": Op(
        "PUT", CP + "/disks/{diskName}", "disk", setup=lambda arm: s.disk(arm, "myResourceGroup", "myDisk1")
    ),
    "disks/Disk_Create_Empty": Op("PUT", CP + "/disks/{diskName}", "disk"),
    "disks/Disk_Create_FromAnAzureComputeGalleryImage": Op(
        "PUT",
        CP + "/disks/{diskName}",
        "disk",
        setup=lambda arm: sc.gallery_image_for_disk(arm),
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
    "disks/Disk_Get": Op("GET", CP + "/disks/{diskName}", setup=sc.disk_get),
    "disks/Disk_Delete": Op(
        "DELETE", CP + "/disks/{diskName}", setup=lambda arm: s.disk(arm, "myResourceGroup", "myDisk")
    ),
    "disks/Snapshot_Create_FromAnExistingSnapshot": Op(
        "PUT",
        CP + "/snapshots/{snapshotName}",
        "snapshot",
        setup=sc.snapshot_of_new_disk("mySnapshot1"),
    ),
    "disks/Snapshot_Get": Op("GET", CP + "/snapshots/{snapshotName}", setup=sc.snapshot_get("mySnapshot")),
    "disks/Snapshot_GetIncrementalSnapshot": Op(
        "GET", CP + "/snapshots/{snapshotName}", setup=sc.snapshot_get("myIncrementalSnapshot", incremental=True)
    ),
    "disks/Snapshot_Delete": Op(
        "DELETE",
        CP + "/snapshots/{snapshotName}",
        setup=sc.snapshot_of_new_disk("mySnapshot"),
    ),
    "disks/Snapshot_ListByResourceGroup": Op("GET", CP + "/snapshots", setup=sc.snapshot_list),
    # network
    "network/VirtualNetworkCreate": Op("PUT", NP + "/virtualNetworks/{virtualNetworkName}", "parameters"),
    "network/VirtualNetworkCreateSubnet": Op("PUT", NP + "/virtualNetworks/{virtualNetworkName}", "parameters"),
    "network/VirtualNetworkGet": Op("GET", NP + "/virtualNetworks/{virtualNetworkName}", setup=sc.vnet_get),
    "network/VirtualNetworkDelete": Op(
        "DELETE", NP + "/virtualNetworks/{virtualNetworkName}", setup=lambda arm: s.vnet(arm, "rg1", "test-vnet")
    ),
    "network/VirtualNetworkList": Op("GET", NP + "/virtualNetworks", setup=sc.vnet_list),
    "network/SubnetCreate": Op(
        "PUT", NP + "/virtualNetworks/{virtualNetworkName}/subnets/{subnetName}", "subnetParameters", setup=sc.subnets()
    ),
    "network/SubnetGet": Op(
        "GET",
        NP + "/virtualNetworks/{virtualNetworkName}/subnets/{subnetName}",
        setup=lambda arm: sc.subnets("subnet1")(arm)["value"][0],
    ),
    "network/SubnetList": Op(
        "GET", NP + "/virtualNetworks/{virtualNetworkName}/subnets", setup=sc.subnets("subnet1", "subnet2")
    ),
    "network/NetworkInterfaceCreate": Op(
        "PUT", NP + "/networkInterfaces/{networkInterfaceName}", "parameters", setup=sc.nic_vnet
    ),
    "network/NetworkInterfaceGet": Op("GET", NP + "/networkInterfaces/{networkInterfaceName}", setup=sc.nic_get),
    "network/NetworkInterfaceDelete": Op(
        "DELETE", NP + "/networkInterfaces/{networkInterfaceName}", setup=sc.nic_delete
    ),
    # galleries
    "gallery/Gallery_Create": Op("PUT", CP + "/galleries/{galleryName}", "gallery"),
    "gallery/Gallery_Get": Op("GET", CP + "/galleries/{galleryName}", setup=sc.gallery),
    "gallery/Gallery_Delete": Op("DELETE", CP + "/galleries/{galleryName}", setup=sc.gallery),
    "gallery/Gallery_ListByResourceGroup": Op("GET", CP + "/galleries", setup=sc.gallery_list),
    "gallery/GalleryImage_Create": Op(
        "PUT", CP + "/galleries/{galleryName}/images/{galleryImageName}", "galleryImage", setup=sc.gallery
    ),
    "gallery/GalleryImage_Get": Op(
        "GET", CP + "/galleries/{galleryName}/images/{galleryImageName}", setup=sc.definition
    ),
    "gallery/GalleryImage_Delete": Op(
        "DELETE", CP + "/galleries/{galleryName}/images/{galleryImageName}", setup=sc.definition
    ),
    "gallery/GalleryImage_ListByGallery": Op("GET", CP + "/galleries/{galleryName}/images", setup=sc.definition_list),
    "gallery/GalleryImageVersion_Create_WithSnapshotsAsSource": Op(
        "PUT", GIV, "galleryImageVersion", setup=sc.version_from_snapshots
    ),
    "gallery/GalleryImageVersion_Create_WithVmAsSource": Op(
        "PUT", GIV, "galleryImageVersion", setup=sc.version_from_vm, not_modelled=_VM_DATA_DISKS
    ),
    "gallery/GalleryImageVersion_Create_WithImageVersionAsSource": Op(
        "PUT",
        GIV,
        "galleryImageVersion",
        setup=sc.version_from_version,
        not_modelled={
            r"storageProfile\.dataDiskImages\[lun=1\]$": "the source version the setup created has an OS disk only"
        },
    ),
    "gallery/GalleryImageVersion_Create_WithShallowReplicationMode": Op(
        "PUT", GIV, "galleryImageVersion", setup=sc.version_from_image
    ),
    "gallery/GalleryImageVersion_Get": Op("GET", GIV, setup=sc.existing_version()),
    "gallery/GalleryImageVersion_Get_WithReplicationStatus": Op(
        "GET", GIV, query=("$expand",), setup=sc.existing_version()
    ),
    "gallery/GalleryImageVersion_Get_WithSnapshotsAsSource": Op("GET", GIV, setup=sc.version_snapshots_get),
    "gallery/GalleryImageVersion_ListByGalleryImage": Op(
        "GET", CP + "/galleries/{galleryName}/images/{galleryImageName}/versions", setup=sc.version_list
    ),
    "gallery/GalleryImageVersion_Update": Op(
        "PATCH", GIV, "galleryImageVersion", setup=sc.existing_version("Standard_ZRS", one_data_set=True)
    ),
    "gallery/GalleryImageVersion_Update_WithoutSourceId": Op(
        "PATCH", GIV, "galleryImageVersion", setup=sc.existing_version("Standard_ZRS", one_data_set=True)
    ),
    "gallery/GalleryImageVersion_Delete": Op("DELETE", GIV, setup=sc.existing_version()),
}
