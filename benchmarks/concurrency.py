"""Many lifecycles at once through one LocalRuntime: CPU time, wall time and peak memory.

The record store is `IndexedMemoryRecordStore` (benchmarks/store.py): Table Storage's contract
with an index, so the store is not the bottleneck (the unit tests' MemoryRecordStore sorts every
row per range query); Table Storage's own latency is measured in the scale section on Azurite.

Run in a child process (`python -m benchmarks.concurrency N`) so that its peak RSS is its own;
prints one JSON object. The parent (`python -m benchmarks`) pins nothing itself: the child
limits itself to two CPUs when the OS allows it.
"""

from __future__ import annotations

import json
import os
import resource
import sys
import time
import tracemalloc
from collections import Counter
from typing import Any

from benchmarks.common import cloned_catalog, quiet_logs
from benchmarks.store import IndexedMemoryRecordStore
from localrun.runtime import LocalRuntime
from localrun.scenario import BUILDER, approvers_of
from shared.domain.commands import Promote, StartBuild
from shared.domain.compute import RUN_TAG
from shared.domain.model import BuildReason, Stage, Status


def lifecycles(count: int, *, promote: bool = True, trace_memory: bool = False) -> dict[str, Any]:
    """`count` workloads build at once, then all go to validation, then all to production."""
    catalog = cloned_catalog(count)
    if trace_memory:
        tracemalloc.start()
    started = time.perf_counter()
    cpu_started = time.process_time()
    store = IndexedMemoryRecordStore()
    runtime = LocalRuntime(catalog, records=store)
    virtual_start = runtime.sim.clock.now()
    runtime.submit(
        *(
            StartBuild(workload=w.name, run_id="first-build", reason=BuildReason.FIRST, requested_by=BUILDER)
            for w in catalog.workloads
        )
    )
    runtime.run()
    built_at = runtime.sim.clock.now()
    if promote:
        for stage in (Stage.VALIDATION, Stage.PRODUCTION):
            for person in approvers_of("office", stage):  # production: two people (two-person rule)
                runtime.submit(
                    *(
                        Promote(
                            workload=w.name,
                            version="1.0.0",
                            target_stage=stage,
                            approver_token=runtime.issuer.token_for(person),
                            ticket=f"CHG-{stage.value}",
                            requested_at=runtime.sim.clock.now(),
                        )
                        for w in catalog.workloads
                    )
                )
                runtime.run()
    wall = time.perf_counter() - started
    cpu = time.process_time() - cpu_started
    traced_peak = tracemalloc.get_traced_memory()[1] if trace_memory else 0
    if trace_memory:
        tracemalloc.stop()
    runs = Counter(r.state.value for w in catalog.workloads for r in runtime.records.list_runs(w.name))
    pointers = [runtime.records.get_pointers(w.name) for w in catalog.workloads]
    in_production = sum(1 for p in pointers if p.production is not None)
    failed_versions = sum(
        1 for w in catalog.workloads for v in runtime.records.list_versions(w.name) if v.status is Status.FAILED
    )
    statuses = Counter(e.status for e in runtime.sim.request_log)
    totals = runtime.sim.request_log.totals()
    return {
        "lifecycles": count,
        "wall_seconds": wall,
        "cpu_seconds": cpu,
        "cpu_seconds_per_lifecycle": cpu / max(1, count),
        "transactions": store.transactions,
        "store_cpu_seconds": store.cpu_seconds,
        "round_trips": store.round_trips,
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "traced_peak_mib": traced_peak / 2**20,
        "runs": dict(runs),
        "in_production": in_production,
        "failed_versions": failed_versions,
        "dead_letters": len(runtime.bus.dead_letters),
        "leaked": len(runtime.sim.live_resources(tag=RUN_TAG)),
        "arm_reads": totals["reads"],
        "arm_writes": totals["writes"],
        "arm_429": statuses.get(429, 0),
        "deliveries": runtime.bus.stats.delivered,
        "virtual_build_hours": (built_at - virtual_start).total_seconds() / 3600,
        "cpus": sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else [],
    }


def main(argv: list[str]) -> int:
    count = int(argv[0]) if argv else 200
    if hasattr(os, "sched_setaffinity"):
        cpus = sorted(os.sched_getaffinity(0))[:2]
        os.sched_setaffinity(0, cpus)
    with quiet_logs():
        result = lifecycles(count, trace_memory="--tracemalloc" in argv)
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
