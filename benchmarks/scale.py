"""A large estate in Table Storage (Azurite): catalog listing and a full retention sweep decision.

Records are written directly with `TableRecordStore.commit(Changes(...))`, one transaction per
workload (its pointers and all its versions: 41 entities, under the 100-operation batch limit),
from a thread pool. Reads go through the product's own code (`catalog_view`, `plan_prune`).
"""

from __future__ import annotations

import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any

from benchmarks.common import cloned_catalog
from localrun.runtime import LocalRuntime
from shared.adapters.table_records import TableRecordStore
from shared.domain.catalog import Workload
from shared.domain.model import (
    App,
    BuildReason,
    ImageVersion,
    Manifest,
    Pointers,
    Stage,
    Status,
    VersionNumber,
)
from shared.domain.records import Changes
from shared.domain.retention import in_use_of
from shared.steps.reconcile_slice import coverage_periods
from shared.steps.versions import plan_prune
from shared.views import catalog_view

MANIFEST = Manifest(
    os_build="26100.2605",
    os_display_version="24H2",
    hotfixes=("KB5048667", "KB5049622"),
    apps=(App(name="Microsoft 365 Apps", version="16.0.18129.20158"), App(name="FSLogix", version="2.9.8884.27471")),
    registry={"HKLM\\SYSTEM\\CurrentControlSet\\Control\\BitLocker\\PreventDeviceEncryption": "1"},
)


def versions_of(workload: Workload, count: int, runtime: LocalRuntime) -> tuple[list[ImageVersion], Pointers]:
    """`count` monthly versions: production, rollback target, two in test/validation, deprecated, failed, deleted."""
    now = runtime.sim.clock.now()
    gallery = workload.gallery
    base = (
        f"/subscriptions/{runtime.settings.subscription_id}/resourceGroups/{gallery.resource_group}"
        f"/providers/Microsoft.Compute/galleries/{gallery.name}/images/{gallery.definition}/versions/"
    )
    records: list[ImageVersion] = []
    for i in range(count):
        number = VersionNumber(major=1, minor=0, patch=i)
        age = count - 1 - i  # months
        created = now - timedelta(days=30 * age)
        newest = count - 1
        if i == newest:
            status, stage = Status.READY, Stage.PRODUCTION
        elif i == newest - 1:
            status, stage = Status.SUPERSEDED, Stage.PRODUCTION
        elif i in (newest - 2, newest - 3):
            status, stage = Status.READY, Stage.VALIDATION
        elif i % 10 == 5:
            status, stage = Status.FAILED, None
        elif i < count // 3:
            status, stage = Status.DELETED, Stage.PRODUCTION
        else:
            status, stage = (Status.DEPRECATED if i % 2 else Status.SUPERSEDED), Stage.PRODUCTION
        end_of_life = None
        if status is Status.DEPRECATED:
            end_of_life = now + timedelta(days=7) if i % 4 == 1 else now - timedelta(days=7)
        records.append(
            ImageVersion(
                workload=workload.name,
                version=number,
                display_name=f"Win11 | Office | v1.0.0 | {created:%Y-%m}",
                build_reason=BuildReason.PATCH if i else BuildReason.FIRST,
                run_id=f"patch-{i:04d}",
                requested_by="scheduler",
                created_at=created,
                source_image="MicrosoftWindowsDesktop:windows-11:win11-24h2-avd:26100.2605.241207",
                manifest=MANIFEST,
                status=status,
                stage=stage,
                end_of_life=end_of_life,
                failure_reason="sysprep failed" if status is Status.FAILED else "",
                gallery_version_id="" if status is Status.FAILED else base + str(number),
            )
        )
    newest = VersionNumber(major=1, minor=0, patch=count - 1)
    pointers = Pointers(
        workload=workload.name,
        production=newest,
        rollback=VersionNumber(major=1, minor=0, patch=count - 2),
        validation=VersionNumber(major=1, minor=0, patch=count - 3),
        test=VersionNumber(major=1, minor=0, patch=count - 4),
    )
    return records, pointers


def share(inventory: dict[str, int], workload: Workload, runtime: LocalRuntime) -> dict[str, int]:
    """What Entrypoints.retention_and_sweep puts into one workload's Prune."""
    path = f"{workload.gallery.name}/images/{workload.gallery.definition}"
    return in_use_of(inventory, runtime.compute.id_of("Microsoft.Compute/galleries", path))


def run(connection_string: str, workloads: int = 500, versions: int = 40, threads: int = 16) -> dict[str, Any]:
    catalog = cloned_catalog(workloads)
    table = f"bench{uuid.uuid4().hex[:16]}"
    store = TableRecordStore.from_connection_string(connection_string, table)
    store.ensure_table()
    runtime = LocalRuntime(catalog, records=store)
    try:
        started = time.perf_counter()

        def write(workload: Workload) -> None:
            # One store per thread: the table client is not shared across threads.
            mine = TableRecordStore.from_connection_string(connection_string, table)
            mine._created = True  # the table exists; skip the create call
            records, pointers = versions_of(workload, versions, runtime)
            mine.commit(Changes(workload=workload.name, versions=records, pointers=pointers))

        with ThreadPoolExecutor(max_workers=threads) as pool:
            list(pool.map(write, catalog.workloads))
        write_seconds = time.perf_counter() - started

        trips = store.round_trips
        started = time.perf_counter()
        summaries = catalog_view(runtime.deps)
        listing_seconds = time.perf_counter() - started
        listing_trips = store.round_trips - trips
        listed_versions = sum(len(s.versions) for s in summaries)

        trips = store.round_trips
        arm_before = len(runtime.sim.request_log)
        started = time.perf_counter()
        # The sweep timer's path: one compute inventory, each workload's share in its Prune.
        inventory = runtime.deps.compute.images_in_use()
        decisions = {w.name: plan_prune(w.name, runtime.deps, share(inventory, w, runtime)) for w in catalog.workloads}
        sweep_seconds = time.perf_counter() - started
        sweep_trips = store.round_trips - trips
        sweep_arm = runtime.sim.request_log[arm_before:]
        actions: dict[str, int] = {}
        for plan in decisions.values():
            for decision in plan:
                actions[decision.action.value] = actions.get(decision.action.value, 0) + 1
        return {
            "workloads": workloads,
            "versions_per_workload": versions,
            "entities": workloads * (versions + 1),
            "write_seconds": write_seconds,
            "write_threads": threads,
            "listing_seconds": listing_seconds,
            "listing_round_trips": listing_trips,
            "listed_versions": listed_versions,
            "sweep_seconds": sweep_seconds,
            "sweep_round_trips": sweep_trips,
            "sweep_arm_requests": len(sweep_arm),
            "sweep_arm_actions": sorted({e.action for e in sweep_arm}),
            "decisions": actions,
        }
    finally:
        store._table.delete_table()


def sweep_arm_reads(workloads: int) -> dict[str, Any]:
    """ARM requests of one hourly sweep (the timer, then every workload's Prune) at `workloads` workloads.

    Through the product's own timer entry point and bus, with the indexed in-memory store: the
    Table side of a sweep is measured above on Azurite; this counts what the sweep asks ARM.
    """
    from benchmarks.common import quiet_logs
    from benchmarks.store import IndexedMemoryRecordStore

    runtime = LocalRuntime(cloned_catalog(workloads), records=IndexedMemoryRecordStore())
    before = len(runtime.sim.request_log)
    started = time.perf_counter()
    with quiet_logs():
        runtime.entrypoints.retention_and_sweep()
        runtime.run()
    entries = runtime.sim.request_log[before:]
    reads = sum(1 for e in entries if e.is_read)
    return {
        "workloads": workloads,
        "reads": reads,
        "writes": len(entries) - reads,
        "throttled": sum(1 for e in entries if e.status == 429),
        # Reconcile (the sweep's slice of workloads) reads each of their gallery definitions.
        "gallery_reads": sum(1 for e in entries if e.is_read and "/galleries/" in e.action),
        "slice": runtime.settings.reconcile_per_sweep,
        "coverage_sweeps": coverage_periods(workloads, runtime.settings.reconcile_per_sweep),
        "actions": sorted({e.action for e in entries}),
        "seconds": time.perf_counter() - started,
    }
