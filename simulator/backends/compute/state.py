"""The compute backend's records (VMs, disks, snapshots) and the lookups all its parts share.

Its own module so that each part (VMs, disks, marketplace, views) and Run Command can name
these types without importing the whole backend.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from simulator.backends import policy
from simulator.backends.base import AsyncOperation, Context, Resource
from simulator.backends.guest import GuestState
from simulator.errors import ArmError, not_found


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


class ComputeState:
    """The stores of VMs, disks and snapshots, and how to find a VM and its guest."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.vms: dict[str, VirtualMachine] = {}
        self.disks: dict[str, Disk] = {}
        self.snapshots: dict[str, Disk] = {}
        self.quotas = policy.Quotas()

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
