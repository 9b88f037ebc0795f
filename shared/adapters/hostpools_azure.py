"""The host pool port over azure-mgmt-desktopvirtualization and azure-mgmt-compute.

Host pools and their VMs live in their own resource groups (not the image group), so every
call takes full resource ids. Nothing here waits for an operation (DESIGN rule 5).
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from azure.core.exceptions import ResourceNotFoundError

from shared.adapters.azure_compute import _azure, _json
from shared.domain.errors import AzureOperationError
from shared.domain.hostpools import POOL_ID, HostSpec, SessionHostState

if TYPE_CHECKING:  # the SDKs are imported on first use (cold start: most invocations never call AVD)
    from azure.mgmt.compute import ComputeManagementClient
    from azure.mgmt.desktopvirtualization import DesktopVirtualizationMgmtClient

AGENT_EXTENSION = "Microsoft.PowerShell.DSC"
# The AVD agent package Microsoft's own host pool templates install (Azure/RDS-Templates, ARM-wvd-templates).
AGENT_PACKAGE = "https://wvdportalstorageblob.blob.core.windows.net/galleryartifacts/Configuration_1.0.02790.438.zip"
TOKEN_LIFETIME = timedelta(hours=8)  # well inside AVD's 1 hour .. 30 days


def _parts(resource_id: str) -> tuple[str, str]:
    """(resource group, name) of a resource id."""
    parts = resource_id.strip("/").split("/")
    return parts[3], parts[-1]


def _pool(pool_id: str) -> tuple[str, str]:
    match = POOL_ID.match(pool_id)
    if match is None:
        raise ValueError(f"not a host pool id: {pool_id}")
    return match["rg"], match["name"]


def _short(host: str) -> str:
    """Session host names come back as "pool/host" in lists; calls take the host part."""
    return host.split("/")[-1]


class AzureHostPools:
    """Clients built on first use (cold start), from the same client settings as compute."""

    def __init__(self, client_kwargs: Callable[[], dict[str, Any]]) -> None:
        self._client_kwargs = client_kwargs
        self._desktop: DesktopVirtualizationMgmtClient | None = None
        self._compute: ComputeManagementClient | None = None

    @property
    def desktop(self) -> DesktopVirtualizationMgmtClient:
        if self._desktop is None:
            from azure.mgmt.desktopvirtualization import DesktopVirtualizationMgmtClient

            self._desktop = DesktopVirtualizationMgmtClient(**self._client_kwargs())
        return self._desktop

    @property
    def compute(self) -> ComputeManagementClient:
        if self._compute is None:
            from azure.mgmt.compute import ComputeManagementClient

            self._compute = ComputeManagementClient(**self._client_kwargs())
        return self._compute

    # -- inventory ---------------------------------------------------------------------------------
    def hosts(self, pool_id: str) -> list[SessionHostState]:
        """Session hosts joined to their VMs (imageReference id and exactVersion)."""
        rg, name = _pool(pool_id)
        result: list[SessionHostState] = []
        with _azure(f"list session hosts of {name}"):
            try:
                hosts = list(self.desktop.session_hosts.list(rg, name))
            except ResourceNotFoundError:
                raise AzureOperationError(
                    f"list session hosts of {name}", "HostPoolNotFound", f"host pool {pool_id} does not exist", 404
                ) from None
        for host in hosts:
            vm_id = str(host.resource_id or "")
            image: dict[str, Any] = {}
            if vm_id:
                vm_rg, vm_name = _parts(vm_id)
                with _azure(f"read VM {vm_name}"):
                    try:
                        vm = _json(self.compute.virtual_machines.get(vm_rg, vm_name))
                        image = vm.get("properties", {}).get("storageProfile", {}).get("imageReference", {}) or {}
                    except ResourceNotFoundError:
                        image = {}
            heartbeat = host.last_heart_beat if isinstance(host.last_heart_beat, datetime) else None
            result.append(
                SessionHostState(
                    name=_short(str(host.name)),
                    status=str(host.status or "Unknown"),
                    last_heartbeat=heartbeat,
                    allow_new_session=bool(host.allow_new_session),
                    sessions=int(host.sessions or 0),
                    vm_id=vm_id,
                    image_id=str(image.get("id") or ""),
                    exact_version=str(image.get("exactVersion") or ""),
                )
            )
        return sorted(result, key=lambda h: h.name)

    # -- drain and users ----------------------------------------------------------------------------
    def set_drain(self, pool_id: str, host: str, drained: bool) -> None:
        from azure.mgmt.desktopvirtualization import models as avd_models

        rg, name = _pool(pool_id)
        with _azure(f"{'drain' if drained else 'undrain'} {host}"):
            self.desktop.session_hosts.update(
                rg, name, _short(host), session_host=avd_models.SessionHostPatch(allow_new_session=not drained)
            )

    def sessions(self, pool_id: str, host: str) -> list[str]:
        rg, name = _pool(pool_id)
        with _azure(f"list user sessions on {host}"):
            try:
                return [str(s.name).split("/")[-1] for s in self.desktop.user_sessions.list(rg, name, _short(host))]
            except ResourceNotFoundError:
                return []

    def send_message(self, pool_id: str, host: str, session: str, title: str, text: str) -> None:
        from azure.mgmt.desktopvirtualization import models as avd_models

        rg, name = _pool(pool_id)
        with _azure(f"message session {session} on {host}"):
            try:
                self.desktop.user_sessions.send_message(
                    rg,
                    name,
                    _short(host),
                    session,
                    send_message=avd_models.SendMessage(message_title=title, message_body=text),
                )
            except ResourceNotFoundError:
                return  # the user logged off meanwhile

    def log_off(self, pool_id: str, host: str, session: str) -> None:
        rg, name = _pool(pool_id)
        with _azure(f"log off session {session} on {host}"):
            try:
                self.desktop.user_sessions.delete(rg, name, _short(host), session, force=True)
            except ResourceNotFoundError:
                return

    def remove_host(self, pool_id: str, host: str) -> None:
        rg, name = _pool(pool_id)
        with _azure(f"remove session host {host}"):
            try:
                self.desktop.session_hosts.delete(rg, name, _short(host), force=True)
            except ResourceNotFoundError:
                return

    # -- the VM behind a host -------------------------------------------------------------------------
    def host_spec(self, vm_id: str) -> HostSpec | None:
        rg, vm_name = _parts(vm_id)
        with _azure(f"read VM {vm_name}"):
            try:
                vm = _json(self.compute.virtual_machines.get(rg, vm_name))
            except ResourceNotFoundError:
                return None
        props = vm.get("properties", {})
        nics = props.get("networkProfile", {}).get("networkInterfaces", []) or []
        security = (props.get("securityProfile") or {}).get("securityType", "")
        return HostSpec(
            vm_id=str(vm.get("id") or vm_id),
            location=str(vm.get("location")),
            size=str(props.get("hardwareProfile", {}).get("vmSize")),
            nic_ids=tuple(str(n["id"]) for n in nics),
            computer_name=str((props.get("osProfile") or {}).get("computerName") or vm_name[:15]),
            trusted_launch=str(security).lower() == "trustedlaunch",
            os_disk_id=str(props.get("storageProfile", {}).get("osDisk", {}).get("managedDisk", {}).get("id", "")),
            tags={str(k): str(v) for k, v in (vm.get("tags") or {}).items()},
        )

    def start_delete_vm(self, vm_id: str) -> None:
        rg, vm_name = _parts(vm_id)
        with _azure(f"delete VM {vm_name}"):
            try:
                self.compute.virtual_machines.begin_delete(rg, vm_name, polling=False)
            except ResourceNotFoundError:
                return

    def start_delete_disk(self, disk_id: str) -> None:
        rg, disk = _parts(disk_id)
        with _azure(f"delete disk {disk}"):
            try:
                self.compute.disks.begin_delete(rg, disk, polling=False)
            except ResourceNotFoundError:
                return

    def vm_state(self, vm_id: str) -> str:
        rg, vm_name = _parts(vm_id)
        with _azure(f"read VM {vm_name}"):
            try:
                vm = _json(self.compute.virtual_machines.get(rg, vm_name))
            except ResourceNotFoundError:
                return "Missing"
        state = str(vm.get("properties", {}).get("provisioningState") or "")
        return state if state in ("Succeeded", "Failed") else "InProgress"

    def start_create_vm(self, spec: HostSpec, image_version_id: str, tags: dict[str, str]) -> None:
        """The same name, size and NIC, a new OS disk from the gallery version (the NIC is kept on delete)."""
        from azure.mgmt.compute import models as compute_models

        rg, vm_name = _parts(spec.vm_id)
        properties: dict[str, Any] = {
            "hardwareProfile": {"vmSize": spec.size},
            "storageProfile": {
                "imageReference": {"id": image_version_id},
                "osDisk": {
                    "createOption": "FromImage",
                    "deleteOption": "Delete",
                    "managedDisk": {"storageAccountType": "Premium_LRS"},
                },
            },
            "osProfile": {
                "computerName": spec.computer_name,
                "adminUsername": "avdhostadmin",
                # Never stored: hosts are managed through AVD and Intune, not a local admin password.
                "adminPassword": secrets.token_urlsafe(24) + "!Aa1",
            },
            "networkProfile": {
                "networkInterfaces": [
                    {"id": nic, "properties": {"primary": i == 0, "deleteOption": "Detach"}}
                    for i, nic in enumerate(spec.nic_ids)
                ]
            },
        }
        if spec.trusted_launch:
            properties["securityProfile"] = {
                "securityType": "TrustedLaunch",
                "uefiSettings": {"secureBootEnabled": True, "vTpmEnabled": True},
            }
        body = {"location": spec.location, "tags": {**spec.tags, **tags}, "properties": properties}
        with _azure(f"create VM {vm_name}"):
            self.compute.virtual_machines.begin_create_or_update(
                rg, vm_name, compute_models.VirtualMachine(body), polling=False
            )

    # -- registration ---------------------------------------------------------------------------------
    def registration_token(self, pool_id: str, now: datetime, valid_for: timedelta) -> str:
        from azure.mgmt.desktopvirtualization import models as avd_models

        rg, name = _pool(pool_id)
        with _azure(f"registration token of {name}"):
            info = self.desktop.host_pools.retrieve_registration_token(rg, name)
            expires = info.expiration_time if isinstance(info.expiration_time, datetime) else None
            if not (info.token and expires is not None and expires - valid_for > now):
                until = now + TOKEN_LIFETIME
                renew = avd_models.RegistrationInfoPatch(
                    expiration_time=until,
                    registration_token_operation="Update",  # noqa: S106 - an operation name, not a password
                )
                self.desktop.host_pools.update(rg, name, avd_models.HostPoolPatch(registration_info=renew))
                info = self.desktop.host_pools.retrieve_registration_token(rg, name)
        return str(info.token or "")

    def start_register(self, vm_id: str, location: str, pool_id: str, token: str) -> None:
        from azure.mgmt.compute import models as compute_models

        rg, vm_name = _parts(vm_id)
        _, pool_name = _pool(pool_id)
        body = {
            "location": location,
            "properties": {
                "publisher": "Microsoft.PowerShell",
                "type": "DSC",
                "typeHandlerVersion": "2.73",
                "autoUpgradeMinorVersion": True,
                "settings": {
                    "modulesUrl": AGENT_PACKAGE,
                    "configurationFunction": "Configuration.ps1\\AddSessionHost",
                    "properties": {
                        "hostPoolName": pool_name,
                        "registrationInfoTokenCredential": {
                            "UserName": "PLACEHOLDER_DO_NOT_USE",
                            "Password": "PrivateSettingsRef:RegistrationInfoToken",
                        },
                        "aadJoin": True,
                    },
                },
                "protectedSettings": {"Items": {"RegistrationInfoToken": token}},
            },
        }
        with _azure(f"register {vm_name} with {pool_name}"):
            self.compute.virtual_machine_extensions.begin_create_or_update(
                rg, vm_name, AGENT_EXTENSION, compute_models.VirtualMachineExtension(body), polling=False
            )

    def registration_state(self, vm_id: str) -> str:
        rg, vm_name = _parts(vm_id)
        with _azure(f"read agent extension of {vm_name}"):
            try:
                ext = _json(self.compute.virtual_machine_extensions.get(rg, vm_name, AGENT_EXTENSION))
            except ResourceNotFoundError:
                return "Missing"
        state = str(ext.get("properties", {}).get("provisioningState") or "")
        return state if state in ("Succeeded", "Failed") else "InProgress"
