"""Disk, snapshot and generic resource operations of the compute adapter: copy, read state, delete."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from azure.core.exceptions import ResourceNotFoundError

from shared.adapters.azure_arm import ArmClients, as_json, azure_errors, compute_models, provisioning
from shared.domain.compute import OperationState
from shared.domain.errors import AzureOperationError


class DiskOperations(ArmClients):
    def start_snapshot(self, name: str, location: str, source_disk_id: str, tags: dict[str, str]) -> str:
        body = {
            "location": location,
            "tags": tags,
            "properties": {
                "creationData": {"createOption": "Copy", "sourceResourceId": source_disk_id},
                "incremental": False,
            },
        }
        with azure_errors(f"create snapshot {name}"):
            self.compute.snapshots.begin_create_or_update(
                self.resource_group, name, compute_models().Snapshot(body), **self.started()
            )
        return self.id_of("Microsoft.Compute/snapshots", name)

    def start_disk_from_snapshot(self, name: str, location: str, snapshot_id: str, tags: dict[str, str]) -> str:
        body = {
            "location": location,
            "tags": tags,
            "sku": {"name": "Premium_LRS"},
            "properties": {
                "osType": "Windows",
                "hyperVGeneration": "V2",
                "creationData": {"createOption": "Copy", "sourceResourceId": snapshot_id},
            },
        }
        with azure_errors(f"create disk {name}"):
            self.compute.disks.begin_create_or_update(
                self.resource_group, name, compute_models().Disk(body), **self.started()
            )
        return self.id_of("Microsoft.Compute/disks", name)

    def _split(self, resource_id: str) -> tuple[str, str]:
        parts = resource_id.strip("/").split("/")
        if len(parts) < 8 or parts[4].lower() != "providers":
            raise AzureOperationError("parse resource id", "InvalidResourceId", resource_id)
        return f"{parts[5]}/{parts[6]}".lower(), parts[7]

    def resource_state(self, resource_id: str) -> OperationState:
        kind, name = self._split(resource_id)
        getters: dict[str, Callable[[], Any]] = {
            "microsoft.compute/virtualmachines": lambda: self.compute.virtual_machines.get(self.resource_group, name),
            "microsoft.compute/disks": lambda: self.compute.disks.get(self.resource_group, name),
            "microsoft.compute/snapshots": lambda: self.compute.snapshots.get(self.resource_group, name),
            "microsoft.network/networkinterfaces": lambda: self.network.network_interfaces.get(
                self.resource_group, name
            ),
        }
        with azure_errors(f"read {resource_id}"):
            try:
                resource = as_json(getters[kind]())
            except ResourceNotFoundError:
                return OperationState.MISSING
        return provisioning(resource.get("properties", {}).get("provisioningState"))

    def start_delete(self, resource_id: str) -> None:
        kind, name = self._split(resource_id)
        deleters: dict[str, Callable[[], Any]] = {
            "microsoft.compute/virtualmachines": lambda: self.compute.virtual_machines.begin_delete(
                self.resource_group, name, **self.started()
            ),
            "microsoft.compute/disks": lambda: self.compute.disks.begin_delete(
                self.resource_group, name, **self.started()
            ),
            "microsoft.compute/snapshots": lambda: self.compute.snapshots.begin_delete(
                self.resource_group, name, **self.started()
            ),
            "microsoft.network/networkinterfaces": lambda: self.network.network_interfaces.begin_delete(
                self.resource_group, name, **self.started()
            ),
        }
        with azure_errors(f"delete {resource_id}"):
            try:
                deleters[kind]()
            except ResourceNotFoundError:
                return
