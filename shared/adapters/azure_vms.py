"""VM operations of the compute adapter: network, create, start, restart, deallocate, generalize, read."""

from __future__ import annotations

import secrets
from typing import Any

from azure.core.exceptions import ResourceNotFoundError

from shared.adapters.azure_arm import as_json, azure_errors, compute_models, network_models, provisioning
from shared.adapters.azure_disks import DiskOperations
from shared.domain.compute import VmSpec, VmState
from shared.domain.errors import AzureOperationError

VNET_NAME = "avd-lifecycle-vnet"
SUBNET_NAME = "build"


class VmOperations(DiskOperations):
    """VMs; a refused create removes the NIC made for it (DiskOperations.start_delete)."""

    _subnets: dict[str, str]

    def latest_marketplace_version(self, location: str, publisher: str, offer: str, sku: str) -> str:
        with azure_errors(f"list versions of {publisher}:{offer}:{sku}"):
            images = list(self.compute.virtual_machine_images.list(location, publisher, offer, sku))
        if not images:
            raise AzureOperationError(
                "resolve marketplace image", "NotFound", f"no versions of {publisher}:{offer}:{sku}"
            )
        return str(max((str(i.name) for i in images), key=lambda v: tuple(int(p) for p in v.split("."))))

    def ensure_network(self, location: str) -> str:
        if location in self._subnets:
            return self._subnets[location]
        name = f"{VNET_NAME}-{location}"
        with azure_errors(f"ensure virtual network {name}"):
            try:
                vnet = as_json(self.network.virtual_networks.get(self.resource_group, name))
            except ResourceNotFoundError:
                body = {
                    "location": location,
                    "properties": {
                        "addressSpace": {"addressPrefixes": ["10.250.0.0/24"]},
                        "subnets": [{"name": SUBNET_NAME, "properties": {"addressPrefix": "10.250.0.0/26"}}],
                    },
                }
                # The first NIC waits for the VNet on Azure's side; no need to poll here.
                self.network.virtual_networks.begin_create_or_update(
                    self.resource_group, name, network_models().VirtualNetwork(body), **self.started()
                )
                vnet = {}
        subnet_id = f"{vnet.get('id') or self._network_id(name)}/subnets/{SUBNET_NAME}"
        self._subnets[location] = subnet_id
        return subnet_id

    def _network_id(self, vnet: str) -> str:
        return self.id_of("Microsoft.Network/virtualNetworks", vnet)

    def get_vm(self, name: str) -> VmState | None:
        with azure_errors(f"read VM {name}"):
            try:
                vm = as_json(self.compute.virtual_machines.get(self.resource_group, name, expand="instanceView"))
            except ResourceNotFoundError:
                return None
        props = vm.get("properties", {})
        statuses = [s.get("code", "") for s in props.get("instanceView", {}).get("statuses", [])]
        power = next((s.split("/", 1)[1] for s in statuses if s.startswith("PowerState/")), "unknown")
        storage = props.get("storageProfile", {})
        image = storage.get("imageReference", {})
        reference = image.get("id") or ":".join(
            str(image.get(k, "")) for k in ("publisher", "offer", "sku", "exactVersion")
        )
        return VmState(
            id=str(vm.get("id", self.id_of("Microsoft.Compute/virtualMachines", name))),
            name=name,
            provisioning=provisioning(props.get("provisioningState")),
            power=power,
            generalized="OSState/generalized" in statuses,
            os_disk_id=str(storage.get("osDisk", {}).get("managedDisk", {}).get("id", "")),
            nic_ids=tuple(str(n.get("id", "")) for n in props.get("networkProfile", {}).get("networkInterfaces", [])),
            image_reference=reference if image else "",
            tags=dict(vm.get("tags") or {}),
        )

    def start_create_vm(self, spec: VmSpec) -> str:
        nic_name = f"{spec.name}-nic"
        with azure_errors(f"create NIC {nic_name}"):
            nic_body = {
                "location": spec.location,
                "tags": spec.tags,
                "properties": {
                    "ipConfigurations": [
                        {
                            "name": "ipconfig1",
                            "properties": {"subnet": {"id": spec.subnet_id}, "privateIPAllocationMethod": "Dynamic"},
                        }
                    ]
                },
            }
            # NICs provision in seconds and the VM create waits for it; no need to poll here.
            self.network.network_interfaces.begin_create_or_update(
                self.resource_group, nic_name, network_models().NetworkInterface(nic_body), **self.started()
            )
        nic_id = self.id_of("Microsoft.Network/networkInterfaces", nic_name)
        delete_option = "Delete" if spec.disposable else "Detach"
        storage: dict[str, Any]
        if spec.attach_os_disk_id:
            storage = {
                "osDisk": {
                    "osType": "Windows",
                    "createOption": "Attach",
                    "deleteOption": delete_option,
                    "managedDisk": {"id": spec.attach_os_disk_id},
                }
            }
        else:
            if spec.gallery_version_id:
                image: dict[str, str] = {"id": spec.gallery_version_id}
            else:
                publisher, offer, sku, version = spec.marketplace_urn.split(":")
                image = {"publisher": publisher, "offer": offer, "sku": sku, "version": version}
            storage = {
                "imageReference": image,
                "osDisk": {
                    "createOption": "FromImage",
                    "deleteOption": delete_option,
                    "managedDisk": {"storageAccountType": "Premium_LRS"},
                },
            }
        properties: dict[str, Any] = {
            "hardwareProfile": {"vmSize": spec.size},
            "storageProfile": storage,
            "networkProfile": {
                "networkInterfaces": [
                    {
                        "id": nic_id,
                        "properties": {"primary": True, "deleteOption": delete_option},
                    }
                ]
            },
        }
        if not spec.attach_os_disk_id:
            properties["osProfile"] = {
                "computerName": spec.name.replace("-", "")[:15],
                "adminUsername": "avdimageadmin",
                # Never stored: admins reach build VMs through Run Command or a password reset.
                "adminPassword": secrets.token_urlsafe(24) + "!Aa1",
            }
        # Always explicit: Azure makes a Gen2 VM Trusted Launch when securityType is omitted, and a
        # Trusted Launch VM cannot be captured into a TrustedLaunchSupported definition.
        properties["securityProfile"] = (
            {"securityType": "TrustedLaunch", "uefiSettings": {"secureBootEnabled": True, "vTpmEnabled": True}}
            if spec.trusted_launch
            else {"securityType": "Standard"}
        )
        body = {"location": spec.location, "tags": spec.tags, "properties": properties}
        try:
            with azure_errors(f"create VM {spec.name}"):
                self.compute.virtual_machines.begin_create_or_update(
                    self.resource_group, spec.name, compute_models().VirtualMachine(body), **self.started()
                )
        except AzureOperationError as error:
            if not error.transient and self.get_vm(spec.name) is None:
                # Refused (a quota, a bad request): the NIC made for it would be left behind.
                self.start_delete(nic_id)
            raise
        return self.id_of("Microsoft.Compute/virtualMachines", spec.name)

    def start_restart(self, vm_name: str) -> None:
        with azure_errors(f"restart VM {vm_name}"):
            self.compute.virtual_machines.begin_restart(self.resource_group, vm_name, **self.started())

    def start_vm(self, vm_name: str) -> None:
        with azure_errors(f"start VM {vm_name}"):
            self.compute.virtual_machines.begin_start(self.resource_group, vm_name, **self.started())

    def start_deallocate(self, vm_name: str) -> None:
        with azure_errors(f"deallocate VM {vm_name}"):
            self.compute.virtual_machines.begin_deallocate(self.resource_group, vm_name, **self.started())

    def generalize(self, vm_name: str) -> None:
        with azure_errors(f"generalize VM {vm_name}"):
            self.compute.virtual_machines.generalize(self.resource_group, vm_name)
