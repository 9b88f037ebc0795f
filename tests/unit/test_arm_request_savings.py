"""ARM requests a lifecycle need not send (issue 16: arm_requests_first <= 60).

Each was a read whose answer the handler already had: the validation VM the check script had
just run on, the replication state of a version promoted between stages sharing their regions,
and an early re-check that a late event about another operation on the validation VM caused.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from shared.domain.catalog import load_catalog
from shared.domain.commands import ContinueVersion, Promote
from shared.domain.compute import GalleryVersionState, VmState
from shared.domain.model import PendingOperation, Stage, Status, ValidationEvidence, VersionNumber
from shared.domain.records import Changes
from shared.messagebus import MessageBus
from shared.steps.events import route_event
from tests.conftest import T0, make_version
from tests.unit.fakes import ISSUER, FakeCompute, make_deps

CATALOG = load_catalog(Path(__file__).resolve().parents[2] / "catalog")
V100 = VersionNumber.parse("1.0.0")
VM_NAME = "data-analyst--v1-0-0--val-test"
VM_URI = f"/subscriptions/s/resourceGroups/rg-avd-images/providers/Microsoft.Compute/virtualMachines/{VM_NAME}"


@dataclass
class CountingCompute(FakeCompute):
    """FakeCompute that also records its reads (VMs and gallery versions)."""

    vms: dict[str, VmState] = field(default_factory=dict)
    reads: list[tuple[str, Any]] = field(default_factory=list)

    def get_vm(self, name: str) -> VmState | None:
        self.reads.append(("get_vm", name))
        return self.vms.get(name)

    def get_gallery_version(self, gallery: str, definition: str, version: str) -> GalleryVersionState | None:
        self.reads.append(("get_gallery_version", version))
        return super().get_gallery_version(gallery, definition, version)


def in_cleanup(checks: int) -> Any:
    return make_version(
        "1.0.0",
        workload="data-analyst",
        status=Status.READY,
        stage=Stage.TEST,
        op_attempt=3,
        pending=PendingOperation(kind="validate-cleanup", resource_id=VM_NAME, started_at=T0, checks=checks),
    )


def continue_validation(compute: CountingCompute, checks: int) -> None:
    deps = make_deps(CATALOG, compute=compute)
    deps.records.commit(Changes(workload="data-analyst", versions=[in_cleanup(checks)]))
    command = ContinueVersion(workload="data-analyst", version="1.0.0", operation="validate", attempt=3)
    MessageBus(deps).handle(command)


def test_the_first_cleanup_pass_deletes_the_validation_vm_without_reading_it() -> None:
    """Right after the check script ran on it, the validation VM is deleted at once: no GET before the DELETE."""
    compute = CountingCompute()
    continue_validation(compute, checks=0)
    assert compute.reads == []
    assert [name for name, _ in compute.calls] == ["start_delete"]


def test_a_later_cleanup_pass_reads_whether_the_vm_is_gone() -> None:
    """Re-checks still read the VM: a delete that was lost is asked again only while the VM exists."""
    compute = CountingCompute()
    continue_validation(compute, checks=1)
    assert compute.reads == [("get_vm", VM_NAME)]
    assert compute.calls == []  # gone: nothing to delete


def test_promotion_between_stages_sharing_regions_completes_without_reading_the_version() -> None:
    """Test -> validation adds no region: the replicate step moves the pointer without a gallery GET."""
    compute = CountingCompute()
    deps = make_deps(CATALOG, compute=compute)
    tested = make_version(
        "1.0.0",
        workload="data-analyst",
        status=Status.READY,
        stage=Stage.TEST,
        validations=(ValidationEvidence(stage=Stage.TEST, passed=True, at=T0, region="westeurope"),),
        gallery_version_id="/v/1.0.0",
    )
    deps.records.commit(Changes(workload="data-analyst", versions=[tested]))
    bus = MessageBus(deps)
    token = ISSUER.token_for("data-lead@contoso.com")
    sent = bus.handle(
        Promote(
            workload="data-analyst",
            version="1.0.0",
            target_stage=Stage.VALIDATION,
            approver_token=token,
            requested_at=T0,
        )
    )
    for envelope in sent:
        bus.handle(ContinueVersion.model_validate_json(envelope.body))
    version = deps.records.get_version("data-analyst", V100)
    assert (version.status, version.stage) == (Status.READY, Stage.VALIDATION)
    assert deps.records.get_pointers("data-analyst").validation == V100
    assert compute.reads == []


def arm(operation: str, event_type: str) -> dict[str, object]:
    return {
        "id": "1",
        "eventType": event_type,
        "eventTime": datetime(2026, 11, 2, tzinfo=T0.tzinfo).isoformat(),
        "data": {"operationName": operation, "resourceUri": VM_URI},
    }


def test_a_late_event_about_another_operation_on_the_validation_vm_continues_nothing() -> None:
    """While the VM is being deleted, its Run Command's late write event is ignored; its delete event continues."""
    deps = make_deps(CATALOG)
    deps.records.commit(Changes(workload="data-analyst", versions=[in_cleanup(1)]))
    late = arm("Microsoft.Compute/virtualMachines/write", "Microsoft.Resources.ResourceWriteSuccess")
    sent, why = route_event(late, deps)
    assert sent == []
    assert "waits for validate-cleanup" in why
    deleted = arm("Microsoft.Compute/virtualMachines/delete", "Microsoft.Resources.ResourceDeleteSuccess")
    sent, _ = route_event(deleted, deps)
    assert [ContinueVersion.model_validate_json(e.body).operation for e in sent] == ["validate"]
