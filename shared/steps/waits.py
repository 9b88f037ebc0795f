"""When to look again at an Azure operation: from what Azure said, backing off, never one fixed number.

Operations take as long as they take (a VM create is minutes one day and longer the next),
so no wait here is a "typical duration". A step looks first after a short opening wait,
then backs off geometrically from the time already waited (bounded), so the overshoot
past the real end stays a fraction of the wait and slow operations cost few reads. Where
Azure reports progress (replication, BitLocker), the next look is predicted from it
(`outcome.recheck_delay`). With Event Grid the event wakes the step first; the re-check
is only the safety net for a lost or late event.

tests/unit/test_waits.py fails if any wait constant here or in the steps equals a
simulator duration.
"""

from __future__ import annotations

from datetime import datetime, timedelta

# Opening waits: short against the operation's range, because the back-off corrects upward.
FIRST_LOOK_VM = timedelta(seconds=150)  # create, attach
FIRST_LOOK_SHORT = timedelta(seconds=45)  # snapshot, disk copy, start, deallocate, delete
FIRST_LOOK_SYSPREP = timedelta(seconds=420)  # /generalize on a prepared image; the log is read if it stays up
FIRST_LOOK_GALLERY = timedelta(seconds=270)  # version create or replication; progress takes over after

GROWTH = 0.5  # each later look waits half the time already waited: overshoot <= 50 %, few reads
SHORTEST = timedelta(seconds=20)
LONGEST = timedelta(minutes=12)


# With Event Grid the operation's event wakes the step (Event Grid delivers within minutes), so
# the first re-check is a safety net: later by this factor plus the delivery allowance.
SAFETY_NET = 2
EVENT_ALLOWANCE = timedelta(minutes=2)


def first_look(first: timedelta, event_grid: bool = False) -> timedelta:
    """The opening wait; with Event Grid, a safety net behind the event."""
    return first * SAFETY_NET + EVENT_ALLOWANCE if event_grid else first


def backoff(
    started_at: datetime, now: datetime, first: timedelta, longest: timedelta = LONGEST, *, event_grid: bool = False
) -> timedelta:
    """Time until the next look at an operation started at `started_at` (bounded geometric back-off)."""
    opening = first_look(first, event_grid)
    elapsed = now - started_at
    if elapsed < opening:
        return max(opening - elapsed, SHORTEST)
    return min(longest, max(SHORTEST, elapsed * GROWTH))
