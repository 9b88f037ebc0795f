"""Patch windows: which monthly window a moment falls in, for schedules and for the runs that fill them."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta

from shared.domain.catalog import Schedule, ScheduleKind


def patch_tuesday(year: int, month: int) -> date:
    """Microsoft's monthly security release: the second Tuesday of the month."""
    first = date(year, month, 1)
    first_tuesday = first + timedelta(days=(1 - first.weekday()) % 7)
    return first_tuesday + timedelta(days=7)


def latest_opening(now: datetime, opens: Callable[[int, int], datetime]) -> tuple[int, int, datetime]:
    """(year, month, opening) of the newest month whose opening (`opens(year, month)`) is not after
    now: this month's, or last month's while this month's is still ahead. An opening may fall in
    the next month (Patch Tuesday, at most the 14th, plus up to 20 days), so early in a month last
    month's can still be ahead too: then the month before it, whose opening is always past."""
    year, month = now.year, now.month
    for _ in range(3):
        opening = opens(year, month)
        if opening <= now:
            return year, month, opening
        year, month = (year, month - 1) if month > 1 else (year - 1, 12)
    raise AssertionError("unreachable: the opening of the month before last always comes before now")


def patch_window(now: datetime, offset_days: int) -> tuple[str, datetime]:
    """The current window: (run id, start) of the latest Patch Tuesday + offset not after now."""

    def opens(year: int, month: int) -> datetime:
        return datetime.combine(patch_tuesday(year, month) + timedelta(days=offset_days), time(0), tzinfo=UTC)

    year, month, start = latest_opening(now, opens)
    return f"patch-{year}-{month:02d}", start


def window_of(schedule: Schedule, now: datetime) -> str:
    """The window a build started now fills: its patch window, or none for other schedules."""
    if schedule.kind is not ScheduleKind.PATCH_TUESDAY:
        return ""
    return patch_window(now, schedule.offset_days)[0]
