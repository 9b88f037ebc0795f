"""The sweep's rotating reconcile slice (shared.steps.reconcile_slice), pinned with literal slices."""

from __future__ import annotations

from datetime import UTC, datetime

from shared.steps.reconcile_slice import backstop_slice, coverage_periods

NAMES = ["a", "b", "c", "d", "e"]
HOUR_0 = datetime(1970, 1, 1, 0, 30, tzinfo=UTC)  # sweep period 0
HOUR_1 = datetime(1970, 1, 1, 1, 30, tzinfo=UTC)  # period 1


def test_the_slice_moves_on_by_its_size_every_period_and_wraps() -> None:
    """Period 0 takes a, b; period 1 takes c, d; period 2 takes e and wraps to a."""
    assert backstop_slice(NAMES, HOUR_0, 2) == ["a", "b"]
    assert backstop_slice(NAMES, HOUR_1, 2) == ["c", "d"]
    assert backstop_slice(NAMES, datetime(1970, 1, 1, 2, 59, tzinfo=UTC), 2) == ["e", "a"]


def test_a_naive_time_is_read_as_utc() -> None:
    """A time without a zone is taken as UTC, the same slice as the aware time."""
    assert backstop_slice(NAMES, datetime(1970, 1, 1, 1, 30), 2) == ["c", "d"]


def test_small_estates_and_empty_slices() -> None:
    """No size or no names: nothing; one slot: one name; a slice as large as the estate: all of them, sorted."""
    assert backstop_slice(NAMES, HOUR_0, 0) == []
    assert backstop_slice([], HOUR_0, 3) == []
    assert backstop_slice(NAMES, HOUR_1, 1) == ["b"]
    assert backstop_slice(["b", "a", "a"], HOUR_1, 2) == ["a", "b"]
    assert backstop_slice(["c", "b", "a"], HOUR_1, 3) == ["a", "b", "c"]


def test_coverage_takes_the_ceiling_of_the_estate_over_the_slice() -> None:
    """Five workloads two at a time: three periods; one workload: one; none: zero; a zero slice counts as one."""
    assert coverage_periods(5, 2) == 3
    assert coverage_periods(1, 1) == 1
    assert coverage_periods(0, 2) == 0
    assert coverage_periods(3, 0) == 3


def test_an_aware_time_in_another_zone_keeps_its_instant() -> None:
    """02:30 at +01:00 is 01:30 UTC: period 1's slice, not period 2's."""
    plus_one = datetime.fromisoformat("1970-01-01T02:30:00+01:00")
    assert backstop_slice(NAMES, plus_one, 2) == ["c", "d"]
