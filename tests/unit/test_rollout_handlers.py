"""Host pool rollout handlers on the in-memory stores: start, continue, halt, hand over, route events.

One rollout per pool at a time; a newer production decision waits for the batch in flight; a stale
or duplicate message never runs a step twice; every rollout ends (halted with a reason, the pool
serving). Records are the real entity store in memory (EntityRolloutRecords over MemoryRecordStore).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from localrun.hostpools import pool_id, with_pools
from shared.adapters.hostpools_records import EntityRolloutRecords
from shared.config import Settings
from shared.domain.catalog import load_catalog
from shared.domain.commands import ContinueRollout, ContinueVersion, Envelope, HaltRollout, Rollback, StartRollout
from shared.domain.errors import AzureOperationError, RequestRefused
from shared.domain.hostpools import HostFailure, HostPoolPolicy, Rollout, RolloutState, SessionHostState
from shared.domain.model import PendingOperation, Status
from shared.domain.records import Changes
from shared.steps import rollout as ro
from shared.steps import rollout_end as re_
from shared.steps import rollout_events as rev
from shared.steps.deps import Deps
from tests.conftest import make_version
from tests.unit.fakes import FakeClock, FakeHostPools, make_deps

BASE = load_catalog(Path(__file__).resolve().parents[2] / "catalog")
POOL = pool_id("rg-avd-hosts", "hp-office")
NOW = FakeClock().current
WINDOW = {"days": ["sat"], "start": "22:00", "duration_minutes": 360, "time_zone": "UTC"}


def vm(name: str) -> str:
    return f"/subscriptions/s/resourceGroups/rg-avd-hosts/providers/Microsoft.Compute/virtualMachines/{name}"


def host(name: str, version: str = "1.0.0", status: str = "Available", drained: bool = False) -> SessionHostState:
    return SessionHostState(name, status, NOW, not drained, 0, vm(name), exact_version=version)


class World:
    """office serving one manual pool (and an automatic one when asked), versions 1.0.0 and 1.0.1 ready."""

    def __init__(self, *hosts: SessionHostState, auto: bool = False) -> None:
        self.policy = HostPoolPolicy.model_validate({"id": POOL, "min_available": 0, "batch_size": 1})
        pools = [self.policy]
        if auto:
            pools.append(
                HostPoolPolicy.model_validate(
                    {"id": pool_id("rg-avd-hosts", "hp-auto"), "rollout": "auto", "maintenance_window": WINDOW}
                )
            )
        self.avd = FakeHostPools(pools={POOL: list(hosts)})
        self.deps: Deps = make_deps(with_pools(BASE, "office", *pools))
        self.deps.settings = Settings(event_grid=False)
        self.deps.hostpools = self.avd
        self.deps.rollouts = EntityRolloutRecords(self.deps.records)  # type: ignore[arg-type]
        versions = [make_version(v, status=Status.READY) for v in ("1.0.0", "1.0.1", "1.0.2")]
        versions.append(make_version("1.0.3", status=Status.FAILED))
        self.deps.records.commit(Changes(workload="office", versions=versions))

    @property
    def key(self) -> str:
        return self.policy.key

    def start(self, version: str = "1.0.1", run_id: str = "ro-1", automatic: bool = False) -> list[Envelope]:
        command = StartRollout(
            workload="office",
            pool="hp-office",
            run_id=run_id,
            version=version,
            requested_by="admin",
            automatic=automatic,
        )
        return ro.start_rollout(command, self.deps)

    def run(self, run_id: str = "ro-1") -> Rollout:
        _, found = self.deps.rollouts.load("office", self.key, POOL, run_id)  # type: ignore[union-attr]
        assert found is not None
        return found

    def active(self) -> str | None:
        pool, _ = self.deps.rollouts.load("office", self.key, POOL, None)  # type: ignore[union-attr]
        return pool.active_run

    def notes(self) -> list[tuple[str, str, str]]:
        return [(e.kind, e.detail, e.host) for e in self.deps.rollouts.events("office", self.key)]  # type: ignore[union-attr]

    def step(self, run_id: str = "ro-1", step: str | None = None, attempt: int | None = None) -> list[Envelope]:
        current = self.run(run_id)
        command = ContinueRollout(
            workload="office",
            pool=self.key,
            run_id=run_id,
            step=step or current.step,
            attempt=current.attempt if attempt is None else attempt,
        )
        return ro.continue_rollout(command, self.deps)

    def put(self, run: Rollout) -> None:
        """Overwrite the stored run (its ETag kept), to set up a state the steps reach."""
        pool, _ = self.deps.rollouts.load("office", self.key, POOL, run.run_id)  # type: ignore[union-attr]
        self.deps.rollouts.commit(pool, [run], [])  # type: ignore[union-attr]


def body(message: Envelope) -> dict[str, Any]:
    return dict(json.loads(message.body))


# --- start ----------------------------------------------------------------------------------------------


def test_a_new_rollout_records_its_target_image_and_becomes_the_pools_active_run() -> None:
    """Start: the run aims at the gallery version's id, the pool points at it, and plan comes next."""
    world = World(host("h1"))
    [message] = world.start()
    run = world.run()
    assert run.target_image_id == (
        "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg-avd-images/providers/"
        "Microsoft.Compute/galleries/gal_avd_images/images/win11-24h2-office/versions/1.0.1"
    )
    assert (run.state, run.step, run.attempt, run.started_at, run.step_started_at) == (
        RolloutState.RUNNING, "plan", 0, NOW, NOW,
    )  # fmt: skip
    assert world.active() == "ro-1"
    assert world.notes() == [("started", "rollout to 1.0.1 (manual) by admin", "")]
    assert (body(message)["step"], body(message)["attempt"]) == ("plan", 0)


def test_an_automatic_rollout_says_it_waits_for_the_maintenance_window() -> None:
    """The start note tells an automatic rollout from an admin's."""
    world = World(host("h1"))
    world.start(automatic=True)
    assert world.notes() == [("started", "rollout to 1.0.1 (automatic, in the maintenance window) by admin", "")]
    assert world.run().automatic


def test_a_rollout_to_a_missing_or_unusable_version_is_refused() -> None:
    """Only a version that exists and can serve: 9.9.9 does not exist, 1.0.3 failed."""
    world = World(host("h1"))
    with pytest.raises(
        RequestRefused, match=r"^cannot roll hp-office onto office 9\.9\.9: that version does not exist$"
    ):
        world.start("9.9.9")
    with pytest.raises(RequestRefused, match=r"that version is failed$"):
        world.start("1.0.3")
    assert world.active() is None


def test_the_same_start_again_re_sends_the_runs_position() -> None:
    """A duplicate start of a running rollout changes nothing and points at where it is."""
    world = World(host("h1"))
    world.start()
    [again] = world.start()
    assert (body(again)["step"], body(again)["run_id"]) == ("plan", "ro-1")
    assert len(world.notes()) == 1


def test_a_newer_version_waits_for_the_batch_in_flight() -> None:
    """A start to 1.0.2 while 1.0.1 runs is queued as the successor, noted, and starts nothing yet."""
    world = World(host("h1"))
    world.start()
    assert world.start("1.0.2", run_id="ro-2") == []
    assert world.run().successor == {
        "version": "1.0.2",
        "run_id": "ro-2",
        "requested_by": "admin",
        "automatic": "False",
    }
    assert world.notes()[-1] == ("queued", "1.0.2 requested by admin; starts after the batch in flight", "")
    assert world.active() == "ro-1"


def test_a_start_to_the_version_already_on_its_way_does_nothing() -> None:
    """Another run id to the same version while one runs: nothing new."""
    world = World(host("h1"))
    world.start()
    assert world.start(run_id="ro-2") == []
    assert world.active() == "ro-1"


def test_a_halted_rollout_is_replaced_by_a_start_to_another_version() -> None:
    """The halted 1.0.1 run is superseded; the new run to 1.0.2 becomes active."""
    world = World(host("h1"))
    world.start()
    world.put(world.run().evolve(state=RolloutState.HALTED))
    world.start("1.0.2", run_id="ro-2")
    old = world.run()
    assert (old.state, old.ended_at, old.reason) == (RolloutState.SUPERSEDED, NOW, "superseded by 1.0.2")
    assert world.active() == "ro-2"
    assert ("superseded", "halted rollout replaced by one to 1.0.2", "") in world.notes()


def test_a_halted_rollout_resumes_and_retries_its_failed_hosts() -> None:
    """Starting the halted run again: RUNNING from plan, failures cleared, the failed hosts to retry."""
    world = World(host("h1"))
    world.start()
    failed = (HostFailure(host="h2", reason="x", at=NOW),)
    world.put(world.run().evolve(state=RolloutState.HALTED, failed=failed, failures_since_resume=1, step="create",
                                 batch=("h2",), reason="boom", retry=("h9",)))  # fmt: skip
    [message] = world.start()
    run = world.run()
    assert (run.state, run.step, run.failed, run.failures_since_resume, run.reason, run.batch, run.pending) == (
        RolloutState.RUNNING, "plan", (), 0, "", (), None,
    )  # fmt: skip
    assert run.retry == ("h9", "h2")
    assert run.attempt == 1  # one more than before the resume
    assert world.notes()[-1] == ("resumed", "resumed by admin; retrying h2", "")
    assert body(message)["attempt"] == run.attempt


def test_a_finished_rollout_started_again_does_nothing() -> None:
    """A succeeded run id is not reopened."""
    world = World(host("h1"))
    world.start()
    world.put(world.run().evolve(state=RolloutState.SUCCEEDED))
    assert world.start() == []


def test_rollouts_need_their_record_store() -> None:
    """Without rollout records the request is refused with the reason."""
    world = World(host("h1"))
    world.deps.rollouts = None
    with pytest.raises(RequestRefused, match=r"^host pool rollouts are not configured \(no rollout record store\)$"):
        world.start()


def test_a_pool_is_found_by_key_name_or_id_and_an_unknown_one_lists_the_pools_served() -> None:
    """hp-office by name (any case), key or resource id; anything else is refused naming what is served."""
    world = World(host("h1"))
    office = world.deps.catalog.get("office")
    for name in ("HP-Office", world.key, POOL.upper()):
        assert ro.policy_of(office, name) is world.policy
    with pytest.raises(RequestRefused, match=r"^office serves no host pool 'nope' \(it serves: hp-office\)$"):
        ro.policy_of(office, "nope")
    bare = office.model_copy(update={"host_pools": ()})
    with pytest.raises(RequestRefused, match=r"\(it serves: none\)$"):
        ro.policy_of(bare, "nope")


# --- continue -------------------------------------------------------------------------------------------


def test_continuing_an_unknown_rollout_is_refused() -> None:
    """A message for a run that never existed names it."""
    world = World(host("h1"))
    command = ContinueRollout(workload="office", pool=world.key, run_id="ro-9", step="plan", attempt=0)
    with pytest.raises(RequestRefused, match="^rollout ro-9 of hp-office does not exist$"):
        ro.continue_rollout(command, world.deps)


def test_a_stale_message_re_sends_the_position_and_a_stopped_rollout_does_nothing() -> None:
    """Old attempt: where the run is, deduplicated, without running a step; a halted run: nothing."""
    world = World(host("h1"))
    world.start()
    [again] = world.step(attempt=5)
    assert (body(again)["step"], body(again)["attempt"]) == ("plan", 0)
    assert world.run().attempt == 0
    world.put(world.run().evolve(state=RolloutState.HALTED))
    assert world.step() == []


def test_a_step_moves_the_run_on_and_sends_the_next_step_now() -> None:
    """plan picks h1: the run moves to drain with one more attempt, and drain is sent at once."""
    world = World(host("h1"))
    world.start()
    [message] = world.step()
    run = world.run()
    assert (run.step, run.attempt, run.batch, run.checked_at, run.step_started_at) == (
        "drain", 1, ("h1",), NOW, NOW,
    )  # fmt: skip
    assert (body(message)["step"], message.scheduled_for) == ("drain", None)
    assert world.notes()[-1] == ("batch", "batch 1: h1 (1 of 1 hosts to go)", "")


def test_a_finished_rollout_succeeds_and_frees_the_pool() -> None:
    """Every host on the target: SUCCEEDED, ended now, no active run, no message."""
    world = World(host("h1", version="1.0.1"))
    world.start()
    assert world.step() == []
    run = world.run()
    assert (run.state, run.ended_at, run.pending) == (RolloutState.SUCCEEDED, NOW, None)
    assert world.active() is None


def test_a_wait_schedules_the_recheck_and_counts_time_spent_on_people() -> None:
    """Users still on a drained host: a re-check at now + wait, and the wait counted as people time."""
    world = World(host("h1", drained=True))
    world.avd.sessions_on = {"h1": ["s1"]}
    world.start()
    world.put(world.run().evolve(step="wait-users", batch=("h1",), drained_at=NOW))
    [message] = world.step()
    run = world.run()
    assert message.scheduled_for == NOW + timedelta(seconds=15)
    assert body(message)["trigger"] == "recheck"
    assert (run.next_check_at, run.wait_seconds) == (NOW + timedelta(seconds=15), 15.0)
    assert run.pending is not None
    assert run.pending.kind == "users"


def test_waiting_on_azure_is_not_counted_as_people_time() -> None:
    """A VM delete being followed: the wait is scheduled but wait_seconds stays 0."""
    world = World(host("h1"))
    world.start()
    spec = {"vm_id": vm("h1"), "location": "westeurope", "size": "s", "nic_ids": ["n"], "computer_name": "h1",
            "trusted_launch": True, "os_disk_id": "d", "tags": {}}  # fmt: skip
    world.put(world.run().evolve(step="delete", batch=("h1",), specs={"h1": spec}))
    [message] = world.step()
    assert message.scheduled_for == NOW + timedelta(seconds=15)
    assert world.run().wait_seconds == 0.0


def test_failures_are_recorded_counted_and_noted() -> None:
    """A host whose VM spec is missing fails: recorded with the time, counted since the resume, noted."""
    world = World(host("h1"))
    world.start()
    world.put(world.run().evolve(step="delete", batch=("h1",), vm_ids={"h1": vm("h1")}, failures_since_resume=1))
    world.step()
    run = world.run()
    reason = "its VM is missing and nothing recorded how to recreate it"
    assert run.failed == (HostFailure(host="h1", reason=reason, at=NOW),)
    assert run.failures_since_resume == 2
    assert world.notes()[-1] == ("host-failed", reason, "h1")


def test_a_batch_whose_hosts_all_failed_goes_straight_to_undrain() -> None:
    """No working host left in a batch step: skip to undrain (which halts at the threshold)."""
    world = World(host("h1"))
    world.start()
    failed = (HostFailure(host="h1", reason="x", at=NOW),)
    world.put(world.run().evolve(step="create", batch=("h1",), failed=failed))
    [message] = world.step()
    assert body(message)["step"] == "undrain"
    assert world.avd.calls == []


def test_a_halt_stops_the_rollout_with_the_reason_noted() -> None:
    """A step that halts: HALTED with the reason, noted, no message; the pool keeps its active run."""
    world = World(host("h1"), host("h2"))
    world.policy = world.policy.model_copy(update={"min_available": 2})
    world.deps.catalog = with_pools(BASE, "office", world.policy)
    world.start()
    assert world.step() == []
    run = world.run()
    assert run.state is RolloutState.HALTED
    assert run.reason.startswith("the pool has 2 hosts and must keep 2 available")
    assert world.notes()[-1] == ("halted", run.reason, "")
    assert world.active() == "ro-1"


def test_messages_to_users_go_out_only_after_the_commit() -> None:
    """The message step commits the move to wait-users, then sends; the note records who was asked."""
    world = World(host("h1", drained=True))
    world.avd.sessions_on = {"h1": ["s1"]}
    world.start()
    world.put(world.run().evolve(step="message", batch=("h1",)))
    world.step()
    assert world.run().step == "wait-users"
    assert [c[0] for c in world.avd.calls] == ["send_message"]


class Failing(FakeHostPools):
    error: AzureOperationError | None = None

    def hosts(self, pool_id: str) -> list[Any]:
        if self.error is not None:
            raise self.error
        return super().hosts(pool_id)


def failing_world(error: AzureOperationError) -> World:
    world = World()
    failing = Failing(pools={POOL: [host("h1")]})
    failing.error = error
    world.avd = failing
    world.deps.hostpools = failing
    world.start()
    return world


def test_azure_errors_halt_or_wait() -> None:
    """404 and permanent errors halt with the step named; throttling waits and counts its tries."""
    gone = failing_world(AzureOperationError("list hosts", "NotFound", "no pool", status=404))
    gone.step()
    assert (
        gone.run().reason
        == "step plan: a resource was deleted outside the product: list hosts failed: NotFound: no pool"
    )
    denied = failing_world(AzureOperationError("list hosts", "AuthorizationFailed", "no", status=403))
    denied.step()
    assert denied.run().reason == "step plan: list hosts failed: AuthorizationFailed: no"
    busy = failing_world(AzureOperationError("list hosts", "TooManyRequests", "slow", status=429))
    [message] = busy.step()
    assert busy.run().pending is not None
    assert (busy.run().pending.kind, busy.run().pending.checks) == ("azure-busy", 0)  # type: ignore[union-attr]
    assert message.scheduled_for == NOW + timedelta(seconds=15)
    busy.put(
        busy.run().evolve(pending=PendingOperation(kind="azure-busy", started_at=NOW, checks=ro.AZURE_BUSY_LIMIT - 1))
    )
    busy.step()
    assert busy.run().reason.startswith("Azure kept failing transiently (30 tries): ")


def test_between_batches_a_queued_version_takes_over() -> None:
    """At plan with a successor: this run is superseded, the pool freed, and the successor's start sent."""
    world = World(host("h1"))
    world.start()
    successor = {"version": "1.0.2", "run_id": "ro-2", "requested_by": "cab", "automatic": "True"}
    world.put(world.run().evolve(successor=successor))
    [start] = world.step()
    old = world.run()
    assert (old.state, old.reason, old.ended_at) == (RolloutState.SUPERSEDED, "superseded by 1.0.2", NOW)
    assert world.active() is None
    assert world.notes()[-1] == ("superseded", "production moved to 1.0.2", "")
    assert {k: body(start)[k] for k in ("run_id", "version", "requested_by", "automatic", "pool")} == {
        "run_id": "ro-2", "version": "1.0.2", "requested_by": "cab", "automatic": True, "pool": old.pool_key,
    }  # fmt: skip


# --- production changes ---------------------------------------------------------------------------------


def test_a_finished_production_promotion_starts_the_automatic_pools_rollouts() -> None:
    """The replicate message of the production version starts auto pools only, named after the version."""
    world = World(host("h1"), auto=True)
    pointers = world.deps.records.get_pointers("office").evolve(production=make_version("1.0.1").version)
    world.deps.records.commit(Changes(workload="office", pointers=pointers))
    done = ContinueVersion(workload="office", version="1.0.1", operation="replicate", attempt=3)
    [start] = ro.on_production_change(done, world.deps)
    assert {k: body(start)[k] for k in ("run_id", "version", "requested_by", "automatic")} == {
        "run_id": "auto-v1-0-1", "version": "1.0.1", "requested_by": "production-promotion", "automatic": True,
    }  # fmt: skip
    other = ContinueVersion(workload="office", version="1.0.0", operation="replicate", attempt=3)
    validate = ContinueVersion(workload="office", version="1.0.1", operation="validate", attempt=3)
    assert ro.on_production_change(other, world.deps) == ro.on_production_change(validate, world.deps) == []
    back = Rollback(
        workload="office",
        version="1.0.2",
        approver_token="aaaaaaaa.bbbbbbbb.cccc",
        requested_at=datetime(2026, 11, 3, 9, 5, tzinfo=UTC),
    )
    [rolled] = ro.on_production_change(back, world.deps)
    assert (body(rolled)["run_id"], body(rolled)["requested_by"]) == ("back-v1-0-1-2611030905", "production-rollback")


def test_no_automatic_pool_or_no_production_starts_nothing() -> None:
    """Manual pools only, no production version, or no adapters: nothing starts."""
    done = ContinueVersion(workload="office", version="1.0.1", operation="replicate", attempt=3)
    assert ro.on_production_change(done, World(host("h1")).deps) == []
    auto = World(host("h1"), auto=True)
    assert ro.on_production_change(done, auto.deps) == []  # no production pointer yet
    auto.deps.hostpools = None
    assert ro.on_production_change(done, auto.deps) == []


# --- halts, the watchdog, events ------------------------------------------------------------------------


def halt(world: World, step: str = "drain", attempt: int = 0) -> list[Envelope]:
    command = HaltRollout(workload="office", pool=world.key, run_id="ro-1", step=step, attempt=attempt,
                          reason="stuck", source="watchdog")  # fmt: skip
    return re_.halt_rollout(command, world.deps)


def test_a_halt_undrains_healthy_batch_hosts_and_leaves_broken_ones_drained() -> None:
    """h1 healthy and drained: undrained. h2 mid-replacement, h3 failed, h4 gone: left drained, each noted."""
    world = World(host("h1", version="1.0.1", drained=True), host("h2", status="Unavailable", drained=True),
                  host("h3", drained=True))  # fmt: skip
    world.start()
    failed = (HostFailure(host="h3", reason="x", at=NOW),)
    world.put(world.run().evolve(step="drain", batch=("h1", "h2", "h3", "h4"), failed=failed))
    assert halt(world) == []
    run = world.run()
    assert (run.state, run.reason, run.attempt, run.checked_at) == (RolloutState.HALTED, "stuck", 1, NOW)
    assert world.avd.calls == [("set_drain", ("h1", False))]
    assert world.notes()[-5:] == [
        ("halted", "stuck (watchdog); the pool keeps serving", ""),
        ("undrained", "runs 1.0.1, accepting sessions", "h1"),
        ("left-drained", "Unavailable: caught mid-replacement", "h2"),
        ("left-drained", "Available: caught mid-replacement", "h3"),
        ("left-drained", "not in the pool any more", "h4"),
    ]


def test_a_halt_for_a_run_that_moved_on_does_nothing() -> None:
    """The run is no longer at the halted step and attempt: it is not stuck."""
    world = World(host("h1"))
    world.start()
    world.put(world.run().evolve(step="drain"))
    assert halt(world, attempt=5) == []
    assert halt(world, step="plan") == []
    assert world.run().state is RolloutState.RUNNING


def test_a_dead_lettered_rollout_step_halts_it() -> None:
    """The step message died: halted with the reason; a start that never opened a run returns None."""
    world = World(host("h1"))
    world.start()
    command = ContinueRollout(workload="office", pool=world.key, run_id="ro-1", step="plan", attempt=0)
    assert re_.dead_lettered_rollout(command, "poison", world.deps) == []
    assert world.run().reason == "step plan was dead-lettered: poison"
    never = StartRollout(workload="office", pool="hp-office", run_id="ro-9", version="1.0.1", requested_by="admin")
    assert re_.dead_lettered_rollout(never, "poison", world.deps) is None


def test_the_watchdog_halts_a_rollout_with_no_progress_after_a_grace() -> None:
    """Past NO_PROGRESS since the due re-check: a halt check scheduled WATCHDOG_GRACE later; a deleted pool now."""
    world = World(host("h1"))
    world.start()
    assert re_.rollout_watchdog(world.deps, NOW + timedelta(hours=2, minutes=30)) == []
    [check] = re_.rollout_watchdog(world.deps, NOW + timedelta(hours=2, minutes=31))
    assert check.scheduled_for == NOW + timedelta(hours=4, minutes=31)
    assert body(check)["reason"] == f"no progress in step plan since {NOW:%Y-%m-%d %H:%M} UTC (a re-check was due then)"
    gone = failing_world(AzureOperationError("list hosts", "NotFound", "no pool", status=404))
    [now_check] = re_.rollout_watchdog(gone.deps, NOW)
    assert (body(now_check)["reason"], now_check.scheduled_for) == (
        "host pool hp-office was deleted outside the product",
        None,
    )


def test_a_vm_event_wakes_only_the_rollout_waiting_for_that_vm() -> None:
    """The batch VM's event continues the delete step; the extension's event is ignored while it waits for the VM."""
    world = World(host("h1"))
    world.start()
    world.put(world.run().evolve(step="delete", batch=("h1",), vm_ids={"h1": vm("h1")},
                                 pending=PendingOperation(kind="delete", started_at=NOW)))  # fmt: skip
    messages, why = rev.route_rollout_event(vm("h1").upper(), world.deps) or ([], "")
    assert why == "continues rollout ro-1 of hp-office"
    assert body(messages[0])["trigger"] == "event"
    assert rev.route_rollout_event(vm("h1") + "/extensions/DSC", world.deps) == (
        [], "ignored: rollout ro-1 of hp-office waits for delete now",
    )  # fmt: skip
    assert rev.route_rollout_event(vm("other"), world.deps) is None
    assert (
        rev.route_rollout_event("/subscriptions/s/resourceGroups/g/providers/Microsoft.Storage/x/y", world.deps) is None
    )
