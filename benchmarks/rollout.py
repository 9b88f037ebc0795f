"""The rollout's critical-path ratio: a manual rollout of a pool without users, measured on the
virtual clock, against the Azure operations it cannot avoid (same method as the builds').

Per batch the unavoidable path is: VM delete -> VM create from the version -> AVD agent install
(registration); draining, messaging and undraining are single quick calls, and an empty host has
no users to wait for. Batches run one after another (the batch size bounds the hosts out of service).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from localrun.hostpools import deploy_pool
from localrun.issuer import OFFICE_APPROVERS
from localrun.runtime import LocalRuntime
from shared.adapters.memory_records import MemoryRecordStore
from shared.domain.catalog import Catalog
from shared.domain.commands import Promote, StartBuild, StartRollout
from shared.domain.hostpools import HostPoolPolicy
from shared.domain.model import BuildReason, Stage, VersionNumber
from shared.steps.rollout import gallery_version_id

# Who signs: the sample directory's validation approver, then production's two people.
SIGNERS = [(Stage(stage), person) for stage in ("validation", "production") for person in OFFICE_APPROVERS[stage]]
SUB = "00000000-0000-0000-0000-000000000000"
POOL = (
    f"/subscriptions/{SUB}/resourceGroups/rg-bench-hosts/providers/Microsoft.DesktopVirtualization/hostPools/hp-bench"
)


def measure(catalog: Catalog, hosts: int = 6, batch: int = 2) -> dict[str, Any]:
    policy = HostPoolPolicy.model_validate({"id": POOL, "batch_size": batch, "min_available": 1})
    office = catalog.get("office").model_copy(update={"host_pools": (policy,)})
    runtime = LocalRuntime(Catalog(workloads=(office,)), records=MemoryRecordStore())
    for run_id, reason in (("first-build", BuildReason.FIRST), ("patch-1", BuildReason.PATCH)):
        runtime.submit(StartBuild(workload="office", run_id=run_id, reason=reason, requested_by="bench"))
        runtime.run()
        if run_id == "first-build":
            image = gallery_version_id(runtime.deps, office, VersionNumber.parse("1.0.0"))
            deploy_pool(runtime, policy, image, hosts)
    for stage, approver in SIGNERS:
        runtime.submit(
            Promote(
                workload="office",
                version="1.0.1",
                target_stage=stage,
                approver_token=runtime.issuer.token_for(approver),
                requested_at=runtime.sim.clock.now(),
            )
        )
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
        "users and maintenance windows is policy, not overhead, and is not part of this measure.",
        "",
        "| measure | value |",
        "|---|---:|",
        f"| unavoidable critical path (s) | {result['unavoidable']:,.0f} |",
        f"| measured, request to last host Available (s) | {result['measured']:,.0f} |",
        f"| critical-path ratio | {result['ratio']:.3f} |",
        f"| ARM requests during the rollout | {result['arm_requests']} |",
        "",
    ]
