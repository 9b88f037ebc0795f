"""An in-process bus with Service Bus semantics, for local runs and tests (no broker runs here).

What it keeps from a session-enabled Service Bus queue with duplicate detection:

- duplicate detection: a message id seen within ``duplicate_window`` (on the injected clock) of
  the first accepted send is dropped, and counted and listed, never silently lost;
- scheduled enqueue: a message with ``scheduled_for`` in the future becomes visible then;
- sessions: one session (= workload) is delivered strictly one message at a time, in order of
  visibility time then enqueue sequence; a failing message stays first in its session;
- abandon and retry: a handler exception makes the message visible again at once (behind the other
  sessions' due messages); after ``max_delivery_count`` deliveries it is dead-lettered with reason
  ``MaxDeliveryCountExceeded`` and the last exception's text;
- ``DeadLetter(reason)`` raised by a handler dead-letters the message at once;
- the dead-letter subqueue (``image-steps/$DeadLetterQueue``): when ``on_dead_letter`` is given,
  every dead-lettered message is delivered to it as Service Bus delivers that subqueue to its own
  trigger; a failing consumer gets it again, up to ``max_delivery_count`` times, after which it
  stays in ``dead_letters`` unconsumed (``unconsumed_dead_letters``).

Deterministic: no randomness and no wall-clock reads, only the injected clock. The clock must
never go backwards. State is guarded by a lock that is never held while a handler runs, so a
handler (or another thread) may send while a delivery is under way.
"""

from __future__ import annotations

import dataclasses
import heapq
import itertools
import threading
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from shared.adapters.clock import Clock
from shared.adapters.messaging import MAX_DELIVERY_COUNT_EXCEEDED, DeadLetter, DeadLetteredMessage
from shared.domain.commands import Envelope

_MAX_STALLS = 1_000
"""Rounds in a row in which run() neither delivered nor moved the clock before it calls it a runaway."""


@dataclass
class BusStats:
    """Counters of what the bus did; ``accepted + duplicates_dropped`` is everything ever sent."""

    accepted: int = 0
    scheduled: int = 0
    delivered: int = 0
    redelivered: int = 0
    completed: int = 0
    dead_lettered: int = 0
    duplicates_dropped: int = 0


@dataclass
class _Queued:
    envelope: Envelope
    seq: int
    visible_at: datetime
    delivery_count: int = 0


def _require_aware(value: datetime, what: str) -> None:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{what} must be timezone-aware (UTC), got naive {value.isoformat()}")


class LocalBus:
    """One session-enabled queue with duplicate detection, scheduled delivery and dead-lettering."""

    def __init__(
        self,
        clock: Clock,
        deliver: Callable[[Envelope], None],
        *,
        max_delivery_count: int = 10,
        duplicate_window: timedelta = timedelta(hours=1),
        lock_duration: timedelta = timedelta(minutes=5),
        on_dead_letter: Callable[[DeadLetteredMessage], None] | None = None,
    ) -> None:
        if max_delivery_count < 1:
            raise ValueError(f"max_delivery_count must be at least 1, got {max_delivery_count}")
        if duplicate_window < timedelta(0):
            raise ValueError(f"duplicate_window must not be negative, got {duplicate_window}")
        self._clock = clock
        self._deliver = deliver
        self.max_delivery_count = max_delivery_count
        self.duplicate_window = duplicate_window
        # Kept for parity with the queue's settings: a single-threaded local delivery never holds a
        # lock long enough to lose it, and an abandoned message is visible again at once.
        self.lock_duration = lock_duration
        self._lock = threading.Lock()
        self._seq = itertools.count()
        # Sent but not yet visible, or visible but not yet moved into its session: (visible_at, seq).
        self._pending: list[tuple[datetime, int, _Queued]] = []
        # Visible messages per session, in session order; the head is the one delivered next.
        self._sessions: dict[str, deque[_Queued]] = {}
        # Sessions whose head may be delivered now, by turn: (time, seq, session_id).
        self._ready: list[tuple[datetime, int, str]] = []
        # Sessions with a delivery under way (the session lock).
        self._locked: set[str] = set()
        # Duplicate detection history: message id -> when it was accepted (insertion ordered).
        self._seen: dict[str, datetime] = {}
        self._stats = BusStats()
        self._dead_letters: list[DeadLetteredMessage] = []
        self._duplicates: list[str] = []
        self._on_dead_letter = on_dead_letter
        # Dead letters waiting for the dead-letter consumer: (message, deliveries so far).
        self._dead_letter_queue: deque[tuple[DeadLetteredMessage, int]] = deque()
        self._unconsumed: list[DeadLetteredMessage] = []

    # ------------------------------------------------------------------ what tests and runners read

    @property
    def stats(self) -> BusStats:
        """A snapshot of the counters."""
        with self._lock:
            return dataclasses.replace(self._stats)

    @property
    def dead_letters(self) -> list[DeadLetteredMessage]:
        """The dead-letter queue, oldest first (a copy)."""
        with self._lock:
            return list(self._dead_letters)

    @property
    def unconsumed_dead_letters(self) -> list[DeadLetteredMessage]:
        """Dead letters the consumer failed on every delivery (a copy); they need a person."""
        with self._lock:
            return list(self._unconsumed)

    @property
    def duplicates(self) -> list[str]:
        """Message ids of every dropped duplicate, in the order they were sent (a copy)."""
        with self._lock:
            return list(self._duplicates)

    def queued_count(self) -> int:
        """Messages accepted and not yet completed or dead-lettered (including any being delivered)."""
        with self._lock:
            return len(self._pending) + sum(len(q) for q in self._sessions.values())

    # ------------------------------------------------------------------ sending

    def send(self, envelopes: Iterable[Envelope]) -> None:
        """Accept envelopes: drop duplicates within the window, schedule future ones.

        The batch is checked whole before any of it is accepted (a naive ``scheduled_for`` is refused).
        """
        batch = list(envelopes)
        for envelope in batch:
            if envelope.scheduled_for is not None:
                _require_aware(envelope.scheduled_for, f"scheduled_for of message {envelope.message_id!r}")
        with self._lock:
            now = self._now()
            self._forget_expired_ids(now)
            for envelope in batch:
                accepted_at = self._seen.get(envelope.message_id)
                if accepted_at is not None and now - accepted_at < self.duplicate_window:
                    self._stats.duplicates_dropped += 1
                    self._duplicates.append(envelope.message_id)
                    continue
                self._seen.pop(envelope.message_id, None)  # re-insert so the history stays in time order
                self._seen[envelope.message_id] = now
                visible_at = now
                if envelope.scheduled_for is not None and envelope.scheduled_for > now:
                    visible_at = envelope.scheduled_for
                    self._stats.scheduled += 1
                queued = _Queued(envelope, next(self._seq), visible_at)
                heapq.heappush(self._pending, (visible_at, queued.seq, queued))
                self._stats.accepted += 1

    # ------------------------------------------------------------------ delivering

    def next_visible(self) -> datetime | None:
        """The earliest time after now at which a queued message becomes visible, if any."""
        with self._lock:
            self._promote(self._now())
            return self._pending[0][0] if self._pending else None

    def has_due(self) -> bool:
        """Whether some message could be delivered now (its session is not busy), dead letters included."""
        with self._lock:
            self._promote(self._now())
            return bool(self._ready) or bool(self._dead_letter_queue)

    def deliver_due(self, *, limit: int | None = None) -> int:
        """Deliver every message visible now, including those sent meanwhile; return how many deliveries ran.

        Every handler invocation counts, retries included. ``limit`` caps the invocations.
        """
        count = 0
        while limit is None or count < limit:
            with self._lock:
                self._promote(self._now())
                if not self._ready and not self._dead_letter_queue:
                    return count
                dead = None if self._ready else self._dead_letter_queue.popleft()
                if dead is None:
                    session_id, message = self._take_head()
            count += 1
            if dead is not None:
                self._consume_dead_letter(*dead)
            else:
                self._deliver_one(session_id, message)
        return count

    def _take_head(self) -> tuple[str, _Queued]:
        """Lock the next ready session and count the delivery of its head (lock held)."""
        _, _, session_id = heapq.heappop(self._ready)
        self._locked.add(session_id)
        message = self._sessions[session_id][0]
        message.delivery_count += 1
        self._stats.delivered += 1
        if message.delivery_count > 1:
            self._stats.redelivered += 1
        return session_id, message

    def run(
        self,
        advance_to: Callable[[datetime], None],
        *,
        other_due: Callable[[], datetime | None] = lambda: None,
        until: datetime | None = None,
        max_deliveries: int = 1_000_000,
        max_advances: int = 1_000_000,
    ) -> None:
        """Deliver until idle: when nothing is due, advance time to the next message or ``other_due()``.

        Stops when neither a queued message nor ``other_due()`` has a next time, or when that time is
        after ``until`` (the clock is then left where it is, not moved to ``until``). ``advance_to``
        must move the clock to at least the time it is given; ``other_due`` is e.g. the simulator's
        next state change, which may emit events that send messages. Raises RuntimeError when more
        than ``max_deliveries`` deliveries or ``max_advances`` clock moves would be needed (a runaway).
        """
        if until is not None:
            _require_aware(until, "until")
        delivered = 0
        advances = 0
        stalls = 0
        while True:
            ran = self.deliver_due(limit=max_deliveries - delivered)
            delivered += ran
            if self.has_due():
                raise RuntimeError(
                    f"LocalBus.run: more than max_deliveries={max_deliveries} deliveries; messages are still due"
                    " (a runaway loop: a handler keeps sending new messages?)"
                )
            candidates = [t for t in (self.next_visible(), other_due()) if t is not None]
            if not candidates:
                return
            target = min(candidates)
            _require_aware(target, "the next due time")
            if until is not None and target > until:
                return
            if advances >= max_advances:
                raise RuntimeError(
                    f"LocalBus.run: more than max_advances={max_advances} clock advances without going idle"
                    f" (next due time {target.isoformat()}); pass until= or raise max_advances"
                )
            before = self._clock.now()
            target = max(target, before)
            advance_to(target)
            advances += 1
            after = self._clock.now()
            if after < target:
                raise RuntimeError(
                    f"LocalBus.run: advance_to({target.isoformat()}) left the clock at {after.isoformat()};"
                    " it must move the bus's clock"
                )
            stalls = stalls + 1 if ran == 0 and after == before else 0
            if stalls > _MAX_STALLS:
                raise RuntimeError(
                    f"LocalBus.run: no progress in {_MAX_STALLS} rounds: other_due() keeps returning"
                    f" {target.isoformat()} (not after now) and nothing gets delivered"
                )

    # ------------------------------------------------------------------ internals (lock held unless noted)

    def _now(self) -> datetime:
        now = self._clock.now()
        _require_aware(now, "the clock's now()")
        return now

    def _forget_expired_ids(self, now: datetime) -> None:
        while self._seen:
            message_id, accepted_at = next(iter(self._seen.items()))
            if now - accepted_at < self.duplicate_window:
                return
            del self._seen[message_id]

    def _promote(self, now: datetime) -> None:
        """Move every message visible at ``now`` into its session, in (visible_at, seq) order."""
        while self._pending and self._pending[0][0] <= now:
            visible_at, seq, message = heapq.heappop(self._pending)
            session_id = message.envelope.session_id
            session = self._sessions.setdefault(session_id, deque())
            session.append(message)
            if len(session) == 1 and session_id not in self._locked:
                heapq.heappush(self._ready, (visible_at, seq, session_id))

    def _deliver_one(self, session_id: str, message: _Queued) -> None:
        """Run the handler (lock NOT held) and settle the message: complete, abandon or dead-letter."""
        settled = False
        try:
            try:
                self._deliver(message.envelope)
            except DeadLetter as refused:
                self._settle(session_id, message, dead_letter=(refused.reason, refused.description))
            except Exception as error:
                if message.delivery_count >= self.max_delivery_count:
                    description = f"{type(error).__name__}: {error}"
                    self._settle(session_id, message, dead_letter=(MAX_DELIVERY_COUNT_EXCEEDED, description))
                else:
                    self._settle(session_id, message, abandon=True)
            else:
                self._settle(session_id, message)
            settled = True
        finally:
            if not settled:  # KeyboardInterrupt and the like: give the message back untouched
                self._settle(session_id, message, abandon=True)

    def _consume_dead_letter(self, message: DeadLetteredMessage, deliveries: int) -> None:
        """Run the dead-letter consumer (lock NOT held); on failure the message is offered again."""
        assert self._on_dead_letter is not None  # only queued when there is a consumer
        try:
            self._on_dead_letter(message)
        except Exception:
            with self._lock:
                if deliveries + 1 >= self.max_delivery_count:
                    self._unconsumed.append(message)
                else:
                    self._dead_letter_queue.append((message, deliveries + 1))
            return

    def _settle(
        self,
        session_id: str,
        message: _Queued,
        *,
        abandon: bool = False,
        dead_letter: tuple[str, str] | None = None,
    ) -> None:
        with self._lock:
            now = self._now()
            self._locked.discard(session_id)
            session = self._sessions[session_id]
            if abandon:
                # Stays first in its session; its turn comes after the other sessions' due messages.
                heapq.heappush(self._ready, (now, next(self._seq), session_id))
                return
            session.popleft()
            if dead_letter is None:
                self._stats.completed += 1
            else:
                reason, description = dead_letter
                self._stats.dead_lettered += 1
                dead = DeadLetteredMessage(message.envelope, reason, description, message.delivery_count, now)
                self._dead_letters.append(dead)
                if self._on_dead_letter is not None:
                    self._dead_letter_queue.append((dead, 0))
            if session:
                head = session[0]
                heapq.heappush(self._ready, (head.visible_at, head.seq, session_id))
            else:
                del self._sessions[session_id]
