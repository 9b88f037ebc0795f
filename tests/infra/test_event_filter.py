"""Infra's Event Grid filter delivers exactly the ARM operations the event router handles.

Before, the filter (prefixes on virtualMachines/ and galleries/images/versions/) left out the
disk and snapshot completions the router continues clone steps on, so in Azure those steps
waited for their safety-net re-check. The router's table and the Bicep list are compared here.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from shared.domain.catalog import load_catalog
from shared.steps.event_sight import OPERATION_NAMES
from shared.steps.events import route_event
from tests.unit.fakes import make_deps

REPO = Path(__file__).resolve().parents[2]
BICEP = REPO / "infra" / "modules" / "eventgrid.bicep"
LIST = re.compile(r"^var routedOperations = \[\n(?P<body>.*?)^\]", re.MULTILINE | re.DOTALL)
URIS = {
    "microsoft.compute/virtualmachines": "Microsoft.Compute/virtualMachines/someone-elses-vm",
    "microsoft.compute/virtualmachines/runcommands": (
        "Microsoft.Compute/virtualMachines/someone-elses-vm/runCommands/avd-inventory"
    ),
    "microsoft.compute/virtualmachines/extensions": (
        "Microsoft.Compute/virtualMachines/someone-elses-vm/extensions/Microsoft.PowerShell.DSC"
    ),
    "microsoft.compute/disks": "Microsoft.Compute/disks/someone-elses-disk",
    "microsoft.compute/snapshots": "Microsoft.Compute/snapshots/someone-elses-snapshot",
    "microsoft.compute/galleries/images/versions": "Microsoft.Compute/galleries/other/images/other/versions/1.0.0",
    "microsoft.network/networkinterfaces": "Microsoft.Network/networkInterfaces/someone-elses-nic",
}


def filtered_operations() -> list[str]:
    """The operation names in the `routedOperations` list of eventgrid.bicep."""
    match = LIST.search(BICEP.read_text(encoding="utf-8"))
    assert match, "eventgrid.bicep declares no `var routedOperations = [...]`"
    return [line.strip().strip("'") for line in match["body"].splitlines() if line.strip()]


def event(operation: str) -> dict[str, object]:
    """An ARM success event for a resource of the operation's type that the product does not own."""
    kind = operation.lower().rsplit("/", 2 if operation.endswith("/action") else 1)[0]
    uri = f"/subscriptions/s/resourceGroups/rg/providers/{URIS[kind]}"
    return {
        "id": "e1",
        "eventType": "Microsoft.Resources.ResourceActionSuccess",
        "eventTime": "2026-11-02T09:00:00Z",
        "data": {"operationName": operation, "resourceUri": uri, "status": "Succeeded"},
    }


def test_filter_equals_what_the_router_handles() -> None:
    """The Bicep filter lists each operation the router handles, once, and nothing else (disks and snapshots too)."""
    filtered = filtered_operations()
    assert len(filtered) == len(set(filtered))
    assert sorted(filtered) == sorted(OPERATION_NAMES)
    assert "Microsoft.Compute/disks/write" in filtered
    assert "Microsoft.Compute/snapshots/write" in filtered
    assert len(filtered) <= 25  # Event Grid's limit on values across advanced filters


@pytest.mark.parametrize("operation", OPERATION_NAMES)
def test_router_handles_every_filtered_operation(operation: str) -> None:
    """An event the filter lets through reaches the resource lookup, not the 'completes nothing' exit."""
    deps = make_deps(load_catalog(REPO / "catalog"))
    sent, why = route_event(event(operation), deps)
    assert sent == []
    assert "completes nothing" not in why, why
    assert why.startswith("ignored: ")


@pytest.mark.parametrize(
    "operation",
    [
        "Microsoft.Network/networkInterfaces/delete",
        "Microsoft.Compute/virtualMachines/restart/action",
        "Microsoft.Compute/virtualMachineScaleSets/write",
    ],
)
def test_router_ignores_operations_outside_the_filter(operation: str) -> None:
    """An operation the filter leaves out is one the router would drop anyway, with the reason."""
    deps = make_deps(load_catalog(REPO / "catalog"))
    raw = event("Microsoft.Compute/virtualMachines/write")
    raw["data"] = {**raw["data"], "operationName": operation}  # type: ignore[dict-item]
    sent, why = route_event(raw, deps)
    assert sent == []
    assert "completes nothing the pipeline waits for" in why
