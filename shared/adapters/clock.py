"""Clocks: the only place the product reads the time, so tests and the simulator can own it."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Protocol


class Clock(Protocol):
    """Anything that tells the current time as a timezone-aware UTC datetime.

    The simulator's ``VirtualClock`` satisfies this protocol structurally.
    """

    def now(self) -> datetime: ...


class SystemClock:
    """The real wall clock, in UTC."""

    def now(self) -> datetime:
        return datetime.now(UTC)
