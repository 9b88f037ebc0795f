"""Virtual clock: simulated time that only moves when someone advances it."""

from __future__ import annotations

import heapq
import itertools
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta


@dataclass(order=True)
class _Timer:
    due: datetime
    seq: int
    callback: Callable[[], None] = field(compare=False)
    cancelled: bool = field(default=False, compare=False)

    def cancel(self) -> None:
        self.cancelled = True


class VirtualClock:
    """A tz-aware UTC clock with scheduled callbacks.

    Callbacks run in due order while the clock is advanced, with ``now()`` equal to
    their due time, so effects (and the events they emit) observe the right time.
    """

    def __init__(self, start: datetime) -> None:
        if start.tzinfo is None:
            raise ValueError("start must be timezone-aware")
        self._start = start.astimezone(UTC)
        self._now = self._start
        self._heap: list[_Timer] = []
        self._seq = itertools.count()
        self._lock = threading.RLock()

    def now(self) -> datetime:
        """Current virtual time (UTC)."""
        return self._now

    def schedule(self, due: datetime, callback: Callable[[], None]) -> _Timer:
        """Run ``callback`` when the clock reaches ``due`` (at once on the next advance if past)."""
        with self._lock:
            timer = _Timer(max(due, self._now), next(self._seq), callback)
            heapq.heappush(self._heap, timer)
            return timer

    def schedule_in(self, seconds: float, callback: Callable[[], None]) -> _Timer:
        return self.schedule(self._now + timedelta(seconds=seconds), callback)

    def next_due(self) -> datetime | None:
        """Earliest virtual time at which some scheduled state change happens."""
        with self._lock:
            while self._heap and self._heap[0].cancelled:
                heapq.heappop(self._heap)
            return self._heap[0].due if self._heap else None

    def advance(self, seconds: float) -> None:
        """Move time forward by ``seconds``, running everything that falls due on the way."""
        if seconds < 0:
            raise ValueError("the clock never goes backwards")
        self.advance_to(self._now + timedelta(seconds=seconds))

    def advance_to(self, when: datetime) -> None:
        """Move time forward to ``when`` (no-op if already past), running due callbacks in order."""
        if when.tzinfo is None:
            raise ValueError("when must be timezone-aware")
        with self._lock:
            while True:
                while self._heap and self._heap[0].cancelled:
                    heapq.heappop(self._heap)
                if not self._heap or self._heap[0].due > when:
                    break
                timer = heapq.heappop(self._heap)
                if timer.due > self._now:
                    self._now = timer.due
                timer.callback()
            if when > self._now:
                self._now = when

    def run_until_idle(self, limit: timedelta = timedelta(days=30)) -> None:
        """Advance until nothing is scheduled (bounded by ``limit`` of virtual time)."""
        horizon = self._now + limit
        while (due := self.next_due()) is not None and due <= horizon:
            self.advance_to(due)

    def reset(self, start: datetime | None = None) -> None:
        with self._lock:
            self._now = (start or self._start).astimezone(UTC)
            self._heap.clear()
