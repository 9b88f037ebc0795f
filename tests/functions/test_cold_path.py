"""Cold path: the host's indexing import and each function's first invocation load only what they use.

The Functions host imports function_app.py to index the functions, and the first invocation of a
function builds its wiring; every module imported there is cold-start time. azure-mgmt-network
alone took ~0.7 s. Each check runs in a fresh interpreter so nothing is imported already.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from scripts.with_azurite import connection_string

ROOT = Path(__file__).resolve().parents[2]
HEAVY = (
    "azure.mgmt",
    "azure.servicebus",
    "azure.identity",
    "azure.data.tables",
    "shared.adapters.azure_compute",
    "pydantic_settings",
    "jwt",
    "shared.config",
    "shared.entrypoints",
    "shared.domain.catalog",
)

PROBE = """
import json, sys
from datetime import UTC, datetime

import azure.functions as func

import function_app

def heavy():
    return sorted({m for m in sys.modules if m.startswith(tuple(json.loads(sys.argv[1])))})

indexed = heavy()
functions = {f.get_function_name(): f.get_user_function() for f in function_app.app.get_functions()}
event = func.EventGridEvent(
    id="e1",
    data={"operationName": sys.argv[2] + "/write",
          "resourceUri": "/subscriptions/s/resourceGroups/rg/providers/" + sys.argv[2] + "/not-ours"},
    topic="/subscriptions/s/resourceGroups/rg", subject="s",
    event_type="Microsoft.Resources.ResourceWriteSuccess",
    event_time=datetime(2026, 11, 2, tzinfo=UTC), data_version="2",
)
functions["arm_events"](event)
print(json.dumps({"indexed": indexed, "first_event": heavy()}))
"""


def probe(resource_type: str) -> dict[str, list[str]]:
    """Import function_app and invoke arm_events once, in a fresh interpreter with production wiring."""
    env = {
        "PATH": "/usr/bin:/bin",
        "AVD_CATALOG_PATH": str(ROOT / "catalog"),
        "AVD_TABLES_CONNECTION_STRING": connection_string(10002),  # production wiring; never built here
        "ServiceBusConnection__fullyQualifiedNamespace": "sb-test.servicebus.windows.net",
    }
    result = subprocess.run(  # noqa: S603 - our own interpreter and a fixed script
        [sys.executable, "-c", PROBE, json.dumps(HEAVY), resource_type],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    found: dict[str, list[str]] = json.loads(result.stdout.strip().splitlines()[-1])
    return found


def test_indexing_and_a_foreign_disk_event_load_no_client_settings_or_domain() -> None:
    """Indexing imports no Azure client; an event about a disk the app did not name is ignored at sight:
    no Settings (pydantic-settings), no table client, no ARM SDK, no catalog, no Entra ID."""
    found = probe("Microsoft.Compute/disks")
    assert found["indexed"] == []
    assert found["first_event"] == []


def test_a_foreign_vm_event_loads_the_records_but_no_arm_bus_or_sign_in_client() -> None:
    """A VM the app did not name may be a session host a rollout waits on: the records are read, yet
    the ARM SDK, Service Bus, azure-identity and PyJWT (the CLI's sign-in) stay unloaded."""
    found = probe("Microsoft.Compute/virtualMachines")
    assert "azure.data.tables" in found["first_event"]
    assert not any(
        m.startswith(("azure.mgmt", "azure.servicebus", "azure.identity", "jwt")) for m in found["first_event"]
    )
