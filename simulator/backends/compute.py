"""Virtual machines, managed disks, snapshots, Run Command and the marketplace."""

from __future__ import annotations

import functools
import re
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from simulator.backends import catalog, policy, run_commands
from simulator.backends.base import AsyncOperation, Context, Resource, iso
from simulator.backends.guest import GuestState
from simulator.errors import ArmError, not_found

_POWER_DISPLAY = {
    "running": "VM running",
    "stopped": "VM stopped",
    "deallocated": "VM deallocated",
    "starting": "VM starting",
    "stopping": "VM stopping",
    "deallocating": "VM deallocating",
}

# Disk properties the backend computes; everything else in a PUT is echoed.
_DISK_COMPUTED = frozenset(
    {
        "osType",
        "hyperVGeneration",
        "creationData",
        "diskSizeGB",
        "diskSizeBytes",
        "uniqueId",
        "timeCreated",
        "provisioningState",
        "diskState",
        "incremental",
        "securityProfile",
        "incrementalSnapshotFamilyId",
        "LastOwnershipUpdateTime",
    }
)

# VM properties the backend computes or keeps elsewhere; everything else in a PUT is echoed.
_VM_COMPUTED = frozenset(
    {
        "storageProfile",
        "osProfile",
        "networkProfile",
        "userData",
        "provisioningState",
        "vmId",
        "instanceView",
        "timeCreated",
    }
)

_MARKETPLACE_ID = re.compile(
    r"/Subscriptions/[^/]+/Providers/Microsoft\.Compute/Locations/(?P<loc>[^/]+)/Publishers/(?P<pub>[^/]+)"
    r"/ArtifactTypes/VMImage/Offers/(?P<offer>[^/]+)/Skus/(?P<sku>[^/]+)/Versions/(?P<ver>[^/]+)$",
    re.IGNORECASE,
)


@dataclass
class Disk:
    res: Resource
    size_gb: int
    sku: str
    os_type: str | None
    hyperv_generation: str
    creation_data: dict[str, Any]
    security_profile: dict[str, Any] | None
    guest: GuestState | None
    unique_id: str
    managed_by: str | None = None
    incremental: bool = False
    source_generalized: bool = False  # created from a generalized (sysprepped) image
    extras: dict[str, Any] = field(default_factory=dict)  # sent properties the backend does not act on (echoed)
    family_id: str | None = None  # incrementalSnapshotFamilyId of an incremental snapshot
    ownership_changed: datetime | None = None  # LastOwnershipUpdateTime: last attach or detach


@dataclass
class VirtualMachine:
    res: Resource
    vm_id: str
    body: dict[str, Any]  # the accepted request properties, normalized
    os_disk_id: str
    os_disk_delete_option: str
    nic_refs: list[tuple[str, str]]  # (id, deleteOption)
    power_state: str = "starting"
    generalized: bool = False
    run_command: AsyncOperation | None = None
    from_generalized_image: bool = False
    extra_statuses: list[dict[str, Any]] = field(default_factory=list)
    user_data: str | None = None
    etag: int = 1  # Azure's VM etag ("\"1\"") changes with every write to the model


class ComputeBackend:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.vms: dict[str, VirtualMachine] = {}
        self.disks: dict[str, Disk] = {}
        self.snapshots: dict[str, Disk] = {}
        self.run_commands = run_commands.RunCommandsBackend(ctx, self)
        self.quotas = policy.Quotas()

    # ------------------------------------------------------------------------------------------
    # helpers
    def _vm_id(self, rg: str, name: str) -> str:
        return self.ctx.resource_id(rg, f"Microsoft.Compute/virtualMachines/{name}")

    def get_vm(self, rg: str, name: str) -> VirtualMachine:
        vm = self.vms.get(self._vm_id(rg, name).lower())
        if not vm:
            raise not_found("Microsoft.Compute/virtualMachines", name, rg)
        return vm

    def find_vm(self, vm_id: str) -> VirtualMachine | None:
        return self.vms.get(vm_id.lower())

    def list_vms(self, rg: str | None) -> list[VirtualMachine]:
        return [v for v in self.vms.values() if rg is None or v.res.resource_group.lower() == rg.lower()]

    def guest_of(self, vm: VirtualMachine) -> GuestState | None:
        disk = self.disks.get(vm.os_disk_id.lower())
        return disk.guest if disk else None

    def schedule_guest(self, guest: GuestState, vm: VirtualMachine | None = None) -> None:
        """Put the guest's pending transitions on the clock so they settle on time."""
        for due in guest.deadlines():
            self.ctx.clock.schedule(due, functools.partial(self._guest_tick, guest, vm))

    def _guest_tick(self, guest: GuestState, vm: VirtualMachine | None) -> None:
        shutdown = guest.sysprep is not None and guest.sysprep.shutdown
        guest.refresh(self.ctx.now())
        if shutdown and guest.sysprep is None and vm is not None and vm.power_state == "running":
            vm.power_state = "stopped"

    def _busy(self, vm: VirtualMachine, action: str) -> None:
        pending = self.ctx.pending_operation(vm.res.id)
        if pending and not pending.operation_name.lower().endswith("runcommand/action"):
            raise ArmError(
                "OperationNotAllowed",
                f"Operation '{action}' is not allowed on VM '{vm.res.name}' since the VM is currently "
                f"executing operation '{pending.operation_name}'. Please retry after the operation completes.",
            )

    # ------------------------------------------------------------------------------------------
    # marketplace
    def marketplace_versions(self, location: str, publisher: str, offer: str, sku: str) -> list[dict[str, Any]]:
        offering = catalog.find_offering(publisher, offer, sku)
        if offering is None:
            raise ArmError(
                "NotFound",
                f"Artifact: VMImage was not found. (publisher {publisher}, offer {offer}, sku {sku})",
            )
        return [self._marketplace_ref(location, img) for img in catalog.images(offering, self.ctx.now())]

    def marketplace_version(self, location: str, publisher: str, offer: str, sku: str, version: str) -> dict[str, Any]:
        offering = catalog.find_offering(publisher, offer, sku)
        image = catalog.resolve(offering, version, self.ctx.now()) if offering else None
        if image is None:
            raise ArmError("NotFound", "Artifact: VMImage was not found.")
        body = self._marketplace_ref(location, image)
        body["properties"] = {
            "hyperVGeneration": "V2",
            "architecture": "x64",
            "replicaType": "Unmanaged",
            "disallowed": {"vmDiskType": "Unmanaged"},
            "automaticOSUpgradeProperties": {"automaticOSUpgradeSupported": False},
            "imageDeprecationStatus": {"imageState": "Active"},
            "features": [
                {"name": "SecurityType", "value": "TrustedLaunchSupported"},
                {"name": "IsAcceleratedNetworkSupported", "value": "True"},
                {"name": "DiskControllerTypes", "value": "SCSI, NVMe"},
                {"name": "IsHibernateSupported", "value": "True"},
            ],
            "osDiskImage": {"operatingSystem": "Windows", "sizeInGb": 127},
            "dataDiskImages": [],
        }
        return body

    def _marketplace_ref(self, location: str, image: catalog.MarketplaceImage) -> dict[str, Any]:
        o = image.offering
        return {
            "location": location,
            "name": image.version,
            "id": f"/Subscriptions/{self.ctx.subscription_id}/Providers/Microsoft.Compute/Locations/{location}"
            f"/Publishers/{o.publisher}/ArtifactTypes/VMImage/Offers/{o.offer}/Skus/{o.sku}/Versions/{image.version}",
        }

    def _marketplace_image(self, ref: dict[str, Any]) -> catalog.MarketplaceImage:
        offering = catalog.find_offering(ref.get("publisher", ""), ref.get("offer", ""), ref.get("sku", ""))
        image = catalog.resolve(offering, ref.get("version") or "latest", self.ctx.now()) if offering else None
        if image is None:
            raise ArmError(
                "PlatformImageNotFound",
                f"The platform image '{ref.get('publisher')}:{ref.get('offer')}:{ref.get('sku')}:"
                f"{ref.get('version')}' is not available. Verify that all fields in the storage profile are "
                "correct. For more details about storage profile information, please refer to "
                "https://aka.ms/storageprofile",
                404,
            )
        return image

    # ------------------------------------------------------------------------------------------
    # image sources -> guest state
    def _guest_from_image_ref(
        self, ref: dict[str, Any], location: str, trusted_launch: bool
    ) -> tuple[GuestState, dict[str, Any], bool, int]:
        """Guest, normalized imageReference, whether the source is generalized, disk size."""
        ref_id = ref.get("id")
        if ref_id:
            m = _MARKETPLACE_ID.search(ref_id)
            if m:
                ref = {"publisher": m["pub"], "offer": m["offer"], "sku": m["sku"], "version": m["ver"]}
            else:
                version = self.ctx.gallery.resolve_for_deployment(ref_id, location)
                if version.guest is None:
                    raise ArmError("InvalidParameter", f"Image '{ref_id}' has no OS disk.")
                guest = version.guest.copy(self.ctx.now())
                return guest, {"id": ref_id, "exactVersion": version.res.name}, version.generalized, guest.disk_size_gb
        image = self._marketplace_image(ref)
        guest = GuestState.from_marketplace(image, trusted_launch=trusted_launch)
        normalized = {
            "publisher": image.offering.publisher,
            "offer": image.offering.offer,
            "sku": image.offering.sku,
            "version": ref.get("version") or "latest",
            "exactVersion": image.version,
        }
        return guest, normalized, True, guest.disk_size_gb

    def _image_os_type(self, ref: dict[str, Any]) -> str:
        """A gallery image's definition says its OS type; the simulated marketplace is Windows."""
        definition = self.ctx.gallery.definition_for(ref.get("id") or "")
        return str(definition.props.get("osType", "Windows")) if definition else "Windows"

    def _image_capabilities(self, ref: dict[str, Any]) -> dict[str, Any]:
        """supportedCapabilities of a disk made from an image: from the image's features."""
        definition = self.ctx.gallery.definition_for(ref.get("id") or "")
        features = (
            {str(f.get("name", "")).lower(): str(f.get("value", "")) for f in definition.props.get("features") or []}
            if definition
            else {"isacceleratednetworksupported": "True", "securitytype": "TrustedLaunchSupported"}
        )
        caps: dict[str, Any] = {
            "acceleratedNetwork": features.get("isacceleratednetworksupported", "").lower() == "true",
            "architecture": str(definition.props.get("architecture", "x64")) if definition else "x64",
        }
        if features.get("securitytype"):
            caps["supportedSecurityOption"] = features["securitytype"]
        return caps

    def _image_generation(self, ref: dict[str, Any], guest: GuestState) -> str:
        definition = self.ctx.gallery.definition_for(ref.get("id") or "")
        return str(definition.props.get("hyperVGeneration", "V1")) if definition else guest.hyper_v_generation

    @staticmethod
    def _check_os_profile(os_profile: dict[str, Any] | None, *, generalized: bool) -> None:
        """A generalized image needs an osProfile (with a password or SSH); a specialized one refuses it."""
        if not generalized:
            if os_profile:
                raise ArmError("InvalidParameter", "Parameter 'osProfile' is not allowed.", target="osProfile")
            return
        if not os_profile:
            raise ArmError("InvalidParameter", "Required parameter 'osProfile' is missing (null).", target="osProfile")
        if not os_profile.get("adminPassword") and not os_profile.get("linuxConfiguration"):
            raise ArmError(
                "InvalidParameter",
                "Required parameter 'adminPassword' is missing (null).",
                target="adminPassword",
            )

    # ------------------------------------------------------------------------------------------
    # virtual machines
    def put_vm(self, rg: str, name: str, body: dict[str, Any]) -> tuple[VirtualMachine, AsyncOperation, bool]:
        rid = self._vm_id(rg, name)
        existing = self.vms.get(rid.lower())
        if existing:
            return self._update_vm(existing, body)
        location = body.get("location")
        if not location:
            raise ArmError("LocationRequired", "The location property is required for this definition.", 400)
        props = body.get("properties") or {}
        if not (props.get("hardwareProfile") or {}).get("vmSize"):
            raise ArmError(
                "InvalidParameter", "Required parameter 'hardwareProfile.vmSize' is missing (null).", target="vmSize"
            )
        storage = props.get("storageProfile") or {}
        os_disk = dict(storage.get("osDisk") or {})
        security = props.get("securityProfile")
        security_given = bool((security or {}).get("securityType"))
        security_kind = policy.security_type(security)
        create_option = (os_disk.get("createOption") or "FromImage").lower()
        nic_refs: list[tuple[str, str]] = []
        nic_props: dict[str, dict[str, Any]] = {}
        for ref in (props.get("networkProfile") or {}).get("networkInterfaces") or []:
            nic = self.ctx.network.find_nic(ref.get("id", ""))
            if nic is None:
                raise ArmError("NotFound", f"Resource {ref.get('id')} not found.", 404)
            if nic.virtual_machine_id and nic.virtual_machine_id.lower() != rid.lower():
                raise ArmError(
                    "NicInUse",
                    f"Network Interface {nic.res.id} is used by existing resource {nic.virtual_machine_id}.",
                    400,
                )
            delete_option = (ref.get("properties") or {}).get("deleteOption", "Detach")
            nic_refs.append((nic.res.id, delete_option))
            nic_props[nic.res.id.lower()] = dict(ref.get("properties") or {})
        if not nic_refs:
            raise ArmError(
                "InvalidParameter",
                "At least one network interface is required to create a virtual machine.",
                target="networkProfile",
            )
        self.quotas.check(
            location,
            props["hardwareProfile"]["vmSize"],
            ((v.res.location, v.body["hardwareProfile"]["vmSize"]) for v in self.vms.values()),
        )
        os_profile = props.get("osProfile")
        from_generalized = False
        os_type = "Windows"
        if create_option == "attach":
            disk_id = (os_disk.get("managedDisk") or {}).get("id", "")
            disk = self.disks.get(disk_id.lower())
            if disk is None:
                raise ArmError("NotFound", f"Disk {disk_id} not found.", 404)
            if disk.managed_by:
                raise ArmError(
                    "OperationNotAllowed", f"Disk {disk.res.name} is already attached to VM {disk.managed_by}."
                )
            if os_profile:
                raise ArmError(
                    "InvalidParameter",
                    "Parameter 'osProfile' is not allowed.",
                    target="osProfile",
                )
            image_ref = None
            security_kind = policy.attached_security(
                disk.security_profile, disk.res.name, security_kind if security_given else None
            )
            os_type = disk.os_type or os_disk.get("osType") or "Windows"
            if disk.res.provisioning_state != "Succeeded":
                raise ArmError("OperationNotAllowed", f"Disk {disk.res.name} is not ready yet.")
        elif create_option == "fromimage":
            ref = storage.get("imageReference")
            if not ref:
                raise ArmError(
                    "InvalidParameter",
                    "Required parameter 'imageReference' is missing (null).",
                    target="imageReference",
                )
            gallery_security = self.ctx.gallery.definition_security_type(ref.get("id") or "")
            if gallery_security == "trustedlaunch" and security_kind != policy.TRUSTED_LAUNCH:
                raise ArmError(
                    "BadRequest",
                    "The provided gallery image only supports creation of VMs and VM Scale Sets with "
                    "'TrustedLaunch' security type.",
                    400,
                )
            trusted_launch = security_kind == policy.TRUSTED_LAUNCH
            guest, image_ref, from_generalized, size = self._guest_from_image_ref(ref, location, trusted_launch)
            os_type = self._image_os_type(ref)
            self._check_os_profile(os_profile, generalized=from_generalized)
            disk_name = os_disk.get("name") or f"{name}_OsDisk_1_{uuid.uuid4().hex}"
            disk_rid = self.ctx.resource_id(rg, f"Microsoft.Compute/disks/{disk_name}")
            sku = (os_disk.get("managedDisk") or {}).get("storageAccountType", "Premium_LRS")
            disk = Disk(
                Resource(disk_rid, disk_name, "Microsoft.Compute/disks", location, rg, created=self.ctx.now()),
                int(os_disk.get("diskSizeGB") or size),
                sku,
                os_type,
                self._image_generation(ref, guest),
                {"createOption": "FromImage", "imageReference": image_ref},
                {"securityType": "TrustedLaunch"} if trusted_launch else None,
                guest,
                str(uuid.uuid4()),
                source_generalized=from_generalized,
            )
            disk.res.provisioning_state = "Updating"
            self.disks[disk_rid.lower()] = disk
        else:
            raise ArmError(
                "InvalidParameter",
                f"The value '{os_disk.get('createOption')}' of parameter 'osDisk.createOption' is not allowed.",
                target="createOption",
            )
        disk.managed_by = rid
        disk.ownership_changed = self.ctx.now()
        clean_profile = None
        if os_profile:
            clean_profile = {k: v for k, v in os_profile.items() if k not in ("adminPassword", "customData")}
            clean_profile.setdefault("computerName", name[:15])
            if os_type == "Linux":
                clean_profile.setdefault(
                    "linuxConfiguration", {"disablePasswordAuthentication": not os_profile.get("adminPassword")}
                )
            else:
                clean_profile.setdefault(
                    "windowsConfiguration",
                    {
                        "provisionVMAgent": True,
                        "enableAutomaticUpdates": True,
                        "patchSettings": {"patchMode": "AutomaticByOS", "assessmentMode": "ImageDefault"},
                    },
                )
            clean_profile.setdefault("secrets", [])
            clean_profile.setdefault("allowExtensionOperations", True)
            clean_profile.setdefault("requireGuestProvisionSignal", True)
        # Properties the simulator does not act on are kept and echoed, as Azure echoes them;
        # userData is returned only on GET with $expand=userData.
        echoed = {k: v for k, v in props.items() if k not in _VM_COMPUTED}
        stored = {
            **echoed,
            "hardwareProfile": dict(props["hardwareProfile"]),
            "storageProfile": {
                **({"imageReference": image_ref} if image_ref else {}),
                "osDisk": {
                    "osType": os_type,
                    "name": disk.res.name,
                    "createOption": "Attach" if create_option == "attach" else "FromImage",
                    "caching": os_disk.get("caching", "ReadWrite"),
                    "managedDisk": {
                        "storageAccountType": disk.sku,
                        "id": disk.res.id,
                    },
                    "deleteOption": os_disk.get("deleteOption", "Detach"),
                    "diskSizeGB": disk.size_gb,
                },
                "dataDisks": [],
                "diskControllerType": "SCSI",
            },
            "osProfile": clean_profile,
            "networkProfile": {
                "networkInterfaces": [
                    {"id": nid, "properties": {**nic_props[nid.lower()], "deleteOption": opt}} for nid, opt in nic_refs
                ]
            },
            "securityProfile": policy.effective_profile(security, security_kind),
        }
        vm = VirtualMachine(
            Resource(rid, name, "Microsoft.Compute/virtualMachines", location, rg, created=self.ctx.now()),
            str(uuid.uuid4()),
            stored,
            disk.res.id,
            os_disk.get("deleteOption", "Detach"),
            nic_refs,
            from_generalized_image=from_generalized
            and create_option == "fromimage"
            and bool(image_ref and "id" in image_ref),
        )
        vm.res.tags = dict(body.get("tags") or {})
        vm.res.provisioning_state = "Creating"
        vm.user_data = props.get("userData")
        self.vms[rid.lower()] = vm
        for nid, _ in nic_refs:
            nic = self.ctx.network.find_nic(nid)
            if nic:
                nic.virtual_machine_id = rid
                nic.mac_address = "00-0D-3A-" + "-".join(f"{b:02X}" for b in uuid.uuid4().bytes[:3])

        def created() -> None:
            vm.res.provisioning_state = "Succeeded"
            vm.power_state = "running"
            disk.res.provisioning_state = "Succeeded"
            if vm.from_generalized_image and disk.guest is not None:
                disk.guest.first_boot_from_image(self.ctx.now(), self.ctx.guest_durations())
                self.schedule_guest(disk.guest, vm)

        def failed(_: ArmError) -> None:
            vm.res.provisioning_state = "Failed"
            vm.power_state = "running" if create_option == "attach" else "stopped"
            disk.res.provisioning_state = "Succeeded"

        op = self.ctx.start_operation(
            "Microsoft.Compute/virtualMachines/write",
            rid,
            location,
            self.ctx.seconds("vm_create"),
            kind="Write",
            http_method="PUT",
            on_success=created,
            on_failure=failed,
        )
        return vm, op, True

    def _update_vm(self, vm: VirtualMachine, body: dict[str, Any]) -> tuple[VirtualMachine, AsyncOperation, bool]:
        self._busy(vm, "write")
        if "tags" in body:
            vm.res.tags = dict(body.get("tags") or {})
        size = ((body.get("properties") or {}).get("hardwareProfile") or {}).get("vmSize")
        if size:
            vm.body["hardwareProfile"]["vmSize"] = size
        if "userData" in (body.get("properties") or {}):
            vm.user_data = body["properties"]["userData"]
        vm.etag += 1
        vm.res.provisioning_state = "Updating"

        def done() -> None:
            vm.res.provisioning_state = "Succeeded"

        op = self.ctx.start_operation(
            "Microsoft.Compute/virtualMachines/write",
            vm.res.id,
            vm.res.location,
            self.ctx.seconds("vm_update"),
            kind="Write",
            http_method="PUT",
            on_success=done,
        )
        return vm, op, False

    def power_action(self, rg: str, name: str, action: str) -> AsyncOperation:
        """start | powerOff | deallocate | restart."""
        vm = self.get_vm(rg, name)
        self._busy(vm, action)
        if vm.generalized and action in ("start", "restart"):
            raise ArmError(
                "OperationNotAllowed",
                f"Operation '{action}' is not allowed on VM '{name}' since the VM is generalized.",
            )
        if action == "restart" and vm.power_state != "running":
            raise ArmError(
                "OperationNotAllowed",
                f"Operation 'restart' is not allowed on VM '{name}' since the VM is {vm.power_state}.",
            )
        transitional, final, key = {
            "start": ("starting", "running", "vm_start"),
            "restart": ("starting", "running", "vm_restart"),
            "powerOff": ("stopping", "stopped", "vm_power_off"),
            "deallocate": ("deallocating", "deallocated", "vm_deallocate"),
        }[action]
        before = vm.power_state
        noop = before == final and action != "restart"  # a restart always reboots the guest
        if not noop:
            vm.power_state = transitional
        vm.res.provisioning_state = "Updating"

        def done() -> None:
            vm.power_state = final
            vm.res.provisioning_state = "Succeeded"
            guest = self.guest_of(vm)
            if guest is not None and final != "running" and guest.sysprep is not None:
                guest.sysprep = None  # stopping the VM kills a running sysprep
            if guest is not None and final == "running" and not noop:
                guest.boot(self.ctx.now())  # updates waiting for a restart take effect

        def failed(_: ArmError) -> None:
            vm.power_state = before
            vm.res.provisioning_state = "Failed"

        return self.ctx.start_operation(
            f"Microsoft.Compute/virtualMachines/{action}/action",
            vm.res.id,
            vm.res.location,
            0 if noop else self.ctx.seconds(key),
            kind="Action",
            http_method="POST",
            on_success=done,
            on_failure=failed,
        )

    def generalize(self, rg: str, name: str) -> None:
        vm = self.get_vm(rg, name)
        self._busy(vm, "generalize")
        if vm.power_state not in ("stopped", "deallocated"):
            raise ArmError(
                "OperationNotAllowed",
                f"Operation 'generalize' is not allowed on VM '{name}' since the VM is running. "
                "Please stop or deallocate the VM and run Sysprep (Windows) before generalizing it.",
            )
        # Azure only marks the VM generalized; it does not look inside the guest (Sysprep is the
        # caller's job, and a VM made from an image that was never sysprepped fails to provision).
        vm.generalized = True
        self.ctx.emit("Microsoft.Compute/virtualMachines/generalize/action", vm.res.id, "Action", True, "POST")

    def delete_vm(self, rg: str, name: str) -> AsyncOperation | None:
        rid = self._vm_id(rg, name)
        vm = self.vms.get(rid.lower())
        if vm is None:
            return None
        self._busy(vm, "delete")
        vm.res.provisioning_state = "Deleting"
        vm.power_state = "stopping" if vm.power_state == "running" else vm.power_state

        def done() -> None:
            self.vms.pop(rid.lower(), None)
            disk = self.disks.get(vm.os_disk_id.lower())
            if disk is not None:
                disk.managed_by = None
                disk.ownership_changed = self.ctx.now()
                if vm.os_disk_delete_option.lower() == "delete":
                    self.disks.pop(disk.res.id.lower(), None)
            for nid, opt in vm.nic_refs:
                nic = self.ctx.network.find_nic(nid)
                if nic is not None:
                    nic.virtual_machine_id = None
                    if opt.lower() == "delete":
                        self.ctx.network.nics.pop(nid.lower(), None)

        def failed(_: ArmError) -> None:
            vm.res.provisioning_state = "Failed"

        return self.ctx.start_operation(
            "Microsoft.Compute/virtualMachines/delete",
            rid,
            vm.res.location,
            self.ctx.seconds("vm_delete"),
            kind="Delete",
            http_method="DELETE",
            on_success=done,
            on_failure=failed,
        )

    def run_command(self, rg: str, name: str, body: dict[str, Any]) -> AsyncOperation:
        return run_commands.action_run_command(self, rg, name, body)

    # serialization
    def vm_body(
        self, vm: VirtualMachine, expand_instance_view: bool = False, expand_user_data: bool = False
    ) -> dict[str, Any]:
        body = vm.res.envelope()
        body["etag"] = f'"{vm.etag}"'
        props: dict[str, Any] = {"vmId": vm.vm_id}
        for key, value in vm.body.items():
            if value is not None:
                props[key] = value
        props["provisioningState"] = vm.res.provisioning_state
        props["timeCreated"] = iso(vm.res.created) if vm.res.created else None
        if expand_instance_view:
            props["instanceView"] = self.instance_view(vm)
        if expand_user_data and vm.user_data is not None:
            props["userData"] = vm.user_data
        body["properties"] = props
        return body

    def instance_view(self, vm: VirtualMachine) -> dict[str, Any]:
        now = self.ctx.now()
        guest = self.guest_of(vm)
        if guest is not None:
            guest.refresh(now)
        state = vm.res.provisioning_state.lower()
        statuses: list[dict[str, Any]] = [
            {
                "code": f"ProvisioningState/{state}",
                "level": "Error" if state == "failed" else "Info",
                "displayStatus": f"Provisioning {state}",
                "time": iso(now),
            }
        ]
        if vm.generalized:
            statuses.append({"code": "OSState/generalized", "level": "Info", "displayStatus": "VM generalized"})
        statuses.append(
            {
                "code": f"PowerState/{vm.power_state}",
                "level": "Info",
                "displayStatus": _POWER_DISPLAY[vm.power_state],
            }
        )
        os_disk = self.disks.get(vm.os_disk_id.lower())
        view: dict[str, Any] = {
            # a VM outside an availability set or scale set is in update and fault domain 0
            "platformUpdateDomain": 0,
            "platformFaultDomain": 0,
            "computerName": (vm.body.get("osProfile") or {}).get("computerName", vm.res.name[:15]),
            "hyperVGeneration": os_disk.hyperv_generation if os_disk else "V2",
            "isVMInStandbyPool": False,
            "disks": [
                {
                    "name": self.disks[vm.os_disk_id.lower()].res.name if vm.os_disk_id.lower() in self.disks else "",
                    "statuses": [
                        {
                            "code": "ProvisioningState/succeeded",
                            "level": "Info",
                            "displayStatus": "Provisioning succeeded",
                            "time": iso(now),
                        }
                    ],
                }
            ],
            "statuses": statuses,
        }
        boot = (vm.body.get("diagnosticsProfile") or {}).get("bootDiagnostics") or {}
        if boot.get("enabled"):
            store = str(boot.get("storageUri") or f"https://md-{vm.vm_id[:12]}.blob.core.windows.net/").rstrip("/")
            folder = f"{store}/bootdiagnostics-{vm.res.name[:9].lower()}-{vm.vm_id}"
            view["bootDiagnostics"] = {
                "consoleScreenshotBlobUri": f"{folder}/{vm.res.name}.{vm.vm_id}.screenshot.bmp",
                "serialConsoleLogBlobUri": f"{folder}/{vm.res.name}.{vm.vm_id}.serialconsole.log",
            }
        if vm.power_state == "running" and guest is not None:
            view["osName"] = guest.product_name
            view["osVersion"] = f"10.0.{guest.build}.{guest.ubr}"
            view["vmAgent"] = {
                "vmAgentVersion": "2.7.41491.1183",
                "statuses": [
                    {
                        "code": "ProvisioningState/succeeded",
                        "level": "Info",
                        "displayStatus": "Ready",
                        "message": "GuestAgent is running and processing the extensions.",
                        "time": iso(now),
                    }
                ],
            }
        return view

    # ------------------------------------------------------------------------------------------
    # disks and snapshots
    def find_disk_or_snapshot(self, resource_id: str) -> Disk | None:
        """A disk or snapshot by id; the spec's own examples write ids without the leading slash."""
        key = "/" + resource_id.strip().lstrip("/").lower()
        return self.disks.get(key) or self.snapshots.get(key)

    def _disk_source(
        self, creation: dict[str, Any], location: str, derived: dict[str, Any]
    ) -> tuple[GuestState | None, int | None, bool, str | None]:
        """Guest, size, generalized, OS type of a disk's source; ``derived`` gets what Azure derives from it."""
        option = (creation.get("createOption") or "").lower()
        if option == "empty":
            return None, None, False, None
        if option == "copy":
            src_id = creation.get("sourceResourceId") or ""
            src = self.find_disk_or_snapshot(src_id)
            if src is None:
                raise ArmError("NotFound", f"Resource {src_id} is not found.", 404)
            if src.res.provisioning_state != "Succeeded":
                raise ArmError("OperationNotAllowed", f"Source {src.res.name} is not ready.")
            guest = src.guest.copy(self.ctx.now()) if src.guest else None
            derived["sourceUniqueId"] = src.unique_id
            derived["hyperVGeneration"] = src.hyperv_generation
            if src.family_id:
                derived["family"] = src.family_id
            return guest, src.size_gb, src.source_generalized, src.os_type
        if option == "fromimage":
            ref = creation.get("galleryImageReference") or creation.get("imageReference") or {}
            guest, _, generalized, size = self._guest_from_image_ref(ref, location, trusted_launch=False)
            derived["hyperVGeneration"] = self._image_generation(ref, guest)
            derived["supportedCapabilities"] = self._image_capabilities(ref)
            return guest, size, generalized, self._image_os_type(ref)
        raise ArmError(
            "InvalidParameter",
            f"The value '{creation.get('createOption')}' of parameter 'creationData.createOption' is not supported.",
            target="createOption",
        )

    def put_disk(
        self, rg: str, name: str, body: dict[str, Any], *, snapshot: bool
    ) -> tuple[Disk, AsyncOperation, bool]:
        kind = "snapshots" if snapshot else "disks"
        store = self.snapshots if snapshot else self.disks
        rid = self.ctx.resource_id(rg, f"Microsoft.Compute/{kind}/{name}")
        existing = store.get(rid.lower())
        props = body.get("properties") or {}
        if existing:
            if "tags" in body:
                existing.res.tags = dict(body.get("tags") or {})
            new_size = props.get("diskSizeGB")
            if new_size and int(new_size) < existing.size_gb:
                raise ArmError(
                    "BadRequest", f"Disk size can only be increased. Current size {existing.size_gb} GB.", 400
                )
            if new_size:
                existing.size_gb = int(new_size)
            existing.extras.update({k: v for k, v in props.items() if k not in _DISK_COMPUTED})
            op = self.ctx.start_operation(
                f"Microsoft.Compute/{kind}/write", rid, existing.res.location, 1, kind="Write", http_method="PUT"
            )
            return existing, op, False
        location = body.get("location")
        if not location:
            raise ArmError("LocationRequired", "The location property is required for this definition.", 400)
        creation = dict(props.get("creationData") or {})
        if not creation.get("createOption"):
            raise ArmError(
                "InvalidParameter",
                "Required parameter 'creationData.createOption' is missing (null).",
                target="createOption",
            )
        if snapshot and creation["createOption"].lower() not in ("copy",):
            raise ArmError(
                "InvalidParameter",
                "Snapshots can only be created with createOption 'Copy' in this simulator.",
                target="createOption",
            )
        derived: dict[str, Any] = {}
        guest, size, generalized, os_type = self._disk_source(creation, location, derived)
        if "sourceUniqueId" in derived:
            creation["sourceUniqueId"] = derived["sourceUniqueId"]
        size_gb = int(props.get("diskSizeGB") or size or 0)
        if not size_gb:
            raise ArmError(
                "InvalidParameter", "Required parameter 'diskSizeGB' is missing (null).", target="diskSizeGB"
            )
        sku_name = (body.get("sku") or {}).get("name") or ("Standard_LRS" if snapshot else "Premium_LRS")
        disk = Disk(
            Resource(rid, name, f"Microsoft.Compute/{kind}", location, rg, created=self.ctx.now()),
            size_gb,
            sku_name,
            props.get("osType") or os_type,
            props.get("hyperVGeneration") or derived.get("hyperVGeneration") or "V2",
            creation,
            props.get("securityProfile") or self._copied_security(creation),
            guest,
            str(uuid.uuid4()),
            incremental=bool(props.get("incremental", False)),
            source_generalized=generalized,
            extras={k: v for k, v in props.items() if k not in _DISK_COMPUTED},
        )
        if "supportedCapabilities" in derived:
            disk.extras.setdefault("supportedCapabilities", derived["supportedCapabilities"])
        if snapshot and disk.incremental:
            # one family per source disk: every incremental snapshot of it shares the id
            disk.family_id = derived.get("family") or str(
                uuid.uuid5(uuid.NAMESPACE_OID, derived.get("sourceUniqueId", rid))
            )
        disk.res.tags = dict(body.get("tags") or {})
        disk.res.provisioning_state = "Creating" if snapshot else "Updating"
        store[rid.lower()] = disk

        def done() -> None:
            disk.res.provisioning_state = "Succeeded"

        def failed(_: ArmError) -> None:
            disk.res.provisioning_state = "Failed"

        op = self.ctx.start_operation(
            f"Microsoft.Compute/{kind}/write",
            rid,
            location,
            self.ctx.seconds("snapshot_create" if snapshot else "disk_create"),
            kind="Write",
            http_method="PUT",
            on_success=done,
            on_failure=failed,
        )
        return disk, op, True

    def _copied_security(self, creation: dict[str, Any]) -> dict[str, Any] | None:
        """A copy (snapshot of a disk, disk from a snapshot) carries its source's security type."""
        if (creation.get("createOption") or "").lower() != "copy":
            return None
        src_id = str(creation.get("sourceResourceId") or "").lower()
        src = self.disks.get(src_id) or self.snapshots.get(src_id)
        return dict(src.security_profile) if src is not None and src.security_profile else None

    def get_disk(self, rg: str, name: str, *, snapshot: bool) -> Disk:
        kind = "snapshots" if snapshot else "disks"
        store = self.snapshots if snapshot else self.disks
        disk = store.get(self.ctx.resource_id(rg, f"Microsoft.Compute/{kind}/{name}").lower())
        if disk is None:
            raise not_found(f"Microsoft.Compute/{kind}", name, rg)
        return disk

    def list_disks(self, rg: str | None, *, snapshot: bool) -> list[Disk]:
        store = self.snapshots if snapshot else self.disks
        return [d for d in store.values() if rg is None or d.res.resource_group.lower() == rg.lower()]

    def delete_disk(self, rg: str, name: str, *, snapshot: bool) -> AsyncOperation | None:
        kind = "snapshots" if snapshot else "disks"
        store = self.snapshots if snapshot else self.disks
        rid = self.ctx.resource_id(rg, f"Microsoft.Compute/{kind}/{name}")
        disk = store.get(rid.lower())
        if disk is None:
            return None
        if disk.managed_by:
            raise ArmError("OperationNotAllowed", f"Disk {name} is attached to VM {disk.managed_by}.")

        def done() -> None:
            store.pop(rid.lower(), None)

        disk.res.provisioning_state = "Deleting"
        return self.ctx.start_operation(
            f"Microsoft.Compute/{kind}/delete",
            rid,
            disk.res.location,
            self.ctx.seconds("snapshot_delete" if snapshot else "disk_delete"),
            kind="Delete",
            http_method="DELETE",
            on_success=done,
        )

    def disk_state(self, disk: Disk) -> str:
        if not disk.managed_by:
            return "Unattached"
        vm = self.vms.get(disk.managed_by.lower())
        if vm is not None and vm.power_state == "deallocated":
            return "Reserved"
        return "Attached"

    def disk_body(self, disk: Disk, *, snapshot: bool) -> dict[str, Any]:
        body = disk.res.envelope()
        if disk.managed_by:
            body["managedBy"] = disk.managed_by
        tier = disk.sku.split("_")[0]
        body["sku"] = {"name": disk.sku, "tier": tier}
        props: dict[str, Any] = {
            **disk.extras,
            "osType": disk.os_type,
            "hyperVGeneration": disk.hyperv_generation,
            "creationData": disk.creation_data,
            "diskSizeGB": disk.size_gb,
            "diskSizeBytes": disk.size_gb * 1024**3,
            "uniqueId": disk.unique_id,
            "encryption": {"type": "EncryptionAtRestWithPlatformKey"},
            "networkAccessPolicy": "AllowAll",
            "publicNetworkAccess": "Enabled",
            "timeCreated": iso(disk.res.created or datetime.now()),
            "provisioningState": disk.res.provisioning_state,
            "diskState": self.disk_state(disk) if not snapshot else "Unattached",
        }
        if disk.security_profile:
            props["securityProfile"] = disk.security_profile
        if disk.ownership_changed is not None:
            props["LastOwnershipUpdateTime"] = iso(disk.ownership_changed)
        if disk.family_id:
            props["incrementalSnapshotFamilyId"] = disk.family_id
        if snapshot:
            props["incremental"] = disk.incremental
        else:
            props["diskIOPSReadWrite"] = 500
            props["diskMBpsReadWrite"] = 100
            props["tier"] = "P10"
        body["properties"] = {k: v for k, v in props.items() if v is not None}
        return body
