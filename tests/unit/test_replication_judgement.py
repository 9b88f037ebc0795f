"""Replication's verdict on a failed region and its retry (invariant 2, docs/invariants.md).

Azure names regions in its display form ("West Europe") in replicationStatus; the product keys them
"westeurope". A failed region is retried MAX_REGION_RETRIES times, then the version fails with a
reason that counts the tries; a retry re-sends Azure's own target list so nothing else changes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

from shared.domain.catalog import load_catalog
from shared.domain.compute import GalleryVersionState, OperationState, RegionReplication, TargetRegion
from shared.domain.model import Status
from shared.steps import replication
from tests.conftest import T0, make_version

CATALOG = load_catalog(Path(__file__).resolve().parents[2] / "catalog")
WANTED = (TargetRegion("westeurope", 1, "Standard_LRS"),)
LATER = T0 + timedelta(minutes=10)


def state(
    *regions: RegionReplication, aggregated: str = "InProgress", targets: tuple[TargetRegion, ...] = ()
) -> GalleryVersionState:
    return GalleryVersionState(
        id="/galleries/g/images/d/versions/1.0.0",
        name="1.0.0",
        provisioning=OperationState.SUCCEEDED,
        aggregated=aggregated,
        regions=regions,
        target_regions=tuple(r.region for r in regions),
        exclude_from_latest=True,
        end_of_life=None,
        targets=targets,
    )


def judge(current: GalleryVersionState, retries: dict[str, int] | None = None, **kw: bool) -> replication.Verdict:
    version = make_version(status=Status.REPLICATING, replication_retries=retries or {})
    return replication.judge(current, version, WANTED, T0, LATER, **kw)


def test_a_failed_region_in_display_form_is_retried_under_its_key() -> None:
    """ "West Europe" Failed is retried as "westeurope", the key the retry count is kept under."""
    verdict = judge(state(RegionReplication("West Europe", "Failed", 30, "disk error")))
    assert verdict == replication.Verdict(retry_region="westeurope")


def test_a_region_is_retried_until_the_limit_then_the_version_fails_with_the_count() -> None:
    """Two retries are allowed; the third failure fails the version and says how often it failed and why."""
    failed = state(RegionReplication("West Europe", "Failed", 30, "disk error"))
    assert judge(failed, {"westeurope": 1}) == replication.Verdict(retry_region="westeurope")
    assert judge(failed, {"northeurope": 5}) == replication.Verdict(retry_region="westeurope")
    assert judge(failed, {"westeurope": 2}) == replication.Verdict(
        failed="replication of 1.0.0 to westeurope failed 3 times (disk error)"
    )


def test_a_failure_without_details_still_gives_a_reason() -> None:
    """Azure gave no detail: the reason says so rather than ending in empty brackets."""
    failed = state(RegionReplication("westeurope", "Failed", 0, ""))
    assert judge(failed, {"westeurope": 2}).failed == "replication of 1.0.0 to westeurope failed 3 times (no detail)"


def test_a_completed_region_in_display_form_counts_as_done() -> None:
    """ "West Europe" Completed satisfies the wanted "westeurope"."""
    done = state(RegionReplication("West Europe", "Completed", 100), aggregated="Completed")
    assert judge(done).done


def test_only_the_state_failed_triggers_a_retry() -> None:
    """Replicating and Unknown regions are waited for, never retried."""
    for region_state in ("Replicating", "Unknown"):
        verdict = judge(state(RegionReplication("westeurope", region_state, 40)))
        assert (verdict.retry_region, verdict.failed, verdict.done) == (None, None, False)


def test_without_event_grid_by_default_a_stalled_replication_backs_off_plainly() -> None:
    """No progress after 10 minutes: the plain back-off (a fifth of the wait) unless Event Grid is on."""
    stalled = state(RegionReplication("westeurope", "Replicating", 0))
    assert judge(stalled).wait == timedelta(minutes=2)
    assert judge(stalled, event_grid=True).wait == timedelta(minutes=8)


@dataclass
class Recorder:
    calls: list[tuple[Any, ...]] = field(default_factory=list)

    def update_gallery_version(self, gallery: str, definition: str, version: str, **changes: Any) -> None:
        self.calls.append((gallery, definition, version, changes))


def test_a_retry_re_sends_azures_own_target_list_and_counts_the_retry() -> None:
    """The list Azure has (counts and storage types) is re-sent unchanged; the retry is counted per region."""
    compute = Recorder()
    azure_has = (TargetRegion("westeurope", 3, "Standard_ZRS"),)
    version = make_version(status=Status.REPLICATING, replication_retries={"westeurope": 1, "northeurope": 1})
    current = state(RegionReplication("westeurope", "Failed", 0), targets=azure_has)
    retried, detail = replication.retry_region(
        compute,  # type: ignore[arg-type]
        CATALOG.get("office"),
        version,
        WANTED,
        "westeurope",
        current,
    )
    assert compute.calls == [("gal_avd_images", "win11-24h2-office", "1.0.0", {"target_regions": azure_has})]
    assert retried.replication_retries == {"westeurope": 2, "northeurope": 1}
    assert detail == "replication to westeurope failed; re-applied its target region (retry 2)"


def test_a_retry_without_azures_list_sends_the_wanted_regions() -> None:
    """Unknown or empty target list at Azure: the wanted regions are sent, and a first retry counts 1."""
    for current in (None, state(RegionReplication("westeurope", "Failed", 0))):
        compute = Recorder()
        version = make_version(status=Status.REPLICATING)
        retried, detail = replication.retry_region(
            compute,  # type: ignore[arg-type]
            CATALOG.get("office"),
            version,
            WANTED,
            "westeurope",
            current,
        )
        assert compute.calls == [("gal_avd_images", "win11-24h2-office", "1.0.0", {"target_regions": WANTED})]
        assert retried.replication_retries == {"westeurope": 1}
        assert detail.endswith("(retry 1)")


def test_every_region_completed_with_no_aggregate_state_is_done() -> None:
    """Azure may leave aggregatedState empty; every wanted region Completed is then enough."""
    completed = RegionReplication("westeurope", "Completed", 100)
    assert judge(state(completed, aggregated="")).done
    assert not judge(state(completed, aggregated="InProgress")).done


def test_the_next_look_is_predicted_from_the_slowest_regions_progress() -> None:
    """80 % after 10 minutes: about 2.5 minutes remain, so look again in 2 min 35 s (2 s past the predicted end)."""
    progressing = state(RegionReplication("westeurope", "Replicating", 80))
    assert judge(progressing).wait == timedelta(minutes=2, seconds=35)
    one_percent = state(RegionReplication("westeurope", "Replicating", 1))
    assert judge(one_percent).wait == timedelta(minutes=8)  # predicted far off: the longest look


def test_a_wanted_region_azure_does_not_list_yet_counts_as_no_progress() -> None:
    """No replicationStatus for the wanted region: nothing to predict from, plain back-off."""
    assert judge(state()).wait == timedelta(minutes=2)


def test_no_wanted_regions_and_no_aggregate_completion_backs_off() -> None:
    """An empty wanted list with the aggregate still in progress waits on the plain back-off."""
    version = make_version(status=Status.REPLICATING)
    verdict = replication.judge(state(aggregated="InProgress"), version, (), T0, LATER)
    assert verdict == replication.Verdict(wait=timedelta(minutes=2))
