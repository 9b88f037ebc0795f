"""Scale: the hourly sweep reconciles a rotating slice of workloads, so its ARM reads stay bounded.

Before, every sweep reconciled every workload, one gallery listing each (5,197 ARM reads at
5,000 workloads, throttled); the backstop must still reach every workload within a bounded
number of sweeps, Event Grid or not.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from benchmarks.common import cloned_catalog
from benchmarks.scale import sweep_arm_reads
from benchmarks.targets import TARGETS
from localrun.runtime import LocalRuntime
from shared.config import Settings
from shared.domain.commands import Reconcile
from shared.steps.reconcile_slice import SWEEP_PERIOD, backstop_slice, coverage_periods

NOON = datetime(2026, 12, 2, 12, 30, tzinfo=UTC)


@pytest.mark.parametrize("workloads", [50, 500])
def test_a_sweep_s_arm_reads_do_not_grow_with_the_workloads(workloads: int) -> None:
    """One sweep through the timer and the bus reads ARM at most the target's count, at 50 and 500 workloads."""
    run = sweep_arm_reads(workloads)
    assert run["reads"] <= TARGETS["sweep_arm_reads_5000"][1]
    assert run["gallery_reads"] == Settings().reconcile_per_sweep
    assert run["throttled"] == 0


def test_the_sweep_reconciles_only_its_slice() -> None:
    """The timer sends one Reconcile per workload of its slice, and a Prune for every workload."""
    runtime = LocalRuntime(cloned_catalog(12))
    sent = runtime.entrypoints.retention_and_sweep().sent
    reconciled = [Reconcile.model_validate_json(e.body).workload for e in sent if e.subject == "reconcile"]
    assert reconciled == backstop_slice(runtime.deps.catalog.names, runtime.sim.clock.now(), 4)
    assert sum(1 for e in sent if e.subject == "prune") == 12


def test_consecutive_sweeps_cover_every_workload_within_the_promised_periods() -> None:
    """Over ceil(n / size) consecutive sweep periods every workload is reconciled at least once."""
    names = [f"wl-{i:04d}" for i in range(103)]
    periods = coverage_periods(len(names), 4)
    assert periods == 26
    for offset in range(3):  # whatever hour the cycle starts at
        seen: set[str] = set()
        for period in range(periods):
            chosen = backstop_slice(names, NOON + SWEEP_PERIOD * (offset + period), 4)
            assert len(chosen) == 4
            seen.update(chosen)
        assert seen == set(names)


def test_a_small_estate_is_reconciled_whole_every_sweep() -> None:
    """With no more workloads than the slice, every sweep reconciles all of them (the repo's catalog)."""
    names = ["office", "data-analyst"]
    for hour in range(5):
        assert backstop_slice(names, NOON + timedelta(hours=hour), 4) == ["data-analyst", "office"]


def test_the_slice_size_is_a_setting_with_bounds(monkeypatch: pytest.MonkeyPatch) -> None:
    """AVD_RECONCILE_PER_SWEEP sets the slice; zero or a non-number is refused naming the setting."""
    monkeypatch.setenv("AVD_RECONCILE_PER_SWEEP", "25")
    assert Settings().reconcile_per_sweep == 25
    monkeypatch.setenv("AVD_RECONCILE_PER_SWEEP", "0")
    with pytest.raises(ValueError, match="reconcile_per_sweep"):
        Settings()
