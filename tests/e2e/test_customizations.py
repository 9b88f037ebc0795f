"""Customizations as SYSTEM through managed Run Commands; BitLocker decrypted once on the source VM."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from localrun.runtime import LocalRuntime
from localrun.scenario import PATCH_BUILD_AT, build
from shared.adapters.guest_scripts import WINGET_RESOLVE
from shared.domain.catalog import Catalog, Customization
from shared.domain.model import BuildReason, RunState, VersionNumber
from simulator import Simulator

ANALYST, OFFICE = "data-analyst", "office"


def _with(catalog: Catalog, workload: str, *customizations: Customization) -> Catalog:
    changed = [
        w.model_copy(update={"customizations": customizations}) if w.name == workload else w for w in catalog.workloads
    ]
    return Catalog(workloads=tuple(changed))


def _runtime(catalog: Catalog, table_store: Any, **sim: Any) -> LocalRuntime:
    start = sim.pop("start", datetime(2026, 11, 2, 8, 0, tzinfo=UTC))
    simulator = Simulator(start=start, auto_advance_on_poll=False, **sim)
    return LocalRuntime(catalog, records=table_store, simulator=simulator)


def _failure(runtime: LocalRuntime, workload: str, run_id: str) -> str:
    run = runtime.records.find_run(workload, run_id)
    assert run is not None
    assert run.state is RunState.FAILED
    return run.failure_reason


def test_a_non_zero_exit_code_fails_the_run_quoting_stderr(catalog: Catalog, table_store: Any) -> None:
    """A customization that exits non-zero fails the build with its exit code and the tail of its stderr."""
    broken = Customization(name="vendor-app", script="Write-Output 'starting'\nthrow 'setup.exe returned 1603'")
    runtime = _runtime(_with(catalog, ANALYST, broken), table_store)
    build(runtime, ANALYST, "broken-app", BuildReason.FIRST)
    reason = _failure(runtime, ANALYST, "broken-app")
    assert "customization 'vendor-app' exited with code 1" in reason
    assert "setup.exe returned 1603" in reason


def test_winget_on_path_fails_as_system(catalog: Catalog, table_store: Any) -> None:
    """`winget install` as Run Command's SYSTEM is not recognized; the run says so instead of succeeding."""
    bare = Customization(name="bare-winget", script="winget install --id Microsoft.PowerBI --scope machine")
    runtime = _runtime(_with(catalog, ANALYST, bare), table_store)
    build(runtime, ANALYST, "bare-winget", BuildReason.FIRST)
    assert "The term 'winget' is not recognized" in _failure(runtime, ANALYST, "bare-winget")


def test_windows_update_restarts_between_passes_until_none_remain(catalog: Catalog, table_store: Any) -> None:
    """The built-in Windows Update step installs the month's update, restarts, and runs until nothing is found."""
    # After November's Patch Tuesday, before its marketplace image: the base lacks the update.
    runtime = _runtime(catalog, table_store, start=datetime(2026, 11, 11, 8, 0, tzinfo=UTC))
    build(runtime, OFFICE, "patched-build", BuildReason.FIRST)
    run = runtime.records.find_run(OFFICE, "patched-build")
    assert run is not None
    assert run.state is RunState.SUCCEEDED, run.failure_reason
    passes = [e.detail for e in runtime.records.list_events(OFFICE) if e.kind == "windows-update"]
    assert len(passes) == 3, passes
    assert passes[0].endswith("; restarting")
    assert "KB890830" in passes[1]
    assert "installed nothing" in passes[2]
    restarts = [e for e in runtime.sim.request_log if e.action.endswith("virtualMachines/restart/action")]
    assert len(restarts) == 2  # after the cumulative update, and after fslogix (restart = true)
    version = runtime.records.get_version(OFFICE, VersionNumber.parse("1.0.0"))
    base = runtime.sim.compute.marketplace_version(
        "westeurope", "MicrosoftWindowsDesktop", "windows-11", "win11-24h2-avd", "latest"
    )
    assert version.manifest.os_build != ".".join(base["name"].split(".")[:2])


def test_a_real_image_sized_inventory_is_read_whole(catalog: Catalog, table_store: Any) -> None:
    """Hundreds of apps (far over 4 KB of JSON) reach the manifest whole, and the clone matches it."""
    installs = "\n".join(
        f"& $winget install --id Contoso.LineOfBusinessApp{i:03d} --version 1.{i}.0 --scope machine" for i in range(300)
    )
    many = Customization(name="many-apps", script=f"{WINGET_RESOLVE}\n{installs}", timeout_minutes=120)
    runtime = _runtime(_with(catalog, ANALYST, many), table_store, durations={"app_install": 5})
    build(runtime, ANALYST, "big-image", BuildReason.FIRST)
    run = runtime.records.find_run(ANALYST, "big-image")
    assert run is not None
    assert run.state is RunState.SUCCEEDED, run.failure_reason
    version = runtime.records.get_version(ANALYST, VersionNumber.parse("1.0.0"))
    names = {a.name for a in version.manifest.apps}
    assert {f"Contoso.LineOfBusinessApp{i:03d}" for i in range(300)} <= names
    assert version.drift == ()


def test_bitlocker_is_decrypted_once_on_the_source_vm(catalog: Catalog, table_store: Any) -> None:
    """25H2 comes encrypted: the source VM is decrypted in the first build; no clone is ever decrypted."""
    runtime = _runtime(catalog, table_store)
    build(runtime, ANALYST, "first-build", BuildReason.FIRST)
    runtime.sim.clock.advance_to(max(PATCH_BUILD_AT, runtime.sim.clock.now() + timedelta(minutes=1)))
    build(runtime, ANALYST, "patch-build", BuildReason.PATCH)
    events = runtime.records.list_events(ANALYST)
    source = [e.detail for e in events if e.kind == "source-bitlocker"]
    assert len(source) == 2
    assert "DecryptionInProgress (100% encrypted), decryption started" in source[0]
    assert "FullyDecrypted" in source[1]
    assert "decryption started" not in source[1]
    assert not [e for e in events if e.kind == "bitlocker-decrypting"], "no clone was decrypted"
    for number in ("1.0.0", "1.0.1"):
        evidence = runtime.records.get_version(ANALYST, VersionNumber.parse(number)).bitlocker
        assert evidence is not None
        assert evidence.state_before.startswith("FullyDecrypted")
        assert evidence.prevent_device_encryption
