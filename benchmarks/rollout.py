"""The rollout's critical-path ratio: a manual rollout of a pool without users, measured on the
virtual clock, against the Azure operations it cannot avoid (same method as the builds').

Per batch the unavoidable path is: VM delete -> VM create from the version -> AVD agent install
(registration); draining, messaging and undraining are single quick calls, and an empty host has
no users to wait for. Batches run one after another (the batch size bounds the hosts out of service).

Like the builds' ratio at the table's durations, Event Grid delivers at once in the measured run; the
same rollout with a 10-120 s delivery latency, and with Event Grid off (re-checks alone), is reported
beside it, so a wait that only works when the event is instant shows up.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from benchmarks.lifecycle import EVENT_LATENCY
from localrun.hostpools import deploy_pool, image_id, pool_id, to_production
from localrun.runtime import START, LocalRuntime
from shared.adapters.memory_records import MemoryRecordStore
from shared.config import Settings
from shared.domain.catalog import Catalog
from shared.domain.commands import StartBuild, StartRollout
from shared.domain.hostpools import HostPoolPolicy
from shared.domain.model import BuildReason
from simulator import Simulator

POOL = pool_id("rg-bench-hosts", "hp-bench")


def measure(catalog: Catalog, hosts: int = 6, batch: int = 2) -> dict[str, Any]:
    """The measured run (events at once), with the latency and no-Event-Grid variants beside it."""
    result = measure_one(catalog, hosts, batch, (0.0, 0.0), event_grid=True)
    result["ratio_latency"] = measure_one(catalog, hosts, batch, EVENT_LATENCY, event_grid=True)["ratio"]
    result["ratio_no_eg"] = measure_one(catalog, hosts, batch, (0.0, 0.0), event_grid=False)["ratio"]
    return result


def measure_one(
    catalog: Catalog, hosts: int, batch: int, latency: tuple[float, float], *, event_grid: bool
) -> dict[str, Any]:
    policy = HostPoolPolicy.model_validate({"id": POOL, "batch_size": batch, "min_available": 1})
    office = catalog.get("office").model_copy(update={"host_pools": (policy,)})
    sim = Simulator(
        subscription_id=Settings().subscription_id, start=START, auto_advance_on_poll=False, event_latency=latency
    )
    runtime = LocalRuntime(
        Catalog(workloads=(office,)), records=MemoryRecordStore(), simulator=sim, event_grid=event_grid
    )
    for run_id, reason in (("first-build", BuildReason.FIRST), ("patch-1", BuildReason.PATCH)):
        runtime.submit(StartBuild(workload="office", run_id=run_id, reason=reason, requested_by="bench"))
        runtime.run()
        if run_id == "first-build":
            deploy_pool(runtime, policy, image_id(runtime, "1.0.0"), hosts)
    to_production(runtime, "1.0.1")
    runtime.run()
    start = runtime.sim.clock.now()
    runtime.submit(
        StartRollout(
            workload="office",
            pool=policy.name,
            run_id="bench-1",
            version="1.0.1",
            requested_by="bench",
            requested_at=start,
        )
    )
    runtime.run()
    assert runtime.deps.rollouts is not None
    events = runtime.deps.rollouts.events("office", policy.key)
    finished: datetime = next(e.at for e in events if e.kind == "finished")
    run = runtime.deps.rollouts.runs("office", policy.key)[-1]
    d = runtime.sim.durations
    per_batch = d["vm_delete"] + d["vm_create"] + d["avd_agent_install"]
    unavoidable = run.batches * per_batch
    measured = (finished - start).total_seconds()
    requests = [e for e in runtime.sim.request_log if e.time >= start]
    return {
        "hosts": hosts,
        "batch": batch,
        "batches": run.batches,
        "per_batch": per_batch,
        "unavoidable": unavoidable,
        "measured": measured,
        "ratio": measured / unavoidable,
        "arm_requests": len(requests),
        "state": run.state.value,
    }


def section(result: dict[str, Any]) -> list[str]:
    return [
        "## Host pool rollout: critical path",
        "",
        f"A manual rollout of a pool of {result['hosts']} hosts without users, batch size {result['batch']} "
        f"({result['batches']} batches, {result['state']}). Unavoidable per batch: VM delete, VM create from "
        f"the version, AVD agent install = {result['per_batch']:,.0f} s (the simulator's durations). Waiting for "
        "users and maintenance windows is policy, not overhead, and is not part of this measure. Event Grid "
        "delivers at once here (as for the builds' ratio at the table's durations); the VM and agent "
        "completion events wake the waiting step, the re-checks are the safety net.",
        "",
        "| measure | value |",
        "|---|---:|",
        f"| unavoidable critical path (s) | {result['unavoidable']:,.0f} |",
        f"| measured, request to last host Available (s) | {result['measured']:,.0f} |",
        f"| critical-path ratio | {result['ratio']:.3f} |",
        f"| ratio with 10-120 s Event Grid latency (not a target) | {result['ratio_latency']:.3f} |",
        f"| ratio with Event Grid off, re-checks alone (not a target) | {result['ratio_no_eg']:.3f} |",
        f"| ARM requests during the rollout | {result['arm_requests']} |",
        "",
    ]
