"""Every rollout ends, and only the rollout an event is for wakes up: halts, the watchdog, event routing.

Complements tests/unit/test_rollout_handlers.py (same World): a halt applies once, to a running run,
clears what it waited for and releases the healthy hosts of its batch (saying which stay drained and
why); the watchdog and the event router look at every pool of the catalog, past pools that need
nothing, and measure a run's progress from its latest known step.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

import pytest

from localrun.hostpools import pool_id
from shared.domain.commands import HaltRollout, StartRollout
from shared.domain.errors import AzureOperationError
from shared.domain.hostpools import HostPoolPolicy, Rollout, RolloutState
from shared.domain.model import PendingOperation
from shared.steps import rollout_end as re_
from shared.steps import rollout_events as rev
from tests.unit.fakes import FakeHostPools
from tests.unit.test_rollout_handlers import NOW, POOL, World, body, host, vm

AUTO = pool_id("rg-avd-hosts", "hp-auto")
GONE = AzureOperationError("list hosts", "NotFound", "no pool", status=404)
DOWN = AzureOperationError("list hosts", "ServiceUnavailable", "later", status=503)


class Troubled(FakeHostPools):
    """The in-memory AVD with per-pool read errors and per-host undrain errors; any call for a pool it
    does not serve fails the test."""

    read_errors: dict[str, AzureOperationError]
    undrain_errors: dict[str, AzureOperationError]

    def hosts(self, pool_id: str) -> list[Any]:
        assert pool_id in (POOL, AUTO), f"called for pool {pool_id!r}"
        if pool_id in self.read_errors:
            raise self.read_errors[pool_id]
        return super().hosts(pool_id)

    def set_drain(self, pool_id: str, host: str, drained: bool) -> None:
        assert pool_id == POOL, f"called for pool {pool_id!r}"
        super().set_drain(pool_id, host, drained)
        if host in self.undrain_errors:
            raise self.undrain_errors[host]


def troubled(world: World, *hosts: Any, read: dict[str, AzureOperationError] | None = None) -> Troubled:
    avd = Troubled(pools={POOL: list(hosts)})
    avd.read_errors, avd.undrain_errors = dict(read or {}), {}
    world.avd = avd
    world.deps.hostpools = avd
    return avd


def halt(world: World, step: str = "drain", attempt: int = 0, run_id: str = "ro-1") -> list[Any]:
    command = HaltRollout(workload="office", pool=world.key, run_id=run_id, step=step, attempt=attempt,
                          reason="stuck", source="watchdog")  # fmt: skip
    return re_.halt_rollout(command, world.deps)


def at_drain(world: World, **changes: Any) -> None:
    world.start()
    world.put(world.run().evolve(step="drain", **changes))


# --- halts ----------------------------------------------------------------------------------------------


def test_a_halt_for_an_unknown_or_already_halted_run_changes_nothing() -> None:
    """No run ro-9: nothing; ro-1 halted already at that position: no second halt note."""
    world = World(host("h1"))
    at_drain(world, state=RolloutState.HALTED)
    notes = world.notes()
    assert halt(world, run_id="ro-9") == halt(world) == []
    assert world.notes() == notes


def test_a_halted_run_waits_for_nothing_and_has_no_recheck_due() -> None:
    """Halting a run that was waiting: its pending operation and its due re-check are cleared."""
    world = World(host("h1"))
    at_drain(world, pending=PendingOperation(kind="users", started_at=NOW), next_check_at=NOW + timedelta(minutes=5))
    halt(world)
    run = world.run()
    assert (run.state, run.pending, run.next_check_at) == (RolloutState.HALTED, None, None)


def test_a_dead_lettered_start_halts_the_run_it_opened_at_plan() -> None:
    """The start message died after opening ro-1: ro-1 (at plan, attempt 0) halts, the reason naming plan."""
    world = World(host("h1"))
    world.start()
    start = StartRollout(workload="office", pool="hp-office", run_id="ro-1", version="1.0.1", requested_by="admin")
    assert re_.dead_lettered_rollout(start, "poison", world.deps) == []
    assert (world.run().state, world.run().reason) == (RolloutState.HALTED, "step plan was dead-lettered: poison")


def test_a_long_dead_letter_reason_is_cut_to_what_a_halt_carries() -> None:
    """A 2000-character reason is cut to the 1000 characters a halt command holds; the run still halts."""
    world = World(host("h1"))
    world.start()
    start = StartRollout(workload="office", pool="hp-office", run_id="ro-1", version="1.0.1", requested_by="admin")
    re_.dead_lettered_rollout(start, "x" * 2000, world.deps)
    assert world.run().reason == ("step plan was dead-lettered: " + "x" * 2000)[:1000]
    long = re_._halt(world.run(), "y" * 2000)
    assert long.reason == "y" * 1000


# --- the batch a halt releases --------------------------------------------------------------------------


def test_a_halt_between_batches_reads_no_pool() -> None:
    """No batch in flight: nothing to release, so an unreadable pool adds no note."""
    world = World()
    troubled(world, read={POOL: DOWN})
    at_drain(world)
    halt(world)
    assert world.notes()[-1] == ("halted", "stuck (watchdog); the pool keeps serving", "")


def test_a_halt_without_a_host_pool_adapter_still_halts() -> None:
    """No AVD adapter: the run halts and no host is said to be released or kept."""
    world = World(host("h1", drained=True))
    at_drain(world, batch=("h1",))
    world.deps.hostpools = None
    halt(world)
    assert (world.run().state, world.notes()[-1][0]) == (RolloutState.HALTED, "halted")


def test_a_halt_that_cannot_read_the_pool_says_the_batch_stays_drained() -> None:
    """The pool read fails: one note says why the batch stays drained; the run halts all the same."""
    world = World()
    troubled(world, read={POOL: DOWN})
    at_drain(world, batch=("h1",))
    halt(world)
    [event] = world.deps.rollouts.events("office", world.key)[-1:]  # type: ignore[union-attr]
    assert (event.at, event.run_id, event.kind, event.detail, event.host) == (
        NOW,
        "ro-1",
        "left-drained",
        "could not read the pool to undrain the batch: list hosts failed: ServiceUnavailable: later",
        "",
    )
    assert world.run().state is RolloutState.HALTED


def test_a_host_azure_would_not_undrain_is_noted_and_the_next_host_is_still_undrained() -> None:
    """Undraining h1 fails: h1 is noted as left drained with the error, h2 is undrained and noted."""
    world = World()
    avd = troubled(world, host("h1", version="1.0.1", drained=True), host("h2", version="1.0.1", drained=True))
    avd.undrain_errors = {"h1": AzureOperationError("undrain", "Conflict", "busy")}
    at_drain(world, batch=("h1", "h2"))
    halt(world)
    events = world.deps.rollouts.events("office", world.key)[-2:]  # type: ignore[union-attr]
    assert [(e.at, e.run_id, e.kind, e.detail, e.host) for e in events] == [
        (NOW, "ro-1", "left-drained", "undrain failed: undrain failed: Conflict: busy", "h1"),
        (NOW, "ro-1", "undrained", "runs 1.0.1, accepting sessions", "h2"),
    ]
    assert avd.calls == [("set_drain", ("h1", False)), ("set_drain", ("h2", False))]


# --- two pools: the watchdog and the event router look past the first --------------------------------


def second_pool_run(world: World, **changes: Any) -> Rollout:
    """A running rollout of hp-auto (the catalog's second pool), replacing h9, waiting for its VM delete."""
    auto = world.deps.catalog.get("office").host_pools[1]
    assert isinstance(auto, HostPoolPolicy)
    fields: dict[str, Any] = {
        "workload": "office", "pool_id": auto.id, "pool_key": auto.key, "run_id": "auto-1",
        "target_version": "1.0.1", "target_image_id": "img", "requested_by": "cab", "started_at": NOW,
        "step": "delete", "batch": ("h9",), "vm_ids": {"h9": vm("h9")},
        "pending": PendingOperation(kind="delete", started_at=NOW),
    }  # fmt: skip
    run = Rollout.model_validate(fields | changes)
    pool, _ = world.deps.rollouts.load("office", auto.key, auto.id, run.run_id)  # type: ignore[union-attr]
    world.deps.rollouts.commit(pool.evolve(active_run=run.run_id), [run], [])  # type: ignore[union-attr]
    return run


FIRST_POOL = ["no-record", "idle", "halted", "busy-elsewhere"]


def first_pool(world: World, state: str) -> None:
    """hp-office in one of the states that give the watchdog and the router nothing to do there."""
    if state == "no-record":
        return
    world.start()
    old = NOW - timedelta(hours=10)
    if state == "idle":
        world.put(world.run().evolve(state=RolloutState.SUCCEEDED))
        pool, _ = world.deps.rollouts.load("office", world.key, POOL, None)  # type: ignore[union-attr]
        world.deps.rollouts.commit(pool.evolve(active_run=None), [], [])  # type: ignore[union-attr]
    elif state == "halted":
        world.put(world.run().evolve(state=RolloutState.HALTED, batch=("h1",), vm_ids={"h1": vm("h9")},
                                     started_at=old, step_started_at=old, next_check_at=None, checked_at=None))  # fmt: skip
    else:  # running, on time, replacing h1 (not h9)
        world.put(world.run().evolve(step="delete", batch=("h1",), vm_ids={"h1": vm("h1")},
                                     next_check_at=NOW + timedelta(hours=2)))  # fmt: skip


@pytest.mark.parametrize("state", FIRST_POOL)
def test_an_event_reaches_the_second_pools_rollout_whatever_the_first_pool_does(state: str) -> None:
    """h9's VM event continues hp-auto's rollout past an hp-office with no record, idle, halted or busy elsewhere."""
    world = World(auto=True)
    first_pool(world, state)
    second_pool_run(world)
    messages, why = rev.route_rollout_event(vm("h9"), world.deps) or ([], "")
    assert why == "continues rollout auto-1 of hp-auto"
    assert [body(m)["run_id"] for m in messages] == ["auto-1"]


def test_a_halted_rollout_is_not_woken_by_an_event_of_its_batch() -> None:
    """h1's VM event while ro-1 is halted (h1 in its batch): no rollout takes it."""
    world = World(host("h1"))
    world.start()
    world.put(world.run().evolve(state=RolloutState.HALTED, step="delete", batch=("h1",), vm_ids={"h1": vm("h1")},
                                 pending=PendingOperation(kind="delete", started_at=NOW)))  # fmt: skip
    assert rev.route_rollout_event(vm("h1"), world.deps) is None


def test_an_event_for_a_batch_vm_while_the_rollout_waits_for_nothing_is_ignored_saying_so() -> None:
    """ro-1 replaces h1 but waits for no operation (pending none): the event is ignored and the reason says so."""
    world = World(host("h1"))
    world.start()
    world.put(world.run().evolve(step="drain", batch=("h1",), vm_ids={"h1": vm("h1")}))
    assert rev.route_rollout_event(vm("h1"), world.deps) == (
        [],
        "ignored: rollout ro-1 of hp-office waits for nothing now",
    )


@pytest.mark.parametrize("state", [*FIRST_POOL, "gone"])
def test_the_watchdog_checks_the_second_pool_whatever_the_first_pool_does(state: str) -> None:
    """hp-auto's run stuck for 3 hours is checked past an hp-office with nothing to check (or deleted: halted now)."""
    world = World(auto=True)
    avd = troubled(world, read={POOL: GONE} if state == "gone" else {})
    first_pool(world, "busy-elsewhere" if state == "gone" else state)
    second_pool_run(world)
    checks = re_.rollout_watchdog(world.deps, NOW + timedelta(hours=3))
    expected = [("ro-1", None)] if state == "gone" else []
    assert [(body(c)["run_id"], c.scheduled_for) for c in checks] == [*expected, ("auto-1", NOW + timedelta(hours=5))]
    assert avd.calls == []


@pytest.mark.parametrize(
    "progress",
    [
        {"next_check_at": NOW + timedelta(hours=2), "checked_at": NOW},
        {"checked_at": NOW + timedelta(hours=2), "step_started_at": NOW},
        {"step_started_at": NOW + timedelta(hours=2)},
    ],
    ids=["due-recheck", "last-commit", "step-start"],
)
def test_the_watchdog_measures_from_the_latest_known_progress(progress: dict[str, Any]) -> None:
    """The due re-check, else the last commit, else the step's start: 1 hour before, no check at 3 hours."""
    world = World(auto=True)
    second_pool_run(world, **progress)
    assert re_.rollout_watchdog(world.deps, NOW + timedelta(hours=3)) == []


def test_the_watchdog_without_a_host_pool_adapter_finds_no_pool_gone() -> None:
    """No AVD adapter to ask: a rollout on time is not halted as if its pool were deleted."""
    world = World(host("h1"))
    world.start()
    world.deps.hostpools = None
    assert re_.rollout_watchdog(world.deps, NOW) == []


def test_a_pool_the_watchdog_cannot_read_is_looked_at_again_and_logged(caplog: pytest.LogCaptureFixture) -> None:
    """A 503 on the pool read is not a deleted pool: no halt, and a warning names the run and the error."""
    world = World()
    troubled(world, read={POOL: DOWN})
    world.start()
    with caplog.at_level(logging.WARNING, logger="avdimage.rollouts"):
        assert re_.rollout_watchdog(world.deps, NOW) == []
    assert [(r.levelname, r.getMessage()) for r in caplog.records] == [
        (
            "WARNING",
            "rollout ro-1: could not read its pool (list hosts failed: ServiceUnavailable: later); "
            "the next watchdog pass looks again",
        )
    ]
