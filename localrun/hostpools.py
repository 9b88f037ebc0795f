"""Local host pools: what an admin deployed before the product manages them (demo, tests, benchmarks).

A host pool in the simulator, session host VMs from a gallery version, the AVD agent registered
with the pool's token, and users signed in. Everything goes through the real SDKs, except the
users signing in (people, not an API). Also the pieces of a host pool story the demo, the tests
and the benchmark share: pool ids, a version taken to production, the versions hosts run.
"""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

from azure.mgmt.compute import ComputeManagementClient
from azure.mgmt.desktopvirtualization import DesktopVirtualizationMgmtClient
from azure.mgmt.network import NetworkManagementClient

from localrun.issuer import OFFICE_APPROVERS
from localrun.runtime import LocalRuntime
from shared.domain.catalog import Catalog
from shared.domain.commands import Promote
from shared.domain.hostpools import HostPoolPolicy
from shared.domain.model import Stage, VersionNumber
from shared.steps.rollout import gallery_version_id
from simulator import client_kwargs

SETTLE = timedelta(minutes=15)  # enough simulated time for VMs and agent installs to finish
SUB = "00000000-0000-0000-0000-000000000000"  # the local settings' subscription
# Who signs: the sample directory's validation approver, then production's two people.
SIGNERS = [(Stage(stage), person) for stage in ("validation", "production") for person in OFFICE_APPROVERS[stage]]
PROMOTION_TIME = timedelta(hours=3)  # validation deploy, replication: done well within this


def pool_id(resource_group: str, name: str) -> str:
    group = f"/subscriptions/{SUB}/resourceGroups/{resource_group}"
    return f"{group}/providers/Microsoft.DesktopVirtualization/hostPools/{name}"


def with_pools(catalog: Catalog, workload: str, *pools: HostPoolPolicy) -> Catalog:
    """The catalog with `workload` serving exactly `pools`."""
    changed = [w.model_copy(update={"host_pools": pools}) if w.name == workload else w for w in catalog.workloads]
    return Catalog(workloads=tuple(changed))


def image_id(runtime: LocalRuntime, version: str, workload: str = "office") -> str:
    return gallery_version_id(runtime.deps, runtime.catalog.get(workload), VersionNumber.parse(version))


def to_production(runtime: LocalRuntime, version: str, ticket: str = "", reason: str = "pilot signed off") -> None:
    """office `version` approved to validation, then production by two people; stops a few hours later
    (replication done), before a maintenance window opens."""
    for stage, approver in SIGNERS:
        runtime.submit(
            Promote(
                workload="office",
                version=version,
                target_stage=stage,
                approver_token=runtime.issuer.token_for(approver),
                ticket=ticket or f"CHG-{version}",
                reason=reason,
                requested_at=runtime.sim.clock.now(),
            )
        )
        runtime.run(until=runtime.sim.clock.now() + PROMOTION_TIME)


def host_versions(runtime: LocalRuntime, policy: HostPoolPolicy) -> Counter[str]:
    """How many of the pool's session hosts run each version (what the product's inventory reads)."""
    assert runtime.deps.hostpools is not None
    return Counter(h.exact_version for h in runtime.deps.hostpools.hosts(policy.id))


def deploy_pool(runtime: LocalRuntime, policy: HostPoolPolicy, image_id: str, hosts: int, users: int = 0) -> None:
    """Create the pool and `hosts` session hosts from `image_id`, each with `users` signed in."""
    sim = runtime.sim
    logged = len(sim.request_log)  # the admin's deployment is not the app's: dropped from the log below
    kw = client_kwargs(sim)
    desktop = DesktopVirtualizationMgmtClient(**kw)
    compute = ComputeManagementClient(**kw)
    network = NetworkManagementClient(**kw)
    rg, location = policy.resource_group, "westeurope"
    expires = sim.clock.now() + timedelta(hours=4)
    desktop.host_pools.create_or_update(
        rg,
        policy.name,
        {
            "location": location,
            "properties": {
                "hostPoolType": "Pooled",
                "loadBalancerType": "BreadthFirst",
                "preferredAppGroupType": "Desktop",
                "maxSessionLimit": 12,
                "registrationInfo": {"expirationTime": expires.isoformat(), "registrationTokenOperation": "Update"},
            },
        },
    )
    vnet = f"vnet-{policy.name}"
    network.virtual_networks.begin_create_or_update(
        rg,
        vnet,
        {
            "location": location,
            "properties": {
                "addressSpace": {"addressPrefixes": ["10.20.0.0/16"]},
                "subnets": [{"name": "hosts", "properties": {"addressPrefix": "10.20.0.0/24"}}],
            },
        },
        polling=False,
    )
    sim.clock.advance(60)
    group = f"/subscriptions/{sim.subscription_id}/resourceGroups/{rg}/providers"
    subnet = f"{group}/Microsoft.Network/virtualNetworks/{vnet}/subnets/hosts"
    token = str(desktop.host_pools.retrieve_registration_token(rg, policy.name).token)
    prefix = policy.name.removeprefix("hp-")[:10]
    names = [f"{prefix}-{i}" for i in range(hosts)]
    for name in names:
        ip = {"name": "ip", "properties": {"subnet": {"id": subnet}}}
        body = {"location": location, "properties": {"ipConfigurations": [ip]}}
        network.network_interfaces.begin_create_or_update(rg, f"{name}-nic", body, polling=False)
    sim.clock.advance(60)
    for name in names:
        nic_id = f"{group}/Microsoft.Network/networkInterfaces/{name}-nic"
        login = {"computerName": name, "adminUsername": "avdhostadmin", "adminPassword": "Local-only-1!"}
        compute.virtual_machines.begin_create_or_update(
            rg,
            name,
            {
                "location": location,
                "properties": {
                    "hardwareProfile": {"vmSize": "Standard_D8s_v5"},
                    "storageProfile": {
                        "imageReference": {"id": image_id},
                        "osDisk": {"createOption": "FromImage", "deleteOption": "Delete"},
                    },
                    "osProfile": login,
                    "networkProfile": {"networkInterfaces": [{"id": nic_id, "properties": {"deleteOption": "Detach"}}]},
                },
            },
            polling=False,
        )
    sim.clock.advance(SETTLE.total_seconds() / 3)
    for name in names:
        compute.virtual_machine_extensions.begin_create_or_update(
            rg,
            name,
            "Microsoft.PowerShell.DSC",
            {
                "location": location,
                "properties": {
                    "publisher": "Microsoft.PowerShell",
                    "type": "DSC",
                    "typeHandlerVersion": "2.73",
                    "settings": {
                        "configurationFunction": "Configuration.ps1\\AddSessionHost",
                        "properties": {"hostPoolName": policy.name},
                    },
                    "protectedSettings": {"Items": {"RegistrationInfoToken": token}},
                },
            },
            polling=False,
        )
    sim.clock.advance(SETTLE.total_seconds() * 2 / 3)
    for host in sim.desktop.list_hosts(rg, policy.name):
        if users:
            sim.desktop.add_sessions(rg, policy.name, host.name, users)
    del sim.request_log[logged:]
