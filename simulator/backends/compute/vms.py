"""Creating and updating a virtual machine: the PUT, with its OS disk, NICs and OS profile."""

from __future__ import annotations

import uuid
from typing import Any

from simulator.backends import policy
from simulator.backends.base import AsyncOperation, Resource
from simulator.backends.compute.marketplace import MarketplaceBackend
from simulator.backends.compute.state import Disk, VirtualMachine
from simulator.errors import ArmError

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


class VirtualMachinesBackend(MarketplaceBackend):
    """PUT of a VM: a new one (attach a disk or deploy an image) or an update of an existing one."""

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
