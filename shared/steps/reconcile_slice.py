"""Which workloads the hourly sweep reconciles: a rotating slice, so its ARM reads do not grow
with the estate.

A reconcile pass lists its workload's image definition (one ARM read; Azure has no listing of
every version of a gallery). Reconciling every workload every hour cost one read per workload
(5,000 at 5,000 workloads, throttled). The sweep now reconciles at most `size` workloads, a
contiguous slice of the sorted names that moves on by `size` every sweep period: every workload
is reconciled at least once every `ceil(n / size)` periods, Event Grid or not, so a drift that
no event reported (a version deleted by hand while events were lost) is still found, later on
a large estate. Pointer moves and delete events reconcile their workload at once, as before.

Stateless: the slice follows from the clock, so a missed or repeated timer firing skips or
repeats one slice and the next cycle covers it.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

SWEEP_PERIOD = timedelta(hours=1)  # the sweep timer's default schedule (AVD_SWEEP_SCHEDULE)


def backstop_slice(names: Iterable[str], now: datetime, size: int) -> list[str]:
    """The workloads this sweep reconciles: `size` of them, rotating with the sweep period."""
    ordered = sorted(set(names))
    if size <= 0 or not ordered:
        return []
    if len(ordered) <= size:
        return ordered
    aware = now if now.tzinfo else now.replace(tzinfo=UTC)
    period = int(aware.timestamp() // SWEEP_PERIOD.total_seconds())
    start = (period * size) % len(ordered)
    return [ordered[(start + i) % len(ordered)] for i in range(size)]


def coverage_periods(workloads: int, size: int) -> int:
    """Sweep periods until every workload has had a backstop pass (the guarantee's delay)."""
    if workloads <= 0:
        return 0
    return -(-workloads // max(1, size))
