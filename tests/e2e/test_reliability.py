"""At-least-once delivery, crashes between an Azure call and its commit, and Azure failures."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from localrun.runtime import LocalRuntime
from localrun.scenario import CrashingStore, build, full_lifecycle
from shared.adapters.guest_scripts import WINGET_RESOLVE
from shared.config import Settings
from shared.domain.catalog import Catalog, Customization
from shared.domain.compute import RUN_TAG
from shared.domain.model import BuildReason, RunState, Status, VersionNumber
from simulator import Simulator

WORKLOAD = "data-analyst"
V100 = VersionNumber.parse("1.0.0")


def end_state(runtime: LocalRuntime, workload: str = WORKLOAD) -> dict[str, Any]:
    """Everything that must not differ between a clean run and a disturbed one."""
    records = runtime.records
    return {
        "versions": [
            (str(v.version), v.status, v.stage, v.manifest.digest(), v.display_name, len(v.validations))
            for v in records.list_versions(workload)
        ],
        # took and event_lag are timings a redelivery moves (shared/steps/history.py), not state;
        # the decrypted source disk is named by Azure (a new GUID in each world): whether one is kept
        "pointers": records.get_pointers(workload).model_dump(
            exclude={"event_count", "last_rollback", "took", "event_lag", "source_decrypted"}
        ),
        "source_decrypted": bool(records.get_pointers(workload).source_decrypted),
        "audit": [(str(e.version), e.kind, e.actor) for e in records.list_events(workload) if e.version is not None],
        "runs": [(r.run_id, r.state, r.failure_reason) for r in records.list_runs(workload)],
        "resources": sorted((r["type"], r["name"]) for r in runtime.sim.live_resources() if "OsDisk" not in r["name"]),
    }


def test_every_message_delivered_twice_ends_the_same(
    catalog: Catalog, runtime_factory: Callable[..., LocalRuntime]
) -> None:
    """Duplicate delivery of every message changes nothing: same versions, records and resources."""
    clean = LocalRuntime(catalog)
    full_lifecycle(clean)
    doubled = runtime_factory(catalog, deliver_twice=True)
    full_lifecycle(doubled)
    assert end_state(doubled) == end_state(clean)
    assert doubled.bus.dead_letters == []


def at_once(catalog: Catalog, records: CrashingStore | None = None) -> LocalRuntime:
    """Event Grid delivering at once: every kind of commit a build makes, without the extra looks
    late events bring (each one more commit of the same kind, a pending's check count; `make
    reliability` crashes before every commit with late events, docs/reliability.md)."""
    simulator = Simulator(subscription_id=Settings().subscription_id, auto_advance_on_poll=False, event_latency=(0, 0))
    return LocalRuntime(catalog, records=records, simulator=simulator)


def test_a_crash_before_each_commit_is_recovered_by_redelivery(catalog: Catalog) -> None:
    """For every commit of a build, a crash after its Azure calls and a redelivery end in the same state."""
    clean = at_once(catalog)
    build(clean, WORKLOAD, "first-build", BuildReason.FIRST)
    expected = end_state(clean)
    total = CrashingStore()
    at_once(catalog, records=total)
    counted = at_once(catalog, records=total)
    build(counted, WORKLOAD, "first-build", BuildReason.FIRST)
    assert total.commits > 15
    for crash_at in range(1, total.commits + 1):
        store = CrashingStore(crash_at=crash_at)
        runtime = at_once(catalog, records=store)
        build(runtime, WORKLOAD, "first-build", BuildReason.FIRST)
        assert store.crashed, f"commit {crash_at} never happened"
        assert end_state(runtime) == expected, (
            f"crash before commit {crash_at} ({store.crashed[0]}) changed the outcome"
        )
        assert runtime.bus.stats.redelivered >= 1


@pytest.mark.parametrize(
    ("inject", "reason"),
    [
        (
            lambda sim: sim.faults.sysprep_fails("Fatal error occurred while trying to sysprep the machine."),
            "sysprep failed",
        ),
        (
            lambda sim: sim.faults.replication_fails("westeurope", times=5),
            "replication of 1.0.0 to westeurope failed 3 times",
        ),
        (lambda sim: sim.faults.lro_fails("Microsoft.Compute/snapshots/write"), "snapshot"),
    ],
    ids=["sysprep", "replication-region", "lro-failed"],
)
def test_failures_end_the_run_with_a_reason_and_no_leftovers(
    catalog: Catalog, runtime_factory: Callable[..., LocalRuntime], inject: Callable[[Any], None], reason: str
) -> None:
    """A failed step fails the run and the version with a readable reason and removes every temp resource."""
    runtime = runtime_factory(catalog)
    inject(runtime.sim)
    build(runtime, WORKLOAD, "doomed-build", BuildReason.FIRST)
    run = runtime.records.find_run(WORKLOAD, "doomed-build")
    assert run is not None
    assert run.state is RunState.FAILED
    assert reason in run.failure_reason
    version = runtime.records.find_version(WORKLOAD, V100)
    if version is not None:  # retention may have deprecated it, or the run's cleanup deleted it; the reason stays
        assert version.status in (Status.FAILED, Status.DEPRECATED, Status.DELETED)
        assert reason in version.failure_reason
        details = [e.detail for e in runtime.records.list_events(WORKLOAD, V100)]
        assert not [d for d in details if "deleted outside the product" in d]  # the product knows it deleted it
    assert runtime.sim.live_resources(tag=RUN_TAG) == []
    gallery = catalog.get(WORKLOAD).gallery
    assert runtime.compute.get_gallery_version(gallery.name, gallery.definition, "1.0.0") is None
    assert runtime.records.get_pointers(WORKLOAD).active_run is None


def test_sysprep_failure_reports_the_log_lines(catalog: Catalog) -> None:
    """An app installed for one user breaks sysprep; the run records Azure's setuperr.log lines."""
    user_app = f"{WINGET_RESOLVE}\n& $winget install --id Contoso.Notes --version 1.2.0 --scope user --silent"
    changed = [
        w.model_copy(
            update={
                "customizations": (
                    *w.customizations,
                    Customization(name="notes", script=user_app),
                )
            }
        )
        if w.name == WORKLOAD
        else w
        for w in catalog.workloads
    ]
    runtime = LocalRuntime(Catalog(workloads=tuple(changed)))
    build(runtime, WORKLOAD, "user-app", BuildReason.FIRST)
    run = runtime.records.find_run(WORKLOAD, "user-app")
    assert run is not None
    assert run.state is RunState.FAILED
    assert "was installed for a user, but not provisioned for all users" in run.failure_reason
    assert "0x80073cf2" in run.failure_reason
