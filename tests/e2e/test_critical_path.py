"""The build's critical path: waits that start from Azure's answers, and validation beside the build."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest

from localrun.runtime import LocalRuntime
from localrun.scenario import BUILDER, build
from shared.domain.catalog import Catalog
from shared.domain.commands import StartBuild
from shared.domain.model import BuildReason, VersionNumber
from shared.domain.records import Changes
from shared.steps import waits
from simulator import Simulator, responses

WORKLOAD = "data-analyst"


def _simulator(runtime_start: datetime | None = None, latency: tuple[float, float] = (0.0, 0.0)) -> Simulator:
    from shared.config import Settings

    kwargs: dict[str, Any] = {"subscription_id": Settings().subscription_id, "auto_advance_on_poll": False}
    if runtime_start is not None:
        kwargs["start"] = runtime_start
    return Simulator(event_latency=latency, **kwargs)


def test_the_first_look_waits_the_retry_after_azure_answered(catalog: Catalog, monkeypatch: pytest.MonkeyPatch) -> None:
    """The VM create's first re-check comes when the LRO's Retry-After says, recorded on the pending operation."""
    monkeypatch.setattr(responses, "LRO_RETRY_AFTER", "75")
    runtime = LocalRuntime(catalog, event_grid=False, simulator=_simulator())
    runtime.submit(StartBuild(workload=WORKLOAD, run_id="run-one", reason=BuildReason.FIRST, requested_by=BUILDER))
    runtime.bus.deliver_due()  # start -> source-vm
    runtime.bus.deliver_due()  # source-vm: the VM create is sent
    run = runtime.records.find_run(WORKLOAD, "run-one")
    assert run is not None
    assert run.pending is not None
    assert run.pending.kind == "vm-create"
    assert run.pending.retry_after == 75
    next_look = runtime.bus.next_visible()
    assert next_look is not None
    assert next_look - runtime.sim.clock.now() == timedelta(seconds=75)


def test_the_version_serves_test_before_its_validation_ends(catalog: Catalog) -> None:
    """The test pointer moves when the version is replicated; validation evidence is recorded after, by itself."""
    runtime = LocalRuntime(catalog, simulator=_simulator())
    moments: dict[str, datetime] = {}
    original = runtime.records.commit

    def commit(changes: Changes) -> None:
        original(changes)
        now = runtime.sim.clock.now()
        if changes.pointers is not None and changes.pointers.test is not None:
            moments.setdefault("serves test", now)
        if changes.run is not None and changes.run.ended_at is not None:
            moments.setdefault("run ended", now)
        if any(v.validations for v in changes.versions):
            moments.setdefault("validated", now)

    runtime.records.commit = commit  # type: ignore[method-assign]
    build(runtime, WORKLOAD, "first", BuildReason.FIRST)
    assert moments["serves test"] < moments["run ended"]  # the temp resources' removal came after
    assert moments["serves test"] < moments["validated"]
    version = runtime.records.get_version(WORKLOAD, VersionNumber.parse("1.0.0"))
    assert version.validations
    assert version.validations[0].passed
    assert runtime.records.get_pointers(WORKLOAD).test == version.version


@pytest.mark.parametrize(("latency", "expected"), [((0.0, 0.0), (0.0, 0.0)), ((40.0, 90.0), (40.0, 90.0))])
def test_a_run_measures_how_late_its_events_come(
    catalog: Catalog, latency: tuple[float, float], expected: tuple[float, float]
) -> None:
    """Each event that continues a run says how late Event Grid delivered it; the run keeps the longest."""
    runtime = LocalRuntime(catalog, simulator=_simulator(latency=latency))
    build(runtime, WORKLOAD, "first", BuildReason.FIRST)
    run = runtime.records.find_run(WORKLOAD, "first")
    assert run is not None
    assert run.event_lag is not None
    assert expected[0] <= run.event_lag <= expected[1] + 1e-6
    late = run.event_lag >= waits.SHORTEST.total_seconds()
    assert waits.events_first(True, run.event_lag) is not late


def test_the_first_vm_create_is_looked_at_once_its_nic_says_events_are_late(catalog: Catalog) -> None:
    """No delay measured yet and every event 100 s late: the source VM's NIC event (seconds into the
    VM create) tells the run, which looks at the VM itself instead of waiting for its late event."""
    runtime = LocalRuntime(catalog, simulator=_simulator(latency=(100.0, 100.0)))
    build(runtime, WORKLOAD, "first", BuildReason.FIRST)
    run = runtime.records.find_run(WORKLOAD, "first")
    assert run is not None
    assert run.event_lag == pytest.approx(100.0, abs=1.0)
    create = runtime.sim.durations["vm_create"]
    looked = run.step_times["source-vm"]
    assert create <= looked < create + 100.0 / 3 + waits.SHORTEST.total_seconds()
