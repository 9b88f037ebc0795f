"""The self-healing fault classes of `make reliability` (issue 13): faults that once left a run stuck or
the records disagreeing with the gallery. Each states its expected outcome; `reliability.judge` counts.
"""

from __future__ import annotations

import random
import shutil
import tempfile
from collections.abc import Mapping
from datetime import timedelta
from pathlib import Path
from typing import Any

from benchmarks.common import ROOT
from benchmarks.reliability_judge import Expect, FaultClass, Verdict, judge, lifecycle
from localrun.faults import RG, FailingCommits, at_step, delete_by_hand, operator, refusals_before
from localrun.runtime import LocalRuntime
from localrun.scenario import BUILDER, build, promote, rollback, to_production
from shared.domain import naming
from shared.domain.catalog import Catalog
from shared.domain.commands import StartBuild
from shared.domain.model import BuildReason, Stage
from shared.domain.records import Changes
from shared.steps.sweep import sweep

WORKLOAD = "data-analyst"
GONE = Expect("failed", "deleted outside the product")


def vanished(catalog: Catalog) -> FaultClass:
    fault = FaultClass(
        "temp resource deleted by hand",
        "An admin deletes the build's temporary VM through ARM (the delete completes) just before the "
        "deallocate, capture or sysprep step runs, or its cloned disk before the temp VM is made. The run must "
        "fail as deleted outside the product and remove the rest (NIC included).",
        expect=GONE,
    )
    for step, kind in (("deallocate", "vm"), ("capture", "vm"), ("sysprep", "vm"), ("temp-vm", "disk")):
        runtime = LocalRuntime(catalog)
        name = naming.temp_resource_name(WORKLOAD, "first-build", kind)

        def delete(kind: str = kind, name: str = name, runtime: LocalRuntime = runtime) -> None:
            delete_by_hand(runtime, kind, name)
            runtime.sim.clock.advance(180)  # the delete completes before the step runs

        at_step(runtime, step, delete)
        lifecycle(runtime, WORKLOAD)
        verdict = fault.add(judge(runtime, WORKLOAD))
        fault.notes.append(f"{kind} deleted before {step}: {verdict.outcome}")
    return fault


def storage_outage(catalog: Catalog) -> FaultClass:
    fault = FaultClass(
        "Table Storage 503 x10",
        "The next 10 commits fail (503) from the first commit of the disk, bitlocker or sysprep step on: the "
        "step's message is delivered 10 times and dead-lettered; the dead-letter function must fail the run "
        "with the reason and clean up.",
        expect=Expect("failed", "was dead-lettered: MaxDeliveryCountExceeded"),
    )
    for step in ("disk", "bitlocker", "sysprep"):
        store = FailingCommits(step, 10)
        runtime = LocalRuntime(catalog, records=store)
        lifecycle(runtime, WORKLOAD)
        fault.add(judge(runtime, WORKLOAD))
        fault.notes.append(f"{step}: {store.failed} commits failed, {len(runtime.bus.dead_letters)} dead letter(s)")
    return fault


def lost_message(catalog: Catalog) -> FaultClass:
    fault = FaultClass(
        "step message lost",
        "Every message of the run's sysprep step is lost (deleted from the queue); the hourly timer's watchdog "
        "must fail the run once it made no progress past the step's deadline, and clean up.",
        expect=Expect("failed", "no progress in step sysprep"),
    )
    runtime = LocalRuntime(catalog)
    original = runtime.bus.send

    def send(envelopes: Any) -> None:
        original([e for e in envelopes if not (e.subject == "continue-run" and '"step":"sysprep"' in e.body)])

    runtime.bus.send = send  # type: ignore[method-assign]
    runtime.start_timers()
    runtime.submit(StartBuild(workload=WORKLOAD, run_id="first-build", reason=BuildReason.FIRST, requested_by=BUILDER))
    runtime.run_until(runtime.sim.clock.now() + timedelta(hours=8))
    runtime.timers.clear()
    fault.add(judge(runtime, WORKLOAD))
    return fault


def bad_catalog_file(catalog: Catalog) -> FaultClass:
    fault = FaultClass(
        "malformed catalog file deployed",
        "office.toml with an unknown key next to a valid data-analyst.toml, loaded as the app loads it: "
        "data-analyst's lifecycle must complete; office's build request must be refused as disabled with the "
        "file named (not crash every trigger).",
    )
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "catalog"
        shutil.copytree(ROOT / "catalog", folder)
        office = folder / "office.toml"
        office.write_text(office.read_text(encoding="utf-8") + '\ncolour = "blue"\n', encoding="utf-8")
        runtime = LocalRuntime(folder)
    lifecycle(runtime, WORKLOAD)
    fault.add(judge(runtime, WORKLOAD))
    handled = runtime.entrypoints.step_message(
        "office-build",
        StartBuild(
            workload="office", run_id="first-build", reason=BuildReason.FIRST, requested_by=BUILDER
        ).model_dump_json(),
    )
    disabled = "is disabled: office.toml is invalid"
    outcome = "failed" if disabled in handled.rejected else "unexpected"
    fault.verdicts.append(Verdict("office", outcome, handled.rejected or "accepted"))
    return fault


def out_of_order_promotions(catalog: Catalog) -> FaultClass:
    fault = FaultClass(
        "older version promoted after a newer one",
        "1.0.0 and 1.0.1 both validated; 1.0.1 is promoted to production, then 1.0.0. Production must be 1.0.0 "
        "and the gallery's 'latest' must resolve to it (reconcile after the pointer move).",
    )
    runtime = LocalRuntime(catalog)
    build(runtime, WORKLOAD, "first-build", BuildReason.FIRST)
    promote(runtime, WORKLOAD, "1.0.0", Stage.VALIDATION)
    build(runtime, WORKLOAD, "patch-1", BuildReason.PATCH)
    promote(runtime, WORKLOAD, "1.0.1", Stage.VALIDATION)
    promote(runtime, WORKLOAD, "1.0.1", Stage.PRODUCTION)
    promote(runtime, WORKLOAD, "1.0.0", Stage.PRODUCTION)
    fault.add(judge(runtime, WORKLOAD, expect="1.0.0"))
    return fault


def dr_after_rollback(catalog: Catalog) -> FaultClass:
    fault = FaultClass(
        "rollback while DR serves the withdrawn version",
        "1.0.0 in production, 1.0.1 in production and DR, then a rollback: DR must end on 1.0.0, replicated to "
        "the DR region (reconcile widens its replication, then moves the pointer).",
    )
    runtime = LocalRuntime(catalog)
    build(runtime, WORKLOAD, "first-build", BuildReason.FIRST)
    to_production(runtime, WORKLOAD, "1.0.0", dr=False)
    build(runtime, WORKLOAD, "patch-1", BuildReason.PATCH)
    to_production(runtime, WORKLOAD, "1.0.1", dr=True)
    rollback(runtime, WORKLOAD)
    verdict = fault.add(judge(runtime, WORKLOAD, expect="1.0.0"))
    dr = runtime.records.get_pointers(WORKLOAD).dr
    if str(dr) != "1.0.0":
        verdict.outcome, verdict.reason = "unexpected", f"DR serves {dr}, not 1.0.0"
    return fault


def version_deleted_by_hand(catalog: Catalog, *, events: bool) -> FaultClass:
    how = "its delete event" if events else "the hourly reconcile alone (Event Grid events lost)"
    fault = FaultClass(
        "gallery version deleted by hand" + ("" if events else ", events lost"),
        f"1.0.0 then 1.0.1 in production; an admin deletes 1.0.0 (the rollback target) in the portal; {how} "
        "must record it, repair the rollback pointer, and keep retention working (no dead letters).",
    )
    runtime = LocalRuntime(catalog, event_grid=events)
    build(runtime, WORKLOAD, "first-build", BuildReason.FIRST)
    to_production(runtime, WORKLOAD, "1.0.0", dr=False)
    build(runtime, WORKLOAD, "patch-1", BuildReason.PATCH)
    to_production(runtime, WORKLOAD, "1.0.1", dr=False)
    definition = runtime.catalog.get(WORKLOAD).gallery.definition
    operator(runtime).gallery_image_versions.begin_delete(RG, "gal_avd_images", definition, "1.0.0", polling=False)
    runtime.run()
    runtime.tick_retention()  # the hourly timer: prune and reconcile
    runtime.run()
    verdict = fault.add(judge(runtime, WORKLOAD, expect="1.0.1"))
    dead = [d for d in runtime.bus.dead_letters if d.reason != "Rejected"]
    gone = runtime.records.get_version(WORKLOAD, runtime.records.list_versions(WORKLOAD)[0].version)
    if dead or "deleted outside the product" not in gone.failure_reason:
        verdict.outcome = "unexpected"
        verdict.reason = f"dead letters {[d.reason for d in dead]}; 1.0.0 is {gone.status.value}"
    return fault


def refusal_burst(catalog: Catalog) -> FaultClass:
    fault = FaultClass(
        "refused approvals racing a step",
        "Before every commit that completes the production replication, three refused approvals for the same "
        "version are processed (unrelated traffic on its workload). The step must commit: no dead letter.",
    )
    runtime = LocalRuntime(catalog)
    build(runtime, WORKLOAD, "first-build", BuildReason.FIRST)
    promote(runtime, WORKLOAD, "1.0.0", Stage.VALIDATION)

    def completes_production(changes: Changes) -> bool:
        return any(v.stage is Stage.PRODUCTION and v.target_stage is None for v in changes.versions)

    with refusals_before(runtime, WORKLOAD, "1.0.0", completes_production) as refusals:
        promote(runtime, WORKLOAD, "1.0.0", Stage.PRODUCTION)
    verdict = fault.add(judge(runtime, WORKLOAD))
    if runtime.bus.dead_letters:
        verdict.outcome, verdict.reason = "unexpected", f"dead-lettered: {runtime.bus.dead_letters[0].description}"
    elif not refusals or not all("replicating to production" in r for r in refusals):
        verdict.outcome, verdict.reason = "unexpected", f"the burst was not refused as expected: {refusals[:1]}"
    fault.notes.append(f"{len(refusals)} refusals processed between the step's read and its commit")
    return fault


def skewed_clock(catalog: Catalog) -> FaultClass:
    fault = FaultClass(
        "clock skew",
        "(a) The sweeper runs on an instance whose clock is 25 h ahead while a build is in progress (every "
        "expiry tag looks passed): nothing of the build may be deleted. (b) A forward clock jump stamps 1.0.0 "
        "60 days ahead: the next Patch Tuesday window must still start its rebuild.",
    )
    runtime = LocalRuntime(catalog)
    runtime.submit(StartBuild(workload=WORKLOAD, run_id="first-build", reason=BuildReason.FIRST, requested_by=BUILDER))
    runtime.run(until=runtime.sim.clock.now() + timedelta(minutes=30))
    removed = sweep(runtime.deps, runtime.sim.clock.now() + timedelta(hours=25))
    runtime.run()
    for stage in (Stage.VALIDATION, Stage.PRODUCTION):
        promote(runtime, WORKLOAD, "1.0.0", stage)
    verdict = fault.add(judge(runtime, WORKLOAD))
    if removed:
        verdict.outcome, verdict.reason = "unexpected", f"sweeper removed {removed}"
    office = LocalRuntime(catalog)
    build(office, "office", "first-build", BuildReason.FIRST)
    first = office.records.list_versions("office")[0]
    office.records.commit(
        Changes(workload="office", versions=[first.evolve(created_at=first.created_at + timedelta(days=60))])
    )
    office.sim.clock.advance_to(office.sim.clock.now() + timedelta(days=45))
    office.tick_scheduler()
    office.run()
    runs = sorted(r.run_id for r in office.records.list_runs("office"))
    built = any(r.startswith("patch-") for r in runs)
    fault.verdicts.append(Verdict("office", "completed" if built else "unexpected", f"runs {runs}"))
    return fault


def bus_outage(catalog: Catalog) -> FaultClass:
    fault = FaultClass(
        "Service Bus unavailable for 10 minutes",
        "20 minutes into the build Service Bus stops for 10 minutes: nothing is delivered, every send fails "
        "(the invocation fails; Event Grid retries its events after the outage). The lifecycle must complete.",
    )
    runtime = LocalRuntime(catalog, event_grid=False)  # subscribed below, through the outage
    start = runtime.sim.clock.now() + timedelta(minutes=20)
    end = start + timedelta(minutes=10)
    original_send, original_events = runtime.bus.send, runtime._on_events
    retry: list[list[Mapping[str, Any]]] = []

    def send(envelopes: Any) -> None:
        if start <= runtime.sim.clock.now() < end:
            raise ConnectionError("Service Bus unavailable")
        original_send(envelopes)

    def on_events(events: list[Mapping[str, Any]]) -> None:
        try:
            original_events(events)
        except ConnectionError:
            retry.append(events)  # Event Grid retries a failed delivery later

    runtime.bus.send = send  # type: ignore[method-assign]
    runtime.sim.events.subscribe(on_events)
    runtime.submit(StartBuild(workload=WORKLOAD, run_id="first-build", reason=BuildReason.FIRST, requested_by=BUILDER))
    runtime.run(until=start)
    runtime.sim.clock.advance_to(end)  # nothing is delivered meanwhile
    for events in retry:
        original_events(events)
    runtime.run()
    for stage in (Stage.VALIDATION, Stage.PRODUCTION):
        promote(runtime, WORKLOAD, "1.0.0", stage)
    fault.add(judge(runtime, WORKLOAD))
    fault.notes.append(f"{len(retry)} event deliveries retried after the outage")
    return fault


def events_lost(catalog: Catalog) -> FaultClass:
    fault = FaultClass(
        "Event Grid events lost",
        "No Event Grid event is delivered at all: the steps' own re-checks carry the lifecycle, and the hourly "
        "reconcile alone converges the gallery (see also 'gallery version deleted by hand, events lost').",
    )
    runtime = LocalRuntime(catalog, event_grid=False)
    lifecycle(runtime, WORKLOAD)
    fault.add(judge(runtime, WORKLOAD))
    return fault


def events_shuffled(catalog: Catalog, seeds: int) -> FaultClass:
    fault = FaultClass(
        "events duplicated and out of order",
        f"Every Event Grid batch is delivered twice, its events shuffled (seeded), and each batch is held back "
        f"and delivered after the next one. {seeds} seeds.",
    )
    for seed in range(seeds):
        rng = random.Random(seed)
        runtime = LocalRuntime(catalog, event_grid=False)
        held: list[list[Mapping[str, Any]]] = []

        def deliver(events: list[Mapping[str, Any]], runtime: LocalRuntime = runtime) -> None:
            for event in events:
                runtime.entrypoints.arm_event(event)

        def on_events(
            events: list[Mapping[str, Any]], rng: random.Random = rng, deliver: Any = deliver, held: Any = held
        ) -> None:
            batch = list(events) * 2
            rng.shuffle(batch)
            deliver(batch)
            for older in held:
                deliver(older)
            held[:] = [batch]

        runtime.sim.events.subscribe(on_events)
        lifecycle(runtime, WORKLOAD)
        fault.add(judge(runtime, WORKLOAD))
    return fault


def region_outage(catalog: Catalog) -> FaultClass:
    fault = FaultClass(
        "region outage during replication",
        "northeurope (office's production-only region) fails every replication while office 1.0.0 is promoted "
        "to production: the promotion must fail with the region named, production must stay as it was, and the "
        "gallery must agree with the records.",
        expect=Expect("failed", "replication of 1.0.0 to northeurope failed"),
    )
    runtime = LocalRuntime(catalog)
    runtime.sim.faults.replication_fails("northeurope", times=50)
    lifecycle(runtime, "office")
    fault.add(judge(runtime, "office"))
    return fault


def healing_classes(catalog: Catalog, seeds: int) -> list[FaultClass]:
    return [
        vanished(catalog),
        storage_outage(catalog),
        lost_message(catalog),
        bad_catalog_file(catalog),
        out_of_order_promotions(catalog),
        dr_after_rollback(catalog),
        version_deleted_by_hand(catalog, events=True),
        version_deleted_by_hand(catalog, events=False),
        refusal_burst(catalog),
        skewed_clock(catalog),
        bus_outage(catalog),
        events_lost(catalog),
        events_shuffled(catalog, seeds),
        region_outage(catalog),
    ]
