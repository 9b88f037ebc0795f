"""Step deadlines counted on the run's own record, so a skewed instance cannot move them.

A step's elapsed time is not `now - started` on whichever instance handles the next delivery:
an instance whose clock runs 25 h ahead would fail a healthy sysprep on its first look. It is
counted from the step's recorded start, one handled delivery at a time, in the run record:
each interval between two deliveries counts for at most what the previous one asked the broker
to wait (plus `SLACK` for the handling itself), and never for less than nothing. Every clock
involved is the product's `Clock` (the simulator's virtual clock in tests and the demo), so the
deadline behaves the same under virtual time; a clock ahead adds at most `SLACK` per delivery it
handles, and a clock behind takes nothing away.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from shared.domain.model import Run

SLACK = timedelta(minutes=3, seconds=30)  # handling time of one delivery (Run Command calls included)


def progress(run: Run, now: datetime) -> timedelta:
    """How long the run's current step has been under way, as of `now`."""
    if run.step_seen is None:  # a record written before steps were counted: its recorded start
        return max(now - (run.step_started_at or run.started_at), timedelta(0))
    since = min(max(now - run.step_seen, timedelta(0)), timedelta(seconds=run.step_wait) + SLACK)
    return timedelta(seconds=run.step_progress) + since


def overdue(run: Run, now: datetime, limit: timedelta) -> bool:
    """Whether the current step has been under way for longer than `limit`."""
    return progress(run, now) > limit


def waiting(run: Run, now: datetime, wait: timedelta) -> dict[str, Any]:
    """The run's fields after a delivery that re-checks later: the step's count so far, and the wait asked."""
    return {"step_progress": progress(run, now).total_seconds(), "step_seen": now, "step_wait": wait.total_seconds()}


def started(now: datetime) -> dict[str, Any]:
    """The run's fields when a step starts: nothing counted yet, the next delivery is immediate."""
    return {"step_progress": 0.0, "step_seen": now, "step_wait": 0.0}
