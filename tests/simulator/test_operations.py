"""Resource operations through the real SDK clients, in-process and over loopback HTTP."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from azure.core.exceptions import HttpResponseError, ResourceNotFoundError

from shared.adapters import guest_scripts as gs
from simulator import Simulator
from tests.simulator.conftest import LOC, RG, SUB, Env, make_nic, make_vm, power_states, run


def test_vm_lifecycle_on_both_transports(any_env: Env) -> None:
    """Create, power actions, instance view and delete behave the same in-process and over HTTP."""
    env = any_env
    vm = make_vm(env)
    assert vm.provisioning_state == "Succeeded"
    assert vm.tags == {"run": "r1"}
    assert vm.security_profile.security_type == "TrustedLaunch"
    assert vm.storage_profile.image_reference.exact_version.startswith("26100.")
    assert power_states(env, "vm1") == ["ProvisioningState/succeeded", "PowerState/running"]
    env.compute.virtual_machines.begin_power_off(RG, "vm1").result()
    assert power_states(env, "vm1")[-1] == "PowerState/stopped"
    env.compute.virtual_machines.begin_deallocate(RG, "vm1").result()
    assert power_states(env, "vm1")[-1] == "PowerState/deallocated"
    env.compute.virtual_machines.begin_start(RG, "vm1").result()
    expanded = env.compute.virtual_machines.get(RG, "vm1", expand="instanceView")
    assert expanded.instance_view.statuses[-1].code == "PowerState/running"
    assert [v.name for v in env.compute.virtual_machines.list(RG)] == ["vm1"]
    env.compute.virtual_machines.begin_delete(RG, "vm1").result()
    with pytest.raises(ResourceNotFoundError):
        env.compute.virtual_machines.get(RG, "vm1")


def test_polling_false_leaves_operation_in_progress_until_the_clock_moves(env: Env) -> None:
    """With polling=False the VM stays Creating/starting; reads never advance the clock; advancing completes it."""
    make_vm(env)  # network + first VM
    nic = make_nic(env, "nic2")
    from tests.simulator.conftest import vm_body

    before = env.sim.clock.now()
    env.compute.virtual_machines.begin_create_or_update(RG, "vm2", vm_body(nic), polling=False)
    assert env.compute.virtual_machines.get(RG, "vm2").provisioning_state == "Creating"
    assert power_states(env, "vm2") == ["ProvisioningState/creating", "PowerState/starting"]
    assert env.sim.clock.now() == before
    due = env.sim.clock.next_due()
    assert due is not None
    assert due - before == timedelta(minutes=3)
    env.sim.clock.advance_to(due)
    assert env.compute.virtual_machines.get(RG, "vm2").provisioning_state == "Succeeded"


def test_vm_delete_removes_os_disk_and_nic_only_with_delete_option(env: Env, sim: Simulator) -> None:
    """osDisk deleteOption Delete removes the disk with the VM, Detach keeps it; NICs (Delete) go too."""
    make_vm(env, "keep", deleteOption="Detach")
    make_vm(env, "drop")
    env.compute.virtual_machines.begin_delete(RG, "keep").result()
    env.compute.virtual_machines.begin_delete(RG, "drop").result()
    disks = [d.name for d in env.compute.disks.list_by_resource_group(RG)]
    assert len(disks) == 1
    assert disks[0].startswith("keep_OsDisk_1_")
    assert {r["type"] for r in sim.live_resources()} == {
        "Microsoft.Compute/disks",
        "Microsoft.Network/virtualNetworks",
    }


def test_nic_and_disk_delete_refused_while_attached(env: Env) -> None:
    """Deleting an attached NIC is 400 NicInUse; deleting an attached disk is 409 OperationNotAllowed."""
    vm = make_vm(env)
    with pytest.raises(HttpResponseError) as nic_err:
        env.network.network_interfaces.begin_delete(RG, "vm1-nic").result()
    assert nic_err.value.status_code == 400
    assert nic_err.value.error.code == "NicInUse"
    with pytest.raises(HttpResponseError) as disk_err:
        env.compute.disks.begin_delete(RG, vm.storage_profile.os_disk.name).result()
    assert disk_err.value.status_code == 409


def test_nic_needs_an_existing_subnet(env: Env) -> None:
    """A NIC referencing a missing subnet is refused with InvalidResourceReference."""
    with pytest.raises(HttpResponseError) as err:
        make_nic(env, "orphan")
    assert err.value.error is not None
    assert err.value.error.code == "InvalidResourceReference"


def test_snapshot_disk_clone_carries_guest_state(env: Env) -> None:
    """Snapshot -> disk -> attached VM keeps the source guest's registry and apps."""
    vm = make_vm(env, "src")
    run(env, "src", [gs.WINGET_RESOLVE, "& $winget install --id Microsoft.Office --version 16.0.1 --scope machine"])
    disk_id = vm.storage_profile.os_disk.managed_disk.id
    snap = env.compute.snapshots.begin_create_or_update(
        RG,
        "snap",
        {"location": LOC, "properties": {"creationData": {"createOption": "Copy", "sourceResourceId": disk_id}}},
    ).result()
    assert snap.provisioning_state == "Succeeded"
    disk = env.compute.disks.begin_create_or_update(
        RG,
        "clone",
        {"location": LOC, "properties": {"creationData": {"createOption": "Copy", "sourceResourceId": snap.id}}},
    ).result()
    assert disk.disk_state == "Unattached"
    assert disk.disk_size_gb == 128
    nic = make_nic(env, "clone-nic")
    env.compute.virtual_machines.begin_create_or_update(
        RG,
        "clone",
        {
            "location": LOC,
            "properties": {
                "hardwareProfile": {"vmSize": "Standard_D4s_v5"},
                "storageProfile": {
                    "osDisk": {"createOption": "Attach", "osType": "Windows", "managedDisk": {"id": disk.id}}
                },
                "networkProfile": {"networkInterfaces": [{"id": nic}]},
            },
        },
    ).result()
    assert env.compute.disks.get(RG, "clone").disk_state == "Attached"
    out, _ = run(env, "clone", ["Get-HotFix | ConvertTo-Json"])
    assert '"name":"Microsoft.Office","version":"16.0.1"' in out


def test_run_command_refused_when_not_running_or_busy(env: Env) -> None:
    """Run Command is 409 on a deallocated VM and while another Run Command is executing."""
    make_vm(env)
    env.compute.virtual_machines.begin_run_command(
        RG, "vm1", {"commandId": "RunPowerShellScript", "script": ["Write-Output hi"]}, polling=False
    )
    with pytest.raises(HttpResponseError) as busy:
        run(env, "vm1", ["Write-Output again"])
    assert busy.value.status_code == 409
    env.sim.clock.advance(60)
    env.compute.virtual_machines.begin_deallocate(RG, "vm1").result()
    with pytest.raises(HttpResponseError) as stopped:
        run(env, "vm1", ["Write-Output hi"])
    assert stopped.value.status_code == 409


def test_failing_scripts_report_stderr_but_succeed(env: Env) -> None:
    """throw puts text on StdErr while the Run Command succeeds; exit 1 shows nothing (no exit code)."""
    make_vm(env)
    out, err = run(env, "vm1", ["Write-Output before", "throw 'install failed'", "Write-Output after"])
    assert out == "before"
    assert err.startswith("install failed")
    out2, err2 = run(env, "vm1", ["Write-Output ok", "exit 1"])
    assert (out2, err2) == ("ok", "")


def test_windows_update_installs_the_current_cumulative_update(env: Env, sim: Simulator) -> None:
    """A WUA pass after Patch Tuesday installs that month's update, which takes effect at the restart."""
    make_vm(env)
    before = json.loads(run(env, "vm1", gs.INVENTORY)[0])
    sim.clock.advance(14 * 86400)  # past the November 2026 Patch Tuesday
    report = json.loads(run(env, "vm1", gs.WINDOWS_UPDATE)[0])
    assert report["rebootRequired"] is True
    assert report["installed"][0]["kb"].startswith("KB")
    assert json.loads(run(env, "vm1", gs.INVENTORY)[0])["osBuild"] == before["osBuild"]
    env.compute.virtual_machines.begin_restart(RG, "vm1").result()
    after = json.loads(run(env, "vm1", gs.INVENTORY)[0])
    assert int(after["osBuild"].split(".")[1]) > int(before["osBuild"].split(".")[1])
    assert len(after["hotfixes"]) == len(before["hotfixes"]) + 1


def test_marketplace_publishes_monthly_versions(env: Env, sim: Simulator) -> None:
    """A new image version appears a few days after each second Tuesday; 25H2 is listed as its own sku."""
    images = env.compute.virtual_machine_images
    before = images.list(LOC, "MicrosoftWindowsDesktop", "windows-11", "win11-24h2-avd")
    sim.clock.advance(20 * 86400)
    after = images.list(LOC, "MicrosoftWindowsDesktop", "windows-11", "win11-24h2-avd")
    assert len(after) == len(before) + 1
    newest = after[-1].name
    assert newest.startswith("26100.")
    assert newest.endswith(".261113")
    detail = images.get(LOC, "MicrosoftWindowsDesktop", "windows-11", "win11-24h2-avd", newest)
    assert detail.hyper_v_generation == "V2"
    assert detail.os_disk_image.operating_system == "Windows"
    assert images.list(LOC, "MicrosoftWindowsDesktop", "windows-11", "win11-25h2-avd")[-1].name.startswith("26200.")
    assert images.list(LOC, "MicrosoftWindowsServer", "WindowsServer", "2022-datacenter-azure-edition")


def test_25h2_starts_encrypted_and_24h2_standard_starts_decrypted(env: Env) -> None:
    """25H2 images come FullyEncrypted even without Trusted Launch; a standard 24H2 VM comes decrypted."""
    from shared.adapters.guest_scripts import BITLOCKER_STATUS

    make_vm(env, "a", trusted_launch=False)
    image = {
        "publisher": "MicrosoftWindowsDesktop",
        "offer": "windows-11",
        "sku": "win11-25h2-avd",
        "version": "latest",
    }
    make_vm(env, "b", trusted_launch=False, image=image)
    assert '"volumeStatus":"FullyDecrypted"' in run(env, "a", BITLOCKER_STATUS)[0]
    assert '"volumeStatus":"FullyEncrypted"' in run(env, "b", BITLOCKER_STATUS)[0]
    assert "Conversion Status:    Fully Encrypted" in run(env, "b", ["manage-bde -status C:"])[0]


def test_resource_groups_and_not_found_errors(env: Env) -> None:
    """Unknown resources are 404 ResourceNotFound with Azure's message; missing VM image is 404."""
    with pytest.raises(ResourceNotFoundError) as err:
        env.compute.disks.get(RG, "nope")
    assert err.value.error is not None
    assert err.value.error.code == "ResourceNotFound"
    with pytest.raises(HttpResponseError):
        env.compute.virtual_machine_images.get(LOC, "MicrosoftWindowsDesktop", "windows-11", "win11-24h2-avd", "1.2.3")
    status, _, body = env.sim.handle(
        "PUT",
        f"https://x/subscriptions/{SUB}/resourcegroups/rg2?api-version=2024-03-01",
        {},
        b'{"location": "westeurope"}',
    )
    assert status == 201
    assert b'"name": "rg2"' in body
