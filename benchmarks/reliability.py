"""`python -m benchmarks.reliability`: every fault class against whole lifecycles -> docs/reliability.md.

A lifecycle here is build -> validation -> production of one workload (`tests.e2e.scenario`). Every
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
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from benchmarks.common import DOCS, ROOT, quiet_logs, repo_catalog
from benchmarks.reliability_scenarios import scenario_lines
from localrun.runtime import LocalRuntime
from shared.adapters.table_records import TableRecordStore
from shared.domain.catalog import Catalog, CatalogError, load_catalog
from shared.domain.commands import Envelope, Reconcile, StartBuild
from shared.domain.compute import RUN_TAG, WORKLOAD_TAG
from shared.domain.model import BuildReason, RunState, Stage, Status
from shared.steps import reconcile
from tests.e2e.scenario import BUILDER, CrashingStore, InjectedCrash, build, promote

VERSION_TYPE = "Microsoft.Compute/galleries/images/versions"


# -- judging ----------------------------------------------------------------------------------------------


@dataclass
class Verdict:
    workload: str
    outcome: str  # "completed", "failed", "unexpected", "lost" (= stuck)
    reason: str = ""
    leaked: int = 0
    duplicates: int = 0
    leftovers: list[str] = field(default_factory=list)
    disagreements: int = 0


@dataclass(frozen=True)
class Expect:
    """What a fault class should end in: completed, or failed with `reason` in the run's (or version's) reason."""

    outcome: str = "completed"
    reason: str = ""

    def __str__(self) -> str:
        text = "completed" if self.outcome == "completed" else f"failed: {self.reason}"
        return text.replace("|", "/")  # shown in a Markdown table


COMPLETES = Expect()


def settle(verdict: Verdict, expect: Expect) -> Verdict:
    """Count only the expected outcome; anything else that ended is `unexpected`, with what was expected."""
    if verdict.outcome == "lost":
        return verdict
    if verdict.outcome == expect.outcome and expect.reason in verdict.reason:
        return verdict
    verdict.reason = f"expected {expect}, got {verdict.outcome}: {verdict.reason}"
    verdict.outcome = "unexpected"
    return verdict


@dataclass
class FaultClass:
    name: str
    how: str
    verdicts: list[Verdict] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    expect: Expect = COMPLETES

    def count(self, outcome: str) -> int:
        return sum(1 for v in self.verdicts if v.outcome == outcome)

    def add(self, verdict: Verdict, expect: Expect | None = None) -> Verdict:
        self.verdicts.append(settle(verdict, expect or self.expect))
        return verdict

    @property
    def disagreements(self) -> int:
        return sum(v.disagreements for v in self.verdicts)

    @property
    def expected(self) -> str:
        return str(self.expect)

    @property
    def leaked(self) -> int:
        return sum(v.leaked for v in self.verdicts)

    @property
    def duplicates(self) -> int:
        return sum(v.duplicates for v in self.verdicts)

    def reasons(self) -> Counter[str]:
        return Counter(_short(v.reason) for v in self.verdicts if v.outcome == "failed")


def _short(reason: str) -> str:
    first = reason.strip().splitlines()[0] if reason.strip() else "(empty)"
    return first[:110]


def judge(runtime: LocalRuntime, workload: str, *, expect: str = "1.0.0") -> Verdict:
    records = runtime.records
    runs = records.list_runs(workload)
    versions = records.list_versions(workload)
    pointers = records.get_pointers(workload)
    definition = runtime.catalog.get(workload).gallery.definition
    in_gallery = {
        r["name"]
        for r in runtime.sim.live_resources()
        if r["type"] == VERSION_TYPE and f"/images/{definition}/".lower() in r["id"].lower()
    }
    owned = {str(v.version) for v in versions if v.gallery_version_id and v.status is not Status.DELETED}
    per_run = Counter(v.run_id for v in versions)
    duplicates = sum(n - 1 for n in per_run.values() if n > 1) + len(in_gallery - owned)
    temp = runtime.sim.live_resources(tag=RUN_TAG)
    mine = [r for r in temp if r["tags"].get(WORKLOAD_TAG, workload) == workload]
    leftovers = [f"{r['type'].rsplit('/', 1)[-1]} {r['name']}" for r in mine]
    verdict = Verdict(workload, "lost", leaked=len(mine), duplicates=duplicates, leftovers=leftovers)
    verdict.disagreements = disagreements(runtime, workload)
    if any(r.state is RunState.RUNNING for r in runs):
        running = [r.run_id + "@" + r.step for r in runs if r.state is RunState.RUNNING]
        verdict.reason = f"still running once idle: {running}"
        return verdict
    if pointers.production is not None and str(pointers.production) == expect:
        verdict.outcome = "completed"
        return verdict
    failed_run = next((r for r in runs if r.state is RunState.FAILED and r.failure_reason), None)
    failed_version = next((v for v in versions if v.status is Status.FAILED and v.failure_reason), None)
    rejected = [m for m in records.list_rejections() if workload in m.body or workload in m.message_id]
    dead = [d for d in runtime.bus.dead_letters if d.envelope.session_id == workload]
    if failed_run is not None:
        verdict.outcome, verdict.reason = "failed", failed_run.failure_reason
    elif failed_version is not None:
        verdict.outcome, verdict.reason = "failed", failed_version.failure_reason
    elif dead:
        verdict.outcome, verdict.reason = "failed", f"dead-lettered: {dead[0].reason}: {dead[0].description}"
    elif rejected:
        verdict.outcome, verdict.reason = "failed", f"refused: {rejected[-1].reason}"
    else:
        running = [r.run_id + "@" + r.step for r in runs if r.state is RunState.RUNNING]
        stuck = [f"{v.version} {v.status.value}" for v in versions if v.status is not Status.READY]
        verdict.reason = f"running: {running}; versions: {stuck}; production: {pointers.production}"
    return verdict


def disagreements(runtime: LocalRuntime, workload: str) -> int:
    """Run a reconcile pass, then count what a second (dry) pass still finds."""
    if workload not in runtime.catalog:
        return 0
    runtime.submit(Reconcile(workload=workload, requested_at=runtime.sim.clock.now(), after="judge"))
    runtime.run()
    health, _ = reconcile.check(workload, runtime.deps, repair=False)
    return len(health.repairs) + len(health.flags) + len(health.unknown_versions)


def lifecycle(runtime: LocalRuntime, workload: str, run_id: str = "first-build") -> None:
    """Build, then validation and production - each approval only if the previous phase got there."""
    build(runtime, workload, run_id, BuildReason.FIRST)
    for stage in (Stage.VALIDATION, Stage.PRODUCTION):
        promote(runtime, workload, "1.0.0", stage)


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
                compute_fault.notes.append(f"k={k} {fault_name}: {verdict.outcome}: {_short(verdict.reason)}")
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
            commit_fault.notes.append(f"k={k} {crashed.crashed}: {verdict.outcome}: {_short(verdict.reason)}")
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
        lro.notes.append(f"{op.split('/', 1)[1]}: {verdict.outcome}: {_short(verdict.reason)}{left}")
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


# -- Azurite restarted mid-run ----------------------------------------------------------------------------

AZURITE = ROOT / "node_modules" / ".bin" / "azurite-table"
DEV_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="


FLUSH_SECONDS = 6.0  # Azurite's table store (LokiJS) autosaves every 5 s; SIGTERM does not flush


class PersistentAzurite:
    """Azurite with a --location folder, so its data survives a stop and a start on the same port."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            self.port = int(sock.getsockname()[1])
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def connection_string(self) -> str:
        return (
            f"DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey={DEV_KEY};"
            f"TableEndpoint=http://127.0.0.1:{self.port}/devstoreaccount1;"
        )

    def start(self) -> None:
        args = [str(AZURITE), "--tableHost", "127.0.0.1", "--tablePort", str(self.port)]
        args += ["--location", str(self.folder), "--disableTelemetry", "--skipApiVersionCheck", "--silent"]
        self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # noqa: S603
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{self.port}/devstoreaccount1/Tables", timeout=1)
                return
            except urllib.error.HTTPError:
                return
            except OSError:
                time.sleep(0.2)
        raise RuntimeError("Azurite did not start")

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(timeout=10)
            self.proc = None


def azurite_restart(catalog: Catalog, workload: str, cut_points: Iterable[int]) -> FaultClass:
    fault = FaultClass(
        "Azurite restarted mid-run",
        "Azurite started by the suite in persisted mode (`--location` a temp folder, not "
        "`--inMemoryPersistence`); the lifecycle runs `runtime.run(until=t)`, Azurite is stopped and started "
        "again on the same port and folder, then the lifecycle continues. Cut points t: minutes after the "
        "build started. Azurite's table store autosaves every 5 s and does not flush on SIGTERM, so the suite "
        "waits for a flush before stopping it (without that wait the restarted Azurite has lost the table: a "
        "storage loss, which Azure Table Storage does not have, rather than a restart).",
    )
    if not AZURITE.exists():
        fault.notes.append(f"not run: {AZURITE} missing (npm ci)")
        return fault
    for minutes in cut_points:
        folder = Path(tempfile.mkdtemp(prefix="azurite-"))
        azurite = PersistentAzurite(folder)
        azurite.start()
        try:
            store = TableRecordStore.from_connection_string(azurite.connection_string, "reliability")
            store.ensure_table()
            runtime = LocalRuntime(catalog, records=store)
            start = runtime.sim.clock.now()
            runtime.submit(
                StartBuild(workload=workload, run_id="first-build", reason=BuildReason.FIRST, requested_by=BUILDER)
            )
            runtime.run(until=start + timedelta(minutes=minutes))
            step_at_cut = store.find_run(workload, "first-build")
            time.sleep(FLUSH_SECONDS)  # let Azurite's LokiJS autosave flush: a restart, not a disk loss
            azurite.stop()
            azurite.start()
            runtime.run()
            for stage in (Stage.VALIDATION, Stage.PRODUCTION):
                promote(runtime, workload, "1.0.0", stage)
            verdict = fault.add(judge(runtime, workload))
            fault.notes.append(
                f"cut at +{minutes} min (run at step {step_at_cut.step if step_at_cut else '-'}): {verdict.outcome}"
            )
        finally:
            azurite.stop()
            shutil.rmtree(folder, ignore_errors=True)
    return fault


# -- bad input --------------------------------------------------------------------------------------------


def bad_input(catalog: Catalog) -> list[FaultClass]:
    from tests.functions.conftest import signed
    from tests.functions.test_bad_input import ARM, BAD_APPROVALS, BAD_EVENTS, BAD_STEPS

    approvals = FaultClass(
        "bad approvals",
        f"Every body in `tests/functions/test_bad_input.py` `BAD_APPROVALS` ({len(BAD_APPROVALS)}) put on the "
        "approvals queue of a runtime with data-analyst 1.0.0 in test. Completed = n/a; each must be refused "
        "with the expected reason (failed with reason) and change nothing.",
    )
    runtime = LocalRuntime(catalog)
    build(runtime, "data-analyst", "first-build", BuildReason.FIRST)
    before = _snapshot(runtime)
    for case, body, reason in BAD_APPROVALS:
        runtime.approve(signed(body, runtime), message_id=f"bad-{case}")
        runtime.run()
        mine = [r for r in runtime.records.list_rejections() if r.message_id == f"bad-{case}"]
        dead = [d for d in runtime.bus.dead_letters if d.envelope.message_id == f"bad-{case}"]
        if mine and reason in mine[0].reason:
            approvals.verdicts.append(Verdict(case, "failed", mine[0].reason))
        elif dead:
            approvals.verdicts.append(Verdict(case, "unexpected", f"dead-lettered, not refused: {dead[0].description}"))
        else:
            approvals.verdicts.append(Verdict(case, "lost", f"no rejection with {reason!r}"))
    if _snapshot(runtime) != before:
        approvals.notes.append("**records changed** by refused approvals")
    approvals.expect = Expect("failed", "refused with the case's reason, nothing changed")

    events = FaultClass(
        "bad Event Grid events and step messages",
        f"`BAD_EVENTS` ({len(BAD_EVENTS)}) through the Event Grid entry point and `BAD_STEPS` "
        f"({len(BAD_STEPS)}) on the step queue; each must be kept as a rejection with its reason.",
    )
    for case, data, reason in BAD_EVENTS:
        event = {"id": f"evt-{case}", "eventType": ARM, "subject": "s", "data": data, "dataVersion": "2"}
        event["eventTime"] = datetime(2026, 11, 2, 10, tzinfo=UTC).isoformat()
        handled = runtime.entrypoints.arm_event(event)
        events.verdicts.append(
            Verdict(case, "failed" if reason in handled.rejected else "lost", handled.rejected or "accepted")
        )
    for case, body, reason in BAD_STEPS:
        handled = runtime.entrypoints.step_message(f"step-{case}", body)
        events.verdicts.append(
            Verdict(case, "failed" if reason in handled.rejected else "lost", handled.rejected or "accepted")
        )
    if _snapshot(runtime) != before:
        events.notes.append("**records changed** by refused events")
    events.expect = Expect("failed", "kept as a rejection with the case's reason")

    catalogs = FaultClass(
        "catalog mistakes",
        "Broken workload files written to a temp folder next to a valid copy of office.toml and loaded with "
        "`load_catalog`; each must raise `CatalogError` whose issues name the field (or the cross-file rule) "
        "with file and reason. Refusals of approvals and events are written to the audit trail; "
        '"nothing changed" compares versions\' status, stage and approvals and the stage pointers.',
    )
    office = (ROOT / "catalog" / "office.toml").read_text(encoding="utf-8")
    mistakes: dict[str, tuple[str, str]] = {
        "toml-syntax": (office.replace('name = "office"', 'name = "office'), "(syntax)"),
        "missing-owner": (office.replace('owner = "euc-team@contoso.com"\n', ""), "owner"),
        "unknown-field": (office + '\ncolour = "blue"\n', "colour"),
        "bad-name": (office.replace('name = "office"', 'name = "Office Desktop"'), "name"),
        "duplicate-name": (office.replace("win11-24h2-office", "win11-24h2-office-2"), "is also defined in"),
        "duplicate-definition": (office.replace('name = "office"', 'name = "office-two"'), "image sprawl guard"),
        "bad-region": (office.replace('location = "westeurope"', 'location = "West Europe"'), "location"),
        "both-bases": (
            office.replace(
                "[gallery]",
                'source_vm = "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg/providers/'
                'Microsoft.Compute/virtualMachines/src"\n\n[gallery]',
            ),
            "base_image",
        ),
        "no-approvers": (
            office.replace(
                'approvers = [{ group = "9e4c7a21-5b6d-4c8e-a1f3-2d7b8e9c0f50", label = "Change board" }]'
                "\n\n[stages.dr]",
                "\n[stages.dr]",
            ),
            "stages",
        ),
        "duplicate-customization": (office.replace('name = "m365-apps"', 'name = "fslogix"'), "must be unique"),
        "huge-script": (
            office.replace('builtin = "windows-update"', f'script = "{"x" * 210_000}"'),
            "customizations",
        ),
        "bad-version-pin": (office.replace("pinned = []", 'pinned = ["1.0"]'), "retention.pinned"),
        "keep-zero": (office.replace("keep = 3", "keep = 0"), "retention.keep"),
        "bad-vm-size": (office.replace('vm_size = "Standard_D4s_v5"', 'vm_size = "D4s"'), "vm_size"),
        "empty-file": ("", "name"),
    }
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        for case, (text, field_name) in mistakes.items():
            for old in folder.glob("*.toml"):
                old.unlink()
            (folder / "office.toml").write_text(office, encoding="utf-8")
            (folder / f"{case}.toml").write_text(text, encoding="utf-8")
            try:
                load_catalog(folder)
            except CatalogError as error:
                named = [i for i in error.issues if field_name in i.field or field_name in i.reason]
                if named:
                    catalogs.verdicts.append(Verdict(case, "failed", str(named[0])))
                else:
                    catalogs.verdicts.append(Verdict(case, "lost", f"issues do not name {field_name}: {error}"))
            except Exception as error:
                catalogs.verdicts.append(Verdict(case, "lost", f"{type(error).__name__}: {error}"))
            else:
                catalogs.verdicts.append(Verdict(case, "lost", "accepted"))
    catalogs.expect = Expect("failed", "CatalogError naming file, field and reason")
    return [approvals, events, catalogs]


def _snapshot(runtime: LocalRuntime) -> Any:
    records = runtime.records
    return [
        (
            w,
            [(str(v.version), v.status, v.stage, v.approvals) for v in records.list_versions(w)],
            records.get_pointers(w).model_dump(exclude={"event_count"}),
        )
        for w in runtime.catalog.names
    ]


# -- report -----------------------------------------------------------------------------------------------


def findings(classes: list[FaultClass]) -> list[str]:
    """Every run that did not end as its class expects, and every leftover."""
    lines = []
    for c in classes:
        bad = [v for v in c.verdicts if v.outcome in ("unexpected", "lost")]
        if bad:
            lines.append(
                f"- **{c.name}**: {len(bad)} of {len(c.verdicts)} runs did not end as expected ({c.expected}): "
                f"`{_short(bad[0].reason)}`"
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
        "A *lifecycle* is build -> validation -> production of one workload (`tests.e2e.scenario`: `build`, "
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
    lines += scenario_lines()
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
            lines += ["**Stuck:**", ""] + [f"- {v.workload}: {_short(v.reason)}" for v in lost[:20]] + [""]
        odd = [v for v in c.verdicts if v.outcome == "unexpected"]
        if odd:
            lines += ["**Unexpected:**", ""] + [f"- {v.workload}: {_short(v.reason)}" for v in odd[:20]] + [""]
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
    from benchmarks.reliability_healing import healing_classes  # it builds on this module

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
