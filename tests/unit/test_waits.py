"""Product waits adapt: none equals a simulator duration, and they back off from the time waited."""

from __future__ import annotations

import ast
import itertools
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from shared.steps import waits
from simulator.durations import DEFAULT_DURATIONS

STEPS = Path(__file__).resolve().parents[2] / "shared" / "steps"
UNITS = {"weeks": 604800, "days": 86400, "hours": 3600, "minutes": 60, "seconds": 1, "milliseconds": 0.001}
T0 = datetime(2026, 11, 2, tzinfo=UTC)


def _constant_timedeltas(path: Path) -> list[tuple[int, float]]:
    """(line, seconds) of every timedelta(...) in a file whose arguments are all literal numbers."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if not (isinstance(node, ast.Call) and getattr(node.func, "id", getattr(node.func, "attr", "")) == "timedelta"):
            continue
        values = [(k.arg or "days", k.value) for k in node.keywords] + [("days", a) for a in node.args[:1]]
        if values and all(isinstance(v, ast.Constant) and isinstance(v.value, int | float) for _, v in values):
            found.append((node.lineno, sum(UNITS[unit] * v.value for unit, v in values)))  # type: ignore[attr-defined]
    return found


def test_no_product_wait_equals_a_simulator_duration() -> None:
    """A wait constant equal to a simulator duration would be tuned to it: every one in shared/steps differs."""
    durations = {d for d in DEFAULT_DURATIONS.values() if d > 0}  # zero is "no delay", not a duration
    scanned = {p.name: _constant_timedeltas(p) for p in sorted(STEPS.glob("*.py"))}
    assert sum(len(v) for v in scanned.values()) > 10, "the scan found the steps' waits"
    tuned = [f"{name}:{line} = {seconds:g} s" for name, items in scanned.items() for line, seconds in items]
    tuned = [t for t in tuned if float(t.rsplit("= ", 1)[1][:-2]) in durations]
    assert tuned == []
    named = [v for v in vars(waits).values() if isinstance(v, timedelta)]
    assert named
    assert not [w for w in named if w.total_seconds() in durations]


def test_the_first_look_waits_what_azure_asked_for() -> None:
    """An operation's first look comes after Azure's Retry-After, never sooner than SHORTEST; none given: OPENING."""
    assert waits.first_look(45.0) == timedelta(seconds=45)
    assert waits.first_look(1.0) == waits.SHORTEST
    assert waits.first_look(None) == waits.OPENING
    assert waits.first_look(0.0) == waits.OPENING  # "Retry-After: 0" means none was given
    assert waits.backoff(T0, T0, 45.0) == timedelta(seconds=45)


def test_a_recheck_grows_geometrically_with_the_time_waited() -> None:
    """Each later look waits GROWTH times the time already waited, so the overshoot stays a fixed fraction."""
    looks = [T0 + waits.first_look(None)]
    while looks[-1] - T0 < timedelta(minutes=20):
        looks.append(looks[-1] + waits.backoff(T0, looks[-1]))
    elapsed = [(t - T0).total_seconds() for t in looks]
    floor, ceiling = waits.SHORTEST.total_seconds(), waits.LONGEST.total_seconds()
    free = [(a, b) for a, b in itertools.pairwise(elapsed) if floor <= a * waits.GROWTH <= ceiling]
    assert len(free) > 5, "the schedule left the floor"
    assert all(b / a == pytest.approx(1 + waits.GROWTH) for a, b in free)
    assert waits.backoff(T0, T0 + timedelta(hours=5)) == waits.LONGEST
    assert waits.backoff(T0, T0 + timedelta(seconds=16)) == waits.SHORTEST


def test_a_long_operation_costs_few_reads() -> None:
    """Reads grow with the logarithm of the duration: a 30-minute operation is looked at a few dozen times."""
    looks, at = 0, T0 + waits.first_look(None)
    while at - T0 < timedelta(minutes=30):
        looks += 1
        at += waits.backoff(T0, at)
    assert looks < 40


def test_with_event_grid_the_recheck_is_a_safety_net() -> None:
    """With Event Grid and events that come at once (or none measured yet), the re-check waits well past them."""
    for lag in (None, 0.0, 5.0):
        assert waits.first_look(None, event_grid=True, event_lag=lag) == waits.EVENT_ALLOWANCE
        later = waits.backoff(T0, T0 + timedelta(minutes=3), event_grid=True, event_lag=lag)
        assert later == timedelta(minutes=3) * waits.EVENT_GROWTH > timedelta(minutes=3) * waits.GROWTH


def test_late_events_bring_the_plain_back_off_back() -> None:
    """Events measured late: the step looks on the plain back-off from a finer floor, never more than a
    sixth of their delay apart, so it sees the end about a twelfth of that delay after it instead of
    the whole delay."""
    lag = 90.0
    assert waits.first_look(None, event_grid=True, event_lag=lag) == waits.FINE
    turn = timedelta(seconds=lag * waits.LAG_SHARE / waits.GROWTH)  # from here the plain gap is longer
    early = T0 + turn - timedelta(seconds=30)
    assert waits.backoff(T0, early, event_grid=True, event_lag=lag) == (early - T0) * waits.GROWTH  # 9 s
    assert waits.backoff(T0, T0 + timedelta(seconds=10), event_grid=True, event_lag=lag) == waits.FINE
    for late in (T0 + turn + timedelta(seconds=30), T0 + timedelta(hours=2)):
        gap = waits.backoff(T0, late, event_grid=True, event_lag=lag)
        assert gap == timedelta(seconds=lag * waits.LAG_SHARE) < waits.backoff(T0, late)
    looks, at = 0, T0 + waits.first_look(None, event_grid=True, event_lag=lag)
    while at - T0 < timedelta(minutes=30):  # a 30-minute script, events 90 s late: one look per 15 s
        looks += 1
        at += waits.backoff(T0, at, event_grid=True, event_lag=lag)
    assert looks < 140
