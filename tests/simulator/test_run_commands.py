"""Run Command as Azure documents it: action limits, managed run commands, a guest that runs as SYSTEM."""

from __future__ import annotations

import json
import os
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from azure.core.exceptions import HttpResponseError
from azure.mgmt.compute import ComputeManagementClient
from azure.mgmt.network import NetworkManagementClient
from azure.storage.blob import BlobSasPermissions, BlobServiceClient, generate_blob_sas

from shared.adapters import guest_scripts as gs
from shared.steps import guest as parsing
from simulator import Simulator, client_kwargs
from simulator.durations import DEFAULT_DURATIONS
from tests.simulator.conftest import LOC, RG, Env, make_vm, power_states, run

WU_DONE = 3  # passes: the cumulative update (restart), the removal tool, then nothing


def _managed(env: Env, vm: str, name: str, script: str, **props: Any) -> None:
    body = {"location": LOC, "properties": {"source": {"script": script}, **props}}
    env.compute.virtual_machine_run_commands.begin_create_or_update(RG, vm, name, body, polling=False)


def _view(env: Env, vm: str, name: str) -> dict[str, Any]:
    found = env.compute.virtual_machine_run_commands.get_by_virtual_machine(RG, vm, name, expand="instanceView")
    view: dict[str, Any] = found.as_dict()["properties"]["instanceView"]
    return view


def _blob_uri(name: str) -> str:
    """A SAS URL (read, add, create, write) of a not yet existing append blob in Azurite."""
    connection = os.environ.get("AVD_BLOBS_CONNECTION_STRING")
    if not connection:
        pytest.fail("AVD_BLOBS_CONNECTION_STRING is not set: run the tests with `make test`, which starts Azurite")
    service = BlobServiceClient.from_connection_string(connection)
    container = f"rc{uuid.uuid4().hex[:12]}"
    service.create_container(container)
    sas = generate_blob_sas(
        account_name=str(service.account_name),
        container_name=container,
        blob_name=name,
        account_key=service.credential.account_key,
        permission=BlobSasPermissions(read=True, add=True, create=True, write=True),
        expiry=datetime.now(UTC) + timedelta(hours=1),
    )
    return f"{service.get_blob_client(container, name).url}?{sas}"


def test_action_output_keeps_only_the_last_4096_bytes(env: Env) -> None:
    """Action Run Command returns only the last 4,096 bytes of StdOut (Learn: action Run Commands)."""
    make_vm(env)
    lines = [f"Write-Output line-{i:05d}-{'x' * 40}" for i in range(200)]
    out, _ = run(env, "vm1", lines)
    assert len(out.encode()) == 4096
    assert out.endswith("line-00199-" + "x" * 40)
    assert "line-00000" not in out


def test_action_run_command_times_out_after_90_minutes(env: Env) -> None:
    """A script that runs past 90 minutes ends the action with VMExtensionProvisioningTimeout."""
    make_vm(env)
    installs = [f"& $winget install --id Contoso.App{i} --version 1.0 --scope machine" for i in range(60)]
    with pytest.raises(HttpResponseError) as error:
        run(env, "vm1", [gs.WINGET_RESOLVE, *installs])
    assert error.value.error is not None
    assert error.value.error.code == "VMExtensionProvisioningTimeout"


def test_winget_and_pswindowsupdate_are_not_recognized_as_system(env: Env) -> None:
    """As SYSTEM, winget is not on PATH and Install-WindowsUpdate does not exist: PowerShell's own error."""
    make_vm(env)
    _, err = run(env, "vm1", ["winget install --id Microsoft.Office --scope machine"])
    assert err.startswith("winget : The term 'winget' is not recognized as the name of a cmdlet")
    assert "CommandNotFoundException" in err
    _, err = run(env, "vm1", ["Install-WindowsUpdate -AcceptAll"])
    assert "The term 'Install-WindowsUpdate' is not recognized" in err
    out, err = run(env, "vm1", [gs.WINGET_RESOLVE, "& $winget install --id Contoso.App --version 2.0 --scope machine"])
    assert err == ""
    assert "Successfully installed" in out


def test_new_item_force_empties_an_existing_registry_key(env: Env, sim: Simulator) -> None:
    """New-Item -Force recreates an existing key empty; BITLOCKER_OFF keeps the values already under it."""
    vm = make_vm(env)
    key = "HKLM:\\SYSTEM\\CurrentControlSet\\Control\\BitLocker"
    guest = sim.compute.disks[vm.storage_profile.os_disk.managed_disk.id.lower()].guest
    assert guest is not None
    guest.set_registry(f"{key}\\AdminSetting", "7")
    run(env, "vm1", gs.BITLOCKER_OFF)
    assert guest.registry_value(f"{key}\\AdminSetting") == "7"
    assert guest.registry_value(f"{key}\\PreventDeviceEncryption") == "1"
    run(env, "vm1", [f"New-Item -Path '{key}' -Force | Out-Null"])
    assert guest.registry_value(f"{key}\\AdminSetting") is None
    _, err = run(env, "vm1", ["$ErrorActionPreference = 'Stop'", f"New-Item -Path '{key}'"])
    assert "A key at this path already exists." in err


def test_windows_update_passes_restart_and_finish(env: Env, sim: Simulator) -> None:
    """WUA passes: the cumulative update waits for a restart (sysprep refuses meanwhile), then none remain."""
    make_vm(env, trusted_launch=False)
    sim.clock.advance(14 * 86400)
    first = json.loads(run(env, "vm1", gs.WINDOWS_UPDATE)[0])
    assert (first["found"], first["rebootRequired"]) == (1, True)
    blocked = json.loads(run(env, "vm1", gs.WINDOWS_UPDATE)[0])
    assert blocked["installed"] == []
    _managed(env, "vm1", "avd-sysprep", gs.SYSPREP)
    sim.clock.advance(180)
    status = json.loads(_view(env, "vm1", "avd-sysprep")["output"].strip().splitlines()[-1])
    assert any("require a reboot" in line for line in status["errors"])
    env.compute.virtual_machines.begin_restart(RG, "vm1").result()
    second = json.loads(run(env, "vm1", gs.WINDOWS_UPDATE)[0])
    assert [u["kb"] for u in second["installed"]] == ["KB890830"]
    assert second["rebootRequired"] is False
    third = json.loads(run(env, "vm1", gs.WINDOWS_UPDATE)[0])
    assert (third["found"], third["installed"]) == (0, [])


def test_bitlocker_checks_admins_type_are_answered(env: Env) -> None:
    """manage-bde, Get-BitLockerVolume as table, list and PowerShell 5.1 JSON (enums as numbers) all answer."""
    make_vm(env)  # Trusted Launch: FullyEncrypted
    assert "Conversion Status:    Fully Encrypted" in run(env, "vm1", ["manage-bde -status C:"])[0]
    table = run(env, "vm1", ["Get-BitLockerVolume -MountPoint C:"])[0]
    assert "OperatingSystem C:" in table
    assert "FullyEncrypted" in table
    listed = run(env, "vm1", ["Get-BitLockerVolume -MountPoint C: | Format-List"])[0]
    assert "VolumeStatus         : FullyEncrypted" in listed
    raw = run(env, "vm1", ["Get-BitLockerVolume -MountPoint C: | ConvertTo-Json"])[0]
    assert "\n" in raw
    assert '"VolumeStatus": 1' in raw
    status, percent = parsing.volume(parsing.last_json_line(raw, "raw json"))
    assert (status, percent) == ("FullyEncrypted", 100)


def test_managed_run_command_reports_state_exit_code_and_full_output(env: Env, sim: Simulator) -> None:
    """Managed: Running then Failed with the exit code; instance view cut to 4 KB, the blob gets it all."""
    make_vm(env)
    out_uri, err_uri = _blob_uri("out.log"), _blob_uri("err.log")
    lines = "\n".join(f"Write-Output row-{i:05d}-{'y' * 40}" for i in range(300))
    _managed(env, "vm1", "rc1", f"{lines}\nexit 3", outputBlobUri=out_uri, errorBlobUri=err_uri, asyncExecution=True)
    assert _view(env, "vm1", "rc1")["executionState"] == "Pending"
    sim.clock.advance(DEFAULT_DURATIONS["run_command_start"] + 0.5)  # started, and runs for about a second
    assert _view(env, "vm1", "rc1")["executionState"] == "Running"
    sim.clock.run_until_idle()
    view = _view(env, "vm1", "rc1")
    assert (view["executionState"], view["exitCode"]) == ("Failed", 3)
    assert len(view["output"].encode()) == 4096
    assert view["startTime"]
    assert view["endTime"]
    from azure.storage.blob import BlobClient

    full = BlobClient.from_blob_url(out_uri).download_blob().readall().decode()
    assert full.count("row-") == 300
    assert BlobClient.from_blob_url(out_uri).get_blob_properties().blob_type == "AppendBlob"


def test_a_command_that_waits_for_sysprep_ends_with_it_and_reads_the_state_then(env: Env, sim: Simulator) -> None:
    """Start-Process -Wait on sysprep /quit: Running while sysprep runs, then Succeeded with ImageState read at its end."""
    make_vm(env, trusted_launch=False)  # arrives decrypted
    _managed(env, "vm1", "avd-sysprep", gs.SYSPREP)
    sim.clock.advance(DEFAULT_DURATIONS["sysprep"] / 2)
    assert _view(env, "vm1", "avd-sysprep")["executionState"] == "Running"
    sim.clock.advance(DEFAULT_DURATIONS["sysprep"] / 2 + DEFAULT_DURATIONS["run_command_start"])
    view = _view(env, "vm1", "avd-sysprep")
    assert (view["executionState"], view["exitCode"]) == ("Succeeded", 0)
    assert json.loads(view["output"].strip().splitlines()[-1]) == {
        "imageState": "IMAGE_STATE_GENERALIZE_RESEAL_TO_OOBE",
        "sysprepRunning": False,
        "errors": [],
    }
    took = datetime.fromisoformat(view["endTime"]) - datetime.fromisoformat(view["startTime"])
    assert took >= timedelta(seconds=DEFAULT_DURATIONS["sysprep"] - DEFAULT_DURATIONS["run_command_start"])
    [written] = [
        e for e in sim.events.history
        if e["eventType"] == "Microsoft.Resources.ResourceWriteSuccess" and e["subject"].endswith("avd-sysprep")
    ]  # fmt: skip
    assert datetime.fromisoformat(written["eventTime"]) >= datetime.fromisoformat(view["endTime"])


def test_an_action_run_command_whose_vm_stops_before_the_agent_reports_fails() -> None:
    """sysprep /shutdown through action Run Command: the VM powers off before the late report, so the call fails."""
    sim = Simulator(event_latency=(0.0, 0.0), durations={"sysprep": 20, "run_command_report": 60})
    kw = client_kwargs(sim)
    env = Env(sim, ComputeManagementClient(**kw), NetworkManagementClient(**kw))
    make_vm(env, trusted_launch=False)  # arrives decrypted
    script = ["Start-Process -FilePath sysprep.exe -ArgumentList '/generalize','/oobe','/shutdown','/mode:vm'"]
    poller = env.compute.virtual_machines.begin_run_command(
        RG, "vm1", {"commandId": "RunPowerShellScript", "script": script}
    )
    with pytest.raises(HttpResponseError) as lost:
        poller.result()
    assert lost.value.error is not None
    assert lost.value.error.code == "VMAgentStatusCommunicationError"
    assert "PowerState/stopped" in power_states(env, "vm1")


def test_managed_run_command_times_out(env: Env, sim: Simulator) -> None:
    """timeoutInSeconds bounds the script: executionState TimedOut, no exit code."""
    make_vm(env)
    script = "\n".join([gs.WINGET_RESOLVE, "& $winget install --id Contoso.Big --version 1 --scope machine"])
    _managed(env, "vm1", "slow", script, timeoutInSeconds=60)
    sim.clock.run_until_idle()
    view = _view(env, "vm1", "slow")
    assert view["executionState"] == "TimedOut"
    assert "exitCode" not in view


def test_managed_run_command_is_refused_on_a_stopped_vm_and_while_running(env: Env) -> None:
    """PUT needs a running VM; re-PUT of a command still executing is 409 Conflict."""
    make_vm(env)
    _managed(env, "vm1", "busy", "Write-Output hi")
    with pytest.raises(HttpResponseError) as busy:
        _managed(env, "vm1", "busy", "Write-Output again")
    assert busy.value.status_code == 409
    with pytest.raises(HttpResponseError) as missing:
        env.compute.virtual_machine_run_commands.begin_create_or_update(
            RG, "vm1", "nosrc", {"location": LOC, "properties": {}}, polling=False
        )
    assert missing.value.status_code == 400
