"""The compute port over the real azure-mgmt-compute / azure-mgmt-network clients.

One class made of one part per responsibility: VMs (azure_vms), disks and snapshots
(azure_disks), Run Commands (azure_scripts), the Compute Gallery (azure_gallery), on the shared
clients and error handling of azure_arm; the inventories the sweeper and retention read live here.
Every operation start records Azure's Retry-After (`retry_after`): the steps' first look waits
that long (shared/steps/waits.py).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from typing import Any

from shared.adapters.azure_arm import as_json, azure_errors
from shared.adapters.azure_gallery import GalleryOperations
from shared.adapters.azure_scripts import ScriptOperations
from shared.adapters.azure_vms import VmOperations
from shared.adapters.run_commands import BlobRunOutput, ManagedRunCommands
from shared.domain.compute import TaggedResource
from shared.domain.retention import in_use_key


class AzureCompute(VmOperations, ScriptOperations, GalleryOperations):
    """Clients are built on first use: the Functions host imports modules to index them."""

    def __init__(
        self,
        subscription_id: str,
        resource_group: str,
        client_kwargs: Callable[[], dict[str, Any]],
        run_output: BlobRunOutput | None = None,
    ) -> None:
        self.subscription_id = subscription_id
        self.resource_group = resource_group
        self._client_kwargs = client_kwargs
        self._compute = None
        self._network = None
        self._subnets = {}
        self.retry_after = None
        self.run_commands = ManagedRunCommands(lambda: self.compute, resource_group, run_output, self._note_retry_after)

    def list_tagged(self, tag: str) -> list[TaggedResource]:
        rg = self.resource_group
        listings: list[tuple[str, Callable[[], Any]]] = [
            ("Microsoft.Compute/virtualMachines", lambda: self.compute.virtual_machines.list(rg)),
            ("Microsoft.Network/networkInterfaces", lambda: self.network.network_interfaces.list(rg)),
            ("Microsoft.Compute/disks", lambda: self.compute.disks.list_by_resource_group(rg)),
            ("Microsoft.Compute/snapshots", lambda: self.compute.snapshots.list_by_resource_group(rg)),
        ]
        found: list[TaggedResource] = []
        with azure_errors(f"list tagged resources in {rg}"):
            for resource_type, listing in listings:
                for item in listing():
                    data = as_json(item)
                    tags = dict(data.get("tags") or {})
                    if tag in tags:
                        found.append(
                            TaggedResource(str(data.get("id", "")), resource_type, str(data.get("name", "")), tags)
                        )
        return found

    def images_in_use(self) -> dict[str, int]:
        """Gallery versions that VMs and scale sets run, by id; "latest" hosts by their exactVersion."""
        used: Counter[str] = Counter()
        with azure_errors("list VMs and scale sets using images"):
            for vm in self.compute.virtual_machines.list_all():
                image = as_json(vm).get("properties", {}).get("storageProfile", {}).get("imageReference", {})
                if key := in_use_key(image.get("id"), image.get("exactVersion")):
                    used[key] += 1
            for scale_set in self.compute.virtual_machine_scale_sets.list_all():
                profile = as_json(scale_set).get("properties", {}).get("virtualMachineProfile", {})
                image = profile.get("storageProfile", {}).get("imageReference", {})
                if key := in_use_key(image.get("id"), image.get("exactVersion")):
                    used[key] += 1
        return dict(used)


# Names other adapters imported from here before the split (shared/adapters/hostpools_azure.py).
_azure = azure_errors
_json = as_json
