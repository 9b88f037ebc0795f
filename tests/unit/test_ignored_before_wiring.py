"""An ARM event about a VM the product did not name is ignored before any wiring when the catalog's
files declare no host pool, with the router's own note; anything unclear goes to the router."""

from __future__ import annotations

import dataclasses
import shutil
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from shared.adapters.hostpools_records import EntityRolloutRecords
from shared.domain.catalog import load_catalog
from shared.domain.catalog_glance import may_declare_host_pools
from shared.steps.event_sight import ignored_unless_a_rollout_waits
from shared.steps.events import route_event
from tests.unit.fakes import make_deps

CATALOG_DIR = Path(__file__).resolve().parents[2] / "catalog"
VMS = "/subscriptions/s/resourceGroups/rg-hosts/providers/Microsoft.Compute/virtualMachines"
POOL = "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg-avd-hosts/providers/Microsoft.DesktopVirtualization/hostPools/hp-office"


def event(uri: str, operation: str = "Microsoft.Compute/virtualMachines/write", **changes: Any) -> dict[str, Any]:
    raw: dict[str, Any] = {
        "id": "e1",
        "eventType": "Microsoft.Resources.ResourceWriteSuccess",
        "eventTime": datetime(2026, 11, 2, tzinfo=UTC).isoformat(),
        "data": {"operationName": operation, "resourceUri": uri},
    }
    return raw | changes


def catalog_with(tmp_path: Path, extra: str) -> Path:
    """The repository's catalog, with `extra` appended to office.toml."""
    folder = tmp_path / "catalog"
    shutil.copytree(CATALOG_DIR, folder)
    office = folder / "office.toml"
    office.write_text(office.read_text(encoding="utf-8") + extra, encoding="utf-8")
    return folder


def test_the_repository_catalog_declares_no_host_pool() -> None:
    """Its host pool is a commented example, so no rollout can wait on a session host."""
    assert may_declare_host_pools(CATALOG_DIR) is False
    assert not any(w.host_pools for w in load_catalog(CATALOG_DIR).workloads)


def test_a_declared_host_pool_is_seen(tmp_path: Path) -> None:
    """A `[[host_pools]]` table in any workload file means a rollout may wait."""
    folder = catalog_with(tmp_path, f'\n[[host_pools]]\nid = "{POOL}"\nrollout = "manual"\n')
    assert may_declare_host_pools(folder) is True
    assert any(w.host_pools for w in load_catalog(folder).workloads)


def test_an_empty_host_pool_list_declares_none(tmp_path: Path) -> None:
    """`host_pools = []` is no host pool, as the loaded catalog reads it."""
    folder = catalog_with(tmp_path, "")
    office = folder / "office.toml"
    office.write_text("host_pools = []\n" + office.read_text(encoding="utf-8"), encoding="utf-8")
    assert may_declare_host_pools(folder) is False
    assert not any(w.host_pools for w in load_catalog(folder).workloads)


@pytest.mark.parametrize("case", ["missing folder", "no files", "bad TOML", "bad UTF-8"])
def test_an_unclear_catalog_may_declare_host_pools(tmp_path: Path, case: str) -> None:
    """Whatever the glance cannot read is left to the loaded catalog, which decides or says what is wrong."""
    folder = tmp_path / "catalog"
    if case != "missing folder":
        folder.mkdir()
    if case == "bad TOML":
        (folder / "office.toml").write_text("name = \n", encoding="utf-8")
    if case == "bad UTF-8":
        (folder / "office.toml").write_bytes(b'name = "\xff"\n')
    assert may_declare_host_pools(folder) is True


@pytest.mark.parametrize(
    "uri",
    [f"{VMS}/host-7", f"{VMS}/host-7/extensions/Microsoft.PowerShell.DSC", f"{VMS}/office--run-1--vm/extensions/x"],
)
def test_the_note_is_the_routers_when_no_rollout_waits(uri: str) -> None:
    """Ignored before wiring with exactly the note the router gives when no workload has a host pool."""
    deps = make_deps(load_catalog(CATALOG_DIR))
    deps = dataclasses.replace(deps, rollouts=EntityRolloutRecords(deps.records))
    why = ignored_unless_a_rollout_waits(event(uri))
    assert why.startswith("ignored: ")
    assert route_event(event(uri), deps) == ([], why)


@pytest.mark.parametrize(
    "raw",
    [
        event(f"{VMS}/office--run-1--vm"),  # a build's VM: a run may wait on it
        event(f"{VMS}/office--v1-2-3--val-vm"),  # a validation VM
        event(
            "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Compute/galleries/g/images/office/versions/1.0.0",
            "Microsoft.Compute/galleries/images/versions/write",
        ),
        event(f"{VMS}/host-7", eventTime="not a time"),  # malformed: the router refuses it with the reason
        event(f"{VMS}/office--run-1--vm/runCommands/validate", "Microsoft.Compute/virtualMachines/runCommands/write"),
    ],
)
def test_what_a_build_may_wait_for_or_is_malformed_goes_to_the_router(raw: dict[str, Any]) -> None:
    """Only a VM the product did not name (or its extension) is decided before wiring."""
    assert ignored_unless_a_rollout_waits(raw) == ""
