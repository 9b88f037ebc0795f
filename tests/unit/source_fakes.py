"""The recording compute and run context of the source VM phase's unit tests (shared.steps.build_source)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from shared.config import Settings
from shared.domain.catalog import load_catalog
from shared.domain.compute import ManagedScriptResult, OperationState, ScriptResult, VmSpec, VmState
from shared.domain.errors import AzureOperationError
from shared.domain.model import App, BuildReason, Manifest, PendingOperation, Pointers
from shared.steps import build_source as bs
from shared.steps.step_context import StepContext
from tests.unit.fakes import FakeClock, FakeCompute, step_context

ROOT = next(p for p in Path(__file__).resolve().parents if (p / "catalog").is_dir())
CATALOG = load_catalog(ROOT / "catalog")
OFFICE = CATALOG.get("office")
NOW = FakeClock().current
RG = "/subscriptions/s/resourceGroups/rg-avd-images/providers"
SRC = "office--image--src"
SRC_ID = f"{RG}/Microsoft.Compute/virtualMachines/{SRC}"
URN = "MicrosoftWindowsDesktop:windows-11:win11-24h2-avd:26100.7171.251107"


@dataclass
class GuestCompute(FakeCompute):
    """A VM's network, create, action and managed Run Commands: answers from the dicts, records every start."""

    script_results: dict[str, ScriptResult] = field(default_factory=dict)
    managed: dict[str, ManagedScriptResult] = field(default_factory=dict)

    def ensure_network(self, location: str) -> str:
        return f"subnet-in-{location}"

    def start_create_vm(self, spec: VmSpec) -> str:
        self.calls.append(("start_create_vm", spec))
        return self.id_of("Microsoft.Compute/virtualMachines", spec.name)

    def start_script(self, vm_name: str, text: str) -> str:
        self.calls.append(("start_script", (vm_name, text)))
        return "op-1"

    def script_result(self, operation: str) -> ScriptResult | None:
        return self.script_results.get(operation)

    def managed_script_result(self, vm_name: str, name: str) -> ManagedScriptResult | None:
        return self.managed.get(name)

    def start_managed_script(self, vm_name: str, name: str, text: str, timeout: timedelta, location: str) -> None:
        self.calls.append(("start_managed_script", (vm_name, name, text, timeout, location)))


@dataclass
class SourceCompute(GuestCompute):
    """Answers the VM, script and managed script reads; records every start."""

    def latest_marketplace_version(self, location: str, publisher: str, offer: str, sku: str) -> str:
        self.calls.append(("latest_marketplace_version", (location, publisher, offer, sku)))
        return self.marketplace_version

    def start_vm(self, name: str) -> None:
        self.calls.append(("start_vm", name))

    def start_restart(self, name: str) -> None:
        self.calls.append(("start_restart", name))


def context(
    compute: SourceCompute,
    pending: PendingOperation | None = None,
    workload: Any = OFFICE,
    pointers: Pointers | None = None,
    settings: Settings | None = None,
    **run: Any,
) -> StepContext:
    fields: dict[str, Any] = {"reason": BuildReason.PATCH, "started_at": NOW - timedelta(hours=1), "step": "customize"}
    return step_context(CATALOG, compute, workload=workload, pointers=pointers, settings=settings,
                        **(fields | {"pending": pending} | run))  # fmt: skip


def vm(provisioning: OperationState = OperationState.SUCCEEDED, power: str = "running") -> VmState:
    return VmState(SRC_ID, SRC, provisioning, power, False, "disk-1", (), "marketplace:urn")


def volume(status: str, percent: int) -> ScriptResult:
    return ScriptResult(stdout=json.dumps({"volumeStatus": status, "encryptionPercentage": percent}), stderr="")


OFF = PendingOperation(kind="script:source-bitlocker-off", started_at=NOW, operation="op-1")
MARKED = {bs.SOURCE_BITLOCKER: NOW - timedelta(minutes=30)}


def ran(purpose: str, stdout: str = "", state: str = "Succeeded", code: int = 0) -> tuple[PendingOperation, dict]:
    pending = PendingOperation(kind=f"managed:{purpose}", started_at=NOW, operation=f"avd-{purpose}")
    result = ManagedScriptResult(state=state, exit_code=code, stdout=stdout, stderr="", started=NOW)
    return pending, {f"avd-{purpose}": result}


def report(*kbs: str, reboot: bool = False) -> str:
    return "Searching...\n" + json.dumps({"installed": [{"kb": kb} for kb in kbs], "rebootRequired": reboot})


DONE = len(OFFICE.customizations)


def inventory(status: str = "FullyDecrypted") -> str:
    return json.dumps({"osBuild": "26100.7171", "osDisplayVersion": "24H2", "hotfixes": ["KB2", "KB1"],
                       "apps": [{"name": "Teams", "version": "2"}], "registry": {},
                       "bitlocker": {"volumeStatus": status, "encryptionPercentage": 0 if status == "FullyDecrypted" else 40}})  # fmt: skip


MANIFEST = Manifest(os_build="26100.7171", os_display_version="24H2", hotfixes=("KB1", "KB2"),
                    apps=(App(name="Teams", version="2"),))  # fmt: skip


DECRYPTING = {"source_manifest": MANIFEST, "step": "source-decrypted"}
STATUS = PendingOperation(kind="script:source-bitlocker-status", started_at=NOW - timedelta(seconds=40),
                          operation="op-1")  # fmt: skip


def operation_of(call: Any) -> str:
    with pytest.raises(AzureOperationError) as error:
        call()
    return error.value.operation
