"""Retention never retires what an admin still needs: properties over many random estates."""

from __future__ import annotations

from datetime import timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from shared.domain import retention
from shared.domain.catalog import Retention
from shared.domain.model import ImageVersion, Pointers, Status, VersionNumber
from shared.domain.retention import Action
from tests.conftest import T0, make_version

LIVE_STATUSES = [s for s in Status if s is not Status.DELETED]
IN_FLIGHT = {Status.BUILDING, Status.CAPTURING, Status.REPLICATING}


def gallery_id(number: str) -> str:
    return f"/subscriptions/s/resourcegroups/rg/providers/microsoft.compute/galleries/g/images/d/versions/{number}"


@st.composite
def estates(draw: st.DrawFn) -> tuple[list[ImageVersion], Pointers, Retention, dict[str, int]]:
    count = draw(st.integers(min_value=1, max_value=9))
    versions: list[ImageVersion] = []
    for patch in range(count):
        number = f"1.0.{patch}"
        status = draw(st.sampled_from(LIVE_STATUSES))
        captured = draw(st.booleans()) or status not in (Status.FAILED, Status.BUILDING)
        end = T0 + timedelta(days=draw(st.integers(min_value=-30, max_value=30)))
        versions.append(
            make_version(
                number,
                status=status,
                gallery_version_id=gallery_id(number) if captured else "",
                end_of_life=end if status is Status.DEPRECATED else None,
            )
        )
    numbers = [v.version for v in versions]
    maybe = st.one_of(st.none(), st.sampled_from(numbers))
    pointers = Pointers(
        workload="office",
        test=draw(maybe),
        validation=draw(maybe),
        production=draw(maybe),
        dr=draw(maybe),
        rollback=draw(maybe),
    )
    pinned = draw(st.lists(st.sampled_from([str(n) for n in numbers]), max_size=2, unique=True))
    policy = Retention(keep=draw(st.integers(min_value=1, max_value=4)), pinned=tuple(pinned), grace_days=14)
    used = draw(st.lists(st.sampled_from([str(n) for n in numbers]), max_size=3, unique=True))
    return versions, pointers, policy, {gallery_id(u): 1 for u in used}


@settings(max_examples=400, deadline=None)
@given(estates())
def test_nothing_serving_pinned_in_use_or_in_flight_is_ever_retired(
    estate: tuple[list[ImageVersion], Pointers, Retention, dict[str, int]],
) -> None:
    """Whatever the estate, a version that serves a stage, is the rollback target, is pinned,
    is referenced by a VM or scale set, or is still being built/replicated is always kept."""
    versions, pointers, policy, in_use = estate
    decisions = {d.version: d for d in retention.plan(versions, pointers, policy, in_use, T0)}
    protected = pointers.in_use() | {VersionNumber.parse(p) for p in policy.pinned}
    for version in versions:
        decision = decisions[version.version]
        if decision.action is Action.KEEP:
            continue
        assert version.version not in protected, (version.version, decision)
        assert version.gallery_version_id not in in_use, (version.version, decision)
        assert version.status not in IN_FLIGHT, (version.version, decision)


@settings(max_examples=400, deadline=None)
@given(estates())
def test_deletion_only_after_end_of_life_or_when_nothing_was_captured(
    estate: tuple[list[ImageVersion], Pointers, Retention, dict[str, int]],
) -> None:
    """A delete decision is only ever taken for a deprecated version whose end of life has passed,
    or for a failed build that never reached the gallery."""
    versions, pointers, policy, in_use = estate
    by_number = {v.version: v for v in versions}
    for decision in retention.plan(versions, pointers, policy, in_use, T0):
        if decision.action is not Action.DELETE:
            continue
        version = by_number[decision.version]
        expired = version.status is Status.DEPRECATED and version.end_of_life is not None and version.end_of_life <= T0
        never_captured = version.status is Status.FAILED and not version.gallery_version_id
        assert expired or never_captured, (version.version, version.status, decision)


@settings(max_examples=300, deadline=None)
@given(estates())
def test_the_newest_n_usable_versions_are_kept(
    estate: tuple[list[ImageVersion], Pointers, Retention, dict[str, int]],
) -> None:
    """The newest `keep` versions that are neither failed, withdrawn nor deprecated always stay."""
    versions, pointers, policy, in_use = estate
    usable = sorted(
        (v for v in versions if v.status not in (Status.FAILED, Status.WITHDRAWN, Status.DEPRECATED)),
        key=lambda v: v.version,
        reverse=True,
    )
    decisions = {d.version: d for d in retention.plan(versions, pointers, policy, in_use, T0)}
    for version in usable[: policy.keep]:
        assert decisions[version.version].action is Action.KEEP, (version.version, decisions[version.version])


def test_a_version_serving_validation_or_test_is_kept_with_that_reason() -> None:
    """Beyond the newest N, what serves validation and test stays, and the reason names the stage."""
    versions = [
        make_version(f"1.0.{p}", status=Status.READY, gallery_version_id=gallery_id(f"1.0.{p}")) for p in (0, 1, 2)
    ]
    pointers = Pointers(workload="office", validation=versions[0].version, test=versions[1].version)
    decisions = retention.plan(versions, pointers, Retention(keep=1, pinned=(), grace_days=14), {}, T0)
    assert [(str(d.version), d.action, d.reason) for d in decisions] == [
        ("1.0.2", Action.KEEP, "one of the newest 1"),
        ("1.0.1", Action.KEEP, "serves test"),
        ("1.0.0", Action.KEEP, "serves validation"),
    ]


def test_a_version_still_replicating_is_kept_even_when_old() -> None:
    """A version that is still replicating is not retired under the build's feet."""
    replicating = make_version("1.0.0", status=Status.REPLICATING, gallery_version_id=gallery_id("1.0.0"))
    newer = make_version("1.0.1", status=Status.READY, gallery_version_id=gallery_id("1.0.1"))
    policy = Retention(keep=1, pinned=(), grace_days=14)
    decisions = retention.plan([replicating, newer], Pointers(workload="office"), policy, {}, T0)
    assert [(str(d.version), d.action, d.reason) for d in decisions] == [
        ("1.0.1", Action.KEEP, "one of the newest 1"),
        ("1.0.0", Action.KEEP, "replicating (in progress)"),
    ]


def test_an_unused_old_version_is_deprecated_with_the_grace_period() -> None:
    """The one thing retention may do to an unused ready version: deprecate it, end of life after the grace."""
    old = make_version("1.0.0", status=Status.READY, gallery_version_id=gallery_id("1.0.0"))
    new = make_version("1.0.1", status=Status.READY, gallery_version_id=gallery_id("1.0.1"))
    decisions = retention.plan(
        [old, new], Pointers(workload="office"), Retention(keep=1, pinned=(), grace_days=14), {}, T0
    )
    assert [(str(d.version), d.action, d.end_of_life) for d in decisions] == [
        ("1.0.1", Action.KEEP, None),
        ("1.0.0", Action.DEPRECATE, T0 + timedelta(days=14)),
    ]
