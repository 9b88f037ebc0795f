"""What the benchmarks, the reliability suite and their smoke tests share.

- catalogs of many workloads cloned from catalog/office.toml (unique names and image definitions);
- `Probe`: counts handler invocations, record-store round trips and commits (= state transitions)
  and marks phases at every command a scenario submits;
- the reference chains of a scenario's phases (benchmarks/reference.py: what any tool must wait
  for, and a Packer-style build), priced from the duration table the simulator used in the run.
"""

from __future__ import annotations

import contextlib
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from benchmarks import reference
from benchmarks.reference import Op
from localrun.runtime import LocalRuntime
from shared.domain.catalog import Catalog, Workload, load_catalog, parse_workload
from shared.domain.commands import Command, Promote, Rollback, StartBuild
from shared.domain.records import Changes

ROOT = Path(__file__).resolve().parents[1]
CATALOG = ROOT / "catalog"
DOCS = ROOT / "docs"


# -- catalogs ---------------------------------------------------------------------------------------


def repo_catalog() -> Catalog:
    return load_catalog(CATALOG)


def office_template() -> Workload:
    workload, issues = parse_workload((CATALOG / "office.toml").read_text(encoding="utf-8"), "office.toml")
    if workload is None:
        raise RuntimeError(f"catalog/office.toml does not load: {issues}")
    return workload


def cloned_catalog(count: int, prefix: str = "wl") -> Catalog:
    """`count` workloads built from office.toml: own name, own image definition (the sprawl guard)."""
    template = office_template().model_dump()
    workloads = []
    for i in range(count):
        data = dict(template)
        data["name"] = f"{prefix}-{i:04d}"
        data["gallery"] = {**template["gallery"], "definition": f"{template['gallery']['definition']}-{i:04d}"}
        workloads.append(Workload.model_validate(data))
    return Catalog(workloads=tuple(workloads))


# -- instrumentation --------------------------------------------------------------------------------


@dataclass
class Invocation:
    """One handler invocation (a Service Bus delivery or an Event Grid event)."""

    kind: str  # "step", "approval", "event"
    round_trips: int
    commits: int
    label: str = ""


@dataclass
class Phase:
    """Everything between one submitted command and the next."""

    label: str
    command: Command
    start: datetime
    request_index: int
    commit_times: list[datetime] = field(default_factory=list)
    end_request_index: int = 0
    serves_test_at: datetime | None = None  # a build: the commit that moved the test pointer to its version
    # A build or prepare run: what the source VM's simulated guest had installed when it was asked for.
    source: reference.SourceState | None = None

    @property
    def end(self) -> datetime:
        return max(self.commit_times, default=self.start)

    @property
    def busy_seconds(self) -> float:
        """Virtual time from the command to the last state change it caused."""
        return (self.end - self.start).total_seconds()

    @property
    def critical_seconds(self) -> float:
        """A build ends when its version serves test (its validation runs on, gating promotion);
        any other phase at its last state change."""
        if isinstance(self.command, StartBuild) and self.serves_test_at is not None:
            return (self.serves_test_at - self.start).total_seconds()
        return self.busy_seconds


class Probe:
    """Instruments a LocalRuntime without changing its behaviour.

    Wraps (per instance) the three entry points the triggers call, the store's `commit` and the
    runtime's `submit`. A commit is one state transition: it writes one single-partition
    transaction (state + audit).
    """

    def __init__(self, runtime: LocalRuntime) -> None:
        self.runtime = runtime
        self.invocations: list[Invocation] = []
        self.spans: list[tuple[int, int, str]] = []  # (first, end) request-log indexes of an invocation, its label
        self.phases: list[Phase] = []
        self.commits = 0
        records: Any = runtime.records
        self._store = records
        original_commit = records.commit

        def commit(changes: Changes) -> None:
            original_commit(changes)
            self.commits += 1
            if self.phases:
                phase = self.phases[-1]
                phase.commit_times.append(runtime.sim.clock.now())
                test = changes.pointers.test if changes.pointers is not None else None
                if isinstance(phase.command, StartBuild) and test is not None and phase.serves_test_at is None:
                    run = changes.run
                    if run is not None and run.run_id == phase.command.run_id and run.version == test:
                        phase.serves_test_at = runtime.sim.clock.now()

        records.commit = commit
        entry: Any = runtime.entrypoints
        for name, kind in (("step_message", "step"), ("approval", "approval"), ("arm_event", "event")):
            setattr(entry, name, self._counted(getattr(entry, name), kind))
        original_submit = runtime.submit

        def submit(*commands: Command) -> None:
            for command in commands:
                if not self._same_promotion(command):  # a second approval belongs to the same phase
                    self._open_phase(command)
            original_submit(*commands)

        runtime.submit = submit  # type: ignore[method-assign]
        # What this run's Azure drew for each timed operation (seeded variance): the reference
        # chains are priced from it, so Azure's randomness moves both sides alike.
        self.draws: list[tuple[datetime, str, float]] = []
        ctx: Any = getattr(runtime.sim, "ctx", None)
        if ctx is not None and hasattr(ctx, "seconds"):
            drawn = ctx.seconds

            def seconds(key: str) -> float:
                value = float(drawn(key))
                self.draws.append((runtime.sim.clock.now(), key, value))
                return value

            ctx.seconds = seconds

    @property
    def round_trips(self) -> int:
        return int(self._store.round_trips)

    def _counted(self, handler: Callable[..., Any], kind: str) -> Callable[..., Any]:
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            trips, commits = self.round_trips, self.commits
            first = len(self.runtime.sim.request_log)
            try:
                return handler(*args, **kwargs)
            finally:
                label = _message_label(kind, args)
                self.invocations.append(Invocation(kind, self.round_trips - trips, self.commits - commits, label))
                self.spans.append((first, len(self.runtime.sim.request_log), label.removesuffix(" (after an event)")))

        return wrapped

    def _same_promotion(self, command: Command) -> bool:
        last = self.phases[-1].command if self.phases else None
        if not isinstance(command, Promote) or not isinstance(last, Promote):
            return False
        return (last.workload, last.version, last.target_stage) == (
            command.workload,
            command.version,
            command.target_stage,
        )

    def _open_phase(self, command: Command) -> None:
        log_size = len(self.runtime.sim.request_log)
        if self.phases:
            self.phases[-1].end_request_index = log_size
        phase = Phase(_label(command), command, self.runtime.sim.clock.now(), log_size)
        if isinstance(command, StartBuild):
            phase.source = reference.installed_on(self.runtime.sim, command.workload)
        self.phases.append(phase)

    def close(self) -> None:
        if self.phases:
            self.phases[-1].end_request_index = len(self.runtime.sim.request_log)

    def requests(self, phase: Phase) -> dict[str, int]:
        entries = self.runtime.sim.request_log[phase.request_index : phase.end_request_index]
        reads = sum(1 for e in entries if e.is_read)
        return {"reads": reads, "writes": len(entries) - reads, "total": len(entries)}

    def reads_by_message(self, phases: list[Phase]) -> Counter[str]:
        """ARM reads of the phases per message (step) that made them; the rest (approvals' own) as "other"."""
        log = self.runtime.sim.request_log
        wanted = [(p.request_index, p.end_request_index) for p in phases]
        counted: Counter[str] = Counter()
        seen = 0
        for first, end, label in self.spans:
            for i in range(first, end):
                if log[i].is_read and any(lo <= i < hi for lo, hi in wanted):
                    counted[label] += 1
                    seen += 1
        reads = sum(1 for lo, hi in wanted for e in log[lo:hi] if e.is_read)
        if reads > seen:
            counted["other"] += reads - seen
        return counted

    def actions(self, phase: Phase) -> list[str]:
        return [e.action for e in self.runtime.sim.request_log[phase.request_index : phase.end_request_index]]

    def by_step(self) -> dict[str, tuple[int, int, int]]:
        """label -> (invocations, commits, round trips)."""
        table: dict[str, tuple[int, int, int]] = {}
        for i in self.invocations:
            count, commits, trips = table.get(i.label, (0, 0, 0))
            table[i.label] = (count + 1, commits + i.commits, trips + i.round_trips)
        return table

    def transition_stats(self) -> dict[str, float]:
        """Round trips per state transition, over every invocation and over the committing ones."""
        committing = [i for i in self.invocations if i.commits]
        idle = [i for i in self.invocations if not i.commits]
        trips = sum(i.round_trips for i in self.invocations)
        return {
            "invocations": len(self.invocations),
            "transitions": sum(i.commits for i in self.invocations),
            "round_trips": trips,
            "per_transition_all": trips / max(1, sum(i.commits for i in self.invocations)),
            "per_transition_committing": sum(i.round_trips for i in committing)
            / max(1, sum(i.commits for i in committing)),
            "max_per_committing_invocation": max((i.round_trips / i.commits for i in committing), default=0),
            "noop_invocations": len(idle),
            "noop_round_trips": sum(i.round_trips for i in idle),
        }


def _message_label(kind: str, args: tuple[Any, ...]) -> str:
    """A message id without its workload and attempt (`run:step`, `version:validate` ...)."""
    if kind == "event":
        event = args[0] if args else {}
        data = event.get("data", {}) if isinstance(event, dict) else {}
        operation = str(data.get("operationName", "?")) if isinstance(data, dict) else "?"
        return f"event {operation.removeprefix('Microsoft.')}"
    message_id = str(args[0]) if args else ""
    parts = message_id.split(":")[1:]
    if len(parts) >= 2 and parts[0] not in ("rollback", "prune"):
        parts = parts[1:]  # the run id or the version
    name = parts[0] if parts else "?"
    return f"{kind} {name}" + (" (after an event)" if message_id.endswith(":event") else "")


def _label(command: Command) -> str:
    if isinstance(command, StartBuild) and command.prepare_only:
        return f"prepare {command.run_id} (source VM only)"
    if isinstance(command, StartBuild):
        return f"build {command.run_id} ({command.reason.value})"
    if isinstance(command, Promote):
        return f"promote {command.version} to {command.target_stage.value}"
    if isinstance(command, Rollback):
        return "rollback"
    return type(command).__name__


# -- the phases of localrun.scenario.full_lifecycle, by position -------------------------------------

FIRST_LIFECYCLE = slice(0, 3)  # first build, validation, production
DR_PHASE = 3
PREPARE_PHASE = 4  # the month's prepare run on the source VM, days before the patch build (its own row)
PATCH_LIFECYCLE = slice(5, 8)  # the patch build, validation, production
ROLLBACK_PHASE = 8


# -- the reference chains (benchmarks/reference.py) --------------------------------------------------


class PricedTable(dict[str, float]):
    """Seconds per kind of operation; a kind in `reference.IN_ORDER` gives its phase's draws one read
    at a time (the chain's first VM create is the run's first VM create), then their mean."""

    def __init__(self, prices: dict[str, float], in_order: dict[str, list[float]]) -> None:
        super().__init__(prices)
        self._queues = {key: list(values) for key, values in in_order.items()}

    def __getitem__(self, key: str) -> float:
        queue = self._queues.get(key)
        return queue.pop(0) if queue else super().__getitem__(key)


def priced_table(
    runtime: LocalRuntime, phase: Phase, draws: list[tuple[datetime, str, float]] | None
) -> dict[str, float]:
    """The duration table a phase's chain is priced from.

    Without variance: the simulator's table. With seeded variance: each operation at what this
    run's Azure drew for its kind during the phase (draws before the phase's critical end, not at
    it): the kinds of `reference.IN_ORDER` draw by draw in the order Azure made them, the others at
    the mean of their draws; a kind not drawn at the table's expected value
    (`reference.mean_variance_factor`), and the guest's own work, which the simulator does not vary,
    at the table's (`GUEST_WORK`). The number of operations still comes from the chain alone, never
    from what the product did.
    """
    table = dict(runtime.sim.durations)
    if not variance_on(runtime):
        return table
    factor = reference.mean_variance_factor()
    end = phase.start + timedelta(seconds=phase.critical_seconds)
    drawn: dict[str, list[float]] = {}
    for when, key, value in draws or []:
        if phase.start <= when < end:
            drawn.setdefault(key, []).append(value)
    prices = {
        key: (
            sum(drawn[key]) / len(drawn[key])
            if key in drawn
            else value
            if key in reference.GUEST_WORK
            else value * factor
        )
        for key, value in table.items()
    }
    return PricedTable(prices, {key: values for key, values in drawn.items() if key in reference.IN_ORDER})


def reference_paths(
    runtime: LocalRuntime, phases: list[Phase], draws: list[tuple[datetime, str, float]] | None = None
) -> list[list[Op]]:
    """The reference chain of every phase, in order (rollback and unknown commands: nothing to wait for).

    A build's (or prepare run's) chain depends on the workload's source VM: created by its first
    run, then as the simulated guest had it when the run was asked for (`Phase.source`, read by
    the Probe from the simulator), else in the state the scenario's earlier runs left it (their
    customizations at their times). Never from what the product recorded. Prices: `priced_table`.
    """
    sources: dict[str, reference.SourceState | None] = {}
    chains: list[list[Op]] = []
    for phase in phases:
        command = phase.command
        d = priced_table(runtime, phase, draws)
        ops: list[Op] = []
        if isinstance(command, StartBuild):
            workload = runtime.catalog.get(command.workload)
            first = command.workload not in sources
            expected = reference.fresh_source(workload, phase.start) if first else sources[command.workload]
            source = expected if phase.source is None else phase.source
            chain = reference.reference_prepare if command.prepare_only else reference.reference_build
            ops = chain(d, workload, phase.start, source, first=first)
            sources[command.workload] = reference.after_build(workload, source, phase.start)
        elif isinstance(command, Promote):
            ops = reference.reference_promotion(d, runtime.catalog.get(command.workload), command.target_stage)
        chains.append(ops)
    return chains


def reference_path(runtime: LocalRuntime, phase: Phase, phases: list[Phase]) -> list[Op]:
    """The reference chain of one phase of `phases` (at the table's prices)."""
    return reference_paths(runtime, phases)[phases.index(phase)]


def packer_chain(
    runtime: LocalRuntime, phase: Phase, draws: list[tuple[datetime, str, float]] | None = None
) -> list[Op]:
    """The Packer-style chain for a build phase, priced like the reference chains (`priced_table`)."""
    command = phase.command
    assert isinstance(command, StartBuild)
    d = priced_table(runtime, phase, draws)
    return reference.packer_chain(d, runtime.catalog.get(command.workload), phase.start)


def variance_on(runtime: LocalRuntime) -> bool:
    """Whether the run's simulator draws its durations (seeded variance)."""
    variance = getattr(getattr(runtime.sim, "ctx", None), "variance", None)
    return bool(getattr(variance, "on", False))


@contextlib.contextmanager
def quiet_logs() -> Iterator[None]:
    """The product logs every refusal at WARNING; benchmarks provoke thousands of them on purpose."""
    import logging

    previous = logging.root.manager.disable
    logging.disable(logging.WARNING)
    try:
        yield
    finally:
        logging.disable(previous)
