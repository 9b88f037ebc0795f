"""Product waits adapt: none equals a simulator duration, and they back off from the time waited."""

from __future__ import annotations

import ast
from datetime import UTC, datetime, timedelta
from pathlib import Path

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


def test_backoff_opens_then_grows_with_the_time_waited() -> None:
    """The first look is the opening wait; later looks grow geometrically, bounded below and above."""
    first = waits.FIRST_LOOK_VM
    assert waits.backoff(T0, T0, first) == first
    assert waits.backoff(T0, T0 + first, first) == first * waits.GROWTH
    late = T0 + timedelta(hours=3)
    assert waits.backoff(T0, late, first) == waits.LONGEST
    assert waits.backoff(T0, T0 + first - timedelta(seconds=1), first) == waits.SHORTEST


def test_with_event_grid_the_recheck_is_a_safety_net() -> None:
    """With Event Grid the first re-check comes well after the operation's event would."""
    first = waits.FIRST_LOOK_SHORT
    assert waits.first_look(first, event_grid=True) > first * 2
    assert waits.backoff(T0, T0, first, event_grid=True) == waits.first_look(first, event_grid=True)
