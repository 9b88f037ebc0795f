"""The route table: (HTTP method, path regex, ARM action, handler), matched case-insensitively."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from simulator import desktop_responses as d
from simulator import responses as r

if TYPE_CHECKING:
    from simulator.app import SimulatorApp as Simulator

Handler = Callable[["Simulator", r.Request, dict[str, str]], r.Response]

_N = r"[^/]+"
SUB = rf"/subscriptions/(?P<sub>{_N})"
RG = rf"{SUB}/resourceGroups/(?P<rg>{_N})"
CP = rf"{RG}/providers/Microsoft\.Compute"
NP = rf"{RG}/providers/Microsoft\.Network"
VM = rf"{CP}/virtualMachines/(?P<name>{_N})"
GAL = rf"{CP}/galleries/(?P<gallery>{_N})"
IMG = rf"{GAL}/images/(?P<image>{_N})"
DVP = rf"{RG}/providers/Microsoft\.DesktopVirtualization"
POOL = rf"{DVP}/hostPools/(?P<pool>{_N})"
HOST = rf"{POOL}/sessionHosts/(?P<host>{_N})"
USESS = rf"{HOST}/userSessions/(?P<session>{_N})"
MKT = (
    rf"{SUB}/providers/Microsoft\.Compute/locations/(?P<loc>{_N})/publishers/(?P<pub>{_N})"
    rf"/artifacttypes/vmimage/offers/(?P<offer>{_N})/skus/(?P<sku>{_N})/versions"
)


@dataclass(frozen=True)
class Route:
    method: str
    pattern: re.Pattern[str]
    action: str  # ARM action; "{kind}" / "{provider}" / "{action}" filled from path parameters
    handler: Handler

    def action_for(self, params: dict[str, str]) -> str:
        action = self.action
        if "{kind}" in action:
            action = action.replace("{kind}", "snapshots" if params["kind"].lower() == "snapshots" else "disks")
        if "{provider}" in action:
            action = action.replace(
                "{provider}", "Microsoft.Network" if "network" in params["provider"].lower() else "Microsoft.Compute"
            )
        if "{action}" in action:
            canonical = {a.lower(): a for a in ("start", "powerOff", "deallocate", "restart")}
            action = action.replace("{action}", canonical[params["action"].lower()])
        return action


def _route(method: str, pattern: str, action: str, handler: Handler) -> Route:
    return Route(method, re.compile(f"^{pattern}/?$", re.IGNORECASE), action, handler)


C = "Microsoft.Compute"
N = "Microsoft.Network"
DV = "Microsoft.DesktopVirtualization"
ROUTES: list[Route] = [
    # async operation monitors
    _route(
        "GET",
        rf"{SUB}/providers/(?P<provider>Microsoft\.(?:Compute|Network))/locations/(?P<loc>{_N})/(?:operations|capsOperations)/(?P<opid>{_N})",
        "{provider}/locations/operations/read",
        r.get_operation,
    ),
    # resource groups
    _route("PUT", RG, "Microsoft.Resources/subscriptions/resourceGroups/write", r.put_rg),
    _route("GET", RG, "Microsoft.Resources/subscriptions/resourceGroups/read", r.get_rg),
    # virtual machines
    _route("GET", rf"{CP}/virtualMachines", f"{C}/virtualMachines/read", r.list_vms),
    _route("GET", rf"{SUB}/providers/Microsoft\.Compute/virtualMachines", f"{C}/virtualMachines/read", r.list_vms),
    _route(
        "GET",
        rf"{SUB}/providers/Microsoft\.Compute/virtualMachineScaleSets",
        f"{C}/virtualMachineScaleSets/read",
        r.list_scale_sets,
    ),
    _route("PUT", VM, f"{C}/virtualMachines/write", r.put_vm),
    _route("GET", VM, f"{C}/virtualMachines/read", r.get_vm),
    _route("DELETE", VM, f"{C}/virtualMachines/delete", r.delete_vm),
    _route("GET", rf"{VM}/instanceView", f"{C}/virtualMachines/instanceView/read", r.vm_instance_view),
    _route(
        "POST",
        rf"{VM}/(?P<action>start|powerOff|deallocate|restart)",
        f"{C}/virtualMachines/{{action}}/action",
        r.vm_action,
    ),
    _route("POST", rf"{VM}/generalize", f"{C}/virtualMachines/generalize/action", r.vm_generalize),
    _route("POST", rf"{VM}/runCommand", f"{C}/virtualMachines/runCommand/action", r.vm_run_command),
    # disks and snapshots
    _route("GET", rf"{CP}/(?P<kind>disks|snapshots)", f"{C}/{{kind}}/read", r.list_disks),
    _route("PUT", rf"{CP}/(?P<kind>disks|snapshots)/(?P<name>{_N})", f"{C}/{{kind}}/write", r.put_disk),
    _route("GET", rf"{CP}/(?P<kind>disks|snapshots)/(?P<name>{_N})", f"{C}/{{kind}}/read", r.get_disk),
    _route("DELETE", rf"{CP}/(?P<kind>disks|snapshots)/(?P<name>{_N})", f"{C}/{{kind}}/delete", r.delete_disk),
    # managed images (a source of gallery image versions)
    _route("PUT", rf"{CP}/images/(?P<name>{_N})", f"{C}/images/write", r.put_managed_image),
    _route("GET", rf"{CP}/images/(?P<name>{_N})", f"{C}/images/read", r.get_managed_image),
    _route("DELETE", rf"{CP}/images/(?P<name>{_N})", f"{C}/images/delete", r.delete_managed_image),
    # marketplace
    _route("GET", MKT, f"{C}/locations/publishers/artifacttypes/offers/skus/versions/read", r.list_image_versions),
    _route(
        "GET",
        rf"{MKT}/(?P<version>{_N})",
        f"{C}/locations/publishers/artifacttypes/offers/skus/versions/read",
        r.get_image_version,
    ),
    # galleries
    _route("GET", rf"{CP}/galleries", f"{C}/galleries/read", r.list_galleries),
    _route("PUT", GAL, f"{C}/galleries/write", r.put_gallery),
    _route("GET", GAL, f"{C}/galleries/read", r.get_gallery),
    _route("DELETE", GAL, f"{C}/galleries/delete", r.delete_gallery),
    _route("GET", rf"{GAL}/images", f"{C}/galleries/images/read", r.list_images),
    _route("PUT", IMG, f"{C}/galleries/images/write", r.put_image),
    _route("GET", IMG, f"{C}/galleries/images/read", r.get_image),
    _route("DELETE", IMG, f"{C}/galleries/images/delete", r.delete_image),
    _route("GET", rf"{IMG}/versions", f"{C}/galleries/images/versions/read", r.list_versions),
    _route("PUT", rf"{IMG}/versions/(?P<version>{_N})", f"{C}/galleries/images/versions/write", r.put_version),
    _route("PATCH", rf"{IMG}/versions/(?P<version>{_N})", f"{C}/galleries/images/versions/write", r.put_version),
    _route("GET", rf"{IMG}/versions/(?P<version>{_N})", f"{C}/galleries/images/versions/read", r.get_version),
    _route("DELETE", rf"{IMG}/versions/(?P<version>{_N})", f"{C}/galleries/images/versions/delete", r.delete_version),
    # VM extensions (the AVD agent's DSC extension registers session hosts)
    _route("PUT", rf"{VM}/extensions/(?P<ext>{_N})", f"{C}/virtualMachines/extensions/write", d.put_extension),
    _route("GET", rf"{VM}/extensions/(?P<ext>{_N})", f"{C}/virtualMachines/extensions/read", d.get_extension),
    # Azure Virtual Desktop: host pools, session hosts, user sessions
    _route(
        "GET", rf"{SUB}/providers/Microsoft\.DesktopVirtualization/hostPools", f"{DV}/hostPools/read", d.list_host_pools
    ),
    _route("GET", rf"{DVP}/hostPools", f"{DV}/hostPools/read", d.list_host_pools),
    _route("PUT", POOL, f"{DV}/hostPools/write", d.put_host_pool),
    _route("PATCH", POOL, f"{DV}/hostPools/write", d.patch_host_pool),
    _route("GET", POOL, f"{DV}/hostPools/read", d.get_host_pool),
    _route("DELETE", POOL, f"{DV}/hostPools/delete", d.delete_host_pool),
    _route(
        "POST",
        rf"{POOL}/retrieveRegistrationToken",
        f"{DV}/hostPools/retrieveRegistrationToken/action",
        d.retrieve_registration_token,
    ),
    _route(
        "POST",
        rf"{POOL}/listRegistrationTokens",
        f"{DV}/hostPools/listRegistrationTokens/action",
        d.list_registration_tokens,
    ),
    _route("GET", rf"{POOL}/userSessions", f"{DV}/hostPools/sessionHosts/userSessions/read", d.list_pool_user_sessions),
    _route("GET", rf"{POOL}/sessionHosts", f"{DV}/hostPools/sessionHosts/read", d.list_session_hosts),
    _route("GET", HOST, f"{DV}/hostPools/sessionHosts/read", d.get_session_host),
    _route("PATCH", HOST, f"{DV}/hostPools/sessionHosts/write", d.patch_session_host),
    _route("DELETE", HOST, f"{DV}/hostPools/sessionHosts/delete", d.delete_session_host),
    _route("GET", rf"{HOST}/userSessions", f"{DV}/hostPools/sessionHosts/userSessions/read", d.list_user_sessions),
    _route("GET", USESS, f"{DV}/hostPools/sessionHosts/userSessions/read", d.get_user_session),
    _route("DELETE", USESS, f"{DV}/hostPools/sessionHosts/userSessions/delete", d.delete_user_session),
    _route(
        "POST",
        rf"{USESS}/sendMessage",
        f"{DV}/hostPools/sessionHosts/userSessions/sendMessage/action",
        d.send_message,
    ),
    _route(
        "POST",
        rf"{USESS}/disconnect",
        f"{DV}/hostPools/sessionHosts/userSessions/disconnect/action",
        d.disconnect_user_session,
    ),
    # network
    _route("GET", rf"{NP}/virtualNetworks", f"{N}/virtualNetworks/read", r.list_vnets),
    _route("PUT", rf"{NP}/virtualNetworks/(?P<name>{_N})", f"{N}/virtualNetworks/write", r.put_vnet),
    _route("GET", rf"{NP}/virtualNetworks/(?P<name>{_N})", f"{N}/virtualNetworks/read", r.get_vnet),
    _route("DELETE", rf"{NP}/virtualNetworks/(?P<name>{_N})", f"{N}/virtualNetworks/delete", r.delete_vnet),
    _route("GET", rf"{NP}/virtualNetworks/(?P<vnet>{_N})/subnets", f"{N}/virtualNetworks/subnets/read", r.list_subnets),
    _route(
        "PUT",
        rf"{NP}/virtualNetworks/(?P<vnet>{_N})/subnets/(?P<name>{_N})",
        f"{N}/virtualNetworks/subnets/write",
        r.put_subnet,
    ),
    _route(
        "GET",
        rf"{NP}/virtualNetworks/(?P<vnet>{_N})/subnets/(?P<name>{_N})",
        f"{N}/virtualNetworks/subnets/read",
        r.get_subnet,
    ),
    _route("GET", rf"{NP}/networkInterfaces", f"{N}/networkInterfaces/read", r.list_nics),
    _route("PUT", rf"{NP}/networkInterfaces/(?P<name>{_N})", f"{N}/networkInterfaces/write", r.put_nic),
    _route("GET", rf"{NP}/networkInterfaces/(?P<name>{_N})", f"{N}/networkInterfaces/read", r.get_nic),
    _route("DELETE", rf"{NP}/networkInterfaces/(?P<name>{_N})", f"{N}/networkInterfaces/delete", r.delete_nic),
]


def match(method: str, path: str) -> tuple[Route, dict[str, str]] | None:
    for route in ROUTES:
        if route.method != method.upper():
            continue
        m = route.pattern.match(path)
        if m:
            return route, {k: v for k, v in m.groupdict().items() if v is not None}
    return None


def path_matches_any_method(path: str) -> bool:
    return any(route.pattern.match(path) for route in ROUTES)
