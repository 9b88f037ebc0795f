"""Fixtures: a fresh simulator, SDK clients over the in-process transport or a loopback server."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from azure.mgmt.compute import ComputeManagementClient
from azure.mgmt.network import NetworkManagementClient

from simulator import Simulator, client_kwargs
from simulator.server import SimulatorServer

SUB = "00000000-0000-0000-0000-000000000000"
RG = "rg-avd"
LOC = "westeurope"
SUBNET_ID = f"/subscriptions/{SUB}/resourceGroups/{RG}/providers/Microsoft.Network/virtualNetworks/vnet/subnets/default"


@dataclass
class Env:
    sim: Simulator
    compute: ComputeManagementClient
    network: NetworkManagementClient


@pytest.fixture(autouse=True)
def exact_timing(monkeypatch: pytest.MonkeyPatch) -> None:
    """Operation tests pin exact durations: no seed from the environment (test_refusals_timing covers it)."""
    monkeypatch.delenv("AVD_SIM_SEED", raising=False)
    monkeypatch.delenv("AVD_SIM_EVENT_LATENCY", raising=False)


# Events at once here: delivery latency has its own tests (test_refusals_timing.py).
AT_ONCE = (0.0, 0.0)


@pytest.fixture
def in_process_env() -> Env:
    sim = Simulator(event_latency=AT_ONCE)
    kw = client_kwargs(sim)
    return Env(sim, ComputeManagementClient(**kw), NetworkManagementClient(**kw))


@pytest.fixture(params=["in-process", "server"])
def env(request: pytest.FixtureRequest) -> Env:
    """Every black-box test runs both ways in: the in-process transport and a loopback server."""
    name = "in_process_env" if request.param == "in-process" else "server_env"
    return request.getfixturevalue(name)  # type: ignore[no-any-return]


@pytest.fixture
def sim(env: Env) -> Simulator:
    """The simulator behind `env`, for clock and fault controls only."""
    return env.sim


@pytest.fixture
def server_env() -> Iterator[Env]:
    sim = Simulator(advance_on_sleep=False, event_latency=AT_ONCE)
    server = SimulatorServer(sim, "127.0.0.1", 0, speed=0).start()
    kw = client_kwargs(server.url)
    compute, network = ComputeManagementClient(**kw), NetworkManagementClient(**kw)
    try:
        yield Env(sim, compute, network)
    finally:
        compute.close()
        network.close()
        server.stop()


@pytest.fixture
def any_env(env: Env) -> Env:
    return env


def make_network(env: Env) -> None:
    env.network.virtual_networks.begin_create_or_update(
        RG,
        "vnet",
        {
            "location": LOC,
            "properties": {
                "addressSpace": {"addressPrefixes": ["10.0.0.0/16"]},
                "subnets": [{"name": "default", "properties": {"addressPrefix": "10.0.0.0/24"}}],
            },
        },
    ).result()


def make_nic(env: Env, name: str) -> str:
    nic = env.network.network_interfaces.begin_create_or_update(
        RG,
        name,
        {
            "location": LOC,
            "properties": {"ipConfigurations": [{"name": "ip", "properties": {"subnet": {"id": SUBNET_ID}}}]},
        },
    ).result()
    return str(nic.id)


def vm_body(
    nic_id: str, *, image: dict[str, Any] | None = None, trusted_launch: bool = True, **os_disk: Any
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "location": LOC,
        "tags": {"run": "r1"},
        "properties": {
            "hardwareProfile": {"vmSize": "Standard_D4s_v5"},
            "storageProfile": {
                "imageReference": image
                or {
                    "publisher": "MicrosoftWindowsDesktop",
                    "offer": "windows-11",
                    "sku": "win11-24h2-avd",
                    "version": "latest",
                },
                "osDisk": {"createOption": "FromImage", "deleteOption": "Delete", **os_disk},
            },
            "osProfile": {"computerName": "vm", "adminUsername": "azureuser", "adminPassword": "N0t-a-real-secret!"},
            "networkProfile": {"networkInterfaces": [{"id": nic_id, "properties": {"deleteOption": "Delete"}}]},
        },
    }
    # Always explicit: Trusted Launch is Azure's default for Gen2 VMs when securityType is omitted.
    body["properties"]["securityProfile"] = (
        {"securityType": "TrustedLaunch", "uefiSettings": {"secureBootEnabled": True, "vTpmEnabled": True}}
        if trusted_launch
        else {"securityType": "Standard"}
    )
    return body


def make_vm(env: Env, name: str = "vm1", **kwargs: Any) -> Any:
    if "vnet" not in {v.name for v in env.network.virtual_networks.list(RG)}:
        make_network(env)
    nic_id = make_nic(env, f"{name}-nic")
    return env.compute.virtual_machines.begin_create_or_update(RG, name, vm_body(nic_id, **kwargs)).result()


def run(env: Env, vm: str, script: str | list[str]) -> tuple[str, str]:
    lines = script.splitlines() if isinstance(script, str) else script
    result = env.compute.virtual_machines.begin_run_command(
        RG, vm, {"commandId": "RunPowerShellScript", "script": lines}
    ).result()
    return result.value[0].message, result.value[1].message


def power_states(env: Env, vm: str) -> list[str]:
    view = env.compute.virtual_machines.instance_view(RG, vm)
    return [s.code for s in view.statuses]
