"""Follow a gallery version's replicationStatus; retry a failed region a bounded number of times."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from shared.domain.catalog import StorageAccountType, Workload, stricter
from shared.domain.compute import WORKLOAD_TAG, Compute, GalleryVersionState, TargetRegion
from shared.domain.model import ImageVersion, Stage
from shared.steps import waits
from shared.steps.outcome import recheck_delay, start_once

MAX_REGION_RETRIES = 2
CEILING = waits.LONGEST


def version_tags(version: ImageVersion, stage: Stage) -> dict[str, str]:
    """What a gallery version says about itself in Azure: workload, stage, display name, build, content."""
    return {
        WORKLOAD_TAG: version.workload,
        "avd-lifecycle-stage": stage.value,
        "avd-lifecycle-display-name": version.display_name,
        "avd-lifecycle-build-date": version.created_at.date().isoformat(),
        "avd-lifecycle-build-run": version.run_id,  # provenance; RUN_TAG marks temporary resources only
        "avd-lifecycle-manifest": version.manifest.digest(),
        "avd-lifecycle-os-build": version.manifest.os_build,
    }


def target_regions(workload: Workload, up_to: Stage) -> tuple[TargetRegion, ...]:
    """Every region of every stage up to `up_to`: a version keeps serving the earlier stages.

    Where stages share a region, the later stage's replica count wins. A region's storage type
    cannot change once it is replicated (TargetRegion.storageAccountType is not updatable), so
    it is planned from the first replication for the strictest stage that will ever use it.
    """
    storage = storage_plan(workload)
    regions: dict[str, TargetRegion] = {}
    for stage in Stage:
        if stage.order > up_to.order:
            break
        policy = workload.stages.policy(stage)
        if policy is None:
            continue
        for name in policy.regions:
            regions[name] = TargetRegion(name, policy.replica_count, storage[name])
    return tuple(regions.values())


def storage_plan(workload: Workload) -> dict[str, str]:
    """Each region's storage type: the strictest any stage asks for (the catalog refuses ties it cannot order)."""
    plan: dict[str, StorageAccountType] = {}
    for stage in Stage:
        policy = workload.stages.policy(stage)
        if policy is None:
            continue
        for name in policy.regions:
            current = plan.get(name)
            plan[name] = (
                policy.storage_account_type if current is None else stricter(current, policy.storage_account_type)
            )
    return {name: kind.value for name, kind in plan.items()}


# PendingOperation.operation of a promotion between stages that share their regions.
SAME_REGIONS = "same-regions"


@dataclass(frozen=True)
class Verdict:
    done: bool = False
    wait: timedelta | None = None
    retry_region: str | None = None
    failed: str | None = None


def judge(
    state: GalleryVersionState | None,
    version: ImageVersion,
    wanted: tuple[TargetRegion, ...],
    since: datetime,
    now: datetime,
    *,
    event_grid: bool = False,
    event_lag: float | None = None,
) -> Verdict:
    if state is None:
        return Verdict(failed=f"gallery version {version.version} no longer exists")
    wanted_names = {t.name for t in wanted}
    by_region = {r.region.replace(" ", "").lower(): r for r in state.regions}
    failed = [r for r in by_region.values() if r.state == "Failed"]
    for region in failed:
        name = region.region.replace(" ", "").lower()
        retried = version.replication_retries
        if name in retried and retried[name] >= MAX_REGION_RETRIES:
            detail, times = region.details or "no detail", retried[name] + 1
            return Verdict(failed=f"replication of {version.version} to {name} failed {times} times ({detail})")
        return Verdict(retry_region=name)
    complete = all(by_region.get(n) is not None and by_region[n].state == "Completed" for n in wanted_names)
    if complete and state.aggregated in ("Completed", ""):
        return Verdict(done=True)
    progress = [by_region[n].progress if n in by_region else 0 for n in wanted_names]
    least = min(progress) if progress else 0
    if least <= 0:  # nothing to predict from yet: back off
        return Verdict(wait=waits.backoff(since, now, event_grid=event_grid, event_lag=event_lag))
    until_end = recheck_delay(now - since, float(least), waits.floor(event_grid, event_lag), CEILING)
    return Verdict(wait=waits.predicted(until_end, event_grid=event_grid, event_lag=event_lag))


def retry_region(
    compute: Compute,
    workload: Workload,
    version: ImageVersion,
    wanted: tuple[TargetRegion, ...],
    region: str,
    state: GalleryVersionState | None = None,
) -> tuple[ImageVersion, str]:
    """Re-apply the target regions: Azure restarts replication of the regions that failed.

    (Removing and re-adding in two updates would need to wait for the first update in between;
    one update with the full list re-replicates exactly the failed regions.) The list re-sent is
    the one Azure has, replica counts and storage types included, so a retry never changes
    them; `wanted` only when Azure's list is not known.
    Returns the version with the retry counted, and the audit detail.
    """
    gallery = workload.gallery
    regions = state.targets if state is not None and state.targets else wanted
    start_once(
        compute.update_gallery_version, gallery.name, gallery.definition, str(version.version), target_regions=regions
    )
    retries = dict(version.replication_retries)
    retries[region] = retries.get(region, 0) + 1
    detail = f"replication to {region} failed; re-applied its target region (retry {retries[region]})"
    return version.evolve(replication_retries=retries), detail
