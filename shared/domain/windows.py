"""Patch windows: which monthly window a moment falls in, for schedules and for the runs that fill them."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

from shared.domain.catalog import Schedule, ScheduleKind


def patch_tuesday(year: int, month: int) -> date:
    """Microsoft's monthly security release: the second Tuesday of the month."""
    first = date(year, month, 1)
    first_tuesday = first + timedelta(days=(1 - first.weekday()) % 7)
    return first_tuesday + timedelta(days=7)


def patch_window(now: datetime, offset_days: int) -> tuple[str, datetime]:
    """The current window: (run id, start) of the latest Patch Tuesday + offset not after now."""
    year, month = now.year, now.month
    for _ in range(2):
        start = datetime.combine(patch_tuesday(year, month) + timedelta(days=offset_days), time(0), tzinfo=UTC)
        if start <= now:
            return f"patch-{year}-{month:02d}", start
        year, month = (year, month - 1) if month > 1 else (year - 1, 12)
    raise AssertionError("unreachable: last month's window always starts before now")


def window_of(schedule: Schedule, now: datetime) -> str:
    """The window a build started now fills: its patch window, or none for other schedules."""
    if schedule.kind is not ScheduleKind.PATCH_TUESDAY:
        return ""
    return patch_window(now, schedule.offset_days)[0]
