"""Cold path: the host's indexing import and each function's first invocation load only what they use.

The Functions host imports function_app.py to index the functions, and the first invocation of a
function builds its wiring; every module imported there is cold-start time. azure-mgmt-network
alone took ~0.7 s. Each check runs in a fresh interpreter so nothing is imported already.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest

from scripts.with_azurite import connection_string
from shared.adapters.table_records import TableRecordStore
from tests.conftest import azurite_connection_string

ROOT = Path(__file__).resolve().parents[2]
POOL = (
    "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg-avd-hosts"
    "/providers/Microsoft.DesktopVirtualization/hostPools/hp-office"
)
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
import json, logging, sys
from datetime import UTC, datetime

import azure.functions as func

import function_app

logging.basicConfig(level=logging.INFO, format="%(message)s")

def heavy():
    wanted = json.loads(sys.argv[1])
    return sorted({m for m in sys.modules if any(m == w or m.startswith(w + ".") for w in wanted)})

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


def probe(resource_type: str, catalog: Path = ROOT / "catalog", **settings: str) -> dict[str, Any]:
    """Import function_app and invoke arm_events once, in a fresh interpreter with production wiring:
    the heavy modules loaded by indexing and by the first event, and what the function logged."""
    env = {
        "PATH": "/usr/bin:/bin",
        "AVD_CATALOG_PATH": str(catalog),
        "AVD_TABLES_CONNECTION_STRING": connection_string(10002),  # production wiring; never built here
        "ServiceBusConnection__fullyQualifiedNamespace": "sb-test.servicebus.windows.net",
        **settings,
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
    found: dict[str, Any] = json.loads(result.stdout.strip().splitlines()[-1])
    found["log"] = result.stderr
    return found


def test_indexing_and_a_foreign_disk_event_load_no_client_settings_or_domain() -> None:
    """Indexing imports no Azure client; an event about a disk the app did not name is ignored at sight:
    no Settings (pydantic-settings), no table client, no ARM SDK, no catalog, no Entra ID."""
    found = probe("Microsoft.Compute/disks")
    assert found["indexed"] == []
    assert found["first_event"] == []


def test_a_foreign_vm_event_loads_no_client_records_or_catalog_when_no_host_pool_is_declared() -> None:
    """A VM the app did not name matters only to a host pool rollout; with none in the catalog's files
    the event is ignored from them and Settings alone: no table client, catalog, router or ARM SDK."""
    found = probe("Microsoft.Compute/virtualMachines")
    assert {m.split(".")[0] for m in found["first_event"]} == {"pydantic_settings", "shared"}
    assert [m for m in found["first_event"] if m.startswith("shared.")] == ["shared.config"]
    assert "ignored: not-ours is not a resource the product created" in found["log"]


@pytest.mark.azurite
def test_a_foreign_vm_event_reads_the_rollouts_when_a_host_pool_is_declared(tmp_path: Path) -> None:
    """With a host pool declared, the rollout records are read (a rollout may wait on the VM), yet the
    ARM SDK, Service Bus, azure-identity and PyJWT (the CLI's sign-in) stay unloaded."""
    catalog = tmp_path / "catalog"
    shutil.copytree(ROOT / "catalog", catalog)
    office = catalog / "office.toml"
    office.write_text(office.read_text(encoding="utf-8") + f'\n[[host_pools]]\nid = "{POOL}"\n', encoding="utf-8")
    table = f"t{uuid.uuid4().hex[:20]}"
    try:
        found = probe(
            "Microsoft.Compute/virtualMachines",
            catalog,
            AVD_TABLES_CONNECTION_STRING=azurite_connection_string(),
            AVD_TABLE_NAME=table,
        )
    finally:
        TableRecordStore.from_connection_string(azurite_connection_string(), table)._table.delete_table()
    assert "azure.data.tables" in found["first_event"]
    assert not any(
        m.startswith(("azure.mgmt", "azure.servicebus", "azure.identity", "jwt")) for m in found["first_event"]
    )
    assert "ignored: not-ours is not a resource the product created" in found["log"]
