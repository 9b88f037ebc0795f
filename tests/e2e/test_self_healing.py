"""Self-healing (issue 13): every run ends, and reconcile converges the records with the gallery.

Each test is one scenario an operator met on the product before: a fault that left a run stuck
or the records disagreeing with Azure. The faults are made the way an operator would make them
(a resource deleted by hand through ARM, Table Storage failing, approvals racing a step).
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest

from localrun.faults import RG, FailingCommits, at_step, delete_by_hand, operator, refusals_before
from localrun.runtime import LocalRuntime
from localrun.scenario import approvers_of, build, promote, rollback, to_production
from shared.domain import naming
from shared.domain.catalog import Catalog
from shared.domain.compute import RUN_TAG
from shared.domain.model import BuildReason, RunState, Stage, Status, VersionNumber
from shared.domain.records import Changes

WORKLOAD = "data-analyst"
SYSPREP, FIRST = '"step":"sysprep"', '"run_id":"first-build"'


def leftovers(runtime: LocalRuntime) -> list[str]:
    return [r["name"] for r in runtime.sim.live_resources(tag=RUN_TAG)]


def assert_ended_and_unblocked(runtime: LocalRuntime, words: str) -> None:
    run = runtime.records.find_run(WORKLOAD, "first-build")
    assert run is not None
    assert run.state is RunState.FAILED, f"run still {run.state.value} at {run.step}"
    assert words in run.failure_reason
    assert runtime.records.get_pointers(WORKLOAD).active_run is None
    assert leftovers(runtime) == []
    build(runtime, WORKLOAD, "retry-1", BuildReason.PATCH)  # a failed run never blocks the next
    assert runtime.records.find_run(WORKLOAD, "retry-1").state is RunState.SUCCEEDED  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("step", "kind", "settle"),
    [
        ("deallocate", "vm", 0),  # the temp VM vanishes mid-step
        ("capture", "vm", 300),  # the generalized temp VM vanishes before capture
        ("temp-vm", "disk", 120),  # the cloned disk vanishes before its VM is made (its NIC exists)
    ],
    ids=["vm-during-deallocate", "vm-before-capture", "disk-before-temp-vm"],
)
def test_a_temp_resource_deleted_by_hand_fails_the_run_and_cleans_up(
    catalog: Catalog, step: str, kind: str, settle: int
) -> None:
    """A temp resource deleted outside the product fails the run with that reason; no VM, disk or NIC stays."""
    runtime = LocalRuntime(catalog)
    name = naming.temp_resource_name(WORKLOAD, "first-build", kind)

    def delete() -> None:
        delete_by_hand(runtime, kind, name)
        runtime.sim.clock.advance(settle)  # the delete completes before the step runs

    hit = at_step(runtime, step, delete)
    build(runtime, WORKLOAD, "first-build", BuildReason.FIRST)
    assert hit
    assert_ended_and_unblocked(runtime, "deleted outside the product")
    assert runtime.bus.unconsumed_dead_letters == []
    nics = [r for r in runtime.sim.live_resources() if r["type"].endswith("networkInterfaces")]
    assert [n["name"] for n in nics if "first-build" in n["name"]] == []


def test_ten_failed_commits_in_a_row_dead_letter_the_step_and_the_run_fails_cleanly(catalog: Catalog) -> None:
    """A step dead-lettered by a storage outage fails its run with the reason; cleanup removes everything."""
    for step in ("disk", "bitlocker", "sysprep"):
        store = FailingCommits(step, 10)
        runtime = LocalRuntime(catalog, records=store)
        build(runtime, WORKLOAD, "first-build", BuildReason.FIRST)
        assert store.failed == 10, step
        assert len(runtime.bus.dead_letters) == 1, step
        assert_ended_and_unblocked(runtime, "dead-lettered")


def test_a_lost_step_message_is_ended_by_the_watchdog(catalog: Catalog) -> None:
    """A run whose next message never comes is failed by the hourly watchdog, cleaned up, and unblocks."""
    runtime = LocalRuntime(catalog)
    original = runtime.bus.send
    lost: list[str] = []

    def send(envelopes: Any) -> None:
        kept = []
        for envelope in envelopes:
            if envelope.subject == "continue-run" and all(f in envelope.body for f in (SYSPREP, FIRST)):
                lost.append(envelope.message_id)  # Service Bus lost it (or it was deleted from the queue)
                continue
            kept.append(envelope)
        original(kept)

    runtime.bus.send = send  # type: ignore[method-assign]
    runtime.start_timers()
    build(runtime, WORKLOAD, "first-build", BuildReason.FIRST)
    runtime.run_until(runtime.sim.clock.now() + timedelta(hours=8))
    assert lost
    assert_ended_and_unblocked(runtime, "no progress in step")


def test_reconcile_hides_a_newer_version_when_an_older_one_is_promoted_to_production(catalog: Catalog) -> None:
    """Exactly the production version is visible to 'latest', whatever order promotions completed in."""
    runtime = LocalRuntime(catalog)
    build(runtime, WORKLOAD, "first-build", BuildReason.FIRST)
    promote(runtime, WORKLOAD, "1.0.0", Stage.VALIDATION)
    build(runtime, WORKLOAD, "patch-1", BuildReason.PATCH)
    promote(runtime, WORKLOAD, "1.0.1", Stage.VALIDATION)
    promote(runtime, WORKLOAD, "1.0.1", Stage.PRODUCTION)
    promote(runtime, WORKLOAD, "1.0.0", Stage.PRODUCTION)  # the older one last
    assert str(runtime.records.get_pointers(WORKLOAD).production) == "1.0.0"
    definition = runtime.catalog.get(WORKLOAD).gallery.definition
    image = f"/subscriptions/{runtime.settings.subscription_id}/resourceGroups/{RG}/providers/Microsoft.Compute/galleries/gal_avd_images/images/{definition}"
    assert runtime.sim.gallery.resolve_for_deployment(image, "westeurope").res.name == "1.0.0"


def test_after_a_rollback_dr_serves_a_deployable_version(catalog: Catalog) -> None:
    """DR that served the withdrawn version is moved to the restored one once it is replicated there."""
    runtime = LocalRuntime(catalog)
    build(runtime, WORKLOAD, "first-build", BuildReason.FIRST)
    to_production(runtime, WORKLOAD, "1.0.0", dr=False)
    build(runtime, WORKLOAD, "patch-1", BuildReason.PATCH)
    to_production(runtime, WORKLOAD, "1.0.1", dr=True)
    rollback(runtime, WORKLOAD)  # reconcile runs after the pointer move, and again until DR converged
    pointers = runtime.records.get_pointers(WORKLOAD)
    assert (str(pointers.production), str(pointers.dr)) == ("1.0.0", "1.0.0")
    definition = runtime.catalog.get(WORKLOAD).gallery.definition
    image = f"/subscriptions/{runtime.settings.subscription_id}/resourceGroups/{RG}/providers/Microsoft.Compute/galleries/gal_avd_images/images/{definition}"
    assert runtime.sim.gallery.resolve_for_deployment(image, "swedencentral").res.name == "1.0.0"
    health = runtime.records.get_health(WORKLOAD)
    assert health is not None
    assert health.healthy, health


def test_a_version_deleted_by_hand_is_recorded_and_the_rollback_pointer_repaired(catalog: Catalog) -> None:
    """The rollback target deleted in the portal: recorded as such, the pointer moves, nothing dead-letters."""
    runtime = LocalRuntime(catalog)
    build(runtime, WORKLOAD, "first-build", BuildReason.FIRST)
    to_production(runtime, WORKLOAD, "1.0.0", dr=False)
    build(runtime, WORKLOAD, "patch-1", BuildReason.PATCH)
    to_production(runtime, WORKLOAD, "1.0.1", dr=False)
    assert str(runtime.records.get_pointers(WORKLOAD).rollback) == "1.0.0"
    definition = runtime.catalog.get(WORKLOAD).gallery.definition
    operator(runtime).gallery_image_versions.begin_delete(RG, "gal_avd_images", definition, "1.0.0", polling=False)
    runtime.run()  # the delete completes; its event asks for a reconcile pass
    gone = runtime.records.get_version(WORKLOAD, VersionNumber.parse("1.0.0"))
    assert gone.status is Status.DELETED
    assert "deleted outside the product" in gone.failure_reason
    assert runtime.records.get_pointers(WORKLOAD).rollback is None
    rollback(runtime, WORKLOAD)
    assert any("no rollback target" in r.reason for r in runtime.records.list_rejections())
    runtime.tick_retention()
    runtime.run()
    assert runtime.bus.dead_letters == [m for m in runtime.bus.dead_letters if m.reason == "Rejected"]
    assert str(runtime.records.get_pointers(WORKLOAD).production) == "1.0.1"


def test_a_burst_of_refused_approvals_never_dead_letters_a_step(catalog: Catalog) -> None:
    """Refusals between a step's read and its commit write rows of their own: the step commits."""
    runtime = LocalRuntime(catalog)
    build(runtime, WORKLOAD, "first-build", BuildReason.FIRST)
    promote(runtime, WORKLOAD, "1.0.0", Stage.VALIDATION)

    def completes_production(changes: Changes) -> bool:
        return any(v.status is Status.READY and v.stage is Stage.PRODUCTION for v in changes.versions)

    with refusals_before(runtime, WORKLOAD, "1.0.0", completes_production) as burst:
        promote(runtime, WORKLOAD, "1.0.0", Stage.PRODUCTION)
    assert burst
    assert all("replicating to production" in r for r in burst), burst
    assert runtime.bus.dead_letters == []
    assert str(runtime.records.get_pointers(WORKLOAD).production) == "1.0.0"


def test_a_rollback_to_a_version_deleted_by_hand_is_refused_with_the_reason(catalog: Catalog) -> None:
    """Before any reconcile noticed the deletion (events lost), the rollback is kept as refused, not dead-lettered."""
    runtime = LocalRuntime(catalog, event_grid=False)
    build(runtime, WORKLOAD, "first-build", BuildReason.FIRST)
    to_production(runtime, WORKLOAD, "1.0.0", dr=False)
    build(runtime, WORKLOAD, "patch-1", BuildReason.PATCH)
    to_production(runtime, WORKLOAD, "1.0.1", dr=False)
    definition = runtime.catalog.get(WORKLOAD).gallery.definition
    operator(runtime).gallery_image_versions.begin_delete(RG, "gal_avd_images", definition, "1.0.0", polling=False)
    runtime.sim.clock.advance(600)  # the delete completes; its event is lost
    body = json.dumps(
        {
            "action": "rollback",
            "workload": WORKLOAD,
            "version": "1.0.1",
            "approver_token": runtime.issuer.token_for(approvers_of(WORKLOAD, Stage.PRODUCTION)[0]),
            "requested_at": runtime.sim.clock.now().isoformat(),
        }
    )
    handled = runtime.entrypoints.approval("rollback-1", body)
    runtime.run()
    assert "deleted outside the product" in handled.rejected
    assert [r.message_id for r in runtime.records.list_rejections()] == ["rollback-1"]
    assert runtime.records.get_pointers(WORKLOAD).rollback is None  # reconcile repaired it
    assert str(runtime.records.get_pointers(WORKLOAD).production) == "1.0.1"
    image = f"/subscriptions/{runtime.settings.subscription_id}/resourceGroups/{RG}/providers/Microsoft.Compute/galleries/gal_avd_images/images/{definition}"
    assert runtime.sim.gallery.resolve_for_deployment(image, "westeurope").res.name == "1.0.1"
