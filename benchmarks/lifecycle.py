"""The full lifecycle under a Probe, and the perturbation sweep around the duration table.

One measurement = `localrun.scenario.full_lifecycle` in a fresh LocalRuntime whose simulator
runs on the default duration table multiplied by `factor`, with Event Grid on or off. The
ratio of a run divides the product's virtual time by the reference chains priced from that
run's own table (`common.reference_paths`), so slower or faster Azure moves both sides alike
and only the product's waiting shows. A build's actual time ends when its version serves test
(the test pointer moved); its validation continues and gates the promotion to validation.

Seeds: when the simulator takes ``seed`` and ``event_latency`` (AVD_SIM_SEED and
AVD_SIM_EVENT_LATENCY, branch i11-sim-strict), each seed draws its own Event Grid delivery
latency (and duration variance); without them every seed would replay the same run, so only
the first is measured and the report says so.
"""

from __future__ import annotations

import inspect
import statistics
from dataclasses import dataclass
from typing import Any

from benchmarks.common import Phase, Probe, packer_chain, quiet_logs, reference_paths, repo_catalog
from localrun.runtime import START, LocalRuntime
from localrun.scenario import full_lifecycle
from shared.config import Settings
from shared.domain.commands import StartBuild
from shared.domain.records import RecordStore
from simulator import Simulator
from simulator.durations import DEFAULT_DURATIONS

FACTORS = (0.5, 0.75, 1.0, 1.25, 1.5, 2.0)
SEEDS = (1, 2, 3)
EVENT_LATENCY = (10.0, 120.0)  # seconds, uniform; i11-sim-strict's default for AVD_SIM_EVENT_LATENCY


def simulator_knobs() -> bool:
    """Whether this simulator build models seeded variance and Event Grid delivery latency."""
    parameters = inspect.signature(Simulator).parameters
    return "seed" in parameters and "event_latency" in parameters


def make_simulator(factor: float, seed: int | None, event_latency: bool) -> Simulator:
    settings = Settings()
    kwargs: dict[str, Any] = {
        "subscription_id": settings.subscription_id,
        "start": START,
        "auto_advance_on_poll": False,
        "durations": {key: value * factor for key, value in DEFAULT_DURATIONS.items()},
    }
    if simulator_knobs():
        # seed None: exactly the table; latency 0 when the run asks for none.
        kwargs["seed"] = seed
        kwargs["event_latency"] = EVENT_LATENCY if event_latency else (0.0, 0.0)
    return Simulator(**kwargs)


@dataclass
class PhaseResult:
    phase: Phase
    ops: list[Any]
    actual: float
    reference: float
    requests: dict[str, int]


@dataclass
class Lifecycle:
    runtime: LocalRuntime
    probe: Probe
    marks: Any
    phases: list[PhaseResult]
    factor: float
    seed: int | None
    event_grid: bool

    @property
    def ratio(self) -> float:
        return sum(p.actual for p in self.phases) / max(1e-9, sum(p.reference for p in self.phases))

    def builds(self) -> list[PhaseResult]:
        """The runs that capture an image (prepare runs are not builds)."""
        return [p for p in self.phases if isinstance(p.phase.command, StartBuild) and not p.phase.command.prepare_only]

    def prepares(self) -> list[PhaseResult]:
        """The prepare runs: the source VM takes the month's updates, days before the patch build."""
        return [p for p in self.phases if isinstance(p.phase.command, StartBuild) and p.phase.command.prepare_only]

    @property
    def prepare_run_s(self) -> float:
        """The month's prepare run, submit to its last state change: off the patch build's critical path."""
        prepares = self.prepares()
        return prepares[-1].actual if prepares else 0.0

    @property
    def patch_build_s(self) -> float:
        """The patch build: submit until its version serves test (its validation runs on after)."""
        return self.builds()[-1].actual

    @property
    def packer_chain_s(self) -> float:
        return sum(op.seconds for op in packer_chain(self.runtime, self.builds()[-1].phase, self.probe.draws))


def measure_lifecycle(
    event_grid: bool,
    *,
    factor: float = 1.0,
    seed: int | None = None,
    latency: bool = False,
    records: RecordStore | None = None,
) -> Lifecycle:
    simulator = make_simulator(factor, seed, latency and event_grid)
    runtime = LocalRuntime(repo_catalog(), event_grid=event_grid, simulator=simulator, records=records)
    probe = Probe(runtime)
    with quiet_logs():
        marks = full_lifecycle(runtime)
    probe.close()
    phases = []
    for phase, ops in zip(probe.phases, reference_paths(runtime, probe.phases, probe.draws), strict=True):
        reference = sum(o.seconds for o in ops)
        phases.append(PhaseResult(phase, ops, phase.critical_seconds, reference, probe.requests(phase)))
    return Lifecycle(runtime, probe, marks, phases, factor, seed, event_grid)


@dataclass(frozen=True)
class SweepPoint:
    factor: float
    seed: int | None
    event_grid: bool
    ratio: float
    patch_build_s: float
    packer_chain_s: float


def sweep(factors: tuple[float, ...] = FACTORS, seeds: tuple[int, ...] = SEEDS) -> list[SweepPoint]:
    """Every factor x seed, Event Grid on (with delivery latency) and off."""
    chosen: tuple[int | None, ...] = seeds if simulator_knobs() else (None,)
    points = []
    for factor in factors:
        for seed in chosen:
            for event_grid in (True, False):
                run = measure_lifecycle(event_grid, factor=factor, seed=seed, latency=True)
                points.append(SweepPoint(factor, seed, event_grid, run.ratio, run.patch_build_s, run.packer_chain_s))
    return points


def summarize(points: list[SweepPoint], event_grid: bool) -> dict[str, float]:
    ratios = [p.ratio for p in points if p.event_grid is event_grid]
    return {"worst": max(ratios), "median": statistics.median(ratios), "best": min(ratios), "runs": len(ratios)}
