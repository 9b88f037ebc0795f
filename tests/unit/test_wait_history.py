"""Waits start from what is known: a workload's measured durations, Azure's progress, and events as news."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from shared.config import Settings
from shared.domain.catalog import load_catalog
from shared.domain.commands import StartBuild
from shared.domain.compute import GalleryVersionState, ManagedScriptResult, OperationState, RegionReplication
from shared.domain.model import BuildReason, ImageVersion, PendingOperation, Pointers, Run, VersionNumber
from shared.domain.records import Changes
from shared.steps import history, replication, runs, waits
from shared.steps.build_image import step_sysprep
from shared.steps.outcome import recheck_delay
from shared.steps.step_context import StepContext
from tests.unit.fakes import make_deps, target

ROOT = Path(__file__).resolve().parents[2]
CATALOG = load_catalog(ROOT / "catalog")
T0 = datetime(2026, 11, 2, 8, 0, tzinfo=UTC)
SYSPREP = timedelta(seconds=537)  # how long this (simulated) sysprep takes; no product constant


def _run(**changes: object) -> Run:
    base = Run(workload="office", run_id="r1", reason=BuildReason.PATCH, requested_by="a@b.c", started_at=T0)
    return base.evolve(**changes)


def test_a_measured_duration_starts_the_plain_back_off_near_its_end() -> None:
    """With last run's duration, the first plain look comes at AHEAD of it and later ones in finer steps."""
    expected = 600.0
    assert waits.first_look(None, expected=expected) == timedelta(seconds=expected * waits.AHEAD)
    at = timedelta(seconds=expected * waits.AHEAD)
    assert waits.backoff(T0, T0 + at, expected=expected) == at * waits.NEAR < at * waits.GROWTH
    assert waits.first_look(None) == waits.OPENING  # nothing measured: Azure's hint or the opening


def test_a_short_measured_duration_changes_nothing() -> None:
    """A duration within the back-off's floor phase saves no read: the plain schedule stays."""
    for expected in (20.0, 60.0):
        assert waits.first_look(None, expected=expected) == waits.first_look(None)
        assert waits.backoff(T0, T0 + timedelta(seconds=45), expected=expected) == waits.backoff(
            T0, T0 + timedelta(seconds=45)
        )


def test_the_safety_net_waits_past_the_expected_end() -> None:
    """Events trusted: the first look is EVENT_ALLOWANCE past the measured duration, not before its end."""
    assert (
        waits.first_look(None, event_grid=True, event_lag=0.0, expected=1200.0)
        == timedelta(seconds=1200) + waits.EVENT_ALLOWANCE
    )
    # events measured late: the plain look at AHEAD of the duration is the faster news
    assert waits.first_look(None, event_grid=True, event_lag=90.0, expected=1200.0) == timedelta(seconds=600)


def test_a_predicted_end_is_a_safety_net_only_while_events_come_at_once() -> None:
    """Azure's progress predicts the end: look there, unless events come at once (then past it)."""
    until = timedelta(minutes=9)
    assert waits.predicted(until) == until
    assert waits.predicted(until, event_grid=True, event_lag=0.0) == until + waits.EVENT_ALLOWANCE
    assert waits.predicted(until, event_grid=True, event_lag=None) == until + waits.EVENT_ALLOWANCE
    assert waits.predicted(until, event_grid=True, event_lag=60.0) == until


@dataclass
class Resealing:
    """A temp VM whose sysprep command reports (resealed) at a given virtual time; counts the reads."""

    clock: list[datetime]
    stops_at: datetime
    reads: int = 0
    retry_after: float | None = None
    calls: list[str] = field(default_factory=list)

    def id_of(self, resource_type: str, name: str) -> str:
        return f"/{resource_type}/{name}"

    def managed_script_result(self, vm_name: str, name: str) -> ManagedScriptResult | None:
        self.reads += 1
        if self.clock[0] < self.stops_at:
            return None
        report = '{"imageState":"IMAGE_STATE_GENERALIZE_RESEAL_TO_OOBE","sysprepRunning":false,"errors":[]}'
        return ManagedScriptResult("Succeeded", 0, report, "", started=T0)


def _sysprep_looks(took: dict[str, float]) -> tuple[int, timedelta]:
    """Drive step_sysprep without events on the virtual clock until its command reports: (reads, overshoot)."""
    clock = [T0]
    compute = Resealing(clock, T0 + SYSPREP)
    deps = make_deps(CATALOG, compute=compute)  # type: ignore[arg-type]
    deps.settings = Settings(event_grid=False)
    pointers = Pointers(workload="office", took=took)
    pending = PendingOperation(kind="managed:sysprep", resource_id="vm", started_at=T0, operation="avd-sysprep")
    run = _run(step="sysprep", pending=pending, step_started_at=T0)
    wait = StepContext(deps, CATALOG.get("office"), run, None, T0, pointers).first_look("managed:sysprep")
    while True:
        clock[0] += wait
        ctx = StepContext(deps, CATALOG.get("office"), run, None, clock[0], pointers)
        outcome = step_sysprep(ctx)
        if outcome.next_step == "deallocate":
            return compute.reads, clock[0] - (T0 + SYSPREP)
        assert outcome.wait is not None
        assert outcome.pending is not None
        run, wait = run.evolve(pending=outcome.pending), outcome.wait


def test_sysprep_starts_from_the_workloads_last_measured_duration() -> None:
    """Without events sysprep shows no progress: last run's duration saves most of its reads and halves the overshoot."""
    blind_reads, blind_over = _sysprep_looks({})
    known_reads, known_over = _sysprep_looks({"managed:sysprep": 560.0})
    assert blind_reads >= 12  # from the opening, backing off by GROWTH
    assert known_reads <= 8  # the first look at half of last run's time (Azure's times vary), then a tenth apart
    assert known_over <= SYSPREP * waits.NEAR
    assert known_over < blind_over or blind_over <= SYSPREP * waits.NEAR


def test_a_run_records_how_long_each_operation_took_and_varying_scripts_are_left_out() -> None:
    """An operation is measured when its step moves on or waits for another kind; a Windows Update
    pass or a BitLocker script never is; sysprep, the inventories and customizations are."""
    now = T0 + timedelta(seconds=300)
    waiting = _run(pending=PendingOperation(kind="vm-create", started_at=T0))
    assert history.took(waiting, now, None) == {"vm-create": 300.0}
    same = PendingOperation(kind="vm-create", started_at=T0, checks=1)
    assert history.took(waiting, now, same) == {}  # still waiting for it
    for varying in ("managed:wu0-p0", "managed:wu2-p3", "script:source-bitlocker-off", "managed:c0-p0x"):
        script = _run(pending=PendingOperation(kind=varying, started_at=T0))
        assert history.took(script, now, None) == {}, varying
        assert history.expected(Pointers(workload="office", took={varying: 9.0}), varying) is None
    for steady in (
        "managed:sysprep",
        "managed:inventory",
        "managed:clone-inventory",
        "managed:c1-p0",
        "managed:c12-p0",
    ):
        same_work = _run(pending=PendingOperation(kind=steady, started_at=T0))  # the same work every run
        assert history.took(same_work, now, None) == {steady: 300.0}
        assert history.expected(Pointers(workload="office", took={steady: 9.0}), steady) == 9.0


def test_a_succeeded_run_leaves_its_durations_and_event_lag_on_the_pointers() -> None:
    """The next run reads them with its run (one query): newer measurements replace older ones."""
    pointers = Pointers(workload="office", took={"sysprep": 500.0, "deallocate": 70.0}, event_lag=3.0)
    kept = history.kept(pointers, _run(took={"sysprep": 610.0}, event_lag=95.0))
    assert kept.took == {"sysprep": 610.0, "deallocate": 70.0}
    assert kept.event_lag == 95.0
    assert history.expected(kept, "sysprep") == 610.0
    assert history.expected(kept, "capture") is None
    assert history.kept(kept, _run()).event_lag == 95.0  # a run no event continued keeps the last lag


def _replicating(progress: int) -> GalleryVersionState:
    return GalleryVersionState(
        id="/versions/1.0.0",
        name="1.0.0",
        provisioning=OperationState.SUCCEEDED,
        aggregated="InProgress",
        regions=(RegionReplication("westeurope", "Replicating", progress),),
        target_regions=("westeurope",),
        exclude_from_latest=True,
        end_of_life=None,
    )


def test_a_replications_predicted_end_is_a_safety_net_when_the_workloads_events_came_at_once() -> None:
    """Replication progress predicts its end; with events measured prompt the look waits past it for the event."""
    version = ImageVersion(
        workload="office",
        version=VersionNumber.parse("1.0.0"),
        display_name="office 1.0.0",
        build_reason=BuildReason.FIRST,
        run_id="r1",
        requested_by="a@b.c",
        created_at=T0,
        source_image="urn",
    )
    now, wanted = T0 + timedelta(minutes=5), (target("westeurope"),)

    def wait(**kwargs: object) -> timedelta | None:
        return replication.judge(_replicating(50), version, wanted, T0, now, **kwargs).wait  # type: ignore[arg-type]

    plain = wait()
    assert plain is not None
    assert timedelta(minutes=5) <= plain < timedelta(minutes=6)  # half done after 5 minutes: about 5 more
    assert wait(event_grid=True, event_lag=0.0) == plain + waits.EVENT_ALLOWANCE
    # events late: the look comes sooner, from the 6 s floor of late events: at the soonest end a
    # whole percent allows (49 % left after 51 % would be), whose doubt (12 s) the next reading narrows
    assert wait(event_grid=True, event_lag=80.0) == timedelta(seconds=300 * 49 / 51) < plain


@pytest.mark.parametrize("kind", ["vm-create", "managed:sysprep", "version-create"])
def test_the_step_context_gives_the_measured_duration_to_its_waits(kind: str) -> None:
    """A step's first look and back-off use what the same kind of operation took last time."""
    deps = make_deps(CATALOG)
    pointers = Pointers(workload="office", took={kind: 900.0})
    ctx = StepContext(deps, CATALOG.get("office"), _run(), None, T0, pointers)
    assert ctx.first_look(kind, evented=False) == timedelta(seconds=900 * waits.AHEAD)
    assert ctx.first_look("snapshot", evented=False) == waits.first_look(None)


def test_a_new_run_starts_from_the_event_lag_its_workload_measured() -> None:
    """How late events came to the last run is known before this run's first event: its waits use it."""
    deps = make_deps(CATALOG)
    deps.records.commit(Changes(workload="office", pointers=Pointers(workload="office", event_lag=70.0)))
    command = StartBuild(workload="office", run_id="run-2", reason=BuildReason.PATCH, requested_by="a@b.c")
    runs.start_build(command, deps)
    run = deps.records.find_run("office", "run-2")
    assert run is not None
    assert run.event_lag == 70.0


def test_a_progress_prediction_lands_within_seconds_of_the_end() -> None:
    """Whole-percent progress already errs late: the look past the predicted end adds seconds, not a floor's worth."""
    nine_tenths = recheck_delay(timedelta(minutes=9), 90, waits.SHORTEST, timedelta(hours=1))
    assert timedelta(minutes=1) < nine_tenths < timedelta(minutes=1) + waits.SHORTEST


def test_an_early_whole_percent_looks_again_when_the_end_could_first_come() -> None:
    """4 % after 15 s: the end may come once 5 % would be, 285 s on, not the 360 s 4 % predicts."""
    early = recheck_delay(timedelta(seconds=15), 4, waits.SHORTEST, timedelta(hours=1))
    assert early == timedelta(seconds=15 * 95 / 5)
    # a Run Command reading (BitLocker) is dear: no narrowing look, the prediction with its slack
    blunt = recheck_delay(timedelta(seconds=15), 4, waits.SHORTEST, timedelta(hours=1), narrow=False)
    assert blunt > timedelta(seconds=15 * 96 / 4)
