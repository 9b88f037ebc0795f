"""Virtual machines, managed disks, snapshots, Run Command and the marketplace.

One backend made of parts by responsibility, as moto builds its EC2 backend from mixins:
``state`` (records and lookups), ``marketplace`` (image sources), ``vms`` (create and update),
``lifecycle`` (power, generalize, delete), ``views`` (GET bodies) and ``disks``.
"""

from __future__ import annotations

from typing import Any

from simulator.backends import run_commands
from simulator.backends.base import AsyncOperation, Context
from simulator.backends.compute.disks import DisksBackend
from simulator.backends.compute.lifecycle import VmLifecycleBackend
from simulator.backends.compute.state import Disk, VirtualMachine
from simulator.backends.compute.views import VmViewsBackend
from simulator.backends.compute.vms import VirtualMachinesBackend

__all__ = ["ComputeBackend", "Disk", "VirtualMachine"]


class ComputeBackend(VirtualMachinesBackend, VmLifecycleBackend, VmViewsBackend, DisksBackend):
    def __init__(self, ctx: Context) -> None:
        super().__init__(ctx)
        self.run_commands = run_commands.RunCommandsBackend(ctx, self)

    def run_command(self, rg: str, name: str, body: dict[str, Any]) -> AsyncOperation:
        return run_commands.action_run_command(self, rg, name, body)
