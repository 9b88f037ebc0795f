"""The compute port over the real azure-mgmt-compute / azure-mgmt-network clients.

Requests and responses are handled as ARM REST JSON (the SDK models are mappings of it),
so what is sent reads like the REST reference. Retries are azure-core's RetryPolicy,
which honours Retry-After on 429 and 5xx; nothing here loops on its own.
"""

from __future__ import annotations

import secrets
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from azure.core.exceptions import HttpResponseError, ResourceNotFoundError
from azure.core.rest import HttpRequest, HttpResponse

from shared.adapters.run_commands import BlobRunOutput, ManagedRunCommands
from shared.domain.compute import (
    GalleryVersionState,
    ImageDefinitionSpec,
    ManagedScriptResult,
    OperationState,
    RegionReplication,
    ScriptResult,
    TaggedResource,
    TargetRegion,
    VersionSpec,
    VmSpec,
    VmState,
)
from shared.domain.errors import AzureOperationError
from shared.domain.retention import in_use_key

if TYPE_CHECKING:  # the SDKs are imported on first use: a function that never calls ARM never loads them
    from azure.mgmt.compute import ComputeManagementClient
    from azure.mgmt.network import NetworkManagementClient

VNET_NAME = "avd-lifecycle-vnet"
SUBNET_NAME = "build"
RUN_COMMAND = "RunPowerShellScript"
RUN_COMMAND_API = "2026-04-01"  # the SDK's api-version for virtualMachines/runCommand


def _compute_models() -> Any:
    from azure.mgmt.compute import models

    return models


def _network_models() -> Any:
    from azure.mgmt.network import models

    return models


def _json(model: Any) -> dict[str, Any]:
    if model is None:
        return {}
    if hasattr(model, "as_dict"):
        result: dict[str, Any] = model.as_dict()
        return result
    return dict(model)


def _state(provisioning: str | None) -> OperationState:
    value = (provisioning or "").lower()
    if value == "succeeded":
        return OperationState.SUCCEEDED
    if value in ("failed", "canceled"):
        return OperationState.FAILED
    return OperationState.IN_PROGRESS


@contextmanager
def _azure(operation: str) -> Iterator[None]:
    """Azure errors become domain errors that keep Azure's code and message."""
    try:
        yield
    except HttpResponseError as error:  # ResourceNotFoundError (404) too: a resource that vanished
        code = (error.error.code if error.error is not None else None) or str(error.status_code or "HttpError")
        message = (error.error.message if error.error is not None else None) or str(error.message)
        raise AzureOperationError(operation, code, message, error.status_code) from None


def _version_state(found: dict[str, Any], version: str) -> GalleryVersionState:
    """A gallery image version as the product sees it (replication status only when expanded)."""
    props = found.get("properties", {})
    publishing = props.get("publishingProfile", {})
    status = props.get("replicationStatus", {})
    end_of_life = publishing.get("endOfLifeDate")
    return GalleryVersionState(
        id=str(found.get("id", "")),
        name=str(found.get("name", version)),
        provisioning=_state(props.get("provisioningState")),
        aggregated=str(status.get("aggregatedState", "")),
        regions=tuple(
            RegionReplication(
                region=str(r.get("region", "")),
                state=str(r.get("state", "Unknown")),
                progress=int(r.get("progress", 0) or 0),
                details=str(r.get("details", "") or ""),
            )
            for r in status.get("summary", [])
        ),
        target_regions=tuple(str(t.get("name", "")) for t in publishing.get("targetRegions", [])),
        targets=tuple(
            TargetRegion(
                str(t.get("name", "")),
                int(t.get("regionalReplicaCount") or publishing.get("replicaCount") or 1),
                str(t.get("storageAccountType") or publishing.get("storageAccountType") or "Standard_LRS"),
                t.get("excludeFromLatest"),  # the region's own flag (TargetRegion; null when never set)
            )
            for t in publishing.get("targetRegions", [])
        ),
        exclude_from_latest=bool(publishing.get("excludeFromLatest", False)),
        end_of_life=datetime.fromisoformat(end_of_life.replace("Z", "+00:00")) if end_of_life else None,
        tags=dict(found.get("tags") or {}),
    )


class AzureCompute:
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
        self._compute: ComputeManagementClient | None = None
        self._network: NetworkManagementClient | None = None
        self._subnets: dict[str, str] = {}
        self.run_commands = ManagedRunCommands(lambda: self.compute, resource_group, run_output)

    @property
    def compute(self) -> ComputeManagementClient:
        if self._compute is None:
            from azure.mgmt.compute import ComputeManagementClient

            self._compute = ComputeManagementClient(**self._client_kwargs())
        return self._compute

    @property
    def network(self) -> NetworkManagementClient:
        if self._network is None:
            from azure.mgmt.network import NetworkManagementClient

            self._network = NetworkManagementClient(**self._client_kwargs())
        return self._network

    def id_of(self, resource_type: str, name: str) -> str:
        group = f"/subscriptions/{self.subscription_id}/resourceGroups/{self.resource_group}"
        return f"{group}/providers/{resource_type}/{name}"

    def latest_marketplace_version(self, location: str, publisher: str, offer: str, sku: str) -> str:
        with _azure(f"list versions of {publisher}:{offer}:{sku}"):
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
        with _azure(f"ensure virtual network {name}"):
            try:
                vnet = _json(self.network.virtual_networks.get(self.resource_group, name))
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
                    self.resource_group, name, _network_models().VirtualNetwork(body), polling=False
                )
                vnet = {}
        subnet_id = f"{vnet.get('id') or self._network_id(name)}/subnets/{SUBNET_NAME}"
        self._subnets[location] = subnet_id
        return subnet_id

    def _network_id(self, vnet: str) -> str:
        return self.id_of("Microsoft.Network/virtualNetworks", vnet)

    def get_vm(self, name: str) -> VmState | None:
        with _azure(f"read VM {name}"):
            try:
                vm = _json(self.compute.virtual_machines.get(self.resource_group, name, expand="instanceView"))
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
            provisioning=_state(props.get("provisioningState")),
            power=power,
            generalized="OSState/generalized" in statuses,
            os_disk_id=str(storage.get("osDisk", {}).get("managedDisk", {}).get("id", "")),
            nic_ids=tuple(str(n.get("id", "")) for n in props.get("networkProfile", {}).get("networkInterfaces", [])),
            image_reference=reference if image else "",
            tags=dict(vm.get("tags") or {}),
        )

    def start_create_vm(self, spec: VmSpec) -> str:
        nic_name = f"{spec.name}-nic"
        with _azure(f"create NIC {nic_name}"):
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
                self.resource_group, nic_name, _network_models().NetworkInterface(nic_body), polling=False
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
            with _azure(f"create VM {spec.name}"):
                self.compute.virtual_machines.begin_create_or_update(
                    self.resource_group, spec.name, _compute_models().VirtualMachine(body), polling=False
                )
        except AzureOperationError as error:
            if not error.transient and self.get_vm(spec.name) is None:
                # Refused (a quota, a bad request): the NIC made for it would be left behind.
                self.start_delete(nic_id)
            raise
        return self.id_of("Microsoft.Compute/virtualMachines", spec.name)

    def start_script(self, vm_name: str, script: str) -> str:
        """POST the Run Command action and return its result URL (the Location header).

        Sent with the client's own pipeline (auth, retries, logging) rather than the typed
        `begin_run_command`, whose poller would wait for the script to finish.
        """
        url = self.id_of("Microsoft.Compute/virtualMachines", vm_name) + "/runCommand"
        body = {"commandId": RUN_COMMAND, "script": script.strip().splitlines()}
        request = HttpRequest("POST", url, params={"api-version": RUN_COMMAND_API}, json=body)
        response = self._send(request, f"Run Command on {vm_name}")
        location = response.headers.get("Location") or response.headers.get("Azure-AsyncOperation")
        if response.status_code == 200 or not location:
            raise AzureOperationError(f"Run Command on {vm_name}", "UnexpectedResponse", "no operation to follow")
        return str(location)

    def script_result(self, operation: str) -> ScriptResult | None:
        response = self._send(HttpRequest("GET", operation), "read Run Command result")
        if response.status_code == 202:
            return None
        stdout = stderr = ""
        for item in (response.json() or {}).get("value", []):
            if "StdOut" in item.get("code", ""):
                stdout += item.get("message", "")
            elif "StdErr" in item.get("code", ""):
                stderr += item.get("message", "")
        return ScriptResult(stdout=stdout, stderr=stderr)

    def _send(self, request: HttpRequest, operation: str) -> HttpResponse:
        response = self.compute.send_request(request)
        if response.status_code >= 400:
            try:
                error = (response.json() or {}).get("error", {})
            except ValueError:
                error = {}
            code = str(error.get("code") or response.status_code)
            raise AzureOperationError(
                operation, code, str(error.get("message") or response.text()[:500]), response.status_code
            )
        return response

    def start_managed_script(self, vm_name: str, name: str, script: str, timeout: timedelta, location: str) -> None:
        self.run_commands.start(vm_name, name, script, timeout, location)

    def managed_script_result(self, vm_name: str, name: str) -> ManagedScriptResult | None:
        return self.run_commands.result(vm_name, name)

    def start_restart(self, vm_name: str) -> None:
        with _azure(f"restart VM {vm_name}"):
            self.compute.virtual_machines.begin_restart(self.resource_group, vm_name, polling=False)

    def start_vm(self, vm_name: str) -> None:
        with _azure(f"start VM {vm_name}"):
            self.compute.virtual_machines.begin_start(self.resource_group, vm_name, polling=False)

    def start_deallocate(self, vm_name: str) -> None:
        with _azure(f"deallocate VM {vm_name}"):
            self.compute.virtual_machines.begin_deallocate(self.resource_group, vm_name, polling=False)

    def generalize(self, vm_name: str) -> None:
        with _azure(f"generalize VM {vm_name}"):
            self.compute.virtual_machines.generalize(self.resource_group, vm_name)

    def start_snapshot(self, name: str, location: str, source_disk_id: str, tags: dict[str, str]) -> str:
        body = {
            "location": location,
            "tags": tags,
            "properties": {
                "creationData": {"createOption": "Copy", "sourceResourceId": source_disk_id},
                "incremental": False,
            },
        }
        with _azure(f"create snapshot {name}"):
            self.compute.snapshots.begin_create_or_update(
                self.resource_group, name, _compute_models().Snapshot(body), polling=False
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
        with _azure(f"create disk {name}"):
            self.compute.disks.begin_create_or_update(
                self.resource_group, name, _compute_models().Disk(body), polling=False
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
        with _azure(f"read {resource_id}"):
            try:
                resource = _json(getters[kind]())
            except ResourceNotFoundError:
                return OperationState.MISSING
        return _state(resource.get("properties", {}).get("provisioningState"))

    def start_delete(self, resource_id: str) -> None:
        kind, name = self._split(resource_id)
        deleters: dict[str, Callable[[], Any]] = {
            "microsoft.compute/virtualmachines": lambda: self.compute.virtual_machines.begin_delete(
                self.resource_group, name, polling=False
            ),
            "microsoft.compute/disks": lambda: self.compute.disks.begin_delete(
                self.resource_group, name, polling=False
            ),
            "microsoft.compute/snapshots": lambda: self.compute.snapshots.begin_delete(
                self.resource_group, name, polling=False
            ),
            "microsoft.network/networkinterfaces": lambda: self.network.network_interfaces.begin_delete(
                self.resource_group, name, polling=False
            ),
        }
        with _azure(f"delete {resource_id}"):
            try:
                deleters[kind]()
            except ResourceNotFoundError:
                return

    def ensure_image_definition(self, spec: ImageDefinitionSpec) -> str:
        images = self.compute.gallery_images
        with _azure(f"ensure image definition {spec.name}"):
            try:
                return str(images.get(spec.resource_group, spec.gallery, spec.name).id)
            except ResourceNotFoundError:
                pass
            body = {
                "location": spec.location,
                "tags": spec.tags,
                "properties": {
                    "osType": "Windows",
                    "osState": "Generalized",
                    "hyperVGeneration": "V2",
                    "identifier": {"publisher": spec.publisher, "offer": spec.offer, "sku": spec.sku},
                    "features": [{"name": "SecurityType", "value": spec.security_type}],
                },
            }
            # Definitions provision in seconds; a version PUT that comes too early gets 409 and is retried.
            images.begin_create_or_update(
                spec.resource_group, spec.gallery, spec.name, _compute_models().GalleryImage(body), polling=False
            )
        group = f"/subscriptions/{self.subscription_id}/resourceGroups/{spec.resource_group}"
        return f"{group}/providers/Microsoft.Compute/galleries/{spec.gallery}/images/{spec.name}"

    def list_image_definitions(self, gallery: str) -> list[str]:
        with _azure(f"list image definitions of {gallery}"):
            return sorted(
                str(image.name) for image in self.compute.gallery_images.list_by_gallery(self.resource_group, gallery)
            )

    def start_create_version(self, spec: VersionSpec) -> str:
        body = {
            "location": spec.location,
            "tags": spec.tags,
            "properties": {
                "publishingProfile": {
                    "targetRegions": [_region(t) for t in spec.target_regions],
                    "excludeFromLatest": spec.exclude_from_latest,
                    "replicationMode": "Full",
                },
                "storageProfile": {"source": {"virtualMachineId": spec.source_vm_id}},
                "safetyProfile": {"allowDeletionOfReplicatedLocations": True},
            },
        }
        versions = self.compute.gallery_image_versions
        with _azure(f"create gallery version {spec.definition}/{spec.version}"):
            versions.begin_create_or_update(
                spec.resource_group,
                spec.gallery,
                spec.definition,
                spec.version,
                _compute_models().GalleryImageVersion(body),
                polling=False,
            )
        return (
            f"/subscriptions/{self.subscription_id}/resourceGroups/{spec.resource_group}/providers/Microsoft.Compute"
            f"/galleries/{spec.gallery}/images/{spec.definition}/versions/{spec.version}"
        )

    def get_gallery_version(self, gallery: str, definition: str, version: str) -> GalleryVersionState | None:
        with _azure(f"read gallery version {definition}/{version}"):
            try:
                found = _json(
                    self.compute.gallery_image_versions.get(
                        self.resource_group, gallery, definition, version, expand="ReplicationStatus"
                    )
                )
            except ResourceNotFoundError:
                return None
        return _version_state(found, version)

    def list_gallery_versions(self, gallery: str, definition: str) -> list[GalleryVersionState]:
        """Every version of a definition as Azure has it (one request; no replication status)."""
        with _azure(f"list gallery versions of {definition}"):
            try:
                listed = self.compute.gallery_image_versions.list_by_gallery_image(
                    self.resource_group, gallery, definition
                )
                return [_version_state(_json(item), "") for item in listed]
            except ResourceNotFoundError:
                return []  # no definition yet: nothing was ever captured

    def update_gallery_version(
        self,
        gallery: str,
        definition: str,
        version: str,
        *,
        target_regions: tuple[TargetRegion, ...] | None = None,
        exclude_from_latest: bool | None = None,
        end_of_life: datetime | None = None,
        tags: dict[str, str] | None = None,
    ) -> None:
        """PATCH only what Azure lets change after creation."""
        publishing: dict[str, Any] = {}
        if target_regions is not None:
            publishing["targetRegions"] = [_region(t) for t in target_regions]
        if exclude_from_latest is not None:
            publishing["excludeFromLatest"] = exclude_from_latest
        if end_of_life is not None:
            publishing["endOfLifeDate"] = end_of_life.isoformat()
        # storageProfile is required in the body; empty keeps the source
        # (spec example GalleryImageVersion_Update_WithoutSourceId.json).
        body: dict[str, Any] = {"properties": {"publishingProfile": publishing, "storageProfile": {}}}
        if tags is not None:
            body["tags"] = tags
        with _azure(f"update gallery version {definition}/{version}"):
            self.compute.gallery_image_versions.begin_update(
                self.resource_group,
                gallery,
                definition,
                version,
                _compute_models().GalleryImageVersionUpdate(body),
                polling=False,
            )

    def start_delete_gallery_version(self, gallery: str, definition: str, version: str) -> None:
        with _azure(f"delete gallery version {definition}/{version}"):
            try:
                self.compute.gallery_image_versions.begin_delete(
                    self.resource_group, gallery, definition, version, polling=False
                )
            except ResourceNotFoundError:
                return

    def list_tagged(self, tag: str) -> list[TaggedResource]:
        rg = self.resource_group
        listings: list[tuple[str, Callable[[], Any]]] = [
            ("Microsoft.Compute/virtualMachines", lambda: self.compute.virtual_machines.list(rg)),
            ("Microsoft.Network/networkInterfaces", lambda: self.network.network_interfaces.list(rg)),
            ("Microsoft.Compute/disks", lambda: self.compute.disks.list_by_resource_group(rg)),
            ("Microsoft.Compute/snapshots", lambda: self.compute.snapshots.list_by_resource_group(rg)),
        ]
        found: list[TaggedResource] = []
        with _azure(f"list tagged resources in {rg}"):
            for resource_type, listing in listings:
                for item in listing():
                    data = _json(item)
                    tags = dict(data.get("tags") or {})
                    if tag in tags:
                        found.append(
                            TaggedResource(str(data.get("id", "")), resource_type, str(data.get("name", "")), tags)
                        )
        return found

    def images_in_use(self) -> dict[str, int]:
        """Gallery versions that VMs and scale sets run, by id; "latest" hosts by their exactVersion."""
        used: Counter[str] = Counter()
        with _azure("list VMs and scale sets using images"):
            for vm in self.compute.virtual_machines.list_all():
                image = _json(vm).get("properties", {}).get("storageProfile", {}).get("imageReference", {})
                if key := in_use_key(image.get("id"), image.get("exactVersion")):
                    used[key] += 1
            for scale_set in self.compute.virtual_machine_scale_sets.list_all():
                profile = _json(scale_set).get("properties", {}).get("virtualMachineProfile", {})
                image = profile.get("storageProfile", {}).get("imageReference", {})
                if key := in_use_key(image.get("id"), image.get("exactVersion")):
                    used[key] += 1
        return dict(used)


def _region(target: TargetRegion) -> dict[str, Any]:
    region: dict[str, Any] = {
        "name": target.name,
        "regionalReplicaCount": target.replica_count,
        "storageAccountType": target.storage_account_type,
    }
    if target.exclude_from_latest is not None:  # not sent: Azure keeps the region's flag
        region["excludeFromLatest"] = target.exclude_from_latest
    return region
