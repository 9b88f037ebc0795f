"""Timing like Azure's: Event Grid delivers late, and operation durations vary per seed."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from azure.mgmt.compute import ComputeManagementClient
from azure.mgmt.network import NetworkManagementClient

from simulator import Simulator, client_kwargs
from simulator.durations import DEFAULT_DURATIONS
from tests.simulator.conftest import RG, Env, make_nic, make_vm, vm_body


def _env(**options: Any) -> Env:
    sim = Simulator(**options)
    kw = client_kwargs(sim)
    return Env(sim, ComputeManagementClient(**kw), NetworkManagementClient(**kw))


def _create_times(env: Env, count: int) -> list[float]:
    """Seconds each of `count` VM creates (polling=False) takes on the virtual clock."""
    make_vm(env, "first")
    times = []
    for i in range(count):
        nic = make_nic(env, f"nic{i}")
        env.compute.virtual_machines.begin_create_or_update(RG, f"vm{i}", vm_body(nic), polling=False)
        op = env.sim.ctx.pending_operation(env.compute.virtual_machines.get(RG, f"vm{i}").id)
        assert op is not None
        times.append((op.due - op.start).total_seconds())
        env.sim.clock.advance_to(op.due)
    return times


def test_events_arrive_late_but_keep_their_event_time() -> None:
    """With latency 10-120 s an operation's event is delivered after it completes, stamped with its end."""
    env = _env(event_latency=(10.0, 120.0))
    make_vm(env)
    env.sim.clock.run_until_idle()  # the create's own event, delivered late too
    got: list[dict[str, Any]] = []
    env.sim.events.subscribe(got.extend)
    env.compute.virtual_machines.begin_deallocate(RG, "vm1", polling=False)
    done_at = env.sim.clock.now() + timedelta(seconds=DEFAULT_DURATIONS["vm_deallocate"])
    env.sim.clock.advance_to(done_at)
    assert got == []
    env.sim.clock.advance(120)
    [event] = got
    assert event["data"]["operationName"] == "Microsoft.Compute/virtualMachines/deallocate/action"
    assert event["eventTime"].startswith(done_at.strftime("%Y-%m-%dT%H:%M:%S"))


def test_latency_is_seeded_and_can_be_switched_off() -> None:
    """The same seed gives the same delivery delays; latency (0, 0) delivers at once."""

    def delays(seed: int) -> list[float]:
        sim = Simulator(seed=seed, event_latency=(10.0, 120.0))
        return [sim.events.latency.next() for _ in range(5)]  # type: ignore[union-attr]

    assert delays(3) == delays(3)
    assert delays(3) != delays(4)
    assert all(10.0 <= d <= 120.0 for d in delays(3))
    assert Simulator(event_latency=(0.0, 0.0)).events.latency.next() == 0.0  # type: ignore[union-attr]


def test_durations_vary_per_operation_with_a_seed() -> None:
    """With a seed each VM create takes its own time (x0.5-x2 of the table); the same seed replays them."""
    table = DEFAULT_DURATIONS["vm_create"]
    seeded = _create_times(_env(seed=11, event_latency=(0.0, 0.0)), 4)
    assert len(set(seeded)) == 4
    assert all(table * 0.5 <= t <= table * 2.0 for t in seeded)
    assert seeded == _create_times(_env(seed=11, event_latency=(0.0, 0.0)), 4)
    assert _create_times(_env(event_latency=(0.0, 0.0)), 2) == [table, table]


def test_seed_and_latency_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """AVD_SIM_SEED and AVD_SIM_EVENT_LATENCY configure a Simulator; a bad value is a clear error."""
    monkeypatch.setenv("AVD_SIM_SEED", "5")
    monkeypatch.setenv("AVD_SIM_EVENT_LATENCY", "30-60")
    sim = Simulator()
    assert (sim.seed, sim.event_latency) == (5, (30.0, 60.0))
    monkeypatch.setenv("AVD_SIM_EVENT_LATENCY", "sixty")
    with pytest.raises(ValueError, match="AVD_SIM_EVENT_LATENCY|event latency"):
        Simulator()
    monkeypatch.setenv("AVD_SIM_SEED", "x")
    with pytest.raises(ValueError, match="AVD_SIM_SEED must be an integer"):
        Simulator()
