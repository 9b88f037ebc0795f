"""The build's failure path removes everything the run made, and its replicate step waits for every test region.

step_abort (invariant 12, docs/invariants.md): the temp VM first, then the snapshot and a disk or
NIC that never got a VM, then a half-made gallery version of a failed run, which is recorded as
deleted once Azure no longer has it. step_replicate: the version is ready in test only when
replication says done; a failed region is retried, a lost version fails the run.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from datetime import timedelta
from pathlib import Path
from typing import Any

from shared.config import Settings
from shared.domain.catalog import load_catalog
from shared.domain.compute import GalleryVersionState, OperationState, RegionReplication, TargetRegion
from shared.domain.model import ImageVersion, PendingOperation, Stage, Status
from shared.steps.build_image import VERSION_DELETE_ASKED, step_abort, step_replicate
from shared.steps.step_context import StepContext
from tests.conftest import make_version
from tests.unit.fakes import FakeClock, FakeCompute, replicated, step_context

CATALOG = load_catalog(Path(__file__).resolve().parents[2] / "catalog")
NOW = FakeClock().current
RG = "/subscriptions/s/resourceGroups/rg-avd-images/providers"
VM = f"{RG}/Microsoft.Compute/virtualMachines/office--r1--vm"
SNAP = f"{RG}/Microsoft.Compute/snapshots/office--r1--snap"
DISK = f"{RG}/Microsoft.Compute/disks/office--r1--disk"
NIC = f"{RG}/Microsoft.Network/networkInterfaces/office--r1--vm-nic"
GALLERY_VERSION = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Compute/galleries/g/images/d/versions/1.0.0"


@dataclass
class StateCompute(FakeCompute):
    """FakeCompute that also answers resource_state (MISSING unless listed)."""

    states: dict[str, OperationState] = field(default_factory=dict)

    def resource_state(self, resource_id: str) -> OperationState:
        return self.states.get(resource_id, OperationState.MISSING)


def context(
    compute: StateCompute,
    version: ImageVersion | None,
    *,
    pending: PendingOperation | None = None,
    marks: tuple[str, ...] = (),
    step: str = "abort",
    event_lag: float | None = None,
) -> StepContext:
    marked = {m: NOW - timedelta(minutes=3) for m in marks}
    return step_context(CATALOG, compute, version=version, run_id="r1", started_at=NOW - timedelta(hours=1),
                        step=step, pending=pending, marks=marked, event_lag=event_lag)  # fmt: skip


def deleting(resource_id: str, checks: int = 1) -> PendingOperation:
    return PendingOperation(
        kind="delete-temp", resource_id=resource_id, started_at=NOW - timedelta(minutes=2), checks=checks
    )


def failed_version() -> ImageVersion:
    return make_version(status=Status.FAILED, gallery_version_id=GALLERY_VERSION)


# --- step_abort ---------------------------------------------------------------------------------


def test_the_failure_path_deletes_the_temp_vm_first_and_follows_every_leftover() -> None:
    """First entry: delete the VM, and remember to check the snapshot, a disk and a NIC that never got a VM."""
    compute = StateCompute()
    outcome = step_abort(context(compute, failed_version()))
    assert compute.calls == [("start_delete", VM)]
    assert outcome.pending is not None
    assert (outcome.pending.kind, outcome.pending.resource_id) == ("delete-temp", f"{VM},{SNAP},{DISK},{NIC}")
    assert (outcome.finish, outcome.fail, outcome.wait) == (False, None, timedelta(seconds=15))


def test_a_vm_still_there_is_waited_for_and_asked_again_now_and_then() -> None:
    """While the VM exists the step waits; every fifth check it asks for the delete again."""
    compute = StateCompute(states={VM: OperationState.SUCCEEDED})
    quiet = step_abort(context(compute, failed_version(), pending=deleting(VM, checks=1)))
    assert compute.calls == []
    assert quiet.pending is not None
    assert quiet.pending.checks == 2
    assert quiet.wait == timedelta(seconds=24)  # 2 minutes waited, backing off by a fifth
    step_abort(context(compute, failed_version(), pending=deleting(VM, checks=4)))
    assert compute.calls == [("start_delete", VM)]


def test_a_disk_and_nic_that_never_got_a_vm_are_deleted() -> None:
    """The VM is gone but its disk and NIC are left: both are deleted and followed, not forgotten."""
    compute = StateCompute(states={DISK: OperationState.SUCCEEDED, NIC: OperationState.FAILED})
    outcome = step_abort(context(compute, failed_version(), pending=deleting(f"{VM},{SNAP},{DISK},{NIC}")))
    assert compute.calls == [("start_delete", DISK), ("start_delete", NIC)]
    assert outcome.pending is not None
    assert (outcome.pending.kind, outcome.pending.checks) == ("delete-temp", 2)  # the same pending, looked at again
    assert not outcome.finish


def test_a_failed_runs_gallery_version_is_deleted_once_all_temp_resources_are_gone() -> None:
    """Everything temporary gone, the failed version still in the gallery: its delete is asked once and followed."""
    compute = StateCompute(versions={"1.0.0": replicated("1.0.0")})
    outcome = step_abort(context(compute, failed_version(), pending=deleting(VM)))
    assert compute.calls == [("start_delete_gallery_version", "1.0.0")]
    assert outcome.pending is not None
    assert (outcome.pending.kind, outcome.pending.resource_id) == ("delete-version", GALLERY_VERSION)
    assert outcome.run_updates == {"marks": {VERSION_DELETE_ASKED: NOW}}
    assert not outcome.finish


def test_a_gallery_version_delete_already_asked_is_not_asked_again() -> None:
    """After the mark the step only watches the version go."""
    compute = StateCompute(versions={"1.0.0": replicated("1.0.0")})
    outcome = step_abort(context(compute, failed_version(), pending=deleting(VM), marks=(VERSION_DELETE_ASKED,)))
    assert compute.calls == []
    assert outcome.pending is not None
    assert outcome.pending.kind == "delete-version"
    assert VERSION_DELETE_ASKED in outcome.run_updates["marks"]


def test_the_gone_version_is_recorded_as_deleted_by_the_cleanup() -> None:
    """Azure no longer has it: the record moves FAILED -> DELETED with the run named, and the run ends."""
    compute = StateCompute()
    outcome = step_abort(context(compute, failed_version(), pending=deleting(VM), marks=(VERSION_DELETE_ASKED,)))
    assert outcome.finish
    assert outcome.version is not None
    assert outcome.version.status is Status.DELETED
    [entry] = outcome.audit
    assert (entry.kind, entry.from_status, entry.to_status) == ("deleted", Status.FAILED, Status.DELETED)
    assert entry.detail == "gallery version 1.0.0 removed by the cleanup of failed run r1"


def test_a_deprecated_version_whose_delete_was_asked_is_recorded_as_deleted() -> None:
    """A version deprecated meanwhile but deleted by this cleanup is recorded as deleted too."""
    version = make_version(status=Status.DEPRECATED, gallery_version_id=GALLERY_VERSION)
    outcome = step_abort(context(StateCompute(), version, pending=deleting(VM), marks=(VERSION_DELETE_ASKED,)))
    assert outcome.version is not None
    assert outcome.version.status is Status.DELETED
    assert outcome.audit[0].from_status is Status.DEPRECATED


def test_a_usable_version_is_never_deleted_by_the_failure_path() -> None:
    """A version that is not FAILED (and no delete asked) is left alone: the run just ends."""
    compute = StateCompute(versions={"1.0.0": replicated("1.0.0")})
    ready = make_version(status=Status.READY, stage=Stage.TEST, gallery_version_id=GALLERY_VERSION)
    outcome = step_abort(context(compute, ready, pending=deleting(VM)))
    assert compute.calls == []
    assert (outcome.finish, outcome.version, outcome.audit) == (True, None, [])


def test_a_ready_version_gone_after_a_delete_ask_is_not_recorded_as_deleted() -> None:
    """Only a FAILED or DEPRECATED version is recorded as deleted by the cleanup."""
    ready = make_version(status=Status.READY, stage=Stage.TEST, gallery_version_id=GALLERY_VERSION)
    outcome = step_abort(context(StateCompute(), ready, pending=deleting(VM), marks=(VERSION_DELETE_ASKED,)))
    assert (outcome.finish, outcome.version, outcome.audit) == (True, None, [])


def test_a_run_without_a_version_ends_after_its_temp_resources() -> None:
    """No version record: nothing to delete in the gallery, the run ends."""
    compute = StateCompute()
    outcome = step_abort(context(compute, None, pending=deleting(VM)))
    assert (outcome.finish, compute.calls) == (True, [])


# --- step_replicate -----------------------------------------------------------------------------


def replicating() -> ImageVersion:
    return make_version(status=Status.REPLICATING, target_stage=Stage.TEST, gallery_version_id=GALLERY_VERSION)


def state(region_state: str, progress: int = 50, details: str = "") -> GalleryVersionState:
    done = replicated("1.0.0")
    region = RegionReplication("westeurope", region_state, progress, details)
    return GalleryVersionState(
        id=done.id,
        name=done.name,
        provisioning=done.provisioning,
        aggregated="Completed" if region_state == "Completed" else "InProgress",
        regions=(region,),
        target_regions=done.target_regions,
        exclude_from_latest=True,
        end_of_life=None,
    )


def test_replication_complete_makes_the_version_ready_in_test_and_starts_its_validation() -> None:
    """Every test region Completed: READY in test, the test pointer moves, validation in test starts."""
    compute = StateCompute(versions={"1.0.0": state("Completed", 100)})
    outcome = step_replicate(context(compute, replicating(), step="replicate"))
    assert outcome.finish
    assert outcome.version is not None
    assert (outcome.version.status, outcome.version.stage) == (Status.READY, Stage.TEST)
    assert outcome.pointers is not None
    assert str(outcome.pointers.test) == "1.0.0"
    [entry] = outcome.audit
    assert (entry.kind, entry.from_status, entry.to_status, entry.stage) == (
        "ready",
        Status.REPLICATING,
        Status.READY,
        Stage.TEST,
    )
    assert entry.detail == "Win11 | Office | v1.0 | 2026-11 replicated to westeurope; ready in test"
    [message] = outcome.then
    assert json.loads(message.body)["operation"] == "validate"


def test_replication_in_progress_is_waited_for_from_when_it_started() -> None:
    """Half done after 10 minutes: look again when it should end, timed from the pending start."""
    compute = StateCompute(versions={"1.0.0": state("Replicating", 50)})
    started = PendingOperation(kind="replication", resource_id=GALLERY_VERSION, started_at=NOW - timedelta(minutes=10))
    outcome = step_replicate(context(compute, replicating(), pending=started, step="replicate"))
    assert (outcome.finish, outcome.version) == (False, None)
    assert outcome.pending is not None
    assert (outcome.pending.kind, outcome.pending.checks) == ("replication", 1)
    assert outcome.wait == timedelta(minutes=8)  # predicted 10 min 27 s, capped at the longest look
    first = step_replicate(context(compute, replicating(), step="replicate"))
    assert first.pending is not None
    assert (first.pending.resource_id, first.pending.started_at) == (GALLERY_VERSION, NOW)
    assert first.wait == timedelta(seconds=15)  # nothing elapsed yet: the shortest look


def test_a_failed_region_is_retried_and_the_retry_recorded() -> None:
    """A Failed region re-applies the target regions once, counted on the version, with an audit entry."""
    compute = StateCompute(versions={"1.0.0": state("Failed", 10, "disk error")})
    outcome = step_replicate(context(compute, replicating(), step="replicate"))
    assert outcome.version is not None
    assert outcome.version.replication_retries == {"westeurope": 1}
    assert [c[0] for c in compute.calls] == ["update_gallery_version"]
    [entry] = outcome.audit
    assert entry.kind == "replication-retried"
    assert outcome.pending is not None
    assert outcome.pending.kind == "replication"
    assert outcome.wait == timedelta(seconds=15)


def test_a_gallery_version_lost_during_replication_fails_the_run() -> None:
    """No gallery version any more: the run fails with the reason, nothing is marked ready."""
    outcome = step_replicate(context(StateCompute(), replicating(), step="replicate"))
    assert outcome.fail == "gallery version 1.0.0 no longer exists"
    assert (outcome.finish, outcome.version, outcome.pointers) == (False, None, None)


@dataclass
class RecordingStateCompute(StateCompute):
    """Also records the gallery and definition of reads and updates."""

    def get_gallery_version(self, gallery: str, definition: str, version: str) -> GalleryVersionState | None:
        self.calls.append(("get", (gallery, definition, version)))
        return super().get_gallery_version(gallery, definition, version)

    def update_gallery_version(self, gallery: str, definition: str, version: str, **changes: Any) -> None:
        self.calls.append(("update", (gallery, definition, version, changes)))


def test_replication_is_read_and_retried_in_the_workloads_own_definition() -> None:
    """The read and the retry name gal_avd_images/win11-24h2-office; the retry re-sends the test regions."""
    compute = RecordingStateCompute(versions={"1.0.0": state("Failed", 10, "disk error")})
    step_replicate(context(compute, replicating(), step="replicate"))
    assert compute.calls == [
        ("get", ("gal_avd_images", "win11-24h2-office", "1.0.0")),
        ("update", ("gal_avd_images", "win11-24h2-office", "1.0.0",
                    {"target_regions": (TargetRegion("westeurope", 1, "Standard_ZRS"),)})),
    ]  # fmt: skip


def test_a_retry_keeps_azures_own_target_list() -> None:
    """Azure's replica counts and storage types are sent back unchanged on a retry."""
    azure_has = (TargetRegion("westeurope", 3, "Premium_LRS"),)
    compute = RecordingStateCompute(versions={"1.0.0": replace(state("Failed", 10), targets=azure_has)})
    step_replicate(context(compute, replicating(), step="replicate"))
    assert compute.calls[-1] == (
        "update",
        ("gal_avd_images", "win11-24h2-office", "1.0.0", {"target_regions": azure_has}),
    )


def test_with_event_grid_a_stalled_test_replication_waits_on_the_safety_net() -> None:
    """No progress after 10 minutes, events at once: the longest look (8 min), not a fifth of the wait."""
    compute = StateCompute(versions={"1.0.0": state("Replicating", 0)})
    started = PendingOperation(kind="replication", resource_id=GALLERY_VERSION, started_at=NOW - timedelta(minutes=10))
    ctx = context(compute, replicating(), pending=started, step="replicate", event_lag=0.0)
    ctx.deps.settings = Settings(event_grid=True)
    assert step_replicate(ctx).wait == timedelta(minutes=8)


def test_a_failed_runs_version_is_read_and_deleted_in_the_workloads_definition() -> None:
    """The gallery and definition are named in the read and the delete; the delete is followed on the back-off."""

    @dataclass
    class Named(StateCompute):
        named: list[tuple[str, str, str, str]] = field(default_factory=list)

        def get_gallery_version(self, gallery: str, definition: str, version: str) -> GalleryVersionState | None:
            self.named.append(("get", gallery, definition, version))
            return super().get_gallery_version(gallery, definition, version)

        def start_delete_gallery_version(self, gallery: str, definition: str, version: str) -> None:
            self.named.append(("delete", gallery, definition, version))

    compute = Named(versions={"1.0.0": replicated("1.0.0")})
    outcome = step_abort(context(compute, failed_version(), pending=deleting(VM)))
    assert compute.named == [
        ("get", "gal_avd_images", "win11-24h2-office", "1.0.0"),
        ("delete", "gal_avd_images", "win11-24h2-office", "1.0.0"),
    ]
    assert outcome.wait == timedelta(seconds=15)


def test_a_vm_delete_is_asked_again_every_fifth_check() -> None:
    """Checks 4 and 9 ask again; 5 does not."""
    for checks, asked in ((4, True), (5, False), (9, True)):
        compute = StateCompute(states={VM: OperationState.SUCCEEDED})
        step_abort(context(compute, failed_version(), pending=deleting(VM, checks=checks)))
        assert (compute.calls == [("start_delete", VM)]) is asked
