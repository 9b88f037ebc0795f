"""Virtual networks, subnets and network interfaces."""

from __future__ import annotations

import ipaddress
import uuid
from dataclasses import dataclass, field
from typing import Any

from simulator.backends.base import AsyncOperation, Context, Resource
from simulator.errors import ArmError, not_found


@dataclass
class Subnet:
    id: str
    name: str
    address_prefix: str
    provisioning_state: str = "Succeeded"

    def body(self, ip_configurations: list[str] | None = None) -> dict[str, Any]:
        props: dict[str, Any] = {
            "provisioningState": self.provisioning_state,
            "addressPrefix": self.address_prefix,
            "privateEndpointNetworkPolicies": "Disabled",
            "privateLinkServiceNetworkPolicies": "Enabled",
        }
        if ip_configurations:
            # the IP configurations (of NICs) that use the subnet: read-only, as in VirtualNetworkGet
            props["ipConfigurations"] = [{"id": i} for i in ip_configurations]
        return {
            "name": self.name,
            "id": self.id,
            "etag": f'W/"{uuid.uuid5(uuid.NAMESPACE_URL, self.id)}"',
            "type": "Microsoft.Network/virtualNetworks/subnets",
            "properties": props,
        }


@dataclass
class VirtualNetwork:
    res: Resource
    address_prefixes: list[str]
    subnets: dict[str, Subnet] = field(default_factory=dict)
    extras: dict[str, Any] = field(default_factory=dict)  # sent properties not acted on (echoed)


@dataclass
class NetworkInterface:
    res: Resource
    ip_configurations: list[dict[str, Any]]
    virtual_machine_id: str | None = None
    mac_address: str = ""
    extras: dict[str, Any] = field(default_factory=dict)  # sent properties not acted on (echoed)


class NetworkBackend:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.vnets: dict[str, VirtualNetwork] = {}
        self.nics: dict[str, NetworkInterface] = {}
        self._ip_counter = 4

    # -- virtual networks ---------------------------------------------------------------------
    def put_vnet(self, rg: str, name: str, body: dict[str, Any]) -> tuple[VirtualNetwork, AsyncOperation, bool]:
        props = body.get("properties") or {}
        rid = self.ctx.resource_id(rg, f"Microsoft.Network/virtualNetworks/{name}")
        prefixes = list((props.get("addressSpace") or {}).get("addressPrefixes") or [])
        if not prefixes:
            raise ArmError("InvalidRequestFormat", "Cannot parse the request: addressSpace is required.", 400)
        for p in prefixes:
            _network(p)
        existing = self.vnets.get(rid.lower())
        location = body.get("location") or (existing.res.location if existing else None)
        if not location:
            raise ArmError("LocationRequired", "The location property is required for this definition.", 400)
        vnet = existing or VirtualNetwork(
            Resource(rid, name, "Microsoft.Network/virtualNetworks", location, rg, created=self.ctx.now()),
            prefixes,
        )
        vnet.address_prefixes = prefixes
        vnet.extras = {k: v for k, v in props.items() if k not in ("addressSpace", "subnets", "provisioningState")}
        vnet.res.tags = dict(body.get("tags") or {})
        if "subnets" in props:
            wanted: dict[str, Subnet] = {}
            for sub in props.get("subnets") or []:
                sname = sub["name"]
                prefix = (sub.get("properties") or {}).get("addressPrefix", "")
                wanted[sname.lower()] = self._subnet(vnet, sname, prefix)
            for key, sub in vnet.subnets.items():
                if key not in wanted and self._subnet_in_use(sub.id):
                    raise ArmError(
                        "InUseSubnetCannotBeDeleted", f"Subnet {sub.name} is in use and cannot be deleted.", 400
                    )
            vnet.subnets = wanted
        self.vnets[rid.lower()] = vnet
        vnet.res.provisioning_state = "Updating"

        def done() -> None:
            vnet.res.provisioning_state = "Succeeded"
            return

        op = self.ctx.start_operation(
            "Microsoft.Network/virtualNetworks/write",
            rid,
            location,
            self.ctx.seconds("vnet_create"),
            kind="Write",
            http_method="PUT",
            on_success=done,
        )
        return vnet, op, existing is None

    def _subnet(self, vnet: VirtualNetwork, name: str, prefix: str) -> Subnet:
        net = _network(prefix)
        if not any(net.subnet_of(_network(p)) for p in vnet.address_prefixes):  # type: ignore[arg-type]
            raise ArmError(
                "NetcfgInvalidSubnet",
                f"Subnet '{name}' is not valid in virtual network '{vnet.res.name}'.",
                400,
            )
        return Subnet(f"{vnet.res.id}/subnets/{name}", name, prefix)

    def get_vnet(self, rg: str, name: str) -> VirtualNetwork:
        rid = self.ctx.resource_id(rg, f"Microsoft.Network/virtualNetworks/{name}")
        vnet = self.vnets.get(rid.lower())
        if not vnet:
            raise not_found("Microsoft.Network/virtualNetworks", name, rg)
        return vnet

    def list_vnets(self, rg: str) -> list[VirtualNetwork]:
        return [v for v in self.vnets.values() if v.res.resource_group.lower() == rg.lower()]

    def delete_vnet(self, rg: str, name: str) -> AsyncOperation | None:
        rid = self.ctx.resource_id(rg, f"Microsoft.Network/virtualNetworks/{name}")
        vnet = self.vnets.get(rid.lower())
        if not vnet:
            return None
        for sub in vnet.subnets.values():
            if self._subnet_in_use(sub.id):
                raise ArmError(
                    "InUseSubnetCannotBeDeleted",
                    f"Subnet {sub.name} is in use by a network interface and cannot be deleted.",
                    400,
                )

        vnet.res.provisioning_state = "Deleting"
        return self.ctx.delete_operation(
            "Microsoft.Network/virtualNetworks/delete",
            rid,
            vnet.res.location,
            self.ctx.seconds("vnet_delete"),
            self.vnets,
        )

    def put_subnet(
        self, rg: str, vnet_name: str, name: str, body: dict[str, Any]
    ) -> tuple[Subnet, AsyncOperation, bool]:
        vnet = self.get_vnet(rg, vnet_name)
        prefix = (body.get("properties") or {}).get("addressPrefix", "")
        existed = name.lower() in vnet.subnets
        subnet = self._subnet(vnet, name, prefix)
        vnet.subnets[name.lower()] = subnet
        op = self.ctx.start_operation(
            "Microsoft.Network/virtualNetworks/subnets/write",
            subnet.id,
            vnet.res.location,
            self.ctx.seconds("subnet_create"),
            kind="Write",
            http_method="PUT",
        )
        return subnet, op, not existed

    def get_subnet(self, rg: str, vnet_name: str, name: str) -> Subnet:
        vnet = self.get_vnet(rg, vnet_name)
        sub = vnet.subnets.get(name.lower())
        if not sub:
            raise not_found("Microsoft.Network/virtualNetworks/subnets", f"{vnet_name}/{name}", rg)
        return sub

    def find_subnet(self, subnet_id: str) -> Subnet | None:
        vnet_id, _, name = subnet_id.rpartition("/subnets/")
        vnet = self.vnets.get(vnet_id.lower())
        return vnet.subnets.get(name.lower()) if vnet else None

    def subnet_body(self, subnet: Subnet) -> dict[str, Any]:
        users = [
            c["id"]
            for nic in self.nics.values()
            for c in nic.ip_configurations
            if ((c.get("properties") or {}).get("subnet") or {}).get("id", "").lower() == subnet.id.lower()
        ]
        return subnet.body(users)

    def _subnet_in_use(self, subnet_id: str) -> bool:
        return any(
            ((c.get("properties") or {}).get("subnet") or {}).get("id", "").lower() == subnet_id.lower()
            for nic in self.nics.values()
            for c in nic.ip_configurations
        )

    # -- network interfaces --------------------------------------------------------------------------
    def put_nic(self, rg: str, name: str, body: dict[str, Any]) -> tuple[NetworkInterface, AsyncOperation, bool]:
        rid = self.ctx.resource_id(rg, f"Microsoft.Network/networkInterfaces/{name}")
        props = body.get("properties") or {}
        existing = self.nics.get(rid.lower())
        location = body.get("location") or (existing.res.location if existing else None)
        if not location:
            raise ArmError("LocationRequired", "The location property is required for this definition.", 400)
        configs = props.get("ipConfigurations") or []
        if not configs:
            raise ArmError(
                "NetworkInterfaceMustHaveAtLeastOneIpConfiguration",
                f"Network interface {rid} must have at least one IP configuration.",
                400,
            )
        stored: list[dict[str, Any]] = []
        first_subnet = ((configs[0].get("properties") or {}).get("subnet") or {}).get("id")
        for i, cfg in enumerate(configs):
            cprops = dict(cfg.get("properties") or {})
            # a secondary IP configuration without a subnet is in the primary's (NetworkInterfaceCreate example)
            subnet_id = (cprops.get("subnet") or {}).get("id") or (first_subnet if i else None)
            subnet = self.find_subnet(subnet_id) if subnet_id else None
            if subnet is None:
                raise ArmError(
                    "InvalidResourceReference",
                    f"Resource {subnet_id} referenced by resource {rid} was not found. Please make sure that "
                    "the referenced resource exists, and that both resources are in the same region.",
                    400,
                )
            net = _network(subnet.address_prefix)
            self._ip_counter += 1
            ip = str(net.network_address + (self._ip_counter % max(2, net.num_addresses - 5)) + 4)
            cname = cfg.get("name") or f"ipconfig{i + 1}"
            if cprops.get("privateIPAddressPrefixLength"):
                ip = f"{ip}/{cprops['privateIPAddressPrefixLength']}"
            echoed = {k: v for k, v in cprops.items() if k not in ("subnet", "provisioningState", "primary")}
            stored.append(
                {
                    "name": cname,
                    "id": f"{rid}/ipConfigurations/{cname}",
                    "type": "Microsoft.Network/networkInterfaces/ipConfigurations",
                    "properties": {
                        **echoed,
                        "provisioningState": "Succeeded",
                        "privateIPAddress": cprops.get("privateIPAddress") or ip,
                        "privateIPAllocationMethod": cprops.get("privateIPAllocationMethod") or "Dynamic",
                        "subnet": {"id": subnet.id},
                        "primary": i == 0,
                        "privateIPAddressVersion": "IPv4",
                    },
                }
            )
        nic = existing or NetworkInterface(
            Resource(rid, name, "Microsoft.Network/networkInterfaces", location, rg, created=self.ctx.now()), stored
        )
        nic.ip_configurations = stored
        nic.extras = {k: v for k, v in props.items() if k not in ("ipConfigurations", "provisioningState")}
        nic.res.tags = dict(body.get("tags") or {})
        nic.res.provisioning_state = "Updating" if existing else "Creating"
        self.nics[rid.lower()] = nic

        op = self.ctx.put_operation(
            "Microsoft.Network/networkInterfaces/write", rid, location, self.ctx.seconds("nic_create"), nic.res
        )
        return nic, op, existing is None

    def get_nic(self, rg: str, name: str) -> NetworkInterface:
        rid = self.ctx.resource_id(rg, f"Microsoft.Network/networkInterfaces/{name}")
        nic = self.nics.get(rid.lower())
        if not nic:
            raise not_found("Microsoft.Network/networkInterfaces", name, rg)
        return nic

    def find_nic(self, nic_id: str) -> NetworkInterface | None:
        return self.nics.get(nic_id.lower())

    def list_nics(self, rg: str) -> list[NetworkInterface]:
        return [n for n in self.nics.values() if n.res.resource_group.lower() == rg.lower()]

    def delete_nic(self, rg: str, name: str) -> AsyncOperation | None:
        rid = self.ctx.resource_id(rg, f"Microsoft.Network/networkInterfaces/{name}")
        nic = self.nics.get(rid.lower())
        if not nic:
            return None
        if nic.virtual_machine_id:
            raise ArmError(
                "NicInUse",
                f"Network Interface {rid} is used by existing resource {nic.virtual_machine_id}. In order to "
                "delete the network interface, it must be dissociated from the resource. To learn more, see "
                "aka.ms/deletenic.",
                400,
            )
        nic.res.provisioning_state = "Deleting"

        return self.ctx.delete_operation(
            "Microsoft.Network/networkInterfaces/delete",
            rid,
            nic.res.location,
            self.ctx.seconds("nic_delete"),
            self.nics,
        )

    # -- serialization ----------------------------------------------------------------------------------
    def vnet_body(self, vnet: VirtualNetwork) -> dict[str, Any]:
        body = vnet.res.envelope()
        body["etag"] = f'W/"{uuid.uuid5(uuid.NAMESPACE_URL, vnet.res.id)}"'
        body["properties"] = {
            "provisioningState": vnet.res.provisioning_state,
            "resourceGuid": str(uuid.uuid5(uuid.NAMESPACE_OID, vnet.res.id)),
            "addressSpace": {"addressPrefixes": list(vnet.address_prefixes)},
            "subnets": [self.subnet_body(s) for s in vnet.subnets.values()],
            "virtualNetworkPeerings": [],
            "enableDdosProtection": False,
            **vnet.extras,
        }
        return body

    def nic_body(self, nic: NetworkInterface) -> dict[str, Any]:
        body = nic.res.envelope()
        body["etag"] = f'W/"{uuid.uuid5(uuid.NAMESPACE_URL, nic.res.id)}"'
        props: dict[str, Any] = {
            "provisioningState": nic.res.provisioning_state,
            "resourceGuid": str(uuid.uuid5(uuid.NAMESPACE_OID, nic.res.id)),
            "ipConfigurations": nic.ip_configurations,
            "enableAcceleratedNetworking": False,
            "enableIPForwarding": False,
            "primary": bool(nic.virtual_machine_id),
            "nicType": "Standard",
            "vnetEncryptionSupported": False,
            **nic.extras,
        }
        props["dnsSettings"] = {
            "dnsServers": [],
            "appliedDnsServers": [],
            **(nic.extras.get("dnsSettings") or {}),
            "internalDomainNameSuffix": f"{uuid.uuid5(uuid.NAMESPACE_DNS, nic.res.id).hex[:26]}"
            ".ax.internal.cloudapp.net",
        }
        if nic.virtual_machine_id:
            props["virtualMachine"] = {"id": nic.virtual_machine_id}
            props["macAddress"] = nic.mac_address
        body["properties"] = props
        return body


def _network(prefix: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
    try:
        return ipaddress.ip_network(prefix, strict=False)
    except ValueError as exc:
        raise ArmError("InvalidAddressPrefixFormat", f"Address prefix {prefix} has an invalid format.", 400) from exc
