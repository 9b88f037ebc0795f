"""The steps of a host pool rollout, one at a time, against an in-memory AVD (tests/unit/fakes.py).

Each test pins one rule an AVD admin relies on: batches never take the pool below its minimum,
hosts out of service go first, users are warned once and given their grace, a VM is only deleted
with nobody on it and after its spec was recorded, and failures halt at the pool's threshold.
"""

from __future__ import annotations

from dataclasses import asdict
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from localrun.hostpools import pool_id
from shared.config import Settings
from shared.domain.catalog import load_catalog
from shared.domain.errors import AzureOperationError
from shared.domain.hostpools import HostFailure, HostPoolPolicy, HostSpec, PoolRecord, Rollout, SessionHostState
from shared.domain.model import PendingOperation
from shared.steps import rollout_steps as rs
from tests.unit.fakes import FakeHostPools, make_deps

CATALOG = load_catalog(Path(__file__).resolve().parents[2] / "catalog")
POOL = pool_id("rg-avd-hosts", "hp-office")
NOW = datetime(2026, 11, 4, 12, 0, tzinfo=UTC)  # a Wednesday
TARGET = "1.0.1"
IMAGE = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Compute/galleries/g/images/d/versions/1.0.1"


def vm(host: str) -> str:
    return f"/subscriptions/s/resourceGroups/rg-avd-hosts/providers/Microsoft.Compute/virtualMachines/{host}"


def host(
    name: str,
    *,
    version: str = "1.0.0",
    status: str = "Available",
    drained: bool = False,
    sessions: int = 0,
    heartbeat: datetime | None = NOW,
) -> SessionHostState:
    return SessionHostState(
        name=name,
        status=status,
        last_heartbeat=heartbeat,
        allow_new_session=not drained,
        sessions=sessions,
        vm_id=vm(name),
        exact_version=version,
    )


def spec(name: str) -> HostSpec:
    return HostSpec(
        vm_id=vm(name),
        location="westeurope",
        size="Standard_D4s_v5",
        nic_ids=(f"{vm(name)}-nic",),
        computer_name=name,
        trusted_launch=True,
        os_disk_id=f"{vm(name)}-osdisk",
    )


def recorded_specs(*names: str) -> dict[str, dict[str, object]]:
    return {n: {**asdict(spec(n)), "nic_ids": list(spec(n).nic_ids)} for n in names}


def policy(**changes: object) -> HostPoolPolicy:
    return HostPoolPolicy.model_validate({"id": POOL, **changes})


def context(
    avd: FakeHostPools,
    run: dict[str, object] | None = None,
    *,
    pool_policy: HostPoolPolicy | None = None,
    pending: tuple[str, timedelta] | None = None,
    now: datetime = NOW,
) -> rs.RolloutContext:
    deps = make_deps(CATALOG)
    deps.settings = Settings(event_grid=False)
    deps.hostpools = avd
    fields: dict[str, object] = {
        "workload": "office",
        "pool_id": POOL,
        "pool_key": "hp-office-1",
        "run_id": "ro-1",
        "target_version": TARGET,
        "target_image_id": IMAGE,
        "requested_by": "a@b.c",
        "started_at": NOW - timedelta(hours=1),
    }
    if pending is not None:
        kind, ago = pending
        fields["pending"] = PendingOperation(kind=kind, started_at=now - ago)
    rollout = Rollout.model_validate({**fields, **(run or {})})
    record = PoolRecord(workload="office", pool_key="hp-office-1", pool_id=POOL)
    return rs.RolloutContext(deps, pool_policy or policy(), rollout, record, now)


def pool(*hosts: SessionHostState) -> FakeHostPools:
    return FakeHostPools(pools={POOL: list(hosts)})


# --- plan -----------------------------------------------------------------------------------------------


def test_a_pool_on_the_target_everywhere_finishes() -> None:
    """Every host runs 1.0.1: the rollout finishes and says how many hosts it covered."""
    result = rs.step_plan(context(pool(host("h1", version=TARGET), host("h2", version=TARGET))))
    assert result.finish
    assert result.notes == [("finished", "all 2 hosts run 1.0.1", "")]


def test_a_batch_takes_hosts_out_of_service_first_then_the_emptiest_and_keeps_the_minimum() -> None:
    """Batch of 2, minimum 2 of 3 available: the unavailable host, then the one without sessions."""
    avd = pool(
        host("h1", sessions=2),
        host("h2"),
        host("h3", status="Unavailable"),
        host("h4", sessions=1),
    )
    result = rs.step_plan(context(avd, pool_policy=policy(batch_size=2, min_available=2)))
    assert result.next_step == "drain"
    assert result.updates["batch"] == ("h3", "h2")
    assert result.updates["batches"] == 1
    assert result.updates["vm_ids"] == {n: vm(n) for n in ("h1", "h2", "h3", "h4")}
    assert result.notes == [("batch", "batch 1: h3, h2 (4 of 4 hosts to go)", "")]


def test_available_hosts_are_taken_only_while_the_minimum_stays_available() -> None:
    """Four available, minimum 2, batch 3: only two may go, the third waits for the next batch."""
    avd = pool(host("h1"), host("h2"), host("h3"), host("h4"))
    result = rs.step_plan(context(avd, pool_policy=policy(batch_size=3, min_available=2)))
    assert result.updates["batch"] == ("h1", "h2")


def test_a_drained_host_counts_as_out_of_service() -> None:
    """A host in drain mode is not available: replacing it costs no capacity."""
    avd = pool(host("h1"), host("h2", drained=True))
    result = rs.step_plan(context(avd, pool_policy=policy(batch_size=2, min_available=1)))
    assert result.updates["batch"] == ("h2",)


def test_failed_hosts_are_skipped_and_hosts_to_retry_are_replaced_again() -> None:
    """A failed host stays out; a host retried after a resume is replaced even on the target if unavailable."""
    failed = HostFailure(host="h1", reason="boom", at=NOW)
    avd = pool(host("h1"), host("h2", version=TARGET, status="Unavailable"), host("h3", version=TARGET))
    run = {"failed": (failed,), "retry": ("h2", "h3")}
    result = rs.step_plan(context(avd, run, pool_policy=policy(batch_size=5, min_available=0)))
    assert result.updates["batch"] == ("h2",)
    done = rs.step_plan(context(avd, {**run, "done": ("h2",)}, pool_policy=policy(batch_size=5, min_available=0)))
    assert done.finish


def test_a_pool_too_small_to_spare_a_host_halts_with_the_reason() -> None:
    """Two hosts, minimum 2: nothing can ever be taken out, so the rollout halts and says what to change."""
    avd = pool(host("h1"), host("h2"))
    result = rs.step_plan(context(avd, pool_policy=policy(min_available=2)))
    assert result.halt == (
        "the pool has 2 hosts and must keep 2 available: no host can be taken out; lower min_available or add a host"
    )


def test_no_room_waits_for_capacity_and_says_so_once() -> None:
    """Three hosts, one down, minimum 2: wait for capacity (no event), noted on the first look only."""
    avd = pool(host("h1"), host("h2"), host("h3", version=TARGET, status="Unavailable"))
    first = rs.step_plan(context(avd, pool_policy=policy(min_available=2)))
    assert first.notes == [
        (
            "waiting",
            "2 of 3 hosts available and the minimum is 2: waiting for capacity before taking another host out",
            "",
        )
    ]
    assert first.pending is not None
    assert (first.pending.kind, first.wait) == ("capacity", timedelta(seconds=15))
    later = rs.step_plan(context(avd, pool_policy=policy(min_available=2), pending=("capacity", timedelta(minutes=10))))
    assert later.notes == []
    assert later.wait == timedelta(minutes=2)
    assert later.pending is not None
    assert later.pending.checks == 1


def test_waiting_for_capacity_longer_than_the_limit_halts() -> None:
    """After six hours without room an admin must look: the rollout halts."""
    avd = pool(host("h1"), host("h2"), host("h3", version=TARGET, status="Unavailable"))
    ctx = context(avd, pool_policy=policy(min_available=2), pending=("capacity", timedelta(hours=6, seconds=1)))
    assert rs.step_plan(ctx).halt == "waited 6:00:00 for enough available hosts to take one out"
    other = context(avd, pool_policy=policy(min_available=2), pending=("window", timedelta(hours=7)))
    assert rs.step_plan(other).halt is None


def test_an_automatic_rollout_waits_for_the_maintenance_window() -> None:
    """Wednesday noon, window Saturday 22:00: wait until then, noted once."""
    window = {"days": ["sat"], "start": "22:00", "duration_minutes": 360, "time_zone": "UTC"}
    auto = policy(rollout="auto", maintenance_window=window)
    avd = pool(host("h1"), host("h2"))
    first = rs.step_plan(context(avd, {"automatic": True}, pool_policy=auto))
    assert first.wait == datetime(2026, 11, 7, 22, 0, tzinfo=UTC) - NOW
    assert first.notes == [("waiting", "outside the maintenance window; next batch at 2026-11-07 22:00 UTC", "")]
    assert first.pending is not None
    assert first.pending.kind == "window"
    again = rs.step_plan(context(avd, {"automatic": True}, pool_policy=auto, pending=("window", timedelta(hours=1))))
    assert again.notes == []
    manual = rs.step_plan(context(avd, {"automatic": False}, pool_policy=auto))
    assert manual.next_step == "drain"  # a rollout an admin asked for does not wait for the window


# --- drain, message, users ------------------------------------------------------------------------------


def test_drain_stops_new_sessions_on_the_working_hosts_only() -> None:
    """Drain mode on every batch host that has not failed; the drain time is recorded."""
    avd = pool()
    failed = HostFailure(host="h2", reason="x", at=NOW)
    result = rs.step_drain(context(avd, {"batch": ("h1", "h2"), "failed": (failed,)}))
    assert avd.calls == [("set_drain", ("h1", True))]
    assert (result.next_step, result.updates, result.notes) == (
        "message",
        {"drained_at": NOW},
        [("drained", "no new sessions", "h1")],
    )


def test_users_are_messaged_only_after_the_commit_and_a_failed_message_is_not_fatal() -> None:
    """The notes say who is asked; the messages are sent by after_commit, and a refusal is only logged."""
    avd = pool()
    avd.sessions_on = {"h1": ["s1", "s2"], "h2": []}
    avd.refuse_message = AzureOperationError("send", "Conflict", "gone")
    result = rs.step_message(context(avd, {"batch": ("h1", "h2")}, pool_policy=policy(message_title="T", message="M")))
    assert result.next_step == "wait-users"
    assert result.notes == [("messaged", "2 user(s) asked to save and sign out", "h1")]
    assert avd.calls == []
    [send] = result.after_commit
    send()
    assert avd.calls == [("send_message", ("h1", "s1", "T", "M")), ("send_message", ("h1", "s2", "T", "M"))]


def test_no_users_means_no_messages() -> None:
    """Empty hosts: nothing to send after the commit."""
    result = rs.step_message(context(pool(), {"batch": ("h1",)}))
    assert (result.after_commit, result.notes) == ([], [])


def test_once_every_user_left_the_hosts_are_deleted() -> None:
    """No session on any batch host: on to delete."""
    result = rs.step_wait_users(context(pool(), {"batch": ("h1",), "drained_at": NOW}))
    assert (result.next_step, result.notes) == ("delete", [("users-gone", "every user signed out", "")])


def test_users_are_waited_for_until_the_grace_ends() -> None:
    """Grace 30 min, drained 10 min ago: look again on the back-off (2 min), never past the grace's end."""
    avd = pool()
    avd.sessions_on = {"h1": ["s1"]}
    grace = policy(drain_grace_minutes=30)
    drained = NOW - timedelta(minutes=10)
    result = rs.step_wait_users(context(avd, {"batch": ("h1",), "drained_at": drained}, pool_policy=grace))
    assert result.wait == timedelta(minutes=2)
    assert result.pending is not None
    assert result.pending.kind == "users"
    near = rs.step_wait_users(
        context(avd, {"batch": ("h1",), "drained_at": NOW - timedelta(minutes=29)}, pool_policy=grace)
    )
    assert near.wait == timedelta(minutes=1)  # the grace ends in a minute
    over = rs.step_wait_users(
        context(avd, {"batch": ("h1",), "drained_at": NOW - timedelta(minutes=30)}, pool_policy=grace)
    )
    assert over.next_step == "log-off"


def test_log_off_never_comes_before_the_grace_ends() -> None:
    """A log-off step reached early goes back to waiting; after the grace the users are signed off."""
    avd = pool()
    avd.sessions_on = {"h1": ["s1", "s2"], "h2": []}
    grace = policy(drain_grace_minutes=30)
    early = rs.step_log_off(
        context(avd, {"batch": ("h1",), "drained_at": NOW - timedelta(minutes=29)}, pool_policy=grace)
    )
    assert (early.next_step, avd.calls) == ("wait-users", [])
    late = rs.step_log_off(
        context(avd, {"batch": ("h1", "h2"), "drained_at": NOW - timedelta(minutes=30)}, pool_policy=grace)
    )
    assert late.next_step == "delete"
    assert avd.calls == [("log_off", ("h1", "s1")), ("log_off", ("h1", "s2"))]
    assert late.notes == [("logged-off", "2 user(s) signed off after the grace period", "h1")]


def test_grace_is_counted_from_the_drain() -> None:
    """The grace ends drain_grace_minutes after drained_at (now, when the drain time is unknown)."""
    ctx = context(pool(), {"drained_at": NOW - timedelta(minutes=5)}, pool_policy=policy(drain_grace_minutes=30))
    assert rs.grace_end(ctx) == NOW + timedelta(minutes=25)
    assert rs.grace_end(context(pool(), pool_policy=policy(drain_grace_minutes=30))) == NOW + timedelta(minutes=30)


# --- delete, create, register, available ----------------------------------------------------------------


def test_nobody_is_on_a_host_when_its_vm_is_deleted() -> None:
    """Users still on a host before the grace ends: back to waiting; after it: log them off first."""
    avd = pool()
    avd.sessions_on = {"h1": ["s1"]}
    grace = policy(drain_grace_minutes=30)
    during = rs.step_delete(context(avd, {"batch": ("h1",), "drained_at": NOW}, pool_policy=grace))
    assert (during.next_step, avd.calls) == ("wait-users", [])
    after = rs.step_delete(context(avd, {"batch": ("h1",), "drained_at": NOW - timedelta(hours=1)}, pool_policy=grace))
    assert after.next_step == "log-off"


def test_each_vms_spec_is_recorded_before_anything_is_deleted() -> None:
    """The first pass only records what recreating each VM needs; a VM already gone fails its host."""
    avd = pool()
    avd.specs = {vm("h1"): spec("h1")}
    run = {"batch": ("h1", "h2"), "vm_ids": {"h1": vm("h1"), "h2": vm("h2")}}
    result = rs.step_delete(context(avd, run))
    assert (result.next_step, avd.calls) == ("delete", [])
    assert result.updates == {"specs": recorded_specs("h1")}
    assert result.failures == [("h2", "its VM is missing and nothing recorded how to recreate it")]


def test_recorded_vms_are_deleted_once_and_followed() -> None:
    """With the specs recorded the VMs are deleted and the step comes back for them."""
    avd = pool()
    result = rs.step_delete(context(avd, {"batch": ("h1", "h2"), "specs": recorded_specs("h1", "h2")}))
    assert avd.calls == [("start_delete_vm", vm("h1")), ("start_delete_vm", vm("h2"))]
    assert result.pending is not None
    assert (result.pending.kind, result.wait) == ("delete", timedelta(seconds=15))


def test_once_the_vms_are_gone_their_disks_go_too_and_the_new_vms_are_created() -> None:
    """Both VMs Missing: each OS disk is deleted (kept with deleteOption Detach), on to create."""
    avd = pool()
    run = {"batch": ("h1", "h2"), "specs": recorded_specs("h1", "h2")}
    result = rs.step_delete(context(avd, run, pending=("delete", timedelta(minutes=5))))
    assert result.next_step == "create"
    assert avd.calls == [
        ("start_delete_disk", f"{vm('h1')}-osdisk"),
        ("start_delete_disk", f"{vm('h2')}-osdisk"),
    ]


def test_a_vm_still_there_is_waited_for_then_failed_after_the_hour() -> None:
    """One VM still deleting: wait; after an hour its host fails and the rest go on."""
    avd = pool()
    avd.vm_states = {vm("h2"): "Succeeded"}
    run = {"batch": ("h1", "h2"), "specs": recorded_specs("h1", "h2")}
    waiting = rs.step_delete(context(avd, run, pending=("delete", timedelta(minutes=10))))
    assert (waiting.next_step, waiting.wait) == (None, timedelta(minutes=2))
    late = rs.step_delete(context(avd, run, pending=("delete", timedelta(hours=1, seconds=1))))
    assert late.next_step == "create"
    assert late.failures == [("h2", "its VM was not deleted within the hour")]


def test_new_vms_are_created_from_the_target_version_with_the_rollout_tag() -> None:
    """The same spec, the target image, tagged with the rollout id."""
    avd = pool()
    result = rs.step_create(context(avd, {"batch": ("h1",), "specs": recorded_specs("h1")}))
    assert avd.calls == [("start_create_vm", (vm("h1"), IMAGE, {"avd-lifecycle-rollout": "ro-1"}))]
    assert result.pending is not None
    assert result.pending.kind == "create"


def test_a_vm_that_failed_to_provision_fails_its_host_and_slow_ones_are_waited_for() -> None:
    """Failed fails at once; InProgress and Missing wait until the hour is over, then fail too."""
    avd = pool()
    avd.vm_states = {vm("h1"): "Failed", vm("h2"): "InProgress", vm("h3"): "Succeeded"}
    run = {"batch": ("h1", "h2", "h3", "h4"), "specs": recorded_specs("h1", "h2", "h3", "h4")}
    waiting = rs.step_create(context(avd, run, pending=("create", timedelta(minutes=10))))
    assert waiting.failures == [("h1", "the new VM failed to provision from 1.0.1")]
    assert (waiting.next_step, waiting.wait) == (None, timedelta(minutes=2))
    late = rs.step_create(context(avd, run, pending=("create", timedelta(hours=2))))
    assert late.next_step == "register"
    assert late.failures == [
        ("h1", "the new VM failed to provision from 1.0.1"),
        ("h2", "the new VM was not ready within the hour"),
        ("h4", "the new VM was not ready within the hour"),
    ]


def test_agents_are_installed_with_a_fresh_token_valid_an_hour_past_use() -> None:
    """One token for the batch, valid at least an hour; each VM gets the agent in its own region."""
    avd = pool()
    result = rs.step_register(context(avd, {"batch": ("h1", "h2"), "specs": recorded_specs("h1", "h2")}))
    assert avd.calls == [
        ("registration_token", (POOL, timedelta(hours=1))),
        ("start_register", (vm("h1"), "westeurope", "token-1")),
        ("start_register", (vm("h2"), "westeurope", "token-1")),
    ]
    assert result.pending is not None
    assert result.pending.kind == "register"
    empty = pool()
    rs.step_register(context(empty, {"batch": ()}))
    assert empty.calls == []  # no working host: no token is fetched


def test_registration_failures_and_timeouts_fail_their_hosts() -> None:
    """Failed fails at once; still installing after the hour fails; the registration time is recorded."""
    avd = pool()
    avd.registrations = {vm("h1"): "Failed", vm("h2"): "InProgress", vm("h3"): "Succeeded"}
    run = {"batch": ("h1", "h2", "h3"), "specs": recorded_specs("h1", "h2", "h3")}
    waiting = rs.step_register(context(avd, run, pending=("register", timedelta(minutes=10))))
    assert waiting.failures == [("h1", "the AVD agent failed to install or register")]
    assert waiting.wait == timedelta(minutes=2)
    late = rs.step_register(context(avd, run, pending=("register", timedelta(hours=2))))
    assert (late.next_step, late.updates) == ("wait-available", {"registered_at": NOW})
    assert late.failures[1] == ("h2", "the AVD agent did not register within the hour")


def test_a_host_counts_as_back_only_with_a_fresh_heartbeat_on_the_target() -> None:
    """Available, heartbeat after the registration and the target version: then undrain."""
    registered = NOW - timedelta(minutes=5)
    run = {"batch": ("h1",), "registered_at": registered}
    stale = pool(host("h1", version=TARGET, heartbeat=registered - timedelta(seconds=1)))
    assert rs.step_wait_available(context(stale, run)).next_step is None
    old_image = pool(host("h1", heartbeat=NOW))
    assert rs.step_wait_available(context(old_image, run)).next_step is None
    down = pool(host("h1", version=TARGET, status="Unavailable", heartbeat=NOW))
    assert rs.step_wait_available(context(down, run)).next_step is None
    silent = pool(host("h1", version=TARGET, heartbeat=None))
    assert rs.step_wait_available(context(silent, run)).next_step is None
    fresh = pool(host("h1", version=TARGET, heartbeat=registered))
    assert rs.step_wait_available(context(fresh, run)).next_step == "undrain"


def test_a_host_not_back_in_time_fails_and_the_batch_moves_on() -> None:
    """Not Available 45 minutes after registration: the host fails with the reason, on to undrain."""
    registered = NOW - timedelta(minutes=46)
    stale = pool(host("h1", version=TARGET, status="Unavailable"))
    result = rs.step_wait_available(context(stale, {"batch": ("h1",), "registered_at": registered}))
    assert result.next_step == "undrain"
    assert result.failures == [("h1", "not Available with a fresh heartbeat 45 minutes after registration")]
    waiting = rs.step_wait_available(context(stale, {"batch": ("h1",), "registered_at": NOW - timedelta(minutes=10)}))
    assert (waiting.next_step, waiting.wait) == (None, timedelta(minutes=2))
    assert waiting.pending is not None
    assert waiting.pending.kind == "available"


# --- undrain and failures -------------------------------------------------------------------------------


def test_replaced_hosts_accept_sessions_again_and_the_next_batch_is_planned() -> None:
    """Undrain the working hosts, record them done, clear the batch; plan the next one."""
    avd = pool()
    run = {"batch": ("h2", "h3"), "done": ("h1",), "drained_at": NOW, "registered_at": NOW}
    result = rs.step_undrain(context(avd, run))
    assert avd.calls == [("set_drain", ("h2", False)), ("set_drain", ("h3", False))]
    assert result.next_step == "plan"
    assert result.updates == {"done": ("h1", "h2", "h3"), "batch": (), "drained_at": None, "registered_at": None}
    assert result.notes[0] == ("replaced", "runs 1.0.1, accepting sessions", "h2")


def test_failures_at_the_threshold_halt_the_rollout_and_failed_hosts_stay_drained() -> None:
    """Two failures with threshold 2: halt with how to resume; the failed host is not undrained."""
    avd = pool()
    failed = HostFailure(host="h2", reason="x", at=NOW)
    run = {"batch": ("h1", "h2"), "failed": (failed,), "failures_since_resume": 2}
    result = rs.step_undrain(context(avd, run, pool_policy=policy(failure_threshold=2)))
    assert avd.calls == [("set_drain", ("h1", False))]
    assert result.halt == (
        "2 host(s) failed (threshold 2); the pool keeps serving. "
        "Resume with `avdimage rollout hp-office` or go back with --to <version>"
    )
    below = rs.step_undrain(
        context(pool(), {**run, "failures_since_resume": 1}, pool_policy=policy(failure_threshold=2))
    )
    assert (below.halt, below.next_step) == (None, "plan")


def test_failure_records_carry_the_time_they_were_found() -> None:
    """Each (host, reason) becomes a HostFailure stamped with the step's time."""
    ctx = context(pool())
    assert rs.failure_records(ctx, [("h1", "boom")]) == (HostFailure(host="h1", reason="boom", at=NOW),)


def test_a_context_without_a_host_pool_adapter_says_so() -> None:
    """No AVD adapter configured is a clear error, not an AttributeError deep in a step."""
    ctx = context(pool())
    ctx.deps.hostpools = None
    with pytest.raises(RuntimeError, match="^no host pool adapter configured$"):
        _ = ctx.avd
