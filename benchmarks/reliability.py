"""`python -m benchmarks.reliability`: every fault class against whole lifecycles -> docs/reliability.md.

A lifecycle here is build -> validation -> production of one workload (`localrun.scenario`). Every
fault class states the outcome it expects (`Expect`: completed, or failed with an exact reason), and
each disturbed run is judged against it once idle:

- completed / failed with reason: the expected outcome, and only that (a failure counts only with the
  expected reason; a dead letter or a refusal never counts as a correct failure of a build);
- unexpected: it ended, but not as expected (another reason, or completed where it should fail);
- stuck: neither - a run still "running" with nothing left to continue it, a version mid-operation
  with no message, a promotion that silently did nothing. Must be 0;
- leaked: temp resources still tagged `avd-lifecycle-run` once idle. Must be 0;
- duplicate versions: more than one version record per run, or gallery versions no record owns;
- disagreements: what a reconcile pass still finds between the records and the gallery after it ran
  (`shared.steps.reconcile.check` without repairs). Must be 0.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from benchmarks.common import DOCS, quiet_logs, repo_catalog
from benchmarks.reliability_azurite import azurite_restart
from benchmarks.reliability_healing import healing_classes
from benchmarks.reliability_input import bad_input
from benchmarks.reliability_judge import COMPLETES, Expect, FaultClass, judge, lifecycle, short
from localrun.runtime import LocalRuntime
from localrun.scenario import BUILDER, CrashingStore, InjectedCrash, promote
from shared.domain.catalog import Catalog
from shared.domain.commands import Envelope, StartBuild
from shared.domain.model import BuildReason, Stage

# -- fault classes ----------------------------------------------------------------------------------------


def duplicated(catalog: Catalog) -> FaultClass:
    fault = FaultClass(
        "every message delivered twice",
        "`LocalRuntime(..., deliver_twice=True)`: each Service Bus delivery runs the handler twice in a row "
        "(at-least-once at its worst); Event Grid events are delivered as emitted. Both workloads, one after "
        "the other in one runtime.",
    )
    runtime = LocalRuntime(catalog, deliver_twice=True)
    for workload in catalog.names:
        lifecycle(runtime, workload)
        fault.add(judge(runtime, workload))
    return fault


class JitteredSends:
    """Wraps the bus's `send`: every message becomes visible 0-`spread` seconds later than asked (seeded).

    Service Bus orders only within a session and only by enqueue time; a scheduled message is enqueued
    at its scheduled time, and messages from different senders (the step function, the Event Grid
    function) arrive in any order. The jitter produces exactly those reorderings, across and within
    sessions, without ever delivering a message before its scheduled time.
    """

    def __init__(self, runtime: LocalRuntime, seed: int, spread: float = 90.0) -> None:
        self.rng = random.Random(seed)
        self.spread = spread
        self.runtime = runtime
        self.original = runtime.bus.send
        runtime.bus.send = self.send  # type: ignore[method-assign]

    def send(self, envelopes: Iterable[Envelope]) -> None:
        now = self.runtime.sim.clock.now()
        moved = []
        for envelope in envelopes:
            base = envelope.scheduled_for or now
            delay = timedelta(seconds=self.rng.uniform(0, self.spread))
            moved.append(envelope.model_copy(update={"scheduled_for": max(base, now) + delay}))
        self.original(moved)


def reordered(catalog: Catalog, seeds: int) -> FaultClass:
    fault = FaultClass(
        "messages reordered",
        "Both workloads' lifecycles at once in one runtime (two sessions interleaving); every message sent "
        "gets a random extra delivery delay of 0-90 s (seeded), which reorders messages across sessions and "
        "lets event-triggered and scheduled re-checks overtake one another within a session - orders Service "
        f"Bus can produce. {seeds} seeds.",
    )
    for seed in range(seeds):
        runtime = LocalRuntime(catalog)
        JitteredSends(runtime, seed)
        runtime.submit(
            *(
                StartBuild(workload=w, run_id="first-build", reason=BuildReason.FIRST, requested_by=BUILDER)
                for w in catalog.names
            )
        )
        runtime.run()
        for stage in (Stage.VALIDATION, Stage.PRODUCTION):
            for workload in catalog.names:
                promote(runtime, workload, "1.0.0", stage)
        for w in catalog.names:
            fault.add(judge(runtime, w))
    return fault


class CrashingCompute:
    """Wraps every public method of `runtime.compute`; the k-th call raises once, before or after."""

    def __init__(self, runtime: LocalRuntime, at: int = 0, when: str = "before", only: str = "") -> None:
        self.calls = 0
        self.at, self.when, self.only = at, when, only
        self.crashed: list[str] = []
        compute = runtime.compute
        for name in dir(compute):
            if name.startswith("_") or not callable(getattr(compute, name)):
                continue
            setattr(compute, name, self._wrap(name, getattr(compute, name)))

    def _wrap(self, name: str, method: Callable[..., Any]) -> Callable[..., Any]:
        def call(*args: Any, **kwargs: Any) -> Any:
            if self.only and name != self.only:
                return method(*args, **kwargs)
            self.calls += 1
            hit = self.calls == self.at
            if hit and self.when == "before":
                self.crashed.append(f"before {name}")
                raise InjectedCrash(f"injected crash before {name}")
            result = method(*args, **kwargs)
            if hit:
                self.crashed.append(f"after {name}")
                raise InjectedCrash(f"injected crash after {name}")
            return result

        return call


def tolerate_event_crashes(runtime: LocalRuntime) -> list[str]:
    """Event Grid retries a failed delivery; here a crashed event handler is dropped and noted (the
    scheduled re-check is the backstop), so the crash cannot unwind into the simulator."""
    dropped: list[str] = []
    entry: Any = runtime.entrypoints
    original = entry.arm_event

    def arm_event(event: Any) -> Any:
        try:
            return original(event)
        except InjectedCrash as crash:
            dropped.append(str(crash))
            from shared.entrypoints import Handled

            return Handled(note="dropped")

    entry.arm_event = arm_event
    return dropped


def crashes(catalog: Catalog, workload: str) -> list[FaultClass]:
    # Count the calls and commits of one undisturbed lifecycle.
    counting = LocalRuntime(catalog, records=CrashingStore())
    counter = CrashingCompute(counting)
    lifecycle(counting, workload)
    store: Any = counting.records
    calls, commits = counter.calls, store.commits
    compute_fault = FaultClass(
        "crash before / after each Azure call",
        f"`{workload}` lifecycle; every public method of `runtime.compute` wrapped; run k raises at the k-th "
        f"call, once, either before calling through or after it returned (the Azure side effect happened, "
        f"nothing after it did). {calls} calls x 2 = {calls * 2} runs. A crash inside an Event Grid handler "
        "drops that event (Event Grid would retry it; the scheduled re-check is the backstop).",
    )
    for when in ("before", "after"):
        for k in range(1, calls + 1):
            runtime = LocalRuntime(catalog)
            crashing = CrashingCompute(runtime, k, when)
            tolerate_event_crashes(runtime)
            lifecycle(runtime, workload)
            verdict = judge(runtime, workload)
            if not crashing.crashed:
                verdict.reason = f"(call {k} never happened) " + verdict.reason
            fault_name = crashing.crashed[0] if crashing.crashed else "none"
            if verdict.outcome != "completed":
                compute_fault.notes.append(f"k={k} {fault_name}: {verdict.outcome}: {short(verdict.reason)}")
            compute_fault.add(verdict)
    commit_fault = FaultClass(
        "crash before each record commit",
        f"`{workload}` lifecycle with `CrashingStore`: run k fails the k-th commit once, after the step's "
        f"Azure calls. {commits} commits = {commits} runs.",
    )
    for k in range(1, commits + 1):
        runtime = LocalRuntime(catalog, records=CrashingStore(crash_at=k))
        tolerate_event_crashes(runtime)
        lifecycle(runtime, workload)
        verdict = judge(runtime, workload)
        if verdict.outcome != "completed":
            crashed: Any = runtime.records
            commit_fault.notes.append(f"k={k} {crashed.crashed}: {verdict.outcome}: {short(verdict.reason)}")
        commit_fault.add(verdict)
    return [compute_fault, commit_fault]


def azure_faults(catalog: Catalog, workload: str, seeds: int) -> list[FaultClass]:
    classes = []
    storms = FaultClass(
        "ARM 429 storms",
        "`sim.faults.throttle(storm_requests=N, retry_after=1)` at the start of the lifecycle, "
        "N in 5, 20, 50, 200: the next N requests are answered 429 with Retry-After.",
    )
    for n in (5, 20, 50, 200):
        runtime = LocalRuntime(catalog)
        runtime.sim.faults.throttle(storm_requests=n, retry_after=1)
        lifecycle(runtime, workload)
        storms.add(judge(runtime, workload))
        storms.notes.append(f"N={n}: {Counter(e.status for e in runtime.sim.request_log).get(429, 0)} answers 429")
    classes.append(storms)

    errors = FaultClass(
        "5 % random 5xx",
        f"`sim.faults.error_rate('*', 0.05, seed=s)`: every ARM request fails 500 with probability 5 %, {seeds} seeds.",
    )
    for seed in range(seeds):
        runtime = LocalRuntime(catalog)
        runtime.sim.faults.error_rate("*", 0.05, seed=seed)
        lifecycle(runtime, workload)
        errors.add(judge(runtime, workload))
        errors.notes.append(f"seed {seed}: {Counter(e.status for e in runtime.sim.request_log).get(500, 0)} x 500")
    classes.append(errors)

    operations = [
        "Microsoft.Network/virtualNetworks/write",
        "Microsoft.Compute/virtualMachines/write",
        "Microsoft.Compute/virtualMachines/runCommand/action",
        "Microsoft.Compute/snapshots/write",
        "Microsoft.Compute/disks/write",
        "Microsoft.Compute/virtualMachines/deallocate/action",
        "Microsoft.Compute/galleries/images/write",
        "Microsoft.Compute/galleries/images/versions/write",
        "Microsoft.Compute/virtualMachines/delete",
        "Microsoft.Compute/snapshots/delete",
    ]
    lro = FaultClass(
        "LRO ends Failed",
        "`sim.faults.lro_fails(op)`: the next long-running operation of `op` ends `Failed`; one run per "
        "operation the lifecycle starts: " + ", ".join(f"`{o.split('/', 1)[1]}`" for o in operations) + ".",
    )
    for op in operations:
        runtime = LocalRuntime(catalog)
        runtime.sim.faults.lro_fails(op)
        lifecycle(runtime, workload)
        verdict = judge(runtime, workload)
        lro.add(verdict, LRO_EXPECT.get(op, COMPLETES))
        left = f" - LEFT BEHIND: {', '.join(verdict.leftovers)}" if verdict.leftovers else ""
        lro.notes.append(f"{op.split('/', 1)[1]}: {verdict.outcome}: {short(verdict.reason)}{left}")
    lro.expect = Expect("failed", "per operation: its exact reason, or completed (retried)")
    classes.append(lro)

    regions = FaultClass(
        "replication region fails",
        "`sim.faults.replication_fails(region, times)`: `times=1` must be retried and complete; `times=5` must "
        "fail with a reason. The build region (westeurope) of data-analyst and office, and office's "
        "production-only region (northeurope, replicated on promotion).",
    )
    for name, region, times in (
        ("data-analyst", "westeurope", 1),
        ("data-analyst", "westeurope", 5),
        ("office", "northeurope", 1),
        ("office", "northeurope", 5),
    ):
        runtime = LocalRuntime(catalog)
        runtime.sim.faults.replication_fails(region, times=times)
        lifecycle(runtime, name)
        verdict = judge(runtime, name)
        expected = COMPLETES if times == 1 else Expect("failed", f"replication of 1.0.0 to {region} failed 3 times")
        regions.add(verdict, expected)
        regions.notes.append(f"{name} {region} x{times}: {verdict.outcome} (expected {expected})")
    regions.expect = Expect("failed", "x1 completed; x5 replication to the region failed 3 times")
    classes.append(regions)
    return classes


LRO_EXPECT = {
    "Microsoft.Compute/virtualMachines/write": Expect(
        "failed", "source VM data-analyst--image--src failed to provision"
    ),
    "Microsoft.Compute/snapshots/write": Expect(
        "failed", "snapshot data-analyst--first-build--snap failed to provision"
    ),
    "Microsoft.Compute/disks/write": Expect("failed", "disk data-analyst--first-build--disk failed to provision"),
    "Microsoft.Compute/galleries/images/versions/write": Expect("failed", "creating gallery version 1.0.0 failed"),
}
"""Operations whose failed LRO must fail the run with this reason; the others are retried to completion."""


# -- report -----------------------------------------------------------------------------------------------


def findings(classes: list[FaultClass]) -> list[str]:
    """Every run that did not end as its class expects, and every leftover."""
    lines = []
    for c in classes:
        bad = [v for v in c.verdicts if v.outcome in ("unexpected", "lost")]
        if bad:
            lines.append(
                f"- **{c.name}**: {len(bad)} of {len(c.verdicts)} runs did not end as expected ({c.expected}): "
                f"`{short(bad[0].reason)}`"
            )
        for v in c.verdicts:
            if v.leaked:
                lines.append(
                    f"- **{c.name}**: temp resources left behind after the run ended: {', '.join(v.leftovers)}"
                )
    return lines


def report(classes: list[FaultClass], seconds: float) -> str:
    lines = [
        "# Reliability",
        "",
        f"Generated by `make reliability` (`python -m benchmarks.reliability`) on "
        f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC in {seconds:.0f} s. Do not edit by hand: re-run it.",
        "",
        "A *lifecycle* is build -> validation -> production of one workload (`localrun.scenario`: `build`, "
        "`promote`), on the simulator and the local bus (Service Bus semantics: sessions, duplicate detection, "
        "scheduled delivery, 10 deliveries then dead letter). Each run is judged once idle:",
        "",
        "- **expected**: the outcome the class must end in - completed, or failed with that exact reason;",
        "- **completed** / **failed with reason**: runs that ended as expected, and only those;",
        "- **unexpected**: runs that ended otherwise (another reason, a dead letter instead of a failed run, "
        "completed where a failure was expected). Each is listed under its class;",
        "- **stuck**: neither - e.g. a run still running with nothing left to continue it, or a silently "
        "ignored request. Must be 0;",
        "- **leaked**: temp resources still tagged `avd-lifecycle-run` (`sim.live_resources(tag=...)`) once "
        "idle, without the sweeper. Must be 0;",
        "- **duplicates**: more than one version record per run, or gallery versions no record owns;",
        "- **disagreements**: what a reconcile pass, run after the class's runs, still finds between the "
        "records and the gallery (a dry second pass of `shared.steps.reconcile.check`). Must be 0.",
        "",
        "| fault class | expected | runs | completed | failed with reason | unexpected | stuck | leaked "
        "| duplicates | disagreements |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]

    def bold(n: int) -> str:
        return f"**{n}**" if n else "0"

    for c in classes:
        lines.append(
            f"| {c.name} | {c.expected} | {len(c.verdicts)} | {c.count('completed')} | {c.count('failed')} "
            f"| {bold(c.count('unexpected'))} | {bold(c.count('lost'))} | {bold(c.leaked)} | {bold(c.duplicates)} "
            f"| {bold(c.disagreements)} |"
        )
    total_lost = sum(c.count("lost") for c in classes)
    total_leaked = sum(c.leaked for c in classes)
    total_dup = sum(c.duplicates for c in classes)
    total_unexpected = sum(c.count("unexpected") for c in classes)
    total_disagree = sum(c.disagreements for c in classes)
    lines += [
        "",
        f"Totals: {sum(len(c.verdicts) for c in classes)} runs, unexpected {total_unexpected}, stuck {total_lost}, "
        f"leaked {total_leaked}, duplicate versions {total_dup}, disagreements after reconcile {total_disagree}.",
        "",
    ]
    found = findings(classes)
    if found:
        lines += [
            "## Findings",
            "",
            "Generated from the results: runs that did not end as their class expects, and leftovers.",
            "",
            *found,
            "",
        ]
    for c in classes:
        lines += [f"## {c.name}", "", c.how, ""]
        reasons = c.reasons()
        if reasons:
            lines += ["Failure reasons (first line):", ""]
            lines += [f"- {n} x `{r}`" for r, n in reasons.most_common(12)]
            lines.append("")
        lost = [v for v in c.verdicts if v.outcome == "lost"]
        if lost:
            lines += ["**Stuck:**", ""] + [f"- {v.workload}: {short(v.reason)}" for v in lost[:20]] + [""]
        odd = [v for v in c.verdicts if v.outcome == "unexpected"]
        if odd:
            lines += ["**Unexpected:**", ""] + [f"- {v.workload}: {short(v.reason)}" for v in odd[:20]] + [""]
        leaks = [v for v in c.verdicts if v.leaked or v.duplicates]
        if leaks:
            lines += [
                f"- {v.workload}: leaked {v.leaked} ({', '.join(v.leftovers)}), duplicates {v.duplicates}"
                for v in leaks[:10]
            ] + [""]
        if c.notes:
            shown = c.notes[:25]
            lines += ["Notes:", ""] + [f"- {n}" for n in shown]
            if len(c.notes) > len(shown):
                lines.append(f"- ... and {len(c.notes) - len(shown)} more")
            lines.append("")
    return "\n".join(lines).rstrip() + "\n"


def _healing(catalog: Catalog, seeds: int) -> list[FaultClass]:
    return healing_classes(catalog, seeds)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.reliability")
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--crash-workload", default="data-analyst")
    parser.add_argument("--output", default=str(DOCS / "reliability.md"))
    parser.add_argument("--only", default="", help="comma-separated: dup,reorder,crash,azure,azurite,input,heal")
    args = parser.parse_args(argv)
    only = set(filter(None, args.only.split(",")))
    catalog = repo_catalog()
    started = time.perf_counter()
    classes: list[FaultClass] = []
    with quiet_logs():
        steps: list[tuple[str, Callable[[], FaultClass | list[FaultClass]]]] = [
            ("dup", lambda: duplicated(catalog)),
            ("reorder", lambda: reordered(catalog, args.seeds)),
            ("crash", lambda: crashes(catalog, args.crash_workload)),
            ("azure", lambda: azure_faults(catalog, "data-analyst", args.seeds)),
            ("azurite", lambda: azurite_restart(catalog, "data-analyst", (3, 40, 75))),
            ("input", lambda: bad_input(catalog)),
            ("heal", lambda: _healing(catalog, min(args.seeds, 3))),
        ]
        for key, run in steps:
            if only and key not in only:
                continue
            print(f"{key} ...", flush=True)
            result = run()
            classes += result if isinstance(result, list) else [result]
    text = report(classes, time.perf_counter() - started)
    Path(args.output).write_text(text, encoding="utf-8")
    print(f"wrote {args.output}")
    summary = {
        c.name: (len(c.verdicts), c.count("lost"), c.leaked, c.duplicates, c.disagreements, c.count("unexpected"))
        for c in classes
    }
    print(json.dumps(summary))
    return 1 if any(v[1] or v[2] or v[3] or v[4] for v in summary.values()) else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
