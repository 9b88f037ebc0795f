"""A host pool rollout measures how late Event Grid delivers, as image runs do: it starts from the
delay its workload's last run measured, each event that wakes it says how late it came, and its
waits use the longest (the plain back-off capped at a sixth of it once events are late)."""

from __future__ import annotations

from datetime import timedelta

from shared.config import Settings
from shared.domain.commands import ContinueRollout
from shared.domain.model import PendingOperation
from shared.domain.records import Changes
from shared.steps import rollout as ro
from shared.steps import rollout_events as rev
from shared.steps import waits
from shared.steps.rollout_steps import RolloutContext
from tests.unit.test_rollout_handlers import NOW, POOL, World, body, host, vm


def test_a_rollout_starts_from_the_delay_its_workloads_last_run_measured() -> None:
    """The same Event Grid subscription delivers image and session host events."""
    world = World(host("h1"))
    pointers = world.deps.records.get_pointers("office").evolve(event_lag=95.0)
    world.deps.records.commit(Changes(workload="office", pointers=pointers))
    world.start()
    assert world.run().event_lag == 95.0
    fresh = World(host("h1"))
    fresh.start()
    assert fresh.run().event_lag is None  # nothing measured yet: Event Grid is trusted


def test_the_event_that_wakes_a_rollout_carries_its_delay() -> None:
    world = World(host("h1"))
    world.start()
    world.put(world.run().evolve(step="delete", batch=("h1",), vm_ids={"h1": vm("h1")},
                                 pending=PendingOperation(kind="delete", started_at=NOW)))  # fmt: skip
    messages, why = rev.route_rollout_event(vm("h1"), world.deps, 42.5) or ([], "")
    assert why == "continues rollout ro-1 of hp-office"
    assert [(body(m)["trigger"], body(m)["event_lag"]) for m in messages] == [("event", 42.5)]


def test_a_woken_rollout_keeps_the_longest_delay() -> None:
    """A later, shorter delay does not lower it; the step runs with it (here: drain, nothing to wait for)."""
    world = World(host("h1"))
    world.start()
    world.put(world.run().evolve(event_lag=60.0))
    for lag, kept in ((30.0, 60.0), (90.0, 90.0)):
        run = world.run()
        woken = ContinueRollout(workload="office", pool=world.key, run_id="ro-1", step=run.step,
                                attempt=run.attempt, trigger="event", event_lag=lag)  # fmt: skip
        ro.continue_rollout(woken, world.deps)
        assert world.run().event_lag == kept


def test_late_events_cap_a_rollouts_gap_between_looks() -> None:
    """Events 120 s late: a look at least every 20 s, the first after 6 s; events at once (or none
    measured: a rollout starts from its workload's last measure): the safety net."""
    world = World(host("h1"))
    world.start()
    world.deps.settings = Settings(event_grid=True)
    started = NOW - timedelta(minutes=10)
    pending = PendingOperation(kind="create", started_at=started)
    policy = world.policy
    pool, _ = world.deps.rollouts.load("office", world.key, POOL, None)  # type: ignore[union-attr]

    def context(lag: float | None) -> RolloutContext:
        return RolloutContext(world.deps, policy, world.run().evolve(pending=pending, event_lag=lag), pool, NOW)

    assert context(120.0).look_again() == timedelta(seconds=20)
    assert context(120.0).first_look() == waits.FINE
    assert context(None).look_again() == waits.backoff(started, NOW, event_grid=True)  # the safety net
    assert context(None).first_look() == waits.EVENT_ALLOWANCE
    assert context(5.0).first_look() == waits.EVENT_ALLOWANCE
