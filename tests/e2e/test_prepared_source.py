"""A source VM kept current between builds: the patch build finds no update left to install (issue 16).

The product runs on its timers for a month of virtual time (the rebuild timer daily at 06:00,
the sweep daily), on the simulator and Table Storage in Azurite. The simulated Windows guest
decides what Windows Update finds; the test reads the audit trail the builds wrote.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from localrun.runtime import LocalRuntime
from shared.domain.catalog import Catalog
from shared.domain.model import Run, RunState

WORKLOAD = "office"  # Patch Tuesday + 7 days: November's window opens on the 17th, December's on the 15th


def updates_installed(runtime: LocalRuntime, run: Run) -> list[str]:
    """The Windows Update passes the run recorded, in order."""
    return [
        e.detail
        for e in runtime.records.list_events(WORKLOAD)
        if e.kind == "windows-update" and run.started_at <= e.at <= (run.ended_at or e.at)
    ]


def test_a_prepared_source_vm_makes_the_patch_build_skip_the_cumulative_update(
    catalog: Catalog, runtime_factory: Callable[..., LocalRuntime]
) -> None:
    """The source VM takes each month's update in a prepare run at its release; the build then installs nothing."""
    office = Catalog(workloads=tuple(w for w in catalog.workloads if w.name == WORKLOAD))
    runtime = runtime_factory(office, start=datetime(2026, 11, 16, 5, 0, tzinfo=UTC))
    runtime.start_timers(sweep="0 30 5 * * *")
    runtime.run_until(datetime(2026, 12, 16, 6, 0, tzinfo=UTC))
    runs = {r.run_id: r for r in runtime.records.list_runs(WORKLOAD)}
    ordered = sorted(runs, key=lambda r: runs[r].started_at)
    assert ordered[0] == "first-build"  # after November's release: it took November's updates itself
    assert "prepare-2026-11" not in runs
    assert ordered[-2:] == ["prepare-2026-12", "patch-2026-12"]
    assert all(r.state is RunState.SUCCEEDED for r in runs.values()), [r.failure_reason for r in runs.values()]
    prepare, patch = runs["prepare-2026-12"], runs["patch-2026-12"]
    assert prepare.prepare_only
    assert prepare.started_at == datetime(2026, 12, 9, 6, 0, tzinfo=UTC)
    assert prepare.version is None  # no image: the source VM only
    took = updates_installed(runtime, prepare)
    assert "installed KB" in took[0], took  # December's cumulative update, on the source VM ...
    assert took[0].endswith("restarting"), took  # ... which asks for a restart
    installed = updates_installed(runtime, patch)
    assert len(installed) == 1, installed  # one Windows Update search ...
    assert installed[0].endswith("installed nothing"), installed  # ... that finds nothing new
    assert patch.version is not None
    assert patch.step_times["customize"] < runs["prepare-2026-12"].step_times["customize"] / 2
    pointers = runtime.records.get_pointers(WORKLOAD)
    assert (pointers.window, pointers.prepared) == ("patch-2026-12", "prepare-2026-12")
