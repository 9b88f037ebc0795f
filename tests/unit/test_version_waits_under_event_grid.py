"""A version operation's re-checks with Event Grid on (shared.steps.versions, shared.steps.replication).

With events the re-check is only the safety net, 6 minutes past the operation's start when nothing
was measured; once the workload measured how late events come, a plain look that comes sooner
than the next event wins. Each test pins one wait a version operation schedules, as the broker
would see it (the message's scheduled time).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest

from shared.config import Settings
from shared.domain.catalog import load_catalog
from shared.domain.commands import ContinueVersion
from shared.domain.compute import GalleryVersionState, ManagedScriptResult, OperationState, RegionReplication, VmState
from shared.domain.model import PendingOperation, Stage, Status
from shared.domain.records import Changes
from shared.steps import replication
from shared.steps.deps import Deps
from shared.steps.versions import VALIDATION_COMMAND, continue_version
from tests.conftest import make_version
from tests.unit.fakes import FakeClock, FakeCompute, make_deps

ROOT = next(p for p in Path(__file__).resolve().parents if (p / "catalog").is_dir())  # also from a subfolder
CATALOG = load_catalog(ROOT / "catalog")
NOW = FakeClock().current
MINUTE_AGO = NOW - timedelta(minutes=1)
VM_NAME = "office--v1-0-1--val-validation"
SAFETY_NET = NOW + timedelta(minutes=5)  # 6 minutes past a start 1 minute ago
PLAIN = NOW + timedelta(seconds=12)  # the plain back-off: a fifth of the minute waited


@dataclass
class BusyCompute(FakeCompute):
    """The validation VM exists, still creating or running its check script (no result yet)."""

    provisioning: OperationState = OperationState.SUCCEEDED

    def get_vm(self, name: str) -> VmState | None:
        assert name == VM_NAME
        return VmState(f"/vms/{name}", name, self.provisioning, "running", False, "disk", ("nic",), "/v/1.0.1")

    def managed_script_result(self, vm: str, name: str) -> ManagedScriptResult | None:
        return None


def validating(kind: str, compute: FakeCompute, checks: int = 0) -> Deps:
    """1.0.1 READY in validation, its validate operation of `kind` started a minute ago; Event Grid on."""
    deps = make_deps(CATALOG, compute=compute)
    deps.settings = Settings(event_grid=True)
    pending = PendingOperation(kind=kind, started_at=MINUTE_AGO, checks=checks, operation=VALIDATION_COMMAND)
    version = make_version("1.0.1", status=Status.READY, stage=Stage.VALIDATION, op_attempt=2, pending=pending,
                           gallery_version_id="/v/1.0.1")  # fmt: skip
    deps.records.commit(Changes(workload="office", versions=[version]))
    return deps


def scheduled(deps: Deps, operation: str) -> object:
    command = ContinueVersion(workload="office", version="1.0.1", operation=operation, attempt=2)  # type: ignore[arg-type]
    [message] = continue_version(command, deps)
    return message.scheduled_for


@pytest.mark.parametrize(
    ("kind", "compute", "checks"),
    [
        ("validate-vm", BusyCompute(provisioning=OperationState.IN_PROGRESS), 0),  # the VM is being created
        ("validate-script", BusyCompute(), 0),  # the check script has no result yet
        ("validate-cleanup", BusyCompute(), 1),  # the VM is still being deleted
    ],
)
def test_a_validation_wait_is_the_event_safety_net(kind: str, compute: FakeCompute, checks: int) -> None:
    """With Event Grid each validation re-check comes 6 minutes after its operation started, not 15 s."""
    assert scheduled(validating(kind, compute, checks), "validate") == SAFETY_NET


def replicating(event_lag: float | None) -> Deps:
    """1.0.1 replicating to validation since a minute ago, no progress yet; Event Grid on."""
    state = GalleryVersionState(
        id="/galleries/gal_avd_images/images/win11-24h2-office/versions/1.0.1",
        name="1.0.1",
        provisioning=OperationState.SUCCEEDED,
        aggregated="InProgress",
        regions=(RegionReplication("westeurope", "InProgress", 0),),
        target_regions=("westeurope",),
        exclude_from_latest=True,
        end_of_life=None,
    )
    deps = make_deps(CATALOG, compute=FakeCompute(versions={"1.0.1": state}))
    deps.settings = Settings(event_grid=True)
    pending = PendingOperation(kind="replicate", started_at=MINUTE_AGO)
    version = make_version("1.0.1", status=Status.REPLICATING, stage=Stage.TEST, target_stage=Stage.VALIDATION,
                           op_attempt=2, pending=pending)  # fmt: skip
    pointers = deps.records.get_pointers("office").evolve(event_lag=event_lag)
    deps.records.commit(Changes(workload="office", versions=[version], pointers=pointers))
    return deps


@pytest.mark.parametrize(("event_lag", "expected"), [(None, SAFETY_NET), (100.0, PLAIN)])
def test_replication_waits_on_events_only_while_they_come_sooner_than_a_look(
    event_lag: float | None, expected: object
) -> None:
    """Events measured 100 s late: a look in 12 s is sooner, so no safety net; unmeasured: the net."""
    assert scheduled(replicating(event_lag), "replicate") == expected


def test_the_replication_verdict_uses_the_measured_event_lag() -> None:
    """judge: no progress yet, events 100 s late: look again in 12 s; without the lag, in 5 minutes."""
    version = make_version("1.0.1", status=Status.REPLICATING)
    state = GalleryVersionState(
        id="/v/1.0.1", name="1.0.1", provisioning=OperationState.SUCCEEDED, aggregated="InProgress",
        regions=(RegionReplication("westeurope", "InProgress", 0),), target_regions=("westeurope",),
        exclude_from_latest=True, end_of_life=None,
    )  # fmt: skip
    wanted = replication.target_regions(CATALOG.get("office"), Stage.VALIDATION)
    lagging = replication.judge(state, version, wanted, MINUTE_AGO, NOW, event_grid=True, event_lag=100.0)
    unmeasured = replication.judge(state, version, wanted, MINUTE_AGO, NOW, event_grid=True)
    assert (lagging.wait, unmeasured.wait) == (timedelta(seconds=12), timedelta(minutes=5))
