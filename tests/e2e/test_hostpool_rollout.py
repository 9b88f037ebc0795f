"""Rolling re-image of host pools on the step queue: windows, drain, users, capacity, failures,
duplicates and crashes, rollback; against the simulator, records in Azurite or the fake."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from localrun.runtime import LocalRuntime
from localrun.scenario import InjectedCrash, rollback
from shared.adapters.hostpools_records import EntityRolloutRecords
from shared.adapters.memory_records import MemoryRecordStore
from shared.domain.commands import Envelope, StartRollout
from shared.domain.hostpools import HostPoolPolicy, Note, PoolRecord, Rollout, RolloutState
from tests.e2e.hostpool_scenario import (
    auto_policy,
    catalog_with_pools,
    manual_policy,
    patch_to_production,
    pools_on_production,
    sign_in,
    versions,
)

WINDOW_OPENS = datetime(2026, 11, 7, 22, 0, tzinfo=UTC)  # the first Saturday 22:00 after the builds
EXTENSION_WRITE = "Microsoft.Compute/virtualMachines/extensions/write"


class Watch:
    """Counts the pool's Available hosts accepting sessions after every delivery."""

    def __init__(self, runtime: LocalRuntime, policy: HostPoolPolicy) -> None:
        self.runtime, self.policy = runtime, policy
        self.lowest: int | None = None

    def on_delivery(self, envelope: Envelope) -> None:
        desktop, p = self.runtime.sim.desktop, self.policy
        if not any(pool.res.id.lower() == p.id.lower() for pool in desktop.pools.values()):
            return  # not deployed yet
        hosts = desktop.list_hosts(p.resource_group, p.name)
        available = sum(1 for h in hosts if h.allow_new_session and desktop.status(h)[0] == "Available")
        self.lowest = available if self.lowest is None else min(self.lowest, available)


def runtime_with(records: Any = None, **options: Any) -> tuple[LocalRuntime, HostPoolPolicy, HostPoolPolicy]:
    auto, manual = auto_policy(), manual_policy()
    runtime = LocalRuntime(catalog_with_pools(auto, manual), records=records, **options)
    return runtime, auto, manual


def rollouts(runtime: LocalRuntime, policy: HostPoolPolicy) -> list[Rollout]:
    assert runtime.deps.rollouts is not None
    return runtime.deps.rollouts.runs("office", policy.key)


def events(runtime: LocalRuntime, policy: HostPoolPolicy) -> list[Any]:
    assert runtime.deps.rollouts is not None
    return runtime.deps.rollouts.events("office", policy.key)


def vm_deletes(runtime: LocalRuntime, policy: HostPoolPolicy) -> list[Any]:
    prefix = f"/resourceGroups/{policy.resource_group}/providers/Microsoft.Compute/virtualMachines/".lower()
    return [e for e in runtime.sim.request_log if e.method == "DELETE" and prefix in e.path.lower()]


def vm_creates(runtime: LocalRuntime, policy: HostPoolPolicy, since: datetime) -> list[Any]:
    prefix = f"/resourceGroups/{policy.resource_group}/providers/Microsoft.Compute/virtualMachines/".lower()
    return [
        e
        for e in runtime.sim.request_log
        if e.method == "PUT" and prefix in e.path.lower() and "/extensions/" not in e.path.lower() and e.time >= since
    ]


def through_window(runtime: LocalRuntime, auto: HostPoolPolicy, users: int = 4) -> None:
    """Run to just before the window, let users sign in, then run the rollout."""
    runtime.run_until(WINDOW_OPENS - timedelta(minutes=5))
    sign_in(runtime, auto, users)
    runtime.run()


def test_automatic_rollout_waits_for_window_and_keeps_capacity(table_store: Any) -> None:
    """After production promotion the auto pool waits for its window, then moves batch by batch to the
    new version, never below its minimum available hosts; the manual pool is left alone."""
    runtime, auto, manual = runtime_with(records=table_store)
    watch = Watch(runtime, auto)
    runtime._on_delivery = watch.on_delivery
    pools_on_production(runtime)
    patch_to_production(runtime)
    promoted_at = runtime.sim.clock.now()
    assert versions(runtime, auto) == {"1.0.0": 6}
    through_window(runtime, auto)
    assert versions(runtime, auto) == {"1.0.1": 6}
    assert versions(runtime, manual) == {"1.0.0": 6}
    run = rollouts(runtime, auto)[-1]
    assert (run.state, run.target_version, run.batches) == (RolloutState.SUCCEEDED, "1.0.1", 3)
    assert watch.lowest is not None
    assert watch.lowest >= auto.min_available
    first_batch = next(e for e in events(runtime, auto) if e.kind == "batch")
    assert first_batch.at >= WINDOW_OPENS > promoted_at
    assert len(vm_creates(runtime, auto, promoted_at)) == 6  # each host replaced exactly once
    kinds = [e.kind for e in events(runtime, auto)]
    assert {"drained", "messaged", "replaced", "finished"} <= set(kinds)


def test_no_host_is_replaced_with_users_before_the_grace_ends() -> None:
    """Users are messaged; a host is deleted only once its users left or the grace is over, and
    log-offs are forced only after the grace."""
    runtime, auto, _ = runtime_with(records=MemoryRecordStore())
    pools_on_production(runtime)
    patch_to_production(runtime)
    sim = runtime.sim
    deletes: list[tuple[str, int, datetime]] = []
    runtime.run_until(WINDOW_OPENS - timedelta(minutes=5))
    sign_in(runtime, auto, 5)
    real_delete = sim.compute.delete_vm

    def observed_delete(rg: str, name: str) -> Any:
        for host in sim.desktop.list_hosts(auto.resource_group, auto.name):
            if host.resource_id.lower().endswith(f"/{name.lower()}"):
                sim.desktop._settle(host)
                deletes.append((host.name, len(host.sessions), sim.clock.now()))
        return real_delete(rg, name)

    sim.compute.delete_vm = observed_delete  # type: ignore[method-assign]
    runtime.run()
    assert versions(runtime, auto) == {"1.0.1": 6}
    run = rollouts(runtime, auto)[-1]
    drained = {e.host: e.at for e in events(runtime, auto) if e.kind == "drained"}
    grace = timedelta(minutes=auto.drain_grace_minutes)
    assert len(deletes) == 6
    for host, sessions, at in deletes:
        assert sessions == 0, f"{host} deleted with {sessions} users on it"
        assert at >= drained[host]
    forced = [e for e in events(runtime, auto) if e.kind == "logged-off"]
    messaged = [e for e in events(runtime, auto) if e.kind == "messaged"]
    assert len(messaged) == 6
    assert forced, "with seeded users some stay until forced off"
    assert all(e.at >= drained[e.host] + grace for e in forced)
    assert run.state is RolloutState.SUCCEEDED


def test_failing_host_halts_then_resume_finishes() -> None:
    """A host whose agent fails halts the rollout at the threshold with the pool serving; resuming retries it."""
    runtime, auto, _ = runtime_with(records=MemoryRecordStore())
    pools_on_production(runtime)
    patch_to_production(runtime)
    runtime.sim.faults.lro_fails(EXTENSION_WRITE, "VMExtensionProvisioningError", "DSC configuration failed")
    through_window(runtime, auto, users=0)
    run = rollouts(runtime, auto)[-1]
    assert run.state is RolloutState.HALTED
    assert "threshold 1" in run.reason
    assert len(run.failed) == 1
    counts = versions(runtime, auto)
    assert counts == {"1.0.1": 2, "1.0.0": 4}  # the first batch recreated (one agent failed), four untouched
    hosts = runtime.deps.hostpools.hosts(auto.id)  # type: ignore[union-attr]
    assert sum(1 for h in hosts if h.available) >= auto.min_available
    failed_host = run.failed[0].host
    broken = next(h for h in hosts if h.name == failed_host)
    assert not broken.allow_new_session
    assert broken.status != "Available"
    runtime.submit(
        StartRollout(
            workload="office",
            pool=auto.name,
            run_id=run.run_id,
            version="1.0.1",
            requested_by="admin@contoso.com",
            requested_at=runtime.sim.clock.now(),
        )
    )
    runtime.run()
    assert versions(runtime, auto) == {"1.0.1": 6}
    assert rollouts(runtime, auto)[-1].state is RolloutState.SUCCEEDED
    assert "resumed" in [e.kind for e in events(runtime, auto)]


def test_rollback_of_production_moves_auto_pools_back() -> None:
    """A production rollback starts a rollout of the automatic pools back to the rollback target."""
    runtime, auto, manual = runtime_with(records=MemoryRecordStore())
    pools_on_production(runtime)
    patch_to_production(runtime)
    through_window(runtime, auto, users=0)
    assert versions(runtime, auto) == {"1.0.1": 6}
    rollback(runtime, "office")
    runtime.run()
    assert versions(runtime, auto) == {"1.0.0": 6}
    assert versions(runtime, manual) == {"1.0.0": 6}
    last = rollouts(runtime, auto)[-1]
    assert last.run_id.startswith("back-")
    assert last.state is RolloutState.SUCCEEDED


def test_manual_pool_moves_only_when_asked_and_can_go_back() -> None:
    """A manual pool stays put after promotion; `rollout --to` moves it, to any usable version."""
    runtime, _, manual = runtime_with(records=MemoryRecordStore())
    pools_on_production(runtime)
    patch_to_production(runtime)
    runtime.run()
    assert versions(runtime, manual) == {"1.0.0": 6}
    for run_id, version in (("manual-1", "1.0.1"), ("manual-2", "1.0.0")):
        runtime.submit(
            StartRollout(
                workload="office",
                pool=manual.name,
                run_id=run_id,
                version=version,
                requested_by="admin@contoso.com",
                requested_at=runtime.sim.clock.now(),
            )
        )
        runtime.run()
        assert versions(runtime, manual) == {version: 6}


def test_rollout_to_a_missing_version_is_refused() -> None:
    """Asking for a version that does not exist is refused with the reason, and nothing changes."""
    runtime, _, manual = runtime_with(records=MemoryRecordStore())
    pools_on_production(runtime)
    runtime.submit(
        StartRollout(
            workload="office",
            pool=manual.name,
            run_id="manual-9",
            version="9.9.9",
            requested_by="admin@contoso.com",
            requested_at=runtime.sim.clock.now(),
        )
    )
    runtime.run()
    assert any("9.9.9" in r and "does not exist" in r for r in runtime.trace.refusals)
    assert [r.run_id for r in rollouts(runtime, manual)] == []


def test_every_message_delivered_twice_changes_nothing() -> None:
    """At-least-once at its worst (every message twice): the same hosts replaced once each, same end state."""
    runtime, auto, _ = runtime_with(records=MemoryRecordStore(), deliver_twice=True)
    pools_on_production(runtime)
    patch_to_production(runtime)
    promoted_at = runtime.sim.clock.now()
    through_window(runtime, auto)
    assert versions(runtime, auto) == {"1.0.1": 6}
    assert len(vm_creates(runtime, auto, promoted_at)) == 6
    assert rollouts(runtime, auto)[-1].state is RolloutState.SUCCEEDED


class CrashingRollouts(EntityRolloutRecords):
    """Fails one chosen commit once: a host crash after the step's Azure calls, before its commit."""

    def __init__(self, store: Any, crash_at: int) -> None:
        super().__init__(store)
        self.crash_at, self.commits = crash_at, 0
        self.steps: list[str] = []

    def commit(self, pool: PoolRecord, runs: list[Rollout], notes: list[Note]) -> None:
        self.commits += 1
        self.steps.append(f"{runs[-1].step}/{runs[-1].state.value}" if runs else "pool")
        if self.commits == self.crash_at:
            raise InjectedCrash("crash after the Azure calls, before the commit")
        super().commit(pool, runs, notes)


def crashed_run(crash_at: int) -> tuple[LocalRuntime, HostPoolPolicy, CrashingRollouts, datetime]:
    records = MemoryRecordStore()
    runtime, auto, _ = runtime_with(records=records)
    crashing = CrashingRollouts(records, crash_at)
    runtime.deps.rollouts = crashing
    pools_on_production(runtime, hosts=4)
    patch_to_production(runtime)
    promoted_at = runtime.sim.clock.now()
    through_window(runtime, auto, users=2)
    return runtime, auto, crashing, promoted_at


def test_a_crash_before_each_kind_of_commit_is_recovered() -> None:
    """For the first commit after every rollout step, a crash and the redelivery end in the same state."""
    _, _, clean, _ = crashed_run(crash_at=0)
    first_of: dict[str, int] = {}
    for index, step in enumerate(clean.steps, start=1):
        first_of.setdefault(step, index)
    assert {"drain/running", "delete/running", "create/running", "register/running", "undrain/running"} <= set(first_of)
    for step, index in first_of.items():
        runtime, auto, crashing, promoted_at = crashed_run(index)
        assert crashing.commits > index, f"crash before commit {index} ({step}) stopped the rollout"
        assert versions(runtime, auto) == {"1.0.1": 4}, f"crash before commit {index} ({step})"
        assert len(vm_creates(runtime, auto, promoted_at)) == 4, f"crash at {step} re-created a host"
        assert rollouts(runtime, auto)[-1].state is RolloutState.SUCCEEDED


def test_versions_run_by_session_hosts_are_kept_by_retention() -> None:
    """A version only the manual pool's hosts still run is kept by retention as in use, not deprecated."""
    from shared.domain.catalog import Retention
    from shared.domain.retention import Action
    from shared.steps.versions import plan_prune

    runtime, _, manual = runtime_with(records=MemoryRecordStore())
    runtime.deps.catalog = runtime.catalog = type(runtime.catalog)(
        workloads=tuple(
            w.model_copy(update={"retention": Retention(keep=1)}) if w.name == "office" else w
            for w in runtime.catalog.workloads
        )
    )
    pools_on_production(runtime, hosts=3)
    patch_to_production(runtime, "1.0.1")
    patch_to_production(runtime, "1.0.2")
    assert versions(runtime, manual) == {"1.0.0": 3}
    decisions = {str(d.version): d for d in plan_prune("office", runtime.deps)}
    assert decisions["1.0.0"].action is Action.KEEP
    assert decisions["1.0.0"].reason == "used by a VM or scale set"  # the session hosts are VMs


def test_pool_that_can_never_spare_a_host_halts_with_the_reason() -> None:
    """A pool whose every host must stay available halts at once, saying why, instead of waiting forever."""
    runtime, auto, _ = runtime_with(records=MemoryRecordStore())
    runtime.deps.catalog = runtime.catalog = catalog_with_pools(auto_policy(min_available=3), manual_policy())
    pools_on_production(runtime, hosts=3)
    patch_to_production(runtime)
    runtime.run()
    run = rollouts(runtime, auto)[-1]
    assert run.state is RolloutState.HALTED
    assert "must keep 3 available" in run.reason
    assert versions(runtime, auto) == {"1.0.0": 3}


def test_batches_shrink_to_keep_the_minimum_available() -> None:
    """A batch size of 3 on 4 hosts with 2 to keep available takes 2 hosts at a time, never more."""
    runtime, _, _ = runtime_with(records=MemoryRecordStore())
    tight = auto_policy(batch_size=3, min_available=2)
    runtime.deps.catalog = runtime.catalog = catalog_with_pools(tight, manual_policy())
    watch = Watch(runtime, tight)
    runtime._on_delivery = watch.on_delivery
    pools_on_production(runtime, hosts=4)
    patch_to_production(runtime)
    through_window(runtime, tight, users=1)
    assert versions(runtime, tight) == {"1.0.1": 4}
    batches = [e.detail for e in events(runtime, tight) if e.kind == "batch"]
    assert len(batches) == 2
    assert all(detail.count(".avd.contoso.local") == 2 for detail in batches)
    assert watch.lowest == 2
