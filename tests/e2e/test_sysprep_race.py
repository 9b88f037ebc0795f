"""Sysprep's shutdown can win the race against Run Command's report: the build goes on, not down.

The sysprep-start script returns at once (Start-Process), but the VM agent reports the output
some time later; if sysprep reseals and powers the VM off first, the agent goes down with it and
the Run Command fails or never reports (docs/simulator.md, "Conformance: image references").
The simulator models it with a fast sysprep and a slow report.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from localrun.runtime import START, LocalRuntime
from localrun.scenario import build
from shared.config import Settings
from shared.domain.model import BuildReason, Status, VersionNumber
from simulator import Simulator

ROOT = Path(__file__).resolve().parents[2]
WORKLOAD = "office"  # 24H2: arrives decrypted, so sysprep follows the clone at once


def racing_runtime(report_delay: float = 60, **options: bool) -> LocalRuntime:
    """The product on a simulator whose sysprep powers the VM off before Run Command reports."""
    settings = Settings()
    sim = Simulator(
        subscription_id=settings.subscription_id,
        start=START,
        auto_advance_on_poll=False,
        durations={"sysprep": 20, "run_command_report": report_delay},
    )
    return LocalRuntime(ROOT / "catalog", settings=settings, simulator=sim, **options)


def test_vm_stopping_before_run_command_reports_means_resealed() -> None:
    """The failed sysprep-start Run Command of a VM that stopped is read as 'resealed'; capture follows."""
    runtime = racing_runtime()
    build(runtime, WORKLOAD, "first-build", BuildReason.FIRST)
    failed = [
        e
        for e in runtime.sim.events.history
        if e["eventType"] == "Microsoft.Resources.ResourceActionFailure"
        and e["data"]["operationName"].lower().endswith("runcommand/action")
    ]
    assert failed, "the simulator did not make the Run Command lose the race"
    version = runtime.records.get_version(WORKLOAD, VersionNumber.parse("1.0.0"))
    assert version.status is Status.READY, version.failure_reason
    details = [e.detail for e in runtime.records.list_events(WORKLOAD) if e.kind == "sysprep-done"]
    assert any("before Run Command reported" in d for d in details), details


def test_race_without_event_grid_is_caught_by_the_recheck() -> None:
    """Without events the re-check finds the failed Run Command and the stopped VM, and the build completes."""
    runtime = racing_runtime(event_grid=False)
    build(runtime, WORKLOAD, "first-build", BuildReason.FIRST)
    version = runtime.records.get_version(WORKLOAD, VersionNumber.parse("1.0.0"))
    assert version.status is Status.READY, version.failure_reason


def test_run_command_that_has_not_reported_yet_does_not_hold_the_build() -> None:
    """While the lost report is still outstanding, the re-check sees the stopped VM and goes on to capture."""
    runtime = racing_runtime(report_delay=3 * 3600, event_grid=False)
    build(runtime, WORKLOAD, "first-build", BuildReason.FIRST)
    version = runtime.records.get_version(WORKLOAD, VersionNumber.parse("1.0.0"))
    assert version.status is Status.READY, version.failure_reason
    (done,) = [e for e in runtime.records.list_events(WORKLOAD) if e.kind == "sysprep-done"]
    assert "Run Command has not reported" in done.detail
    lost = [
        datetime.fromisoformat(e["eventTime"])
        for e in runtime.sim.events.history
        if e["eventType"] == "Microsoft.Resources.ResourceActionFailure"
        and e["data"]["operationName"].lower().endswith("runcommand/action")
    ]
    assert len(lost) == 1
    assert done.at < lost[0]  # it went on before the lost report failed
