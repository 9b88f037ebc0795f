"""How a VM reads back: its model (GET) and its instance view (power state, agent, disks)."""

from __future__ import annotations

from typing import Any

from simulator.backends.base import iso
from simulator.backends.compute.state import ComputeState, VirtualMachine

_POWER_DISPLAY = {
    "running": "VM running",
    "stopped": "VM stopped",
    "deallocated": "VM deallocated",
    "starting": "VM starting",
    "stopping": "VM stopping",
    "deallocating": "VM deallocating",
}


class VmViewsBackend(ComputeState):
    """The VM body and its instance view, as GET returns them."""

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
