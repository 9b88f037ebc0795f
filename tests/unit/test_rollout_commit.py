"""What a rollout step's outcome writes: the run's state, its position, its waits, and the audit trail.

Complements tests/unit/test_rollout_handlers.py (same World): whatever a step says (halt, finish, next
step, wait), the step's updates are kept, the position moves one attempt on, a finished operation is
not left pending, and every note and every failed host reaches the audit trail. Also the start rules
a pool's admin relies on: one rollout at a time, a resume clears what the halted run was waiting for.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from shared.domain.errors import AzureOperationError, RequestRefused
from shared.domain.hostpools import HostFailure, Rollout, RolloutState
from shared.domain.model import PendingOperation
from shared.steps import rollout as ro
from shared.steps.rollout_steps import RolloutContext, StepResult
from tests.unit.test_rollout_handlers import NOW, POOL, World, body, failing_world, host

LATER = NOW + timedelta(hours=1)


def waiting_world(pending: str = "users", wait_seconds: float = 0.0) -> World:
    """A run at wait-users, attempt 3, waiting since NOW with a re-check that was due at LATER; the clock at LATER."""
    world = World(host("h1"), host("h2"))
    world.start()
    world.put(
        world.run().evolve(
            step="wait-users",
            attempt=3,
            batch=("h1", "h2"),
            pending=PendingOperation(kind=pending, started_at=NOW),
            next_check_at=LATER,
            step_started_at=NOW,
            wait_seconds=wait_seconds,
        )
    )
    world.deps.clock.advance(LATER - NOW)  # type: ignore[attr-defined]
    return world


def apply(world: World, result: StepResult) -> list[Any]:
    pool, run = world.deps.rollouts.load("office", world.key, POOL, "ro-1")  # type: ignore[union-attr]
    assert run is not None
    ctx = RolloutContext(deps=world.deps, policy=world.policy, run=run, pool=pool, now=LATER)
    return ro._apply(ctx, world.deps.rollouts, result)  # type: ignore[arg-type]


# --- _apply: what every outcome writes ------------------------------------------------------------------

OUTCOMES = {
    "halt": (StepResult(halt="stop", updates={"batches": 7}), RolloutState.HALTED, "wait-users", None),
    "finish": (StepResult(finish=True, updates={"batches": 7}), RolloutState.SUCCEEDED, "wait-users", None),
    "next": (StepResult(next_step="delete", updates={"batches": 7}), RolloutState.RUNNING, "delete", None),
}


@pytest.mark.parametrize("outcome", list(OUTCOMES))
def test_an_outcome_keeps_the_steps_updates_moves_on_and_ends_the_wait(outcome: str) -> None:
    """Halt, finish or next step: the step's updates are kept, one attempt more, checked now, nothing pending."""
    result, state, step, _ = OUTCOMES[outcome]
    world = waiting_world()
    apply(world, result)
    run = world.run()
    assert (run.state, run.step, run.batches) == (state, step, 7)
    assert (run.attempt, run.checked_at, run.next_check_at, run.pending) == (4, LATER, None, None)


def test_a_new_step_starts_its_clock_now() -> None:
    """The step the run moves to records when it started (the watchdog measures from it)."""
    world = waiting_world()
    [message] = apply(world, StepResult(next_step="delete"))
    assert world.run().step_started_at == LATER
    assert (body(message)["step"], body(message)["attempt"], message.scheduled_for) == ("delete", 4, None)


@pytest.mark.parametrize("wait", [timedelta(minutes=2), None], ids=["asked", "default"])
def test_a_wait_schedules_the_recheck_it_asked_for_and_keeps_the_steps_updates(wait: timedelta | None) -> None:
    """A wait of 2 minutes re-checks at now + 2 minutes (15 seconds when the step named none); updates kept."""
    world = waiting_world()
    pending = PendingOperation(kind="users", started_at=NOW, checks=1)
    [message] = apply(world, StepResult(wait=wait, pending=pending, updates={"batches": 7}))
    due = LATER + (wait or timedelta(seconds=15))
    run = world.run()
    assert (message.scheduled_for, run.next_check_at, run.pending, run.batches, run.attempt) == (
        due,
        due,
        pending,
        7,
        4,
    )
    assert body(message)["trigger"] == "recheck"


@pytest.mark.parametrize(
    ("kind", "counted"),
    [("users", 220.0), ("window", 220.0), ("capacity", 220.0), ("delete", 100.0), ("azure-busy", 100.0)],
)
def test_time_waiting_for_people_windows_and_capacity_adds_up(kind: str, counted: float) -> None:
    """100 s waited before, a 2 minute wait now: 220 s when it waits on people, the window or capacity; not on Azure."""
    world = waiting_world(kind, wait_seconds=100.0)
    apply(world, StepResult(wait=timedelta(minutes=2), pending=PendingOperation(kind=kind, started_at=NOW)))
    assert world.run().wait_seconds == counted


def test_a_steps_notes_and_its_failed_hosts_all_reach_the_audit_trail() -> None:
    """A note on h1 and a failure of h2 from one step: both recorded, each with its host."""
    world = waiting_world()
    apply(
        world, StepResult(next_step="delete", notes=[("drained", "no new sessions", "h1")], failures=[("h2", "boom")])
    )
    assert world.notes()[-2:] == [("drained", "no new sessions", "h1"), ("host-failed", "boom", "h2")]
    assert world.run().failed == (HostFailure(host="h2", reason="boom", at=LATER),)


# --- continue: Azure trouble, hand-over ---------------------------------------------------------------


def test_azure_throttling_backs_off_from_when_the_trouble_began() -> None:
    """Throttled for 10 minutes already: one more try counted, the next look 2 minutes on (not 15 seconds)."""
    busy = failing_world(AzureOperationError("list hosts", "TooManyRequests", "slow", status=429))
    since = NOW - timedelta(minutes=10)
    busy.put(busy.run().evolve(pending=PendingOperation(kind="azure-busy", started_at=since, checks=3)))
    [message] = busy.step()
    assert message.scheduled_for == NOW + timedelta(minutes=2)
    assert busy.run().pending == PendingOperation(kind="azure-busy", started_at=since, checks=4)


def test_a_run_handed_over_to_its_successor_waits_for_nothing_any_more() -> None:
    """Superseded between batches while waiting for the window: the ended run keeps no pending wait."""
    world = World(host("h1"))
    world.start()
    successor = {"version": "1.0.2", "run_id": "ro-2", "requested_by": "cab", "automatic": "True"}
    window = PendingOperation(kind="window", started_at=NOW)
    world.put(world.run().evolve(successor=successor, pending=window))
    world.step()
    assert (world.run().state, world.run().pending) == (RolloutState.SUPERSEDED, None)


# --- start ----------------------------------------------------------------------------------------------


def test_a_started_rollout_is_remembered_as_the_pools_last_run() -> None:
    """The pool record names the new run both as active and as the last one."""
    world = World(host("h1"))
    world.start()
    pool, _ = world.deps.rollouts.load("office", world.key, POOL, None)  # type: ignore[union-attr]
    assert (pool.active_run, pool.last_run) == ("ro-1", "ro-1")


def halted(world: World, **changes: Any) -> Rollout:
    world.start()
    run = world.run().evolve(state=RolloutState.HALTED, step="create", **changes)
    world.put(run)
    return run


@pytest.mark.parametrize(
    ("failed", "said"),
    [(("h2", "h3"), "retrying h2, h3"), ((), "retrying none")],
    ids=["failures", "none"],
)
def test_a_resume_says_which_hosts_it_retries_and_forgets_the_wait(failed: tuple[str, ...], said: str) -> None:
    """Resuming a halted run notes each failed host to retry (or none) and drops what it was waiting for."""
    world = World(host("h1"))
    failures = tuple(HostFailure(host=h, reason="x", at=NOW) for h in failed)
    halted(world, failed=failures, pending=PendingOperation(kind="create", started_at=NOW))
    world.start()
    assert world.notes()[-1] == ("resumed", f"resumed by admin; {said}", "")
    assert (world.run().state, world.run().pending) == (RolloutState.RUNNING, None)


def test_another_start_to_the_version_a_running_rollout_heads_for_queues_nothing() -> None:
    """ro-2 to 1.0.1 while ro-1 goes to 1.0.1: no successor, no note, ro-1 goes on."""
    world = World(host("h1"))
    world.start()
    assert world.start(run_id="ro-2") == []
    assert (world.run().successor, len(world.notes())) == (None, 1)


def test_another_start_to_the_version_a_halted_rollout_heads_for_leaves_it_to_be_resumed() -> None:
    """ro-2 to 1.0.1 while ro-1 to 1.0.1 is halted: ro-1 stays halted and active (resume it), nothing new."""
    world = World(host("h1"))
    halted(world)
    assert world.start(run_id="ro-2") == []
    assert (world.run().state, world.active()) == (RolloutState.HALTED, "ro-1")


def test_a_finished_run_still_named_active_is_left_as_it_ended() -> None:
    """A succeeded run the pool still points at is history: a start to 1.0.2 opens ro-2 and leaves ro-1 SUCCEEDED."""
    world = World(host("h1"))
    world.start()
    world.put(world.run().evolve(state=RolloutState.SUCCEEDED, ended_at=NOW))
    [message] = world.start("1.0.2", run_id="ro-2")
    assert body(message)["run_id"] == "ro-2"
    assert (world.run().state, world.run().reason, world.active()) == (RolloutState.SUCCEEDED, "", "ro-2")


def test_an_unknown_pool_is_refused_naming_every_pool_served() -> None:
    """Two pools served: the refusal lists both, comma separated."""
    world = World(host("h1"), auto=True)
    with pytest.raises(RequestRefused, match=r"^office serves no host pool 'nope' \(it serves: hp-office, hp-auto\)$"):
        ro.policy_of(world.deps.catalog.get("office"), "nope")
