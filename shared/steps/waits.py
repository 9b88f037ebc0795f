"""When to look again at an Azure operation: from what Azure said, backing off, never one fixed number.

Operations take as long as they take (a VM create is minutes one day and longer the next),
so no wait here is a "typical duration" of any operation. A step looks first after what Azure
asked for (the LRO's `Retry-After`, recorded on the pending operation) or a short opening when
it gave none, then backs off geometrically from the time already waited: the next look comes
when the elapsed time has grown by `GROWTH`, so the overshoot past the real end stays a
fraction of the wait whatever the duration, and a slow operation costs few reads (their
number grows with the logarithm of the duration). Where Azure reports progress (replication,
BitLocker decryption) the next look is predicted from it instead (`outcome.recheck_delay`).

With Event Grid the operation's event wakes the step; the re-check is only the safety net for
a late or lost event, so it starts later and grows faster (`EVENT_GROWTH`): it costs few
reads when events come, and bounds the wait when one does not. How late events come is
measured, not assumed: each event that continues a run says how long after its operation it
was delivered (`Run.event_lag`). While a look on the plain back-off would come sooner than the
next event is expected (elapsed x GROWTH below that lag), the step looks on the plain back-off;
once the event is the faster news, only the safety net remains.

tests/unit/test_waits.py fails if any wait constant here or in the steps equals a
simulator duration.
"""

from __future__ import annotations

from datetime import datetime, timedelta

OPENING = timedelta(seconds=15)  # the first look when Azure gave no Retry-After
SHORTEST = timedelta(seconds=15)  # never look sooner than this, whatever Azure's hint
GROWTH = 0.2  # without events: look again when the wait has grown by a fifth (overshoot <= 20 %)
LONGEST = timedelta(minutes=8)  # bounded: a long operation is still looked at now and then

# With Event Grid the event usually continues the step; the safety net waits for a late one.
EVENT_GROWTH = 1.0  # a lost event costs at most the time already waited
EVENT_ALLOWANCE = timedelta(seconds=150)  # a delivery this late is already unusual


def opening(retry_after: float | None) -> timedelta:
    """Azure's Retry-After (seconds) when it gave one, never below SHORTEST; else OPENING."""
    if retry_after is None or retry_after <= 0:  # "Retry-After: 0" means "not given" (azure-core)
        return OPENING
    return max(SHORTEST, timedelta(seconds=retry_after))


def events_first(elapsed: timedelta, event_grid: bool, event_lag: float | None) -> bool:
    """Whether the operation's event is expected before a look on the plain back-off would come."""
    if not event_grid:
        return False
    if event_lag is None:  # no event measured yet: trust Event Grid, keep the safety net
        return True
    return max(SHORTEST, elapsed * GROWTH).total_seconds() >= event_lag


def first_look(retry_after: float | None = None, event_grid: bool = False, event_lag: float | None = None) -> timedelta:
    """The first look after starting an operation; with Event Grid, a safety net behind the event."""
    first = opening(retry_after)
    return max(first, EVENT_ALLOWANCE) if events_first(timedelta(0), event_grid, event_lag) else first


def backoff(
    started_at: datetime,
    now: datetime,
    retry_after: float | None = None,
    longest: timedelta = LONGEST,
    *,
    event_grid: bool = False,
    event_lag: float | None = None,
) -> timedelta:
    """Time until the next look at an operation started at `started_at` (bounded geometric back-off)."""
    elapsed = now - started_at
    safety_net = events_first(elapsed, event_grid, event_lag)
    first = max(opening(retry_after), EVENT_ALLOWANCE) if safety_net else opening(retry_after)
    if elapsed < first:
        return max(first - elapsed, SHORTEST)
    growth = EVENT_GROWTH if safety_net else GROWTH
    return min(longest, max(SHORTEST, elapsed * growth))
