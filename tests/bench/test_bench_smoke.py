"""A fast subset of `make bench` and `make reliability`: counts and correctness, never wall time."""

from __future__ import annotations

import pytest

from benchmarks import reliability
from benchmarks.__main__ import ARM_TARGET, TRIPS_TARGET
from benchmarks.common import Probe, critical_path, repo_catalog
from benchmarks.concurrency import lifecycles
from localrun.runtime import LocalRuntime
from shared.domain.catalog import Catalog
from shared.domain.compute import RUN_TAG
from tests.e2e.scenario import full_lifecycle

WORKLOAD = "data-analyst"


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return repo_catalog()


@pytest.fixture(scope="module")
def measured(catalog: Catalog) -> tuple[LocalRuntime, Probe]:
    runtime = LocalRuntime(catalog)
    probe = Probe(runtime)
    full_lifecycle(runtime)
    probe.close()
    return runtime, probe


def test_a_patch_lifecycle_stays_within_the_arm_request_budget(measured: tuple[LocalRuntime, Probe]) -> None:
    """Build -> validation -> production of a workload that exists already sends at most 60 ARM requests."""
    _, probe = measured
    patch = probe.phases[4:7]
    assert [p.label.split()[0] for p in patch] == ["build", "promote", "promote"]
    assert sum(probe.requests(p)["total"] for p in patch) <= ARM_TARGET


def test_the_first_lifecycle_costs_at_most_its_one_time_setup_more(measured: tuple[LocalRuntime, Probe]) -> None:
    """The first lifecycle exceeds the budget only by setup done once per workload (network, source VM, definition)."""
    _, probe = measured
    first = sum(probe.requests(p)["total"] for p in probe.phases[0:3])
    patch = sum(probe.requests(p)["total"] for p in probe.phases[4:7])
    assert first - patch <= 12


def test_no_phase_beats_its_critical_path(measured: tuple[LocalRuntime, Probe]) -> None:
    """The critical-path model is a lower bound: every phase's virtual time is at least its unavoidable time."""
    runtime, probe = measured
    for phase in probe.phases:
        unavoidable = sum(op.seconds for op in critical_path(runtime, probe, phase))
        assert phase.busy_seconds >= unavoidable - 1e-6, phase.label


def test_every_commit_is_a_counted_transition(measured: tuple[LocalRuntime, Probe]) -> None:
    """The probe attributes every commit of the lifecycle to a handler invocation."""
    _, probe = measured
    stats = probe.transition_stats()
    assert stats["transitions"] == probe.commits
    assert stats["transitions"] > 30


def test_round_trips_per_transition_are_at_most_two(measured: tuple[LocalRuntime, Probe]) -> None:
    """A state transition costs at most two Table round trips: one read, one transaction."""
    _, probe = measured
    assert probe.transition_stats()["per_transition_committing"] <= TRIPS_TARGET


def test_three_concurrent_lifecycles_all_reach_production() -> None:
    """Three workloads built and promoted at once in one runtime all end in production with nothing left over."""
    result = lifecycles(3)
    assert result["runs"] == {"succeeded": 3}
    assert result["in_production"] == 3
    assert (result["dead_letters"], result["failed_versions"], result["leaked"]) == (0, 0, 0)


def test_duplicate_delivery_of_every_message_completes_without_duplicates(catalog: Catalog) -> None:
    """Every message handled twice: the lifecycle completes with one version and no leftovers."""
    fault = reliability.duplicated(catalog)
    assert [v.outcome for v in fault.verdicts] == ["completed"] * len(catalog.names)
    assert (fault.leaked, fault.duplicates) == (0, 0)


def test_reordered_delivery_completes_both_workloads(catalog: Catalog) -> None:
    """Two sessions interleaving with jittered delivery still take both workloads to production."""
    fault = reliability.reordered(catalog, seeds=1)
    assert [v.outcome for v in fault.verdicts] == ["completed", "completed"]
    assert (fault.leaked, fault.duplicates) == (0, 0)


@pytest.mark.parametrize("when", ["before", "after"])
def test_a_crash_around_an_azure_call_is_recovered(catalog: Catalog, when: str) -> None:
    """A host crash just before or just after an Azure call of the build ends in the same completed lifecycle."""
    runtime = LocalRuntime(catalog)
    counting = reliability.CrashingCompute(runtime)
    reliability.lifecycle(runtime, WORKLOAD)
    assert counting.calls > 20
    runtime = LocalRuntime(catalog)
    crashing = reliability.CrashingCompute(runtime, at=8, when=when)
    reliability.tolerate_event_crashes(runtime)
    reliability.lifecycle(runtime, WORKLOAD)
    assert crashing.crashed
    verdict = reliability.judge(runtime, WORKLOAD)
    assert (verdict.outcome, verdict.leaked, verdict.duplicates) == ("completed", 0, 0)


def test_a_crash_after_a_promotions_gallery_update_is_recovered(catalog: Catalog) -> None:
    """A crash after the promotion's gallery update, before its commit, still ends in production."""
    runtime = LocalRuntime(catalog)
    crashing = reliability.CrashingCompute(runtime, at=1, when="after", only="update_gallery_version")
    reliability.tolerate_event_crashes(runtime)
    reliability.lifecycle(runtime, WORKLOAD)
    assert crashing.crashed == ["after update_gallery_version"]
    assert reliability.judge(runtime, WORKLOAD).outcome == "completed"


def test_a_short_429_storm_is_absorbed_by_the_sdk_retries(catalog: Catalog) -> None:
    """Three throttled answers in a row are retried by azure-core (Retry-After) and the lifecycle completes."""
    runtime = LocalRuntime(catalog)
    runtime.sim.faults.throttle(storm_requests=3, retry_after=1)
    reliability.lifecycle(runtime, WORKLOAD)
    assert reliability.judge(runtime, WORKLOAD).outcome == "completed"


def test_a_429_storm_does_not_fail_the_build(catalog: Catalog) -> None:
    """Throttling is transient: a storm of 20 throttled requests delays the lifecycle but does not fail it."""
    runtime = LocalRuntime(catalog)
    runtime.sim.faults.throttle(storm_requests=20, retry_after=1)
    reliability.lifecycle(runtime, WORKLOAD)
    assert reliability.judge(runtime, WORKLOAD).outcome == "completed"


@pytest.mark.parametrize(("times", "outcome"), [(1, "completed"), (5, "failed")])
def test_a_failing_replication_region_is_retried_then_fails_with_a_reason(
    catalog: Catalog, times: int, outcome: str
) -> None:
    """One replication failure is retried to completion; five fail the version with a reason and leave nothing."""
    runtime = LocalRuntime(catalog)
    runtime.sim.faults.replication_fails("westeurope", times=times)
    reliability.lifecycle(runtime, WORKLOAD)
    verdict = reliability.judge(runtime, WORKLOAD)
    assert verdict.outcome == outcome
    assert times == 1 or "westeurope" in verdict.reason
    assert runtime.sim.live_resources(tag=RUN_TAG) == []


def test_a_failed_snapshot_fails_the_lifecycle_with_a_reason_and_no_leftovers(catalog: Catalog) -> None:
    """An LRO ending Failed fails the run with a reason naming the resource; nothing temporary is left."""
    runtime = LocalRuntime(catalog)
    runtime.sim.faults.lro_fails("Microsoft.Compute/snapshots/write")
    reliability.lifecycle(runtime, WORKLOAD)
    verdict = reliability.judge(runtime, WORKLOAD)
    assert verdict.outcome == "failed"
    assert "snapshot" in verdict.reason
    assert (verdict.leaked, verdict.duplicates) == (0, 0)


def test_the_bad_input_corpus_is_refused_with_reasons(catalog: Catalog) -> None:
    """Every bad approval, event, step message and catalog file is refused with a reason; none is lost."""
    classes = reliability.bad_input(catalog)
    for fault in classes:
        assert fault.count("lost") == 0, [v for v in fault.verdicts if v.outcome == "lost"]
        assert not fault.notes, fault.notes
