"""Timer schedules on the virtual clock (the local stand-in for the Functions host's timers)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from localrun.runtime import LocalRuntime
from localrun.timers import Schedule
from shared.domain.catalog import load_catalog

T = datetime(2026, 11, 2, 6, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("expression", "after", "expected"),
    [
        ("0 0 6 * * *", T, datetime(2026, 11, 3, 6, 0, tzinfo=UTC)),
        ("0 0 6 * * *", T.replace(hour=5), T),
        ("0 30 * * * *", T, T.replace(minute=30)),
        ("0 */15 * * * *", T.replace(minute=16), T.replace(minute=30)),
        ("0 0 6,18 * * *", T, T.replace(hour=18)),
    ],
)
def test_next_firing(expression: str, after: datetime, expected: datetime) -> None:
    """NCRONTAB seconds/minutes/hours fire at the next matching moment strictly after now."""
    assert Schedule.parse(expression).next_after(after) == expected


@pytest.mark.parametrize("expression", ["0 0 6 * * 1-5", "0 0 25 * * *", "0 0 6 * *", "x 0 6 * * *"])
def test_unsupported_schedules_are_refused(expression: str) -> None:
    """Schedules the local timers cannot honour are refused with the reason, not misread."""
    with pytest.raises(ValueError, match="unsupported"):
        Schedule.parse(expression)


def test_the_rebuild_timer_starts_first_builds_on_the_virtual_clock() -> None:
    """Started timers fire at 06:00 virtual time and the scheduler starts each new workload's first build."""
    runtime = LocalRuntime(load_catalog(Path(__file__).resolve().parents[2] / "catalog"), start=T.replace(hour=5))
    runtime.start_timers()
    runtime.run_until(T.replace(hour=5, minute=59))
    assert runtime.records.list_runs("office") == []
    runtime.run_until(T.replace(hour=7))
    runs = {w: [r.run_id for r in runtime.records.list_runs(w)] for w in ("office", "data-analyst")}
    assert runs == {"office": ["first-build"], "data-analyst": ["first-build"]}
    assert any("timer rebuild_scheduler" in line for line in runtime.trace.deliveries)
