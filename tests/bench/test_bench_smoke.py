"""A fast subset of `make bench` and `make reliability`: counts and correctness, never wall time."""

from __future__ import annotations

import pytest

from benchmarks import reference, reliability
from benchmarks.common import (
    FIRST_LIFECYCLE,
    PATCH_LIFECYCLE,
    PREPARE_PHASE,
    Phase,
    Probe,
    reference_path,
    reference_paths,
    repo_catalog,
)
from benchmarks.concurrency import lifecycles
from benchmarks.lifecycle import make_simulator
from benchmarks.scale import sweep_arm_reads
from benchmarks.store import IndexedMemoryRecordStore
from benchmarks.targets import TARGETS, verdict
from localrun.runtime import LocalRuntime
from localrun.scenario import full_lifecycle
from shared.adapters.memory_records import MemoryRecordStore
from shared.domain.catalog import Catalog, SecurityType
from shared.domain.commands import StartBuild
from shared.domain.compute import RUN_TAG
from simulator.durations import DEFAULT_DURATIONS

WORKLOAD = "data-analyst"
ARM_TARGET = TARGETS["arm_requests_first"][1]
# measured 99 (patch, events 10-120 s late); 152 since looks come finer while events are late
# (waits.FINE, waits.LAG_SHARE); 180 before waits used measured durations
LATE_EVENTS_BUDGET = 170
AT_ONCE_BUDGET = ARM_TARGET  # measured 49 (patch) with events delivered at once, as the benchmark counts


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return repo_catalog()


@pytest.fixture(scope="module")
def measured(catalog: Catalog) -> tuple[LocalRuntime, Probe]:
    runtime = LocalRuntime(catalog, records=IndexedMemoryRecordStore())
    probe = Probe(runtime)
    full_lifecycle(runtime)
    probe.close()
    return runtime, probe


def test_a_patch_lifecycle_stays_within_the_arm_request_budget(measured: tuple[LocalRuntime, Probe]) -> None:
    """Build -> validation -> production of a workload that exists already stays within its ARM request budget.

    The runtime's Event Grid delivers 10-120 s late, so the waits also look on their own back-off
    (shared/steps/waits.py): the budget is LATE_EVENTS_BUDGET, not the benchmark target of 60
    (ARM_TARGET, measured with events delivered at once in docs/benchmarks.json)."""
    _, probe = measured
    patch = probe.phases[PATCH_LIFECYCLE]
    assert [p.label.split()[0] for p in patch] == ["build", "promote", "promote"]
    assert sum(probe.requests(p)["total"] for p in patch) <= LATE_EVENTS_BUDGET


@pytest.fixture(scope="module")
def at_once(catalog: Catalog) -> Probe:
    """The lifecycle with Event Grid delivering at once: what `arm_requests_*` of the benchmark count."""
    runtime = LocalRuntime(catalog, records=IndexedMemoryRecordStore(), simulator=make_simulator(1.0, None, False))
    probe = Probe(runtime)
    full_lifecycle(runtime)
    probe.close()
    return probe


def test_with_events_at_once_a_patch_lifecycle_stays_near_the_arm_target(at_once: Probe) -> None:
    """Events that come at once leave the re-checks as a safety net: a patch lifecycle costs about the target."""
    patch = sum(at_once.requests(p)["total"] for p in at_once.phases[PATCH_LIFECYCLE])
    assert patch <= AT_ONCE_BUDGET


def test_every_read_is_counted_against_the_message_that_made_it(at_once: Probe) -> None:
    """The ARM section's per-message reads add up to the lifecycle's reads; sysprep's looks show."""
    first = at_once.phases[FIRST_LIFECYCLE]
    counted = at_once.reads_by_message(first)
    assert sum(counted.values()) == sum(at_once.requests(p)["reads"] for p in first)
    assert counted["step sysprep"] > 0


def test_sysprep_is_read_at_most_twice_per_build_when_events_come_at_once(at_once: Probe) -> None:
    """Sysprep's command ends with an event: a build reads it about once (the first build read the VM 17 times)."""
    first, patch = (
        at_once.reads_by_message([at_once.phases[s][0]])["step sysprep"] for s in (FIRST_LIFECYCLE, PATCH_LIFECYCLE)
    )
    assert 1 <= first <= 2
    assert 1 <= patch <= first


def test_the_first_lifecycle_costs_at_most_its_one_time_setup_more(measured: tuple[LocalRuntime, Probe]) -> None:
    """The first lifecycle exceeds the budget only by setup done once per workload (network, source VM, definition).

    The patch lifecycle's customizations on the source VM ran days before in its prepare run: counted with it."""
    _, probe = measured
    first = sum(probe.requests(p)["total"] for p in probe.phases[FIRST_LIFECYCLE])
    month = [probe.phases[PREPARE_PHASE], *probe.phases[PATCH_LIFECYCLE]]
    assert month[0].label.startswith("prepare ")
    patch = sum(probe.requests(p)["total"] for p in month)
    assert first - patch <= 12


def test_no_phase_beats_its_reference_chain(measured: tuple[LocalRuntime, Probe]) -> None:
    """The reference chain is a lower bound: every phase's virtual time is at least its reference time."""
    runtime, probe = measured
    for phase in probe.phases:
        reference_s = sum(op.seconds for op in reference_path(runtime, phase, probe.phases))
        assert phase.critical_seconds >= reference_s - 1e-6, phase.label


def test_the_reference_chain_ignores_what_the_product_did(measured: tuple[LocalRuntime, Probe]) -> None:
    """The chains come from the commands, their times and the simulated guest: commits change nothing.

    The source VM's state read from the simulator at each run's start (`Phase.source`) agrees with the
    state the scenario's earlier runs predict (phases without it fall back to that prediction)."""
    runtime, probe = measured
    bare = [Phase(p.label, p.command, p.start, p.request_index) for p in probe.phases]
    assert reference_paths(runtime, bare) == reference_paths(runtime, probe.phases)
    runs = [i for i, p in enumerate(probe.phases) if isinstance(p.command, StartBuild)]
    assert [probe.phases[i].label.split()[0] for i in runs] == ["build", "prepare", "build"]
    chains = reference_paths(runtime, probe.phases)
    first, prepare, patch = ({op.step for op in chains[i]} for i in runs)
    assert {"create", "bitlocker"} <= first  # the source VM is created and decrypted once
    assert not {"create", "bitlocker"} & (prepare | patch)
    assert {"customize", "clone", "sysprep", "capture"} <= first & patch
    assert prepare == {"customize"}  # no image: nothing copied, sysprepped or captured

    def updates(index: int) -> list[str]:
        return [op.what for op in chains[index] if "Windows Update" in op.what]

    assert any("KB" in what for what in updates(runs[1])), "a month later the prepare run takes the update"
    assert updates(runs[2]) == ["Windows Update: a search that finds nothing"]  # the source VM is current


def test_the_build_phase_ends_when_its_version_serves_test(measured: tuple[LocalRuntime, Probe]) -> None:
    """A build's critical time ends at the commit that moved the test pointer; its validation ends later."""
    _, probe = measured
    for phase in probe.phases:
        if isinstance(phase.command, StartBuild) and not phase.command.prepare_only:
            assert phase.serves_test_at is not None
            assert phase.critical_seconds < phase.busy_seconds


def test_the_chains_are_priced_from_the_run_s_own_table(catalog: Catalog) -> None:
    """Doubling the simulator's table doubles both chains; a scaled simulator really runs on the scaled table."""
    workload = catalog.get(WORKLOAD)
    doubled = {key: value * 2 for key, value in DEFAULT_DURATIONS.items()}
    at = make_simulator(1.0, None, event_latency=False).clock.now()
    source = reference.fresh_source(workload, at)
    for chain in (
        lambda d: reference.reference_build(d, workload, at, source, first=True),
        lambda d: reference.packer_chain(d, workload, at),
    ):
        single = sum(op.seconds for op in chain(DEFAULT_DURATIONS))
        assert sum(op.seconds for op in chain(doubled)) == pytest.approx(2 * single)
    assert make_simulator(2.0, None, event_latency=False).durations["vm_create"] == 2 * DEFAULT_DURATIONS["vm_create"]


def test_the_packer_chain_decrypts_only_a_source_that_boots_encrypted(catalog: Catalog) -> None:
    """Trusted Launch or an offering encrypted by default means a Packer-style build pays the decryption."""
    at = make_simulator(1.0, None, event_latency=False).clock.now()

    def decrypts(name: str, security: SecurityType) -> bool:
        workload = catalog.get(name).model_copy(update={"security_type": security})
        return "bitlocker" in {op.step for op in reference.packer_chain(DEFAULT_DURATIONS, workload, at)}

    assert decrypts("office", SecurityType.TRUSTED_LAUNCH_SUPPORTED)
    assert not decrypts("office", SecurityType.STANDARD)  # win11-24h2-avd is not encrypted by default
    assert decrypts(WORKLOAD, SecurityType.STANDARD)  # win11-25h2-avd is
    later = reference.reference_build(DEFAULT_DURATIONS, catalog.get(WORKLOAD), at, None, first=False)
    assert "bitlocker" not in {op.step for op in later}


def test_the_reference_prices_the_workload_s_own_customizations(catalog: Catalog) -> None:
    """Each winget install of a script customization costs the guest's app install; Windows Update its passes."""
    workload = catalog.get(WORKLOAD)
    d = DEFAULT_DURATIONS
    at = make_simulator(1.0, None, event_latency=False).clock.now()
    ops = reference.customizations(d, workload, reference.fresh_source(workload, at), at)
    tools = next(op for op in ops if op.what.startswith("analyst-tools"))
    assert tools.seconds == d["run_command_start"] + 3 * d["app_install"]
    searches = [op for op in ops if "Windows Update" in op.what]
    assert searches[-1].seconds == d["run_command_start"] + d["windows_update_scan"]  # the search that finds nothing


def test_every_commit_is_a_counted_transition(measured: tuple[LocalRuntime, Probe]) -> None:
    """The transitions the probe attributes to invocations equal the transactions the store itself applied."""
    runtime, probe = measured
    store = runtime.records
    assert isinstance(store, IndexedMemoryRecordStore)
    stats = probe.transition_stats()
    assert stats["transitions"] == store.transactions
    assert stats["transitions"] > 30


def test_round_trips_over_all_invocations_include_the_no_op_ones(measured: tuple[LocalRuntime, Probe]) -> None:
    """The all-invocations figure counts every round trip of every invocation, those that changed nothing included."""
    _, probe = measured
    stats = probe.transition_stats()
    assert stats["noop_invocations"] > 0
    assert stats["round_trips"] == sum(i.round_trips for i in probe.invocations)
    assert stats["per_transition_all"] == pytest.approx(stats["round_trips"] / stats["transitions"])
    assert stats["per_transition_all"] > stats["per_transition_committing"]


def test_round_trips_per_committing_transition_are_at_most_two(measured: tuple[LocalRuntime, Probe]) -> None:
    """An invocation that changes state costs at most two Table round trips per transition: one read, one write."""
    _, probe = measured
    assert probe.transition_stats()["per_transition_committing"] <= 2.0


def test_the_indexed_store_answers_ranges_like_the_memory_store() -> None:
    """The benchmarks' indexed store returns the same rows in the same order as the unit tests' store."""
    keys = [f"v:{i:03d}" for i in (5, 1, 9, 3, 7)] + ["run:a", "pointers"]
    stores = (MemoryRecordStore(), IndexedMemoryRecordStore())
    for store in stores:
        for key in keys:
            store._upsert({"PartitionKey": "wl", "RowKey": key, "n": key})
        store._transact("other", [("v:002", {"PartitionKey": "other", "RowKey": "v:002"}, None)])
    answers = [[row[0]["RowKey"] for row in store._range("wl", "v:", "v;")] for store in stores]
    assert answers[0] == answers[1] == ["v:001", "v:003", "v:005", "v:007", "v:009"]
    assert stores[1].transactions == 1


def test_a_sweep_lists_compute_once_at_any_workload_count() -> None:
    """One compute inventory per sweep: ten times the workloads, the same compute and network reads."""

    def compute_reads(workloads: int) -> int:
        run = sweep_arm_reads(workloads)
        return int(run["reads"]) - int(run["gallery_reads"])

    assert compute_reads(3) == compute_reads(30) <= TARGETS["sweep_arm_reads_5000"][1]


@pytest.mark.parametrize(("value", "word"), [(1.02, "met"), (1.63, "**missed**: measured 1.630")])
def test_a_verdict_follows_the_figure(value: float, word: str) -> None:
    """A verdict is computed from the measured figure: met under the target, missed with the figure above it."""
    assert verdict("ratio_eg_worst", {"ratio_eg_worst": value}).startswith(word)


def test_the_patch_versus_packer_verdict_compares_the_two_figures() -> None:
    """patch_build_s is judged against packer_chain_s of the same run, not a fixed number."""
    assert verdict("patch_build_s", {"patch_build_s": 3000.0, "packer_chain_s": 3605.0}).startswith("met")
    assert "missed" in verdict("patch_build_s", {"patch_build_s": 4111.0, "packer_chain_s": 3605.0})


def test_three_concurrent_lifecycles_all_reach_production() -> None:
    """Three workloads built and promoted at once in one runtime all end in production with nothing left over."""
    result = lifecycles(3)
    assert result["runs"] == {"succeeded": 3}
    assert result["in_production"] == 3
    assert (result["dead_letters"], result["failed_versions"], result["leaked"]) == (0, 0, 0)
    assert result["cpu_seconds_per_lifecycle"] > 0


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
