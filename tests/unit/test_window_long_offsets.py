"""Windows whose opening falls in the next month (shared.domain.windows.latest_opening).

Patch Tuesday is at most the 14th and a schedule may add up to 20 days, so February's window (or
prepare) can open in early March: on 1 March 2026 neither March's nor February's has opened yet,
and the current one is January's. The scheduler and every manual start read this window.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from shared.domain.windows import patch_window
from shared.steps.prepare import prepare_month


@pytest.mark.parametrize(
    ("now", "window", "opened"),
    [
        (datetime(2026, 3, 1, 12, tzinfo=UTC), "patch-2026-01", datetime(2026, 2, 2, tzinfo=UTC)),  # Jan 13 + 20
        (datetime(2026, 3, 2, 0, tzinfo=UTC), "patch-2026-02", datetime(2026, 3, 2, tzinfo=UTC)),  # Feb 10 + 20
        (datetime(2028, 1, 2, tzinfo=UTC), "patch-2027-11", datetime(2027, 11, 29, tzinfo=UTC)),  # Dec 14 + 20: Jan 3
    ],
)
def test_a_window_opening_next_month_leaves_the_one_before_current(
    now: datetime, window: str, opened: datetime
) -> None:
    """With a 20-day offset, early in a month the current window can be two months back."""
    assert patch_window(now, 20) == (window, opened)


def test_a_prepare_opening_next_month_leaves_the_one_before_current() -> None:
    """A 19-day prepare offset: on 1 March 2026 (18:00 release) January's prepare is the current one."""
    assert prepare_month(datetime(2026, 3, 1, 12, tzinfo=UTC), 19) == (
        "prepare-2026-01",
        datetime(2026, 2, 1, 18, tzinfo=UTC),
    )
