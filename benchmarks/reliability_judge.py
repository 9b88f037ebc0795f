"""How `make reliability` judges one disturbed run: the outcomes its report counts.

Apart from the fault classes (reliability.py, reliability_healing.py, ...) so that each of
them builds on it without importing another: the outcomes are described in reliability.py.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from localrun.runtime import LocalRuntime
from localrun.scenario import build, promote
from shared.domain.commands import Reconcile
from shared.domain.compute import RUN_TAG, WORKLOAD_TAG
from shared.domain.model import BuildReason, RunState, Stage, Status
from shared.steps import reconcile

VERSION_TYPE = "Microsoft.Compute/galleries/images/versions"


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
        return Counter(short(v.reason) for v in self.verdicts if v.outcome == "failed")


def short(reason: str) -> str:
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
