"""Azure Virtual Desktop in the simulator, black-box through azure-mgmt-desktopvirtualization."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from azure.core.exceptions import HttpResponseError
from azure.mgmt.desktopvirtualization import DesktopVirtualizationMgmtClient

from simulator import client_kwargs
from simulator.backends.base import iso
from tests.simulator.conftest import RG, Env, make_vm

POOL = "hp-office"


def desktop(env: Env) -> DesktopVirtualizationMgmtClient:
    kw = client_kwargs(env.sim)
    return DesktopVirtualizationMgmtClient(**kw)


def make_pool(env: Env, client: DesktopVirtualizationMgmtClient, name: str = POOL) -> Any:
    expires = iso(env.sim.clock.now() + timedelta(hours=4))
    return client.host_pools.create_or_update(
        RG,
        name,
        {
            "location": "westeurope",
            "properties": {
                "hostPoolType": "Pooled",
                "loadBalancerType": "BreadthFirst",
                "preferredAppGroupType": "Desktop",
                "registrationInfo": {"expirationTime": expires, "registrationTokenOperation": "Update"},
            },
        },
    )


def register(env: Env, vm: str, token: str, pool: str = POOL) -> Any:
    return env.compute.virtual_machine_extensions.begin_create_or_update(
        RG,
        vm,
        "Microsoft.PowerShell.DSC",
        {
            "location": "westeurope",
            "properties": {
                "publisher": "Microsoft.PowerShell",
                "type": "DSC",
                "typeHandlerVersion": "2.73",
                "settings": {
                    "configurationFunction": "Configuration.ps1\\AddSessionHost",
                    "properties": {"hostPoolName": pool},
                },
                "protectedSettings": {"Items": {"RegistrationInfoToken": token}},
            },
        },
    )


@pytest.fixture
def client(in_process_env: Env) -> DesktopVirtualizationMgmtClient:
    return desktop(in_process_env)


def test_registered_vm_becomes_available_session_host(
    in_process_env: Env, client: DesktopVirtualizationMgmtClient
) -> None:
    """A VM given the pool's registration token via the agent extension appears as an Available host with a fresh heartbeat."""
    env = in_process_env
    make_pool(env, client)
    token = client.host_pools.retrieve_registration_token(RG, POOL).token
    assert token
    vm = make_vm(env, "sh-1")
    register(env, "sh-1", token).result()
    hosts = list(client.session_hosts.list(RG, POOL))
    assert len(hosts) == 1
    host = hosts[0]
    assert host.status == "Available"
    assert host.resource_id.lower() == vm.id.lower()
    assert host.allow_new_session is True
    assert env.sim.clock.now() - host.last_heart_beat < timedelta(minutes=1)


def test_expired_token_fails_registration(in_process_env: Env, client: DesktopVirtualizationMgmtClient) -> None:
    """An expired registration token makes the agent extension fail and registers nothing."""
    env = in_process_env
    make_pool(env, client)
    token = client.host_pools.retrieve_registration_token(RG, POOL).token
    make_vm(env, "sh-1")
    env.sim.clock.advance(5 * 3600)
    with pytest.raises(HttpResponseError, match="registration token"):
        register(env, "sh-1", token).result()
    assert list(client.session_hosts.list(RG, POOL)) == []


def test_token_expiry_outside_limits_is_refused(in_process_env: Env, client: DesktopVirtualizationMgmtClient) -> None:
    """registrationInfo.expirationTime must lie between one hour and 30 days ahead."""
    env = in_process_env
    make_pool(env, client)
    too_far = iso(env.sim.clock.now() + timedelta(days=31))
    with pytest.raises(HttpResponseError, match="30 days"):
        client.host_pools.update(
            RG,
            POOL,
            {"properties": {"registrationInfo": {"expirationTime": too_far, "registrationTokenOperation": "Update"}}},
        )


def test_drain_sessions_message_and_log_off(in_process_env: Env, client: DesktopVirtualizationMgmtClient) -> None:
    """Drain mode, user sessions, messages (most users leave), forced log-off; seeded so it is reproducible."""
    env = in_process_env
    make_pool(env, client)
    token = client.host_pools.retrieve_registration_token(RG, POOL).token
    make_vm(env, "sh-1")
    register(env, "sh-1", token).result()
    name = next(iter(client.session_hosts.list(RG, POOL))).name.split("/")[-1]
    env.sim.desktop.add_sessions(RG, POOL, name, 10)
    host = client.session_hosts.update(RG, POOL, name, session_host={"properties": {"allowNewSession": False}})
    assert host.allow_new_session is False
    assert host.sessions == 10
    sessions = list(client.user_sessions.list(RG, POOL, name))
    assert {s.session_state for s in sessions} == {"Active"}
    for s in sessions:
        client.user_sessions.send_message(
            RG, POOL, name, s.name.split("/")[-1], {"messageTitle": "Maintenance", "messageBody": "Please log off"}
        )
    env.sim.clock.advance(21 * 60)
    left = list(client.user_sessions.list(RG, POOL, name))
    assert 0 < len(left) < 10  # most users logged off after the message, some did not
    for s in left:
        client.user_sessions.delete(RG, POOL, name, s.name.split("/")[-1], force=True)
    assert client.session_hosts.get(RG, POOL, name).sessions == 0


def test_deleted_vm_stops_heartbeat(in_process_env: Env, client: DesktopVirtualizationMgmtClient) -> None:
    """A session host whose VM is deleted goes Unavailable and its last heartbeat stays where it was."""
    env = in_process_env
    make_pool(env, client)
    token = client.host_pools.retrieve_registration_token(RG, POOL).token
    make_vm(env, "sh-1")
    register(env, "sh-1", token).result()
    name = next(iter(client.session_hosts.list(RG, POOL))).name.split("/")[-1]
    env.compute.virtual_machines.begin_delete(RG, "sh-1").result()
    before = client.session_hosts.get(RG, POOL, name)
    env.sim.clock.advance(600)
    after = client.session_hosts.get(RG, POOL, name)
    assert after.status == "Unavailable"
    assert after.last_heart_beat == before.last_heart_beat


def test_session_host_delete_refuses_with_sessions(
    in_process_env: Env, client: DesktopVirtualizationMgmtClient
) -> None:
    """Removing a session host with user sessions needs force=true."""
    env = in_process_env
    make_pool(env, client)
    token = client.host_pools.retrieve_registration_token(RG, POOL).token
    make_vm(env, "sh-1")
    register(env, "sh-1", token).result()
    name = next(iter(client.session_hosts.list(RG, POOL))).name.split("/")[-1]
    env.sim.desktop.add_sessions(RG, POOL, name, 2)
    with pytest.raises(HttpResponseError):
        client.session_hosts.delete(RG, POOL, name)
    client.session_hosts.delete(RG, POOL, name, force=True)
    assert list(client.session_hosts.list(RG, POOL)) == []


def test_pool_listing_and_immutable_type(in_process_env: Env, client: DesktopVirtualizationMgmtClient) -> None:
    """Host pools list by resource group and subscription; hostPoolType cannot change after creation."""
    env = in_process_env
    make_pool(env, client)
    assert [p.name for p in client.host_pools.list_by_resource_group(RG)] == [POOL]
    assert [p.name for p in client.host_pools.list()] == [POOL]
    with pytest.raises(HttpResponseError, match="hostPoolType"):
        client.host_pools.create_or_update(
            RG,
            POOL,
            {
                "location": "westeurope",
                "properties": {
                    "hostPoolType": "Personal",
                    "loadBalancerType": "Persistent",
                    "preferredAppGroupType": "Desktop",
                },
            },
        )


def test_conformance_rows_name_sources_and_tests() -> None:
    """Every Desktop Virtualization row in docs/simulator.md names a source and a test that exists here."""
    import re
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    doc = (root / "docs" / "simulator.md").read_text(encoding="utf-8")
    section = doc[doc.index("## Conformance: Desktop Virtualization") :]
    section = section[: section.index("\n## ", 1)] if "\n## " in section[1:] else section
    rows = [
        [cell.strip() for cell in line.strip("|").split("|")]
        for line in section.splitlines()
        if line.startswith("| ") and not line.startswith("| Behaviour")
    ]
    assert len(rows) >= 12
    here = Path(__file__).read_text(encoding="utf-8")
    for behaviour, source, tests in rows:
        assert source, behaviour
        names = re.findall(r"`test_hostpool_simulator\.py::(\w+)`", tests)
        assert names, f"no test named for: {behaviour}"
        assert all(re.search(rf"^def {n}\(", here, re.M) for n in names), names
