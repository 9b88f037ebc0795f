"""When to look again at an Azure operation: from what Azure said, backing off, never one fixed number.

Operations take as long as they take (a VM create is minutes one day and longer the next),
so no wait here is a "typical duration" of any operation. A step looks first after what Azure
asked for (the LRO's `Retry-After`, recorded on the pending operation) or a short opening when
it gave none, then backs off geometrically from the time already waited: the next look comes
when the elapsed time has grown by `GROWTH`, so the overshoot past the real end stays a
fraction of the wait whatever the duration, and a slow operation costs few reads (their
number grows with the logarithm of the duration). Where Azure reports progress (replication,
BitLocker decryption) the next look is predicted from it instead (`outcome.recheck_delay`).

What the workload itself measured comes next: how long the same operation took on its last
run (`expected`, recorded per pending operation on the run and kept on the workload's
pointers when the run ends; `history.expected`). The plain back-off then starts at `AHEAD`
of that duration instead of from the opening, so a sysprep that took minutes last month is
not looked at every quarter of a minute from its start; past it the back-off goes on in finer
steps. `AHEAD` is a half, not most of it: Azure's times vary from run to run (a gallery version
that took 11 minutes last month may take 6 today), and a first look placed late costs the whole
difference.

With Event Grid the operation's event wakes the step. How late events come is measured, not
assumed: each event that continues a run says how long after its operation it was delivered
(`Run.event_lag`, the longest so far; a new run starts from its workload's last one). While
events come at once (or, for a version or a rollout, its workload measured none) the re-check
is only the safety net for a lost event: it comes `EVENT_ALLOWANCE` after the operation's
expected end (the measured duration, or Azure's progress prediction; the allowance alone when
neither is known) and then grows by `EVENT_GROWTH`, so it costs no read when events come.
When they come late, waiting for the event would cost its whole delay on every operation: the
step looks on the plain back-off from a finer floor (`FINE`: a look is then the news, and one
more read costs less than the admin's wait), and never waits longer between two looks than
`LAG_SHARE` of the measured delay, so the end is seen about a twelfth of that delay after it
happens instead of the whole delay; the event still wakes the step when it comes first. A long
operation costs more reads (one per sixth of the delay past the point where the back-off's own
gap would be longer). A run that has measured nothing yet (a workload's first run) does not bet
on events either: its delay is `UNMEASURED` and it looks on the plain back-off until its first
event - usually its network interface's, seconds into its first VM create - says how late they
come (shared/steps/events.py).

tests/unit/test_waits.py fails if any wait constant here or in the steps equals a
simulator duration.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta

OPENING = timedelta(seconds=15)  # the first look when Azure gave no Retry-After
SHORTEST = timedelta(seconds=15)  # never look sooner than this, whatever Azure's hint
GROWTH = 0.2  # without events: look again when the wait has grown by a fifth (overshoot <= 20 %)
LONGEST = timedelta(minutes=8)  # bounded: a long operation is still looked at now and then
AHEAD = 0.5  # with a measured duration: the first plain look at half of it (Azure's times vary),
NEAR = GROWTH / 2  # then finer steps: the end is expected near (overshoot <= 10 %)

# With Event Grid the event usually continues the step; the safety net waits for a late one.
EVENT_GROWTH = 1.0  # a lost event costs at most the time already waited
EVENT_ALLOWANCE = timedelta(minutes=6)  # past the expected end, a delivery this late is already unusual
LAG_SHARE = 1 / 6  # events measured late: no gap between looks longer than a sixth of their delay
FINE = timedelta(seconds=6)  # events measured late: looks are the news, so the floor is finer
UNMEASURED = math.inf  # a run's delay before its first event: looks go on as if events were late


def opening(retry_after: float | None, least: timedelta = SHORTEST) -> timedelta:
    """Azure's Retry-After (seconds) when it gave one, never below `least` (the floor); else
    OPENING, or the finer floor itself when looks are the news (events measured late)."""
    if retry_after is None or retry_after <= 0:  # "Retry-After: 0" means "not given" (azure-core)
        return OPENING if least >= SHORTEST else least
    return max(least, timedelta(seconds=retry_after))


def floor(event_grid: bool, event_lag: float | None) -> timedelta:
    """The shortest gap between looks: `FINE` when events are measured late (a look is the news and
    a read costs less than the admin's wait), else `SHORTEST` (also while a run's delay is
    `UNMEASURED`: its first event, seconds away when events come at once, should beat a look)."""
    return FINE if late(event_grid, event_lag) else SHORTEST


def late(event_grid: bool, event_lag: float | None) -> bool:
    """Whether Event Grid is on and its events were measured late (at least SHORTEST)."""
    return event_grid and not events_first(event_grid, event_lag) and event_lag != UNMEASURED


def events_first(event_grid: bool, event_lag: float | None) -> bool:
    """Whether the operation's event is the news and a look only the safety net: events come at
    once (measured under SHORTEST), or the record inherited no measure (None: trust Event Grid);
    never while a run's delay is `UNMEASURED`."""
    return event_grid and (event_lag is None or event_lag < SHORTEST.total_seconds())


def longest_delay(known: float | None, trigger: str, seen: float | None) -> float | None:
    """A record's measured Event Grid delay after one more message: the longest so far, raised by
    a message an event sent (`trigger` "event", `seen` its delivery delay); others change nothing."""
    if trigger != "event" or seen is None:
        return known
    return max(known or 0.0, seen)


def _longest_gap(longest: timedelta, event_grid: bool, event_lag: float | None) -> timedelta:
    """`longest`, or less when events are measured late: `LAG_SHARE` of their delay (>= FINE)."""
    if not late(event_grid, event_lag):
        return longest
    return min(longest, max(FINE, timedelta(seconds=(event_lag or 0.0) * LAG_SHARE)))


def _first(
    retry_after: float | None, safety_net: bool, expected: float | None, least: timedelta = SHORTEST
) -> timedelta:
    """The first look: Azure's hint, at `AHEAD` of the measured duration; or the safety net past its end."""
    first = opening(retry_after, least)
    if safety_net:
        return max(first, EVENT_ALLOWANCE + timedelta(seconds=expected or 0.0))
    if _informs(expected):
        return max(first, timedelta(seconds=(expected or 0.0) * AHEAD))
    return first


def _informs(expected: float | None) -> bool:
    """Whether a measured duration says more than the plain back-off: only a look past its floor
    phase (while elapsed x GROWTH < SHORTEST it looks every SHORTEST anyway) saves reads."""
    return expected is not None and timedelta(seconds=expected * AHEAD) * GROWTH > SHORTEST


def first_look(
    retry_after: float | None = None,
    event_grid: bool = False,
    event_lag: float | None = None,
    expected: float | None = None,
) -> timedelta:
    """The first look after starting an operation; with Event Grid, a safety net behind the event.

    `expected`: seconds the same operation took on the workload's last run (None: not measured)."""
    return _first(retry_after, events_first(event_grid, event_lag), expected, floor(event_grid, event_lag))


def backoff(
    started_at: datetime,
    now: datetime,
    retry_after: float | None = None,
    longest: timedelta = LONGEST,
    *,
    event_grid: bool = False,
    event_lag: float | None = None,
    expected: float | None = None,
) -> timedelta:
    """Time until the next look at an operation started at `started_at` (bounded geometric back-off)."""
    elapsed = now - started_at
    safety_net = events_first(event_grid, event_lag)
    least = floor(event_grid, event_lag)
    first = _first(retry_after, safety_net, expected, least)
    if elapsed < first:
        return max(first - elapsed, least)
    growth = EVENT_GROWTH if safety_net else NEAR if _informs(expected) else GROWTH
    return min(_longest_gap(longest, event_grid, event_lag), max(least, elapsed * growth))


def predicted(until_end: timedelta, *, event_grid: bool = False, event_lag: float | None = None) -> timedelta:
    """The next look at an operation whose end Azure's progress predicts `until_end` from now.

    A look at the predicted end lands within a short slack of it, so it is the faster news unless
    events come at once (measured under SHORTEST, or none measured yet): then the look is the
    safety net, `EVENT_ALLOWANCE` past the predicted end, and the operation's event comes first."""
    if events_first(event_grid, event_lag):
        return until_end + EVENT_ALLOWANCE
    return until_end
