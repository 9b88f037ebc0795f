"""Replication is judged complete only when every region the stage needs is Completed."""

from __future__ import annotations

from datetime import timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from shared.domain.compute import GalleryVersionState, OperationState, RegionReplication, TargetRegion
from shared.domain.model import Status
from shared.steps import replication
from tests.conftest import T0, make_version

REGIONS = ["westeurope", "northeurope", "swedencentral", "francecentral"]
REGION_STATES = ["Unknown", "Replicating", "Completed"]


def state_of(regions: dict[str, str], aggregated: str) -> GalleryVersionState:
    return GalleryVersionState(
        id="/galleries/g/images/d/versions/1.0.0",
        name="1.0.0",
        provisioning=OperationState.SUCCEEDED,
        aggregated=aggregated,
        regions=tuple(
            RegionReplication(name, state, 100 if state == "Completed" else 40) for name, state in regions.items()
        ),
        target_regions=tuple(regions),
        exclude_from_latest=True,
        end_of_life=None,
    )


@settings(max_examples=400, deadline=None)
@given(
    wanted=st.lists(st.sampled_from(REGIONS), min_size=1, max_size=4, unique=True),
    states=st.dictionaries(st.sampled_from(REGIONS), st.sampled_from(REGION_STATES), min_size=1),
    aggregated=st.sampled_from(["Unknown", "InProgress", "Completed", ""]),
)
def test_done_only_when_every_wanted_region_is_completed(
    wanted: list[str], states: dict[str, str], aggregated: str
) -> None:
    """One Completed region among several wanted never counts as done; every wanted one must be."""
    version = make_version(status=Status.REPLICATING)
    targets = tuple(TargetRegion(name, 1, "Standard_LRS") for name in wanted)
    verdict = replication.judge(state_of(states, aggregated), version, targets, T0, T0 + timedelta(minutes=5))
    every_wanted_completed = all(states.get(name) == "Completed" for name in wanted)
    if verdict.done:
        assert every_wanted_completed, (wanted, states)
    if not every_wanted_completed:
        assert not verdict.done
        assert verdict.wait is not None
        assert verdict.wait > timedelta(0)


def test_one_completed_region_of_two_is_not_done() -> None:
    """Production in westeurope and northeurope: westeurope Completed alone is still a wait."""
    version = make_version(status=Status.REPLICATING)
    targets = (TargetRegion("westeurope", 2, "Standard_ZRS"), TargetRegion("northeurope", 2, "Standard_ZRS"))
    state = state_of({"westeurope": "Completed", "northeurope": "Replicating"}, "InProgress")
    verdict = replication.judge(state, version, targets, T0, T0 + timedelta(minutes=5))
    assert (verdict.done, verdict.failed, verdict.retry_region) == (False, None, None)


def test_all_regions_completed_is_done() -> None:
    """Every wanted region Completed and the aggregate Completed: replication is done."""
    version = make_version(status=Status.REPLICATING)
    targets = (TargetRegion("westeurope", 2, "Standard_ZRS"), TargetRegion("northeurope", 2, "Standard_ZRS"))
    state = state_of({"westeurope": "Completed", "northeurope": "Completed"}, "Completed")
    assert replication.judge(state, version, targets, T0, T0).done


def test_a_vanished_gallery_version_fails_with_a_reason() -> None:
    """No gallery version at all is a failure that names the version, never a silent wait."""
    verdict = replication.judge(None, make_version(status=Status.REPLICATING), (), T0, T0)
    assert verdict.failed == "gallery version 1.0.0 no longer exists"
