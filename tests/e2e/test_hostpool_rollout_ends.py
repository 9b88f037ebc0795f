"""Every host pool rollout ends, and Event Grid moves it: dead letters and the watchdog halt stuck
rollouts with the pool serving, VM and agent events wake the waiting step, users are messaged once."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from datetime import timedelta
from typing import Any

from localrun.runtime import LocalRuntime
from shared.adapters.memory_records import MemoryRecordStore
from shared.config import Settings
from shared.domain.commands import Envelope, StartRollout
from shared.domain.hostpools import HostPoolPolicy, RolloutState
from simulator import Simulator
from simulator.backends.desktop_virtualization import DesktopVirtualizationBackend
from tests.e2e.hostpool_scenario import (
    catalog_with_pools,
    manual_policy,
    patch_to_production,
    pools_on_production,
    sign_in,
)
from tests.e2e.test_hostpool_rollout import WINDOW_OPENS, crashed_run, events, rollouts, runtime_with


def _hosts(runtime: LocalRuntime, policy: HostPoolPolicy) -> list[Any]:
    assert runtime.deps.hostpools is not None
    return runtime.deps.hostpools.hosts(policy.id)


def test_a_dead_lettered_rollout_step_halts_the_rollout_and_undrains_its_batch(table_store: Any) -> None:
    """A step that fails on every delivery is dead-lettered: the rollout halts with the reason in its audit
    trail, and the drained hosts of its batch (not yet replaced) take sessions again."""
    runtime, auto, _ = runtime_with(records=table_store)
    pools_on_production(runtime)
    patch_to_production(runtime)
    runtime.run_until(WINDOW_OPENS - timedelta(minutes=5))
    sign_in(runtime, auto, 2)
    avd = runtime.deps.hostpools
    assert avd is not None
    real_sessions = avd.sessions

    def broken_sessions(pool_id: str, host: str) -> list[str]:
        raise ConnectionError("the AVD endpoint keeps resetting the connection")  # not a domain error: retried

    avd.sessions = broken_sessions  # type: ignore[method-assign]
    runtime.run(until=WINDOW_OPENS + timedelta(hours=1))
    avd.sessions = real_sessions  # type: ignore[method-assign]
    run = rollouts(runtime, auto)[-1]
    assert run.state is RolloutState.HALTED
    assert "step message was dead-lettered" in run.reason
    kinds = [e.kind for e in events(runtime, auto)]
    assert "halted" in kinds
    undrained = {e.host for e in events(runtime, auto) if e.kind == "undrained"}
    assert undrained == set(run.batch)
    assert len(undrained) == auto.batch_size
    assert all(h.allow_new_session for h in _hosts(runtime, auto)), "the pool serves on every host again"
    assert not [r for r in runtime.trace.refusals if "continue-rollout" in r]


def _losing(runtime: LocalRuntime, step: str) -> list[Envelope]:
    """The host crashes after the step's commit, before its re-check is sent: that message is lost once."""
    lost: list[Envelope] = []
    send = runtime.bus.send

    def lossy(envelopes: Iterable[Envelope]) -> None:
        kept = []
        for envelope in envelopes:
            body = envelope.body
            if not lost and '"continue-rollout"' in body and f'"step":"{step}"' in body and '"recheck"' in body:
                lost.append(envelope)
                continue
            kept.append(envelope)
        send(kept)

    runtime.bus.send = lossy  # type: ignore[method-assign]
    return lost


def test_the_watchdog_halts_a_rollout_whose_recheck_was_lost_and_spares_one_waiting_for_its_window() -> None:
    """Days of waiting for the maintenance window are progress (the re-check is due then); a rollout whose
    re-check was lost is halted by the hourly watchdog a few hours later, saying since when it was stuck."""
    runtime, auto, _ = runtime_with(records=MemoryRecordStore(), event_grid=False)
    runtime.start_timers()
    pools_on_production(runtime)
    patch_to_production(runtime)
    lost = _losing(runtime, "create")
    runtime.run_until(WINDOW_OPENS - timedelta(minutes=5))
    run = rollouts(runtime, auto)[-1]
    assert (run.state, run.step) == (RolloutState.RUNNING, "plan"), "waiting for the window is not stuck"
    runtime.run_until(WINDOW_OPENS + timedelta(hours=8))
    assert lost, "the create step's re-check was lost"
    run = rollouts(runtime, auto)[-1]
    assert run.state is RolloutState.HALTED
    assert "no progress in step create" in run.reason
    halted = next(e for e in events(runtime, auto) if e.kind == "halted")
    assert halted.at - WINDOW_OPENS < timedelta(hours=7)


def test_a_rollout_whose_pool_was_deleted_is_halted_by_the_watchdog() -> None:
    """A pool deleted by hand while its rollout waits for the window: the next watchdog pass halts the
    rollout with "deleted outside the product" instead of leaving it running until the window opens."""
    runtime, auto, _ = runtime_with(records=MemoryRecordStore())
    runtime.start_timers()
    pools_on_production(runtime)
    patch_to_production(runtime)
    assert rollouts(runtime, auto)[-1].state is RolloutState.RUNNING
    desktop = runtime.sim.desktop
    for host in desktop.list_hosts(auto.resource_group, auto.name):
        desktop.delete_host(auto.resource_group, auto.name, host.name, True)
    desktop.delete_pool(auto.resource_group, auto.name)
    deleted_at = runtime.sim.clock.now()
    runtime.run_until(deleted_at + timedelta(hours=2))
    run = rollouts(runtime, auto)[-1]
    assert run.state is RolloutState.HALTED
    assert "deleted outside the product" in run.reason
    assert run.ended_at is None or run.ended_at < WINDOW_OPENS


def _instant_events(policy: HostPoolPolicy, *, deliver: bool = True) -> LocalRuntime:
    """A runtime whose simulator delivers Event Grid events at once (or loses every one of them)."""
    settings = Settings()
    sim = Simulator(subscription_id=settings.subscription_id, auto_advance_on_poll=False, event_latency=(0.0, 0.0))
    runtime = LocalRuntime(catalog_with_pools(policy), records=MemoryRecordStore(), simulator=sim, event_grid=deliver)
    if not deliver:  # the app still counts on Event Grid (its re-checks are safety nets), but none arrives
        runtime.deps.settings = runtime.settings = settings.model_copy(update={"event_grid": True})
    pools_on_production(runtime, hosts=4)
    patch_to_production(runtime)
    return runtime


def _manual_rollout(runtime: LocalRuntime, policy: HostPoolPolicy) -> timedelta:
    start = runtime.sim.clock.now()
    runtime.submit(
        StartRollout(
            workload="office", pool=policy.name, run_id="manual-1", version="1.0.1", requested_by="admin@contoso.com"
        )
    )
    runtime.run()
    run = rollouts(runtime, policy)[-1]
    assert run.state is RolloutState.SUCCEEDED
    finished = next(e.at for e in events(runtime, policy) if e.kind == "finished")
    return finished - start


def test_vm_and_agent_events_wake_the_rollout_when_each_operation_ends() -> None:
    """With Event Grid the VM delete, VM create and agent install events continue the batch the moment
    each ends: the rollout takes exactly its Azure operations' time, not a re-check's later."""
    policy = manual_policy(max_unavailable_percent=None, batch_size=2)
    runtime = _instant_events(policy)
    took = _manual_rollout(runtime, policy)
    d = runtime.sim.durations
    batches = rollouts(runtime, policy)[-1].batches
    assert took == timedelta(seconds=batches * (d["vm_delete"] + d["vm_create"] + d["avd_agent_install"]))
    woken = [note for note in runtime.trace.events if note.startswith("continues rollout manual-1")]
    assert len(woken) == batches * 2 * 3  # two hosts per batch, three operations each


def test_lost_events_are_caught_by_the_rechecks() -> None:
    """Event Grid on but every event lost: the safety-net re-checks still finish the rollout."""
    policy = manual_policy(max_unavailable_percent=None, batch_size=2)
    runtime = _instant_events(policy, deliver=False)
    took = _manual_rollout(runtime, policy)
    assert took > timedelta(0)
    assert not runtime.trace.events


def test_a_crash_between_messaging_users_and_the_commit_never_messages_them_twice(monkeypatch: Any) -> None:
    """The users' messages go out only after the step's commit: a crash before it and the redelivery
    message each user of the batch exactly once."""
    _, _, clean, _ = crashed_run(crash_at=0)
    at = clean.steps.index("wait-users/running") + 1  # the commit that follows messaging
    sent: Counter[tuple[str, str]] = Counter()
    real_send = DesktopVirtualizationBackend.send_message

    def counted(self: Any, rg: str, pool: str, host: str, session: str, body: dict[str, Any]) -> None:
        sent[(host, session)] += 1
        real_send(self, rg, pool, host, session, body)

    monkeypatch.setattr(DesktopVirtualizationBackend, "send_message", counted)
    runtime, auto, crashing, _ = crashed_run(crash_at=at)
    assert crashing.commits > at, "the rollout went on after the crash"
    assert rollouts(runtime, auto)[-1].state is RolloutState.SUCCEEDED
    assert sent, "users were messaged"
    assert max(sent.values()) == 1, f"messaged twice: {[k for k, n in sent.items() if n > 1]}"
