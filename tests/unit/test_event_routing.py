"""Routing of ARM events (shared.steps.events.route_event) to the run or version waiting for them.

The messages an event leads to (a run woken with the event's delivery lag, a version's operation
continued, a retention check per 12-minute bucket, a reconcile after a deletion by hand) and the
one line the log shows when it leads to nothing, read from what this instance committed or, when
it committed nothing, from the store.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from shared.domain.catalog import load_catalog
from shared.domain.commands import ContinueRun, ContinueVersion, Envelope, Prune, Reconcile
from shared.domain.model import BuildReason, PendingOperation, Pointers, Run, RunState, Status
from shared.domain.records import Changes
from shared.steps.deps import Deps
from shared.steps.events import route_event
from tests.conftest import make_version
from tests.unit.fakes import FakeClock, make_deps

ROOT = next(p for p in Path(__file__).resolve().parents if (p / "catalog").is_dir())
CATALOG = load_catalog(ROOT / "catalog")
NOW = FakeClock().current  # 2026-11-02 08:00 UTC
RG = "/subscriptions/s/resourceGroups/rg-avd-images/providers"
SNAP = f"{RG}/Microsoft.Compute/snapshots/office--run-1--snap"
SOURCE = f"{RG}/Microsoft.Compute/virtualMachines/office--image--src"
GALLERY = f"{RG}/Microsoft.Compute/galleries/gal_avd_images/images/win11-24h2-office/versions"
WRITE, DELETE = "Microsoft.Resources.ResourceWriteSuccess", "Microsoft.Resources.ResourceDeleteSuccess"


def arm(operation: str, uri: str, event_type: str = WRITE, at: str = "2026-11-02T07:59:30Z") -> dict[str, Any]:
    return {"id": "e1", "eventType": event_type, "eventTime": at, "data": {"operationName": operation,
            "resourceUri": uri}}  # fmt: skip


def run(kind: str = "snapshot", resource: str = SNAP, **changes: Any) -> Run:
    """A run at step `kind` (unless `step` says otherwise) waiting for `resource`."""
    step = changes.pop("step", kind)
    pending = PendingOperation(kind=kind, resource_id=resource, started_at=NOW - timedelta(minutes=2))
    fields: dict[str, Any] = {"workload": "office", "run_id": "run-1", "reason": BuildReason.PATCH,
                              "requested_by": "a@b.c", "started_at": NOW, "step": step, "pending": pending}  # fmt: skip
    return Run(**(fields | changes))


def deps_with(*, forget: bool = False, **changes: Any) -> Deps:
    """Records committed by this instance; `forget`: as another instance, which recalls nothing."""
    deps = make_deps(CATALOG)
    deps.records.commit(Changes(workload="office", **changes))
    if forget:
        deps.records.__dict__.pop("_recent", None)
    return deps


def woken(lag: float, step: str = "snapshot") -> Envelope:
    position = ContinueRun(workload="office", run_id="run-1", step=step, attempt=0, trigger="event", event_lag=lag)
    return Envelope.wrap(position)


@pytest.mark.parametrize("forget", [False, True])
def test_an_event_on_the_resource_a_run_waits_for_wakes_it_with_its_lag(forget: bool) -> None:
    """The snapshot's write, 30 s late: the run is continued by the event, its lag recorded (recalled or loaded)."""
    deps = deps_with(run=run(), forget=forget)
    sent, why = route_event(arm("Microsoft.Compute/snapshots/write", SNAP), deps)
    assert sent == [woken(30.0)]
    assert why == "continues run run-1 of office at snapshot"


@pytest.mark.parametrize(
    ("at", "lag"),
    [
        ("2026-11-02T08:59:00+01:00", 60.0),  # an offset is an instant, not a UTC wall clock
        ("2026-11-02T07:58:00", 120.0),  # no offset: UTC
        ("2026-11-02T08:00:00Z", 0.0),
        ("2026-11-02T08:01:00Z", 0.0),  # ahead of this instance's clock: never negative
    ],
)
def test_the_lag_counts_from_the_events_instant_and_is_never_negative(at: str, lag: float) -> None:
    """The lag is now minus eventTime, naive times read as UTC, clock skew clamped to 0."""
    deps = deps_with(run=run())
    sent, _ = route_event(arm("Microsoft.Compute/snapshots/write", SNAP, at=at), deps)
    assert sent == [woken(lag)]


def test_an_event_on_the_source_vm_wakes_the_active_run() -> None:
    """'image' names the source VM: the workload's active run is the one woken, if there is one."""
    waiting = run("vm-start", SOURCE)
    deps = deps_with(run=waiting, pointers=Pointers(workload="office", active_run="run-1"), forget=True)
    sent, why = route_event(arm("Microsoft.Compute/virtualMachines/start/action", SOURCE), deps)
    assert (sent, why) == ([woken(30.0, "vm-start")], "continues run run-1 of office at vm-start")
    idle = deps_with(run=waiting, pointers=Pointers(workload="office"))
    assert route_event(arm("Microsoft.Compute/virtualMachines/start/action", SOURCE), idle) == (
        [],
        "ignored: no run of office is active",
    )


@pytest.mark.parametrize(
    "record",
    [
        run(state=RunState.FAILED),  # ended, though its pending was never cleared
        run(pending=None),
        run(run_id="run-2"),  # another run than the one the name says
    ],
)
def test_a_run_that_waits_for_nothing_is_not_woken(record: Run) -> None:
    """A run not running, waiting for nothing, or not recorded: the event is ignored, saying so."""
    deps = deps_with(run=record)
    assert route_event(arm("Microsoft.Compute/snapshots/write", SNAP), deps) == (
        [],
        "ignored: run run-1 of office waits for nothing",
    )


def test_a_run_waiting_for_another_resource_is_not_woken() -> None:
    """The run waits for its disk: the snapshot's late event is ignored, naming what it waits for."""
    disk = SNAP.replace("snapshots", "disks").replace("snap", "disk")
    deps = deps_with(run=run("disk", disk, event_lag=40.0))
    assert route_event(arm("Microsoft.Compute/snapshots/write", SNAP), deps) == (
        [],
        "ignored: run run-1 waits for disk, not office--run-1--snap",
    )


NIC = f"{RG}/Microsoft.Network/networkInterfaces/office--image--src-nic"
ACTIVE = Pointers(workload="office", active_run="run-1")


def test_a_run_that_measured_no_delay_learns_it_from_another_resources_event() -> None:
    """The source VM's NIC is made seconds into its create: its event 30 s late wakes the run with
    that delay, so the VM create is looked at instead of waiting for its own late event."""
    deps = deps_with(run=run("vm-create", SOURCE, step="source-vm"), pointers=ACTIVE)
    assert route_event(arm("Microsoft.Network/networkInterfaces/write", NIC), deps) == (
        [woken(30.0, "source-vm")],
        "run run-1 of office learns that events come 30 s late",
    )


def test_an_event_on_time_measures_the_delay_too() -> None:
    """Delivered 10 s after it happened (sooner than any look): the run learns that events come at
    once, so its looks become the safety net instead of going on as if events were late."""
    deps = deps_with(run=run("vm-create", SOURCE, step="source-vm"), pointers=ACTIVE)
    assert route_event(arm("Microsoft.Network/networkInterfaces/write", NIC, at="2026-11-02T07:59:50Z"), deps) == (
        [woken(10.0, "source-vm")],
        "run run-1 of office learns that events come 10 s late",
    )


def test_another_resources_event_wakes_no_run_once_a_delay_is_measured() -> None:
    """Once the run has measured a delay, another resource's event is ignored as before."""
    deps = deps_with(run=run("vm-create", SOURCE, step="source-vm", event_lag=40.0), pointers=ACTIVE)
    assert route_event(arm("Microsoft.Network/networkInterfaces/write", NIC, at="2026-11-02T07:59:30Z"), deps) == (
        [],
        "ignored: run run-1 waits for vm-create, not office--image--src-nic",
    )


LONG = "r" * 90


@pytest.mark.parametrize(
    ("name", "why"),
    [
        (f"unknown--{LONG}--disk", f"ignored: {f'unknown--{LONG}--disk'[:80]} is not a resource the product created"),
        (f"office--v{LONG}--val-disk", f"ignored: {f'office--v{LONG}--val-disk'[:80]} names no version"),
        (f"office--R{LONG}--disk", f"ignored: {f'office--R{LONG}--disk'[:80]} names no run"),
    ],
)
def test_names_the_product_cannot_read_are_quoted_to_80_characters(name: str, why: str) -> None:
    """An unknown workload, a validation name without a version, a name without a run id: quoted, cut at 80."""
    uri = f"{RG}/Microsoft.Compute/disks/{name}"
    assert route_event(arm("Microsoft.Compute/disks/write", uri), make_deps(CATALOG)) == ([], why)


def test_an_extension_nobody_waits_for_is_quoted_to_200_characters() -> None:
    """A VM extension no rollout waits on: ignored, its URI cut at 200 characters."""
    uri = f"{RG}/Microsoft.Compute/virtualMachines/host-1/extensions/{'x' * 250}"
    sent, why = route_event(arm("Microsoft.Compute/virtualMachines/extensions/write", uri), make_deps(CATALOG))
    assert (sent, why) == ([], f"ignored: {uri[:200]} is not a resource the product manages")


VAL_VM = f"{RG}/Microsoft.Compute/virtualMachines/office--v1-0-0--val-vm"


def validating(kind: str | None) -> Any:
    pending = None if kind is None else PendingOperation(kind=kind, started_at=NOW)
    return make_version(status=Status.READY, pending=pending, op_attempt=2)


def test_the_validation_vms_write_continues_its_validation() -> None:
    """validate-vm waits for the VM's write: the version's validation is continued by the event."""
    deps = deps_with(versions=[validating("validate-vm")], forget=True)
    sent, why = route_event(arm("Microsoft.Compute/virtualMachines/write", VAL_VM), deps)
    expected = ContinueVersion(workload="office", version="1.0.0", operation="validate", attempt=2, trigger="event")
    assert (sent, why) == ([Envelope.wrap(expected)], "continues validation of office 1.0.0")


@pytest.mark.parametrize("kind", [None, "capture"])
def test_a_validation_vm_event_nobody_waits_for_is_ignored(kind: str | None) -> None:
    """No pending operation, or one that is no version operation: nothing waits on the VM."""
    deps = deps_with(versions=[validating(kind)])
    sent, why = route_event(arm("Microsoft.Compute/virtualMachines/write", VAL_VM), deps)
    assert (sent, why) == ([], "ignored: nothing waits on office--v1-0-0--val-vm")
    unknown = route_event(arm("Microsoft.Compute/virtualMachines/write", VAL_VM), make_deps(CATALOG))
    assert unknown == ([], "ignored: nothing waits on office--v1-0-0--val-vm")


# --- gallery versions ----------------------------------------------------------------------------


def capturing(**changes: Any) -> Any:
    return make_version(**({"status": Status.CAPTURING, "run_id": "run-1"} | changes))


def at_capture(**run_changes: Any) -> dict[str, Any]:
    return {"versions": [capturing()], "run": run("capture", f"{GALLERY}/1.0.0", **run_changes),
            "pointers": Pointers(workload="office", active_run="run-1")}  # fmt: skip


def test_the_captured_versions_write_wakes_its_run_and_asks_for_retention() -> None:
    """Capturing with its run active: the run is woken (with its lag) and retention checked in its 12-min bucket."""
    deps = deps_with(**at_capture(), forget=True)
    sent, why = route_event(arm("Microsoft.Compute/galleries/images/versions/write", f"{GALLERY}/1.0.0",
                                at="2026-11-02T07:59:30Z"), deps)  # fmt: skip
    prune = Prune(workload="office", requested_at=datetime(2026, 11, 2, 7, 48, tzinfo=UTC))
    assert sent == [woken(30.0, "capture"), Envelope.wrap(prune)]
    assert why == "office 1.0.0: continues run run-1, retention check"


@pytest.mark.parametrize(
    "changes",
    [
        {"versions": [capturing(status=Status.READY)]},  # captured already
        {"versions": [capturing(run_id="run-0")]},  # another run's version
        {"run": run("capture", f"{GALLERY}/1.0.0", state=RunState.FAILED)},
        {"pointers": Pointers(workload="office")},  # no active run
    ],
)
def test_only_the_capturing_versions_own_running_run_is_woken(changes: dict[str, Any]) -> None:
    """Not capturing, another run's, its run ended, or no active run: no wake, only the retention check."""
    deps = deps_with(**(at_capture() | changes))
    sent, why = route_event(arm("Microsoft.Compute/galleries/images/versions/write", f"{GALLERY}/1.0.0"), deps)
    assert [e.subject for e in sent] == ["prune"]
    assert why == "office 1.0.0: retention check"


def test_a_version_waiting_on_an_operation_is_continued() -> None:
    """A version replicating: its replicate operation is continued by the event, with its attempt."""
    deps = deps_with(versions=[make_version(status=Status.REPLICATING, op_attempt=3,
                                            pending=PendingOperation(kind="replicate", started_at=NOW))])  # fmt: skip
    sent, why = route_event(arm("Microsoft.Compute/galleries/images/versions/write", f"{GALLERY}/1.0.0",
                                event_type="Microsoft.Resources.ResourceWriteFailure"), deps)  # fmt: skip
    expected = ContinueVersion(workload="office", version="1.0.0", operation="replicate", attempt=3, trigger="event")
    assert (sent, why) == ([Envelope.wrap(expected)], "office 1.0.0: continues replicate of 1.0.0")


def test_a_version_waiting_on_another_kind_of_operation_is_not_continued() -> None:
    """A pending operation that is no version operation (the run's capture): no ContinueVersion."""
    deps = deps_with(versions=[make_version(status=Status.READY, pending=PendingOperation(kind="x", started_at=NOW))])
    failed = arm("Microsoft.Compute/galleries/images/versions/write", f"{GALLERY}/1.0.0",
                 event_type="Microsoft.Resources.ResourceWriteFailure")  # fmt: skip
    assert route_event(failed, deps) == ([], "office 1.0.0: nothing to do")


def test_a_failed_write_of_an_unknown_version_leads_to_nothing() -> None:
    """A failure event asks for no retention check; an unrecorded version wakes nothing."""
    failed = arm("Microsoft.Compute/galleries/images/versions/write", f"{GALLERY}/1.0.0",
                 event_type="Microsoft.Resources.ResourceWriteFailure")  # fmt: skip
    assert route_event(failed, make_deps(CATALOG)) == ([], "office 1.0.0: nothing to do")


def test_a_deletion_by_hand_asks_for_a_reconcile_after_the_event() -> None:
    """A recorded version deleted by someone else: retention and a reconcile marked as asked by the event."""
    deps = deps_with(versions=[make_version(status=Status.READY)])
    sent, why = route_event(arm("Microsoft.Compute/galleries/images/versions/delete", f"{GALLERY}/1.0.0",
                                event_type=DELETE, at="2026-11-02T08:13:00+00:00"), deps)  # fmt: skip
    at = datetime(2026, 11, 2, 8, 13, tzinfo=UTC)
    prune = Prune(workload="office", requested_at=datetime(2026, 11, 2, 8, 12, tzinfo=UTC))
    assert sent == [Envelope.wrap(prune), Envelope.wrap(Reconcile(workload="office", requested_at=at, after="event"))]
    assert why == "office 1.0.0: retention check, deleted outside the product: reconcile"


@pytest.mark.parametrize(
    ("at", "bucket"),
    [
        ("2026-11-02T09:05:00+01:00", datetime(2026, 11, 2, 8, 0, tzinfo=UTC)),
        ("2026-11-02T08:23:59", datetime(2026, 11, 2, 8, 12, tzinfo=UTC)),  # no offset: UTC
        ("2026-11-02T08:24:00Z", datetime(2026, 11, 2, 8, 24, tzinfo=UTC)),
    ],
)
def test_retention_checks_coalesce_per_12_minute_bucket(at: str, bucket: datetime) -> None:
    """The retention check is asked for the start of the event's 12-minute bucket (UTC, from the epoch)."""
    deps = make_deps(CATALOG)
    sent, _ = route_event(arm("Microsoft.Compute/galleries/images/versions/write", f"{GALLERY}/1.0.0", at=at), deps)
    assert sent == [Envelope.wrap(Prune(workload="office", requested_at=bucket))]


@pytest.mark.parametrize(
    ("uri", "why"),
    [
        (f"{RG}/Microsoft.Compute/galleries/gal_avd_images/images/other/versions/1.0.0",
         "ignored: gal_avd_images/other is not in the catalog"),
        (f"{GALLERY}/latest", "ignored: not a version name"),
    ],
)  # fmt: skip
def test_gallery_versions_outside_the_catalog_or_unnamed_are_ignored(uri: str, why: str) -> None:
    """A definition no workload uses, or a version name that is no number: ignored, saying which."""
    assert route_event(arm("Microsoft.Compute/galleries/images/versions/write", uri), make_deps(CATALOG)) == ([], why)


def test_an_event_about_an_unrecorded_version_reads_only_the_version() -> None:
    """No version recorded: one read for it, and no read of the pointers (no run can wait on it)."""
    deps = make_deps(CATALOG)
    route_event(arm("Microsoft.Compute/galleries/images/versions/write", f"{GALLERY}/1.0.0"), deps)
    assert deps.records.round_trips == 1  # type: ignore[attr-defined]
