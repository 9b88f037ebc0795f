"""The product pipeline end to end through the real SDK: BitLocker, sysprep, capture, replicate, deploy."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from azure.core.exceptions import HttpResponseError

from shared.adapters import guest_scripts as gs
from simulator import Simulator
from tests.simulator.conftest import LOC, RG, SUB, Env, make_vm, power_states, run

GALLERY = "gal"
DEF = "office"


def _gallery(env: Env, security: str = "TrustedLaunch") -> None:
    """A gallery and a Generalized V2 definition; TrustedLaunch by default, as the helpers capture TL VMs."""
    env.compute.galleries.begin_create_or_update(RG, GALLERY, {"location": LOC}).result()
    env.compute.gallery_images.begin_create_or_update(
        RG,
        GALLERY,
        DEF,
        {
            "location": LOC,
            "properties": {
                "osType": "Windows",
                "osState": "Generalized",
                "hyperVGeneration": "V2",
                "identifier": {"publisher": "contoso", "offer": "avd", "sku": DEF},
                "features": [{"name": "SecurityType", "value": security}],
            },
        },
    ).result()


def _wait_decrypted(env: Env, vm: str) -> dict[str, object]:
    status: dict[str, object] = json.loads(run(env, vm, gs.BITLOCKER_STATUS)[0])
    while status["volumeStatus"] != "FullyDecrypted":
        env.sim.clock.advance(300)
        status = json.loads(run(env, vm, gs.BITLOCKER_STATUS)[0])
    return status


def _sysprep(env: Env, vm: str) -> dict[str, object]:
    """The product's sysprep command (/quit, waits for sysprep.exe): what it printed once it ended."""
    commands = env.compute.virtual_machine_run_commands
    body = {"location": LOC, "properties": {"source": {"script": gs.SYSPREP}}}
    commands.begin_create_or_update(RG, vm, "avd-sysprep", body, polling=False)
    view = commands.get_by_virtual_machine(RG, vm, "avd-sysprep", expand="instanceView").instance_view
    while view.execution_state in ("Pending", "Running"):
        env.sim.clock.advance(60)
        view = commands.get_by_virtual_machine(RG, vm, "avd-sysprep", expand="instanceView").instance_view
    assert (view.execution_state, view.exit_code) == ("Succeeded", 0)
    assert "PowerState/running" in power_states(env, vm)  # /quit: the VM stays up for the agent to report
    status: dict[str, object] = json.loads(view.output.strip().splitlines()[-1])
    return status


def _prepared_vm(env: Env, name: str = "tmp") -> None:
    """A Trusted Launch VM decrypted, sysprepped, stopped, deallocated and generalized."""
    make_vm(env, name)
    run(env, name, gs.BITLOCKER_OFF)
    _wait_decrypted(env, name)
    assert _sysprep(env, name)["imageState"] == "IMAGE_STATE_GENERALIZE_RESEAL_TO_OOBE"
    env.compute.virtual_machines.begin_power_off(RG, name).result()
    env.compute.virtual_machines.begin_deallocate(RG, name).result()
    env.compute.virtual_machines.generalize(RG, name)


def _capture(env: Env, vm: str, version: str = "1.0.0", regions: list[str] | None = None) -> None:
    env.compute.gallery_image_versions.begin_create_or_update(
        RG,
        GALLERY,
        DEF,
        version,
        {
            "location": LOC,
            "tags": {"workload": DEF},
            "properties": {
                "storageProfile": {
                    "source": {
                        "virtualMachineId": f"/subscriptions/{SUB}/resourceGroups/{RG}/providers/"
                        f"Microsoft.Compute/virtualMachines/{vm}"
                    }
                },
                "publishingProfile": {
                    "targetRegions": [{"name": r, "regionalReplicaCount": 1} for r in (regions or [LOC])],
                    "excludeFromLatest": True,
                },
            },
        },
        polling=False,
    )


def test_encrypted_trusted_launch_vm_fails_sysprep_with_the_real_bitlocker_lines(env: Env) -> None:
    """Sysprep on a FullyEncrypted OS volume fails with ValidateBitLockerState 0x80310039 and stays COMPLETE."""
    make_vm(env)
    status = _sysprep(env, "vm1")
    assert status["imageState"] == "IMAGE_STATE_COMPLETE"
    errors = "\n".join(status["errors"])  # type: ignore[arg-type]
    assert "BitLocker is on for the OS volume. Turn BitLocker off to run Sysprep. (0x80310039)" in errors
    assert "'ValidateBitLockerState' from C:\\Windows\\System32\\BdeSysprep.dll; dwRet = 0x80310039" in errors


def test_bitlocker_off_decrypts_over_time_then_sysprep_succeeds(env: Env) -> None:
    """Disable-BitLocker starts DecryptionInProgress, percentage falls, FullyDecrypted ~25 min later; sysprep works."""
    make_vm(env)
    assert json.loads(run(env, "vm1", gs.BITLOCKER_OFF)[0]) == {
        "started": True,
        "volumeStatus": "DecryptionInProgress",
        "encryptionPercentage": 100,
    }
    mid = json.loads(run(env, "vm1", gs.BITLOCKER_STATUS)[0])
    assert mid["volumeStatus"] == "DecryptionInProgress"
    assert mid["protectionStatus"] == "Off"
    env.sim.clock.advance(600)
    later = json.loads(run(env, "vm1", gs.BITLOCKER_STATUS)[0])
    assert later["encryptionPercentage"] < mid["encryptionPercentage"]
    done = _wait_decrypted(env, "vm1")
    assert done == {
        "mountPoint": "C:",
        "volumeStatus": "FullyDecrypted",
        "encryptionPercentage": 0,
        "protectionStatus": "Off",
        "keyProtectors": [],
    }
    inventory = json.loads(run(env, "vm1", gs.INVENTORY)[0])
    assert inventory["registry"] == {
        "HKLM:\\SYSTEM\\CurrentControlSet\\Control\\BitLocker\\PreventDeviceEncryption": "1"
    }
    started = env.sim.clock.now()
    status = _sysprep(env, "vm1")
    assert status == {"imageState": "IMAGE_STATE_GENERALIZE_RESEAL_TO_OOBE", "sysprepRunning": False, "errors": []}
    assert env.sim.clock.now() - started >= timedelta(minutes=8)


def test_sysprep_shutdown_stops_the_vm_once_resealed(env: Env) -> None:
    """/shutdown (not the product's /quit) powers the VM off after a successful reseal, with no ARM operation."""
    make_vm(env, trusted_launch=False)  # arrives decrypted
    script = "Start-Process -FilePath sysprep.exe -ArgumentList '/generalize','/oobe','/shutdown','/mode:vm'"
    run(env, "vm1", script)
    assert "PowerState/running" in power_states(env, "vm1")
    env.sim.clock.advance(15 * 60)
    assert "PowerState/stopped" in power_states(env, "vm1")


def test_protection_off_is_not_enough_for_sysprep(env: Env) -> None:
    """Sysprep started while decryption is still in progress fails like an encrypted volume."""
    make_vm(env)
    run(env, "vm1", gs.BITLOCKER_OFF)
    status = _sysprep(env, "vm1")
    assert status["imageState"] == "IMAGE_STATE_COMPLETE"
    assert any("0x80310039" in line for line in status["errors"])  # type: ignore[union-attr]


def test_user_scoped_app_breaks_sysprep_with_appx_error(env: Env) -> None:
    """An app installed with --scope user makes sysprep fail with the 0x80073cf2 provisioning lines."""
    make_vm(env, trusted_launch=False)
    run(env, "vm1", [gs.WINGET_RESOLVE, "& $winget install --id Contoso.Notes --version 2.1.0 --scope user --silent"])
    status = _sysprep(env, "vm1")
    errors = "\n".join(status["errors"])  # type: ignore[arg-type]
    assert "Package Contoso.Notes_2.1.0.0_x64__8wekyb3d8bbwe was installed for a user, but not provisioned" in errors
    assert "0x80073cf2" in errors


def test_generalize_refused_while_running_but_not_inspecting_the_guest(env: Env) -> None:
    """generalize is 409 OperationNotAllowed on a running VM; a stopped one is generalized without Sysprep."""
    make_vm(env)
    with pytest.raises(HttpResponseError) as running:
        env.compute.virtual_machines.generalize(RG, "vm1")
    assert running.value.status_code == 409
    assert running.value.error is not None
    assert running.value.error.code == "OperationNotAllowed"
    env.compute.virtual_machines.begin_deallocate(RG, "vm1").result()
    # Azure only marks the VM generalized: it never looks at the guest (REST example VirtualMachine_Generalize)
    env.compute.virtual_machines.generalize(RG, "vm1")
    assert "OSState/generalized" in power_states(env, "vm1")


def test_generalized_vm_reports_os_state_and_refuses_start(env: Env) -> None:
    """After generalize the instance view has OSState/generalized and start is refused."""
    _prepared_vm(env)
    assert power_states(env, "tmp") == ["ProvisioningState/succeeded", "OSState/generalized", "PowerState/deallocated"]
    with pytest.raises(HttpResponseError) as err:
        env.compute.virtual_machines.begin_start(RG, "tmp").result()
    assert err.value.status_code == 409


def test_capture_replicates_with_progress_to_completed(env: Env) -> None:
    """A gallery version from the generalized VM replicates region by region, progress rising to Completed."""
    _gallery(env)
    _prepared_vm(env)
    _capture(env, "tmp", regions=[LOC, "northeurope"])
    versions = env.compute.gallery_image_versions

    def status() -> object:
        return versions.get(RG, GALLERY, DEF, "1.0.0", expand="ReplicationStatus").replication_status

    first = status()
    assert first.aggregated_state == "InProgress"  # type: ignore[attr-defined]
    assert versions.get(RG, GALLERY, DEF, "1.0.0").provisioning_state == "Creating"
    env.sim.clock.advance(25 * 60)
    mid = {s.region: s for s in status().summary}  # type: ignore[attr-defined]
    assert mid["West Europe"].state == "Completed"
    assert mid["West Europe"].progress == 100
    assert mid["North Europe"].state == "Replicating"
    assert 0 < mid["North Europe"].progress < 100
    env.sim.clock.advance(15 * 60)
    final = status()
    assert final.aggregated_state == "Completed"  # type: ignore[attr-defined]
    assert versions.get(RG, GALLERY, DEF, "1.0.0").provisioning_state == "Succeeded"
    assert env.sim.clock.next_due() is None


@pytest.mark.parametrize(("prevent", "expected"), [(False, "FullyEncrypted"), (True, "FullyDecrypted")])
def test_host_from_image_reencrypts_unless_prevented(env: Env, prevent: bool, expected: str) -> None:
    """A VM from the captured image turns device encryption back on unless PreventDeviceEncryption=1 was set."""
    _gallery(env)
    make_vm(env, "tmp")
    if prevent:
        run(env, "tmp", gs.BITLOCKER_OFF)
    else:
        run(env, "tmp", ["Disable-BitLocker -MountPoint 'C:'"])
    _wait_decrypted(env, "tmp")
    _sysprep(env, "tmp")
    env.compute.virtual_machines.begin_deallocate(RG, "tmp").result()
    env.compute.virtual_machines.generalize(RG, "tmp")
    _capture(env, "tmp")
    env.sim.clock.run_until_idle()
    image_id = (
        f"/subscriptions/{SUB}/resourceGroups/{RG}/providers/Microsoft.Compute/galleries/{GALLERY}"
        f"/images/{DEF}/versions/1.0.0"
    )
    make_vm(env, "host", image={"id": image_id})
    env.sim.clock.advance(3600)
    status = json.loads(run(env, "host", gs.BITLOCKER_STATUS)[0])
    assert status["volumeStatus"] == expected


def test_vm_from_definition_id_uses_latest_not_excluded(env: Env, sim: Simulator) -> None:
    """Deploying from the image definition id fails while the only version is excludeFromLatest, then works."""
    _gallery(env)
    _prepared_vm(env)
    _capture(env, "tmp")
    sim.clock.run_until_idle()
    definition = (
        f"/subscriptions/{SUB}/resourceGroups/{RG}/providers/Microsoft.Compute/galleries/{GALLERY}/images/{DEF}"
    )
    with pytest.raises(HttpResponseError) as err:
        make_vm(env, "host", image={"id": definition})
    assert err.value.status_code == 404
    env.compute.gallery_image_versions.begin_update(
        RG,
        GALLERY,
        DEF,
        "1.0.0",
        {"properties": {"publishingProfile": {"excludeFromLatest": False}, "storageProfile": {}}},
    ).result()
    vm = make_vm(env, "host2", image={"id": definition})
    assert vm.storage_profile.image_reference.exact_version == "1.0.0"


def test_capture_refused_from_a_vm_that_is_not_generalized(env: Env) -> None:
    """Capturing a running, non-generalized VM into a Generalized definition is a 400 InvalidParameter."""
    _gallery(env)
    make_vm(env, "tmp")
    with pytest.raises(HttpResponseError) as err:
        _capture(env, "tmp")
    assert err.value.status_code == 400
    assert err.value.error is not None
    assert err.value.error.code == "InvalidParameter"


def test_trusted_launch_vm_needs_a_trusted_launch_capable_definition(env: Env) -> None:
    """A Trusted Launch source cannot be captured into a definition without a TrustedLaunch security type."""
    _gallery(env, security="Standard")
    _prepared_vm(env)
    with pytest.raises(HttpResponseError) as err:
        _capture(env, "tmp")
    assert err.value.status_code == 400
