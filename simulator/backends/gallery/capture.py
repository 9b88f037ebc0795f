"""What a new image version captures from its source: a VM, a version, a managed image, a disk."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from simulator.backends import policy
from simulator.backends.gallery.state import GalleryState, ImageDefinition
from simulator.backends.guest import GuestState
from simulator.errors import ArmError

_TRUSTED_LAUNCH_OK = {"trustedlaunch", "trustedlaunchsupported", "trustedlaunchandconfidentialvmsupported"}


@dataclass
class Capture:
    """What a version takes from its source."""

    guest: GuestState | None
    generalized: bool
    size_gb: int
    os_caching: str = "ReadWrite"
    data_disks: list[dict[str, Any]] = field(default_factory=list)


class CaptureBackend(GalleryState):
    """Checks a version's source against its definition and copies the guest and disks it holds."""

    def _capture(self, source: dict[str, Any], image: ImageDefinition) -> Capture:
        vm_id = source.get("virtualMachineId")
        src_id = source.get("id") or ""
        if not vm_id and "/virtualmachines/" in src_id.lower():
            vm_id = src_id
        security = ""
        for f in image.props.get("features") or []:
            if str(f.get("name", "")).lower() == "securitytype":
                security = str(f.get("value", "")).lower()
        want_generalized = str(image.props.get("osState", "")).lower() == "generalized"
        if vm_id:
            vm = self.ctx.compute.find_vm(vm_id)
            if vm is None:
                raise ArmError("NotFound", f"The source virtual machine '{vm_id}' was not found.", 404)
            vm_security = str((vm.body.get("securityProfile") or {}).get("securityType", "")).lower()
            policy.refuse_security_data(vm_id, vm_security, security)
            if vm_security == "trustedlaunch" and security not in _TRUSTED_LAUNCH_OK:
                raise ArmError(
                    "InvalidParameter",
                    f"The source virtual machine '{vm_id}' has security type TrustedLaunch, but the gallery image "
                    "definition does not support it. Create the image definition with the SecurityType feature "
                    "'TrustedLaunchSupported' or 'TrustedLaunch'.",
                    target="securityType",
                )
            if want_generalized and not vm.generalized:
                raise ArmError(
                    "InvalidParameter",
                    f"The source virtual machine '{vm_id}' must be generalized to create an image version of a "
                    "gallery image with osState 'Generalized'. Run Sysprep and generalize the VM first.",
                    target="virtualMachineId",
                )
            if vm.power_state not in ("stopped", "deallocated"):
                raise ArmError("OperationNotAllowed", f"The source virtual machine '{vm_id}' must be stopped.")
            guest = self.ctx.compute.guest_of(vm)
            return Capture(
                guest.copy(self.ctx.now()) if guest else None,
                vm.generalized,
                guest.disk_size_gb if guest else 128,
                str(vm.body["storageProfile"]["osDisk"].get("caching") or "ReadWrite"),
            )
        low = src_id.lower()
        if "/galleries/" in low and "/versions/" in low:
            other = self.versions.get(low.rstrip("/"))
            if other is None:
                raise ArmError("NotFound", f"The source gallery image version '{src_id}' was not found.", 404)
            guest = other.guest.copy(self.ctx.now()) if other.guest else None
            return Capture(guest, other.generalized, other.disk_size_gb, other.os_caching, list(other.data_disks))
        if "/providers/microsoft.compute/images/" in low:
            managed = self.ctx.images.find(src_id)
            if managed is None:
                raise ArmError("NotFound", f"The source image '{src_id}' was not found.", 404)
            guest = managed.guest.copy(self.ctx.now()) if managed.guest else None
            return Capture(guest, want_generalized, managed.os_size_gb, managed.os_caching, list(managed.data_disks))
        if src_id:
            compute = self.ctx.compute
            disk = compute.find_disk_or_snapshot(src_id)
            if disk is None:
                raise ArmError("NotFound", f"The source resource '{src_id}' was not found.", 404)
            if disk.res.provisioning_state != "Succeeded":
                raise ArmError("OperationNotAllowed", f"The source '{src_id}' is not ready.")
            policy.refuse_security_data(
                src_id, str((disk.security_profile or {}).get("securityType", "")).lower(), security
            )
            guest = disk.guest.copy(self.ctx.now()) if disk.guest else None
            return Capture(guest, want_generalized, disk.size_gb)
        raise ArmError(
            "InvalidParameter",
            "Required parameter 'storageProfile.source' is missing (null).",
            target="storageProfile.source",
        )

    def _data_disk_images(self, storage: dict[str, Any], captured: Capture) -> list[dict[str, Any]]:
        """The data disk images a version keeps: those sent (sized from their sources) or the source's."""
        sent = storage.get("dataDiskImages")
        if not sent:
            return list(captured.data_disks)
        compute = self.ctx.compute
        result = []
        for item in sent:
            src_id = str((item.get("source") or {}).get("id") or "")
            src = compute.find_disk_or_snapshot(src_id)
            if src is None:
                raise ArmError(
                    "NotFound",
                    f"The source resource '{src_id}' of data disk image lun {item.get('lun')} was not found.",
                    404,
                )
            result.append(
                {
                    "lun": int(item.get("lun", 0)),
                    "sizeInGB": src.size_gb,
                    "hostCaching": str(item.get("hostCaching") or "None"),
                }
            )
        return result
