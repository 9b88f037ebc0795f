"""Rollout steps, the rules between the lines: which pool each AVD call names, how long each wait is
with Event Grid on, what each re-check remembers, and where each boundary falls.

Complements tests/unit/test_rollout_steps.py (same helpers): a batch never exceeds its size, the
minimum stays available, a wait on people never trusts an event that does not exist, and an
operation is failed only once its hour is over, not at the hour.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shared.config import Settings
from shared.domain.errors import AzureOperationError
from shared.domain.hostpools import HostFailure
from shared.steps import rollout_steps as rs
from tests.unit.fakes import FakeHostPools
from tests.unit.test_rollout_steps import NOW, POOL, TARGET, context, host, policy, recorded_specs, vm

SAFETY_NET = timedelta(minutes=6)  # waits.EVENT_ALLOWANCE: the first look behind an expected event
BEHIND_EVENT = timedelta(minutes=8)  # 10 minutes in, with events: doubled, capped at waits.LONGEST
PLAIN = timedelta(minutes=2)  # 10 minutes in, without events: a fifth of the time waited


class PoolBound(FakeHostPools):
    """The in-memory AVD, refusing any call that names another pool than the rollout's."""

    def _mine(self, pool_id: str) -> None:
        assert pool_id == POOL, f"called for pool {pool_id!r}"

    def hosts(self, pool_id: str) -> list[Any]:
        self._mine(pool_id)
        return super().hosts(pool_id)

    def set_drain(self, pool_id: str, host: str, drained: bool) -> None:
        self._mine(pool_id)
        super().set_drain(pool_id, host, drained)

    def sessions(self, pool_id: str, host: str) -> list[str]:
        self._mine(pool_id)
        return super().sessions(pool_id, host)

    def send_message(self, pool_id: str, host: str, session: str, title: str, text: str) -> None:
        self._mine(pool_id)
        super().send_message(pool_id, host, session, title, text)

    def log_off(self, pool_id: str, host: str, session: str) -> None:
        self._mine(pool_id)
        super().log_off(pool_id, host, session)

    def registration_token(self, pool_id: str, now: datetime, valid_for: timedelta) -> str:
        self._mine(pool_id)
        self.calls.append(("token-asked-at", now))
        return super().registration_token(pool_id, now, valid_for)

    def start_register(self, vm_id: str, location: str, pool_id: str, token: str) -> None:
        self._mine(pool_id)
        super().start_register(vm_id, location, pool_id, token)


def bound(**sessions: list[str]) -> PoolBound:
    return PoolBound(pools={POOL: [host("h1"), host("h2")]}, sessions_on=dict(sessions))


def with_events(ctx: rs.RolloutContext) -> rs.RolloutContext:
    ctx.deps.settings = Settings(event_grid=True)
    return ctx


# --- every call names the rollout's pool ----------------------------------------------------------------


def test_drain_messages_log_off_and_undrain_name_the_rollouts_pool() -> None:
    """Drain, the users' messages, the log-off, the last guard before delete and the undrain all act on POOL."""
    avd = bound(h1=["s1"])
    run = {"batch": ("h1",), "drained_at": NOW - timedelta(hours=2)}
    rs.step_drain(context(avd, run))
    [send] = rs.step_message(context(avd, run)).after_commit
    send()
    rs.step_log_off(context(avd, run))
    assert rs.step_delete(context(avd, run)).next_step == "log-off"  # the guard saw s1 on h1 in POOL
    rs.step_undrain(context(avd, run))
    assert [name for name, _ in avd.calls] == ["set_drain", "send_message", "log_off", "set_drain"]


def test_the_agent_token_is_asked_of_the_rollouts_pool_at_the_steps_time() -> None:
    """One registration token from POOL, valid from now; each VM's agent joins POOL."""
    avd = bound()
    rs.step_register(context(avd, {"batch": ("h1",), "specs": recorded_specs("h1")}))
    assert avd.calls == [
        ("token-asked-at", NOW),
        ("registration_token", (POOL, timedelta(hours=1))),
        ("start_register", (vm("h1"), "westeurope", "token-1")),
    ]


def test_a_message_azure_refused_is_logged_with_the_run_user_host_and_error(caplog: pytest.LogCaptureFixture) -> None:
    """The refusal is a warning an operator can read: which run, which session on which host, and why."""
    avd = bound(h1=["s1"])
    avd.refuse_message = AzureOperationError("send", "Conflict", "gone")
    [send] = rs.step_message(context(avd, {"batch": ("h1",)})).after_commit
    with caplog.at_level(logging.WARNING, logger="avdimage.rollouts"):
        send()
    assert [(r.levelname, r.getMessage()) for r in caplog.records] == [
        ("WARNING", "rollout ro-1: message to s1 on h1 not sent: send failed: Conflict: gone")
    ]


# --- waits with Event Grid on ---------------------------------------------------------------------------

AZURE_STEPS = [
    ("delete", rs.step_delete, {}),
    ("create", rs.step_create, {}),
    ("register", rs.step_register, {vm("h1"): "InProgress"}),
]


@pytest.mark.parametrize(("kind", "step", "registrations"), AZURE_STEPS, ids=[k for k, _, _ in AZURE_STEPS])
def test_with_event_grid_the_first_look_at_an_azure_operation_is_the_safety_net(
    kind: str, step: Any, registrations: dict[str, str]
) -> None:
    """Started now, its completion event is expected: the first look comes 6 minutes later, not 15 seconds."""
    avd = bound()
    ctx = with_events(context(avd, {"batch": ("h1",), "specs": recorded_specs("h1")}))
    result = step(ctx)
    assert result.wait == SAFETY_NET
    assert result.pending is not None
    assert (result.pending.kind, result.pending.started_at, result.pending.checks) == (kind, NOW, 0)


@pytest.mark.parametrize(("kind", "step", "registrations"), AZURE_STEPS, ids=[k for k, _, _ in AZURE_STEPS])
def test_a_recheck_keeps_following_the_same_operation_and_backs_off_behind_its_event(
    kind: str, step: Any, registrations: dict[str, str]
) -> None:
    """Still going after 10 minutes: the same pending operation, one check more, the next look 8 minutes on."""
    avd = bound()
    avd.vm_states = {vm("h1"): "Succeeded" if kind == "delete" else "InProgress"}
    avd.registrations = registrations
    run = {"batch": ("h1",), "specs": recorded_specs("h1")}
    plain = step(context(avd, run, pending=(kind, timedelta(minutes=10))))
    evented = step(with_events(context(avd, run, pending=(kind, timedelta(minutes=10)))))
    assert (plain.next_step, plain.wait, evented.wait) == (None, PLAIN, BEHIND_EVENT)
    assert evented.pending is not None
    assert (evented.pending.kind, evented.pending.started_at, evented.pending.checks) == (
        kind,
        NOW - timedelta(minutes=10),
        1,
    )
    assert avd.calls == []  # a re-check starts nothing again


def test_people_capacity_and_heartbeats_have_no_event_so_their_waits_ignore_event_grid() -> None:
    """Users leaving, room in the pool and a fresh heartbeat: the plain back-off, 2 minutes at 10 minutes in."""
    ten = NOW - timedelta(minutes=10)
    users = bound(h1=["s1"])
    grace = policy(drain_grace_minutes=30)
    waiting = rs.step_wait_users(with_events(context(users, {"batch": ("h1",), "drained_at": ten}, pool_policy=grace)))
    full = PoolBound(pools={POOL: [host("h1"), host("h2"), host("h3", version=TARGET, status="Unavailable")]})
    capacity = rs.step_plan(
        with_events(context(full, pool_policy=policy(min_available=2), pending=("capacity", timedelta(minutes=10))))
    )
    silent = PoolBound(pools={POOL: [host("h1", version=TARGET, status="Unavailable")]})
    late = rs.step_wait_available(with_events(context(silent, {"batch": ("h1",), "registered_at": ten})))
    assert (waiting.wait, capacity.wait, late.wait) == (PLAIN, PLAIN, PLAIN)


# --- boundaries -----------------------------------------------------------------------------------------


def test_an_operation_is_overdue_only_after_its_hour() -> None:
    """A VM still there exactly one hour after its delete started is waited for once more, not failed."""
    avd = bound()
    avd.vm_states = {vm("h1"): "Succeeded"}
    run = {"batch": ("h1",), "specs": recorded_specs("h1")}
    result = rs.step_delete(context(avd, run, pending=("delete", timedelta(hours=1))))
    assert (result.next_step, result.failures) == (None, [])
    assert result.pending is not None
    assert result.pending.kind == "delete"


def test_users_still_on_a_host_at_the_very_end_of_the_grace_are_logged_off() -> None:
    """Drained exactly drain_grace_minutes ago: the delete's guard sends the batch to log-off, not back to wait."""
    avd = bound(h1=["s1"])
    run = {"batch": ("h1",), "drained_at": NOW - timedelta(minutes=30)}
    result = rs.step_delete(context(avd, run, pool_policy=policy(drain_grace_minutes=30)))
    assert (result.next_step, avd.calls) == ("log-off", [])


def test_a_host_gets_the_full_available_timeout_before_it_fails() -> None:
    """Exactly 45 minutes after registration a silent host is still waited for; the host fails only after."""
    silent = bound()
    run = {"batch": ("h1",), "registered_at": NOW - timedelta(minutes=45)}
    result = rs.step_wait_available(context(silent, run))
    assert (result.next_step, result.failures) == (None, [])


def test_an_automatic_rollout_inside_its_window_plans_a_batch_at_once() -> None:
    """Wednesday noon inside a Wednesday 11:00-13:00 window: the next batch is picked now, nothing waits."""
    window = {"days": ["wed"], "start": "11:00", "duration_minutes": 120, "time_zone": "UTC"}
    auto = policy(rollout="auto", maintenance_window=window, min_available=0)
    result = rs.step_plan(context(bound(), {"automatic": True}, pool_policy=auto))
    assert (result.next_step, result.wait, result.updates["batch"]) == ("drain", None, ("h1",))


def test_an_agent_not_installed_yet_is_waited_for_then_failed() -> None:
    """No agent state yet (Missing) is still installing: it waits, and fails only when the hour is over."""
    avd = bound()
    run = {"batch": ("h1",), "specs": recorded_specs("h1")}
    waiting = rs.step_register(context(avd, run, pending=("register", timedelta(minutes=10))))
    assert (waiting.next_step, waiting.failures, waiting.wait) == (None, [], PLAIN)
    late = rs.step_register(context(avd, run, pending=("register", timedelta(hours=2))))
    assert (late.next_step, late.failures) == (
        "wait-available",
        [("h1", "the AVD agent did not register within the hour")],
    )


# --- batch size -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("rule", "expected"),
    [({"batch_size": 1}, ("h1",)), ({"max_unavailable_percent": 50}, ("h1", "h2")), ({}, ("h1",))],
    ids=["batch_size", "percent", "default"],
)
def test_a_batch_of_hosts_already_out_of_service_still_keeps_to_its_size(
    rule: dict[str, int], expected: tuple[str, ...]
) -> None:
    """Four outdated hosts all Unavailable cost no capacity, yet a batch takes only its size: 1, 50 % of 4, 1."""
    down = PoolBound(pools={POOL: [host(f"h{i}", status="Unavailable") for i in range(1, 5)]})
    result = rs.step_plan(context(down, pool_policy=policy(min_available=0, **rule)))
    assert result.updates["batch"] == expected


HOSTS = st.lists(
    st.tuples(st.booleans(), st.booleans(), st.integers(min_value=0, max_value=3)),  # available, outdated, sessions
    min_size=1,
    max_size=8,
)


@settings(max_examples=150, deadline=None)
@given(hosts=HOSTS, size=st.integers(min_value=1, max_value=4), minimum=st.integers(min_value=0, max_value=5))
def test_a_planned_batch_never_exceeds_its_size_nor_the_available_hosts_to_spare(
    hosts: list[tuple[bool, bool, int]], size: int, minimum: int
) -> None:
    """Any pool: at most batch_size outdated hosts, and no Available one taken below min_available."""
    states = [
        host(f"h{i}", status="Available" if up else "Unavailable", version="1.0.0" if old else TARGET, sessions=n)
        for i, (up, old, n) in enumerate(hosts)
    ]
    avd = PoolBound(pools={POOL: states})
    result = rs.step_plan(context(avd, pool_policy=policy(batch_size=size, min_available=minimum)))
    batch = set(result.updates.get("batch", ()))
    available = {h.name for h in states if h.available}
    assert len(batch) <= size
    assert batch <= {h.name for h in states if h.exact_version != TARGET}
    assert len(available & batch) <= max(0, len(available) - minimum)  # hosts down already cost nothing
    if not batch and any(h.exact_version != TARGET for h in states):
        assert result.halt is not None or result.pending is not None
    if not any(h.exact_version != TARGET for h in states):
        assert result.finish


# --- undrain at the threshold ---------------------------------------------------------------------------


def test_a_halt_at_the_threshold_still_closes_the_batch_and_notes_the_replaced_hosts() -> None:
    """Halting after the batch: h1 undrained and noted, the batch cleared and h1 counted done."""
    failed = HostFailure(host="h2", reason="x", at=NOW)
    run = {"batch": ("h1", "h2"), "failed": (failed,), "failures_since_resume": 1, "drained_at": NOW}
    result = rs.step_undrain(context(bound(), run, pool_policy=policy(failure_threshold=1)))
    assert result.halt is not None
    assert result.updates == {"done": ("h1",), "batch": (), "drained_at": None, "registered_at": None}
    assert result.notes == [("replaced", "runs 1.0.1, accepting sessions", "h1")]
