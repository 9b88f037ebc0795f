"""Patch windows (shared/domain/windows.py): the window a moment falls in, at its edges."""

from __future__ import annotations

from datetime import UTC, datetime

from shared.domain.catalog import Schedule, ScheduleKind
from shared.domain.windows import patch_window, window_of


def test_a_window_opens_at_its_first_second() -> None:
    """At exactly Patch Tuesday + offset, 00:00 UTC, the new window has begun."""
    opening = datetime(2026, 12, 15, tzinfo=UTC)  # Patch Tuesday Dec 8 + 7 days
    assert patch_window(opening, 7) == ("patch-2026-12", opening)


def test_early_february_is_still_januarys_window() -> None:
    """Before February's window opens, the window is January's of the same year (not last December's)."""
    assert patch_window(datetime(2027, 2, 1, tzinfo=UTC), 7) == ("patch-2027-01", datetime(2027, 1, 19, tzinfo=UTC))


def test_early_january_is_last_decembers_window() -> None:
    """Before January's window opens, the window is December's of the year before."""
    assert patch_window(datetime(2027, 1, 3, tzinfo=UTC), 7)[0] == "patch-2026-12"


def test_only_a_patch_tuesday_schedule_has_windows() -> None:
    """A build on a patch-tuesday schedule fills the current window; other schedules fill none."""
    now = datetime(2026, 12, 16, 6, tzinfo=UTC)
    assert window_of(Schedule(kind=ScheduleKind.PATCH_TUESDAY, offset_days=7), now) == "patch-2026-12"
    assert window_of(Schedule(kind=ScheduleKind.NEW_BASE_IMAGE), now) == ""
    assert window_of(Schedule(kind=ScheduleKind.MANUAL), now) == ""
