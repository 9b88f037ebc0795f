"""The back-off rules of shared/steps/waits.py, pinned case by case with literal seconds."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from shared.steps import waits

T0 = datetime(2026, 11, 2, tzinfo=UTC)
# A measured duration whose first look (half of it) is 75 s: 75 s x GROWTH is exactly SHORTEST, no saving yet.
EDGE = 75 / 0.5
UNMEASURED = waits.UNMEASURED


def s(seconds: float) -> timedelta:
    return timedelta(seconds=seconds)


@pytest.mark.parametrize(
    ("retry_after", "expected"),
    [(None, 15), (0, 15), (-3, 15), (10, 15), (15, 15), (120, 120), (120.5, 120.5)],
)
def test_the_opening_is_azures_retry_after_never_below_15_s(retry_after: float | None, expected: float) -> None:
    """Azure's Retry-After is the opening, raised to 15 s; none (or zero) gives the 15 s opening."""
    assert waits.opening(retry_after) == s(expected)


@pytest.mark.parametrize(
    ("retry_after", "expected"),
    [(None, 6), (0, 6), (3, 6), (10, 10), (120, 120)],
)
def test_the_opening_under_a_finer_floor(retry_after: float | None, expected: float) -> None:
    """Events measured late: Azure's Retry-After still counts, but nothing is raised past the 6 s floor."""
    assert waits.opening(retry_after, waits.FINE) == s(expected)


@pytest.mark.parametrize(
    ("event_grid", "event_lag", "floor"),
    [
        (False, None, 15),  # no Event Grid: the plain floor
        (False, 120.0, 15),
        (True, None, 15),  # no delay handed in: events trusted, the safety net's floor
        (True, 14.9, 15),  # events at once
        (True, 15.0, 6),  # events as late as the soonest look: looks are the news, a finer floor
        (True, 120.0, 6),
        (True, UNMEASURED, 15),  # a run's first event is still to come: it usually beats a 15 s look
    ],
)
def test_the_floor_is_finer_only_while_events_are_measured_late(
    event_grid: bool, event_lag: float | None, floor: float
) -> None:
    """Looks come at least 6 s apart when events are measured late, else 15 s."""
    assert waits.floor(event_grid, event_lag) == s(floor)


@pytest.mark.parametrize(
    ("event_grid", "event_lag", "first"),
    [
        (False, None, False),  # no Event Grid: never
        (False, 0.0, False),
        (True, None, True),  # no event measured yet: trust it
        (True, 0.0, True),  # events at once
        (True, 14.9, True),  # sooner than any look (15 s at the soonest)
        (True, 15.0, False),  # as late as the soonest look: looks bring the news
        (True, 90.0, False),
        (True, UNMEASURED, False),  # a run's first event is still to come: looks go on meanwhile
    ],
)
def test_events_come_first_only_while_they_come_at_once(event_grid: bool, event_lag: float | None, first: bool) -> None:
    """The event is the news (a look only the safety net) while events come sooner than any look could."""
    assert waits.events_first(event_grid, event_lag) is first


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        ({}, 15),  # no hint, no events, no history: the opening
        ({"retry_after": 90}, 90),
        ({"event_grid": True}, 360),  # the safety net: 6 min
        ({"event_grid": True, "expected": 100}, 460),  # 6 min past the expected end
        ({"event_grid": True, "expected": 0.0}, 360),
        ({"event_grid": True, "retry_after": 500}, 500),  # Azure asked for longer than the net
        ({"event_grid": True, "event_lag": 30}, 6),  # events 30 s late: a first look at 6 s beats them
        ({"event_grid": True, "event_lag": 15}, 6),
        ({"event_grid": True, "event_lag": UNMEASURED}, 15),  # none measured: the plain opening
        ({"event_grid": True, "event_lag": 14}, 360),  # events sooner than any look: the safety net
        ({"expected": 600}, 300),  # half of last run's 600 s
        ({"expected": 600, "retry_after": 500}, 500),
        ({"expected": 100}, 15),  # 50 s x a fifth is under 15 s: history saves no read
        ({"expected": EDGE}, 15),  # exactly 15 s: still no saving
        ({"expected": 151}, 75.5),  # just past it: the first look at half
    ],
)
def test_the_first_look(kwargs: dict[str, float], expected: float) -> None:
    """The first look: Azure's hint, the Event Grid safety net past the expected end, or half a long history."""
    assert waits.first_look(**kwargs) == s(expected)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("elapsed", "kwargs", "expected"),
    [
        (0, {}, 15),
        (100, {}, 20),  # a fifth of the time waited
        (50, {}, 15),  # never sooner than 15 s
        (3000, {}, 480),  # never later than 8 min
        (3000, {"longest": s(1800)}, 600),  # unless the caller bounds it otherwise
        (100, {"retry_after": 200}, 100),  # Azure's hint is not over yet
        (190, {"retry_after": 200}, 15),  # ... 10 s to go is still a 15 s wait
        (200, {"retry_after": 200}, 40),  # at the hint itself the back-off takes over
        (100, {"event_grid": True}, 260),  # the safety net at 6 min
        (400, {"event_grid": True}, 400),  # past it: the time waited again
        (600, {"event_grid": True}, 480),
        (100, {"event_grid": True, "event_lag": 120}, 20),  # events late: the plain back-off ...
        (600, {"event_grid": True, "event_lag": 120}, 20),  # ... never more than a sixth of their delay apart
        (3000, {"event_grid": True, "event_lag": 120}, 20),
        (200, {"event_grid": True, "event_lag": 30}, 6),  # a sixth of 30 s: the 6 s floor
        (20, {"event_grid": True, "event_lag": 90}, 6),  # early on: 6 s apart, not 15
        (500, {"event_grid": True, "event_lag": 120, "expected": 600}, 20),  # a tenth (50 s) capped at 20 s
        (3000, {"event_grid": True, "event_lag": 3000}, 480),  # never later than 8 min
        (20, {"event_grid": True, "event_lag": UNMEASURED}, 15),  # none measured: the plain back-off ...
        (600, {"event_grid": True, "event_lag": UNMEASURED}, 120),  # ... with no cap from a delay
        (3000, {"event_grid": True, "event_lag": UNMEASURED}, 480),
        (100, {"expected": 600}, 200),  # history: the first look at 300 s
        (500, {"expected": 600}, 50),  # past it, finer steps: a tenth
        (500, {"expected": 100}, 100),  # a short history changes nothing: a fifth
    ],
)
def test_the_backoff(elapsed: float, kwargs: dict[str, object], expected: float) -> None:
    """The next look after `elapsed` seconds: the first look's rest, then geometric growth within 15 s .. 8 min."""
    assert waits.backoff(T0, T0 + s(elapsed), **kwargs) == s(expected)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        ({}, 60),
        ({"event_grid": True}, 420),  # no lag measured: the safety net 6 min past the end
        ({"event_grid": True, "event_lag": 10}, 420),  # events come at once
        ({"event_grid": True, "event_lag": 15}, 60),  # events 15 s late: the predicted end is the news
        ({"event_grid": False, "event_lag": 10}, 60),
        ({"event_grid": True, "event_lag": UNMEASURED}, 60),  # none measured yet: the look is the news
    ],
)
def test_a_predicted_end(kwargs: dict[str, object], expected: float) -> None:
    """A progress-predicted end is looked at then, or 6 min past it while events come at once (< 15 s)."""
    assert waits.predicted(s(60), **kwargs) == s(expected)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("known", "trigger", "seen", "kept"),
    [
        (None, "event", 30.0, 30.0),  # the first delay measured
        (60.0, "event", 30.0, 60.0),  # a shorter one does not lower it
        (60.0, "event", 90.0, 90.0),
        (60.0, "recheck", 90.0, 60.0),  # only a message an event sent measures a delay
        (None, "event", None, None),
    ],
)
def test_a_records_delay_is_the_longest_an_event_brought(
    known: float | None, trigger: str, seen: float | None, kept: float | None
) -> None:
    """Runs and rollouts keep the longest Event Grid delay of the events that continued them."""
    assert waits.longest_delay(known, trigger, seen) == kept
