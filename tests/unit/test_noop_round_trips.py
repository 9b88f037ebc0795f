"""Table round trips of invocations that change nothing (issue 16: table_trips_all <= 2.5).

Stale re-checks, duplicates and Event Grid events cost 114 of 324 round trips in the benchmark's
lifecycle: each read a record to learn that the message was stale or to find what waits on the
resource. A store now remembers what its own instance committed last; positions (Run.attempt,
ImageVersion.op_attempt) only grow, so a message older than that is stale without a read, and an
event finds its waiting run without one. What the instance did not commit is still read.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from shared.adapters.entity_store import RECENT_LIMIT
from shared.adapters.memory_records import MemoryRecordStore
from shared.domain.catalog import load_catalog
from shared.domain.commands import ContinueRun, ContinueVersion
from shared.domain.model import BuildReason, PendingOperation, Pointers, Run, Stage, Status, VersionNumber
from shared.domain.records import Changes
from shared.messagebus import MessageBus
from shared.steps.deps import Deps
from shared.steps.events import route_event
from tests.conftest import T0, make_version
from tests.unit.fakes import make_deps

CATALOG = load_catalog(Path(__file__).resolve().parents[2] / "catalog")
WORKLOAD = "data-analyst"
VM = "data-analyst--first-build--vm"
VM_ID = f"/subscriptions/s/resourceGroups/rg-avd-images/providers/Microsoft.Compute/virtualMachines/{VM}"


def waiting_run(attempt: int = 7) -> Run:
    return Run(
        workload=WORKLOAD,
        run_id="first-build",
        reason=BuildReason.FIRST,
        requested_by="scheduler",
        started_at=T0,
        step="deallocate",
        attempt=attempt,
        pending=PendingOperation(kind="deallocate", resource_id=VM_ID, started_at=T0),
    )


def committed_here(deps: Deps, run: Run) -> None:
    deps.records.commit(
        Changes(workload=WORKLOAD, run=run, pointers=Pointers(workload=WORKLOAD, active_run=run.run_id))
    )


def trips(deps: Deps) -> int:
    store = deps.records
    assert isinstance(store, MemoryRecordStore)
    return store.round_trips


def test_a_stale_recheck_is_dropped_without_a_round_trip() -> None:
    """A re-check older than the run this instance committed re-sends where the run is, reading nothing."""
    deps = make_deps(CATALOG)
    committed_here(deps, waiting_run(attempt=7))
    before = trips(deps)
    stale = ContinueRun(workload=WORKLOAD, run_id="first-build", step="sysprep", attempt=5, trigger="recheck")
    sent = MessageBus(deps).handle(stale)
    assert trips(deps) == before
    assert [ContinueRun.model_validate_json(e.body).attempt for e in sent] == [7]


def test_a_message_about_a_run_another_instance_committed_is_read() -> None:
    """Without this instance's own commit there is no hint: the stale check reads the run, as before."""
    deps = make_deps(CATALOG)
    committed_here(deps, waiting_run(attempt=7))
    fresh_instance = make_deps(CATALOG)
    assert isinstance(fresh_instance.records, MemoryRecordStore)
    assert isinstance(deps.records, MemoryRecordStore)
    fresh_instance.records._rows = deps.records._rows  # another instance over the same table
    stale = ContinueRun(workload=WORKLOAD, run_id="first-build", step="sysprep", attempt=5, trigger="recheck")
    before = trips(fresh_instance)
    sent = MessageBus(fresh_instance).handle(stale)
    assert trips(fresh_instance) == before + 1
    assert [ContinueRun.model_validate_json(e.body).attempt for e in sent] == [7]


def test_an_event_for_the_awaited_resource_is_routed_without_a_round_trip() -> None:
    """The deallocate event continues the run at its position, from what this instance committed."""
    deps = make_deps(CATALOG)
    committed_here(deps, waiting_run(attempt=7))
    before = trips(deps)
    event = {
        "id": "e1",
        "eventType": "Microsoft.Resources.ResourceActionSuccess",
        "eventTime": datetime(2026, 11, 2, tzinfo=T0.tzinfo).isoformat(),
        "data": {"operationName": "Microsoft.Compute/virtualMachines/deallocate/action", "resourceUri": VM_ID},
    }
    sent, why = route_event(event, deps)
    assert trips(deps) == before
    assert [(c.step, c.attempt, c.trigger) for c in (ContinueRun.model_validate_json(e.body) for e in sent)] == [
        ("deallocate", 7, "event")
    ]
    assert "continues run first-build" in why


def test_a_stale_version_message_is_dropped_without_a_round_trip() -> None:
    """A replicate re-check older than the version's operation position re-sends where it is, reading nothing."""
    deps = make_deps(CATALOG)
    replicating = make_version(
        "1.0.0",
        workload=WORKLOAD,
        status=Status.REPLICATING,
        target_stage=Stage.PRODUCTION,
        op_attempt=4,
        pending=PendingOperation(kind="replicate", started_at=T0),
    )
    deps.records.commit(Changes(workload=WORKLOAD, versions=[replicating]))
    before = trips(deps)
    stale = ContinueVersion(workload=WORKLOAD, version="1.0.0", operation="replicate", attempt=2)
    sent = MessageBus(deps).handle(stale)
    assert trips(deps) == before
    assert [ContinueVersion.model_validate_json(e.body).attempt for e in sent] == [4]


def test_the_memory_of_commits_is_bounded() -> None:
    """Past its limit the store forgets its oldest commits (and then reads them again)."""
    store = MemoryRecordStore()
    for i in range(RECENT_LIMIT + 1):
        store.commit(Changes(workload=f"wl-{i:05d}", versions=[make_version("1.0.0", workload=f"wl-{i:05d}")]))
    assert store.recall_version("wl-00000", VersionNumber.parse("1.0.0")) is None
    last = store.recall_version(f"wl-{RECENT_LIMIT:05d}", VersionNumber.parse("1.0.0"))
    assert last is not None
    assert last.workload == f"wl-{RECENT_LIMIT:05d}"
