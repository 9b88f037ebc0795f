"""What happens to a VM after it exists: start, power off, deallocate, restart, generalize, delete."""

from __future__ import annotations

from simulator.backends.base import AsyncOperation
from simulator.backends.compute.state import ComputeState
from simulator.errors import ArmError


class VmLifecycleBackend(ComputeState):
    """Power actions, generalize and delete, each refused while another operation runs on the VM."""

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
