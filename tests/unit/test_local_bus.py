"""The local bus keeps Service Bus semantics: schedules, sessions, duplicates, retries, dead letters."""

from __future__ import annotations

import json
import threading
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shared.adapters.clock import SystemClock
from shared.adapters.local_bus import LocalBus
from shared.adapters.messaging import MAX_DELIVERY_COUNT_EXCEEDED, DeadLetter
from shared.domain.commands import ContinueRun, Envelope

T0 = datetime(2026, 11, 10, 8, 0, tzinfo=UTC)
MINUTE = timedelta(minutes=1)


class FakeClock:
    """Virtual time that only moves when a test moves it."""

    def __init__(self, start: datetime = T0) -> None:
        self._now = start
        self.moves: list[datetime] = []

    def now(self) -> datetime:
        return self._now

    def advance(self, delta: timedelta) -> None:
        self.advance_to(self._now + delta)

    def advance_to(self, when: datetime) -> None:
        self.moves.append(when)
        self._now = max(self._now, when)


def env(message_id: str, session: str = "office", at: datetime | None = None, body: str = "{}") -> Envelope:
    return Envelope(message_id=message_id, session_id=session, subject="continue-run", body=body, scheduled_for=at)


class Recorder:
    """A handler that records what it got and when; ``plan`` makes chosen messages misbehave."""

    def __init__(self, clock: FakeClock) -> None:
        self.clock = clock
        self.got: list[str] = []
        self.times: list[datetime] = []
        self.plan: dict[str, Callable[[Envelope], None]] = {}

    def __call__(self, envelope: Envelope) -> None:
        self.got.append(envelope.message_id)
        self.times.append(self.clock.now())
        action = self.plan.get(envelope.message_id)
        if action is not None:
            action(envelope)


def fails(times: int, error: Exception) -> Callable[[Envelope], None]:
    remaining = [times]

    def act(_: Envelope) -> None:
        if remaining[0] > 0:
            remaining[0] -= 1
            raise error

    return act


def make_bus(**options: object) -> tuple[LocalBus, FakeClock, Recorder]:
    clock = FakeClock()
    handler = Recorder(clock)
    return LocalBus(clock, handler, **options), clock, handler  # type: ignore[arg-type]


# --------------------------------------------------------------------------- ordering and scheduling


def test_immediate_messages_are_delivered_in_send_order() -> None:
    """Messages sent for now are delivered at once, in enqueue order, and deliver_due counts them."""
    bus, _, handler = make_bus()
    bus.send([env("a", "office"), env("b", "cad"), env("c", "office")])

    assert bus.deliver_due() == 3
    assert handler.got == ["a", "b", "c"]
    assert bus.deliver_due() == 0
    assert bus.queued_count() == 0
    assert bus.stats.completed == 3


def test_scheduled_message_becomes_visible_at_its_time() -> None:
    """A message scheduled in the future is invisible until the clock reaches its time, then delivered."""
    bus, clock, handler = make_bus()
    bus.send([env("later", at=T0 + 10 * MINUTE), env("now")])

    assert bus.deliver_due() == 1
    assert handler.got == ["now"]
    assert bus.next_visible() == T0 + 10 * MINUTE
    clock.advance(9 * MINUTE)
    assert bus.deliver_due() == 0
    clock.advance(MINUTE)
    assert bus.deliver_due() == 1
    assert handler.got == ["now", "later"]
    assert handler.times[-1] == T0 + 10 * MINUTE
    assert bus.next_visible() is None
    assert bus.stats.scheduled == 1


def test_due_messages_go_by_visible_time_then_sequence() -> None:
    """When several are due at once, the earliest visible goes first, ties by enqueue sequence."""
    bus, clock, handler = make_bus()
    bus.send(
        [
            env("at5", "s1", T0 + 5 * MINUTE),
            env("at2", "s2", T0 + 2 * MINUTE),
            env("at5-second", "s3", T0 + 5 * MINUTE),
            env("now", "s4"),
        ]
    )
    clock.advance(10 * MINUTE)

    bus.deliver_due()

    assert handler.got == ["now", "at2", "at5", "at5-second"]


def test_schedule_in_the_past_is_visible_at_once() -> None:
    """A scheduled_for already past is delivered now and not counted as scheduled."""
    bus, _, handler = make_bus()
    bus.send([env("late", at=T0 - MINUTE)])

    assert bus.next_visible() is None
    assert bus.deliver_due() == 1
    assert handler.got == ["late"]
    assert bus.stats.scheduled == 0


def test_naive_schedule_is_refused_and_nothing_of_the_batch_is_accepted() -> None:
    """A naive scheduled_for raises ValueError before any envelope of the batch is queued."""
    bus, _, _ = make_bus()

    with pytest.raises(ValueError, match="timezone-aware"):
        bus.send([env("fine"), env("naive", at=datetime(2026, 11, 10, 9, 0))])

    assert bus.queued_count() == 0
    assert bus.stats.accepted == 0


# --------------------------------------------------------------------------- sessions


def test_session_messages_are_delivered_in_order_and_a_failure_stays_first() -> None:
    """A failing message keeps its place at the head of its session but lets other sessions go first."""
    bus, _, handler = make_bus()
    handler.plan["a1"] = fails(1, RuntimeError("transient"))
    bus.send([env("a1", "office"), env("a2", "office"), env("b1", "cad")])

    assert bus.deliver_due() == 4

    assert handler.got == ["a1", "b1", "a1", "a2"]
    assert bus.stats.redelivered == 1
    assert bus.stats.completed == 3
    assert bus.dead_letters == []


def test_messages_sent_during_delivery_go_to_the_back() -> None:
    """A handler's sends are queued behind every message already due, whatever their session."""
    bus, _, handler = make_bus()
    handler.plan["a1"] = lambda _: bus.send([env("a-new", "office"), env("b-new", "cad")])
    bus.send([env("a1", "office"), env("a2", "office"), env("b1", "cad")])

    assert bus.deliver_due() == 5

    assert handler.got == ["a1", "a2", "b1", "a-new", "b-new"]


def test_a_session_being_delivered_is_locked_against_other_delivery_loops() -> None:
    """While one of its messages is being handled, a session gets nothing else; other sessions proceed."""
    bus, _, handler = make_bus()
    nested: list[int] = []
    handler.plan["a1"] = lambda _: nested.append(bus.deliver_due())  # as another thread's loop would
    bus.send([env("a1", "office"), env("a2", "office"), env("b1", "cad")])

    bus.deliver_due()

    assert nested == [1]
    assert handler.got == ["a1", "b1", "a2"]


# --------------------------------------------------------------------------- duplicate detection


def test_duplicate_inside_window_is_dropped_and_counted() -> None:
    """A message id seen within the window is dropped, counted and listed, even inside one batch."""
    bus, clock, handler = make_bus(duplicate_window=timedelta(hours=1))
    bus.send([env("run-1:clone:0"), env("run-1:clone:0", body='{"again": true}')])
    bus.deliver_due()
    clock.advance(59 * MINUTE)
    bus.send([env("run-1:clone:0")])

    assert bus.deliver_due() == 0
    assert handler.got == ["run-1:clone:0"]
    assert bus.stats.duplicates_dropped == 2
    assert bus.duplicates == ["run-1:clone:0", "run-1:clone:0"]


def test_same_id_after_the_window_is_accepted_again() -> None:
    """Once the window has passed since the first send, the same id is a new message."""
    bus, clock, handler = make_bus(duplicate_window=timedelta(hours=1))
    bus.send([env("x")])
    bus.deliver_due()
    clock.advance(timedelta(hours=1))
    bus.send([env("x")])

    assert bus.deliver_due() == 1
    assert handler.got == ["x", "x"]
    assert bus.stats.duplicates_dropped == 0
    assert bus.stats.accepted == 2


def test_duplicate_window_counts_from_the_first_accepted_send_not_from_dropped_ones() -> None:
    """Dropped duplicates do not extend the window: it runs from when the id was accepted."""
    bus, clock, _ = make_bus(duplicate_window=timedelta(hours=1))
    bus.send([env("x")])
    clock.advance(50 * MINUTE)
    bus.send([env("x")])
    clock.advance(10 * MINUTE)
    bus.send([env("x")])

    assert bus.stats.duplicates_dropped == 1
    assert bus.stats.accepted == 2


def test_duplicate_of_a_scheduled_message_is_dropped() -> None:
    """Duplicate detection applies at send time, also while the original is still scheduled."""
    bus, clock, handler = make_bus()
    bus.send([env("recheck", at=T0 + 5 * MINUTE)])
    bus.send([env("recheck", at=T0 + 6 * MINUTE)])
    clock.advance(10 * MINUTE)

    bus.deliver_due()

    assert handler.got == ["recheck"]
    assert handler.times == [T0 + 10 * MINUTE]
    assert bus.duplicates == ["recheck"]


# --------------------------------------------------------------------------- failures


def test_dead_letter_raised_by_handler_dead_letters_at_once() -> None:
    """DeadLetter(reason, description) moves the message to the dead-letter queue on the first delivery."""
    bus, clock, handler = make_bus()
    clock.advance(MINUTE)

    def refuse(_: Envelope) -> None:
        raise DeadLetter("InvalidCommand", "unknown workload 'ghost'")

    handler.plan["bad"] = refuse
    bus.send([env("bad"), env("good")])

    assert bus.deliver_due() == 2

    assert handler.got == ["bad", "good"]
    [dead] = bus.dead_letters
    assert dead.envelope.message_id == "bad"
    assert dead.reason == "InvalidCommand"
    assert dead.description == "unknown workload 'ghost'"
    assert dead.delivery_count == 1
    assert dead.at == T0 + MINUTE
    assert bus.stats.dead_lettered == 1
    assert bus.stats.completed == 1


def test_retries_then_max_delivery_count_exceeded_with_the_last_error() -> None:
    """A message failing every time is delivered max_delivery_count times, then dead-lettered with the error."""
    bus, _, handler = make_bus(max_delivery_count=3)
    handler.plan["flaky"] = fails(100, TimeoutError("compute call timed out"))
    bus.send([env("flaky")])

    assert bus.deliver_due() == 3

    assert handler.got == ["flaky"] * 3
    [dead] = bus.dead_letters
    assert dead.reason == MAX_DELIVERY_COUNT_EXCEEDED == "MaxDeliveryCountExceeded"
    assert dead.description == "TimeoutError: compute call timed out"
    assert dead.delivery_count == 3
    assert bus.stats.delivered == 3
    assert bus.stats.redelivered == 2
    assert bus.queued_count() == 0


def test_message_that_recovers_before_the_limit_is_completed() -> None:
    """Failing fewer times than max_delivery_count ends in completion, not the dead-letter queue."""
    bus, _, handler = make_bus(max_delivery_count=3)
    handler.plan["flaky"] = fails(2, RuntimeError("throttled"))
    bus.send([env("flaky")])

    bus.deliver_due()

    assert handler.got == ["flaky"] * 3
    assert bus.dead_letters == []
    assert bus.stats.completed == 1


def test_session_after_a_dead_letter_continues_with_the_next_message() -> None:
    """Dead-lettering the head of a session releases the session for its next message."""
    bus, _, handler = make_bus(max_delivery_count=2)
    handler.plan["a1"] = fails(5, RuntimeError("broken"))
    bus.send([env("a1"), env("a2")])

    bus.deliver_due()

    assert handler.got == ["a1", "a1", "a2"]
    assert [d.envelope.message_id for d in bus.dead_letters] == ["a1"]


def test_invalid_settings_are_refused() -> None:
    """A max_delivery_count below one or a negative window is a configuration error."""
    clock = FakeClock()
    with pytest.raises(ValueError, match="max_delivery_count"):
        LocalBus(clock, lambda _: None, max_delivery_count=0)
    with pytest.raises(ValueError, match="duplicate_window"):
        LocalBus(clock, lambda _: None, duplicate_window=-MINUTE)


# --------------------------------------------------------------------------- run()


def test_run_advances_the_clock_to_the_next_scheduled_message() -> None:
    """run() jumps virtual time straight to each scheduled message and stops when idle."""
    bus, clock, handler = make_bus()
    bus.send([env("first", at=T0 + 30 * MINUTE), env("second", "cad", at=T0 + 90 * MINUTE)])

    bus.run(clock.advance_to)

    assert handler.got == ["first", "second"]
    assert handler.times == [T0 + 30 * MINUTE, T0 + 90 * MINUTE]
    assert clock.moves == [T0 + 30 * MINUTE, T0 + 90 * MINUTE]


def test_run_follows_recheck_chains_sent_by_handlers() -> None:
    """A handler that schedules its own re-check keeps run() going until the chain ends."""
    bus, clock, handler = make_bus()

    def recheck(envelope: Envelope) -> None:
        attempt = ContinueRun.model_validate_json(envelope.body).attempt
        if attempt < 3:
            command = ContinueRun(workload="office", run_id="run-0001", step="bitlocker", attempt=attempt + 1)
            bus.send([Envelope.wrap(command, scheduled_for=clock.now() + 5 * MINUTE)])

    for attempt in range(4):
        handler.plan[f"office:run-0001:bitlocker:{attempt}"] = recheck
    first = ContinueRun(workload="office", run_id="run-0001", step="bitlocker", attempt=0)
    bus.send([Envelope.wrap(first)])

    bus.run(clock.advance_to)

    assert handler.got == [f"office:run-0001:bitlocker:{n}" for n in range(4)]
    assert clock.now() == T0 + 15 * MINUTE


def test_run_advances_to_other_due_and_delivers_what_it_emits() -> None:
    """When no message is due, run() advances to other_due() (a simulator change) whose event sends a message."""
    bus, clock, handler = make_bus()
    changes = [T0 + 2 * MINUTE, T0 + 45 * MINUTE]

    def other_due() -> datetime | None:
        return changes[0] if changes else None

    def advance_to(when: datetime) -> None:
        clock.advance_to(when)
        while changes and changes[0] <= clock.now():
            at = changes.pop(0)
            bus.send([env(f"event@{at:%H%M}")])

    bus.run(advance_to, other_due=other_due)

    assert handler.got == ["event@0802", "event@0845"]
    assert handler.times == [T0 + 2 * MINUTE, T0 + 45 * MINUTE]
    assert clock.now() == T0 + 45 * MINUTE


def test_run_takes_the_earlier_of_next_message_and_other_due() -> None:
    """run() advances to whichever comes first: the next scheduled message or the other change."""
    bus, clock, handler = make_bus()
    bus.send([env("msg", at=T0 + 20 * MINUTE)])
    changes = [T0 + 10 * MINUTE]

    def advance_to(when: datetime) -> None:
        clock.advance_to(when)
        if changes and changes[0] <= when:
            changes.pop()

    bus.run(advance_to, other_due=lambda: changes[0] if changes else None)

    assert clock.moves == [T0 + 10 * MINUTE, T0 + 20 * MINUTE]
    assert handler.got == ["msg"]


def test_run_stops_before_anything_after_until() -> None:
    """run(until=...) delivers what falls due up to and including until, and leaves later messages queued."""
    bus, clock, handler = make_bus()
    bus.send([env("a", at=T0 + 60 * MINUTE), env("b", at=T0 + 120 * MINUTE), env("c", at=T0 + 180 * MINUTE)])

    bus.run(clock.advance_to, until=T0 + 120 * MINUTE)

    assert handler.got == ["a", "b"]
    assert clock.now() == T0 + 120 * MINUTE
    assert bus.next_visible() == T0 + 180 * MINUTE
    assert bus.queued_count() == 1


def test_run_raises_on_runaway_deliveries() -> None:
    """A handler that keeps sending new messages trips max_deliveries with a clear RuntimeError."""
    bus, clock, handler = make_bus()
    counter = iter(range(10_000))

    def forever(_: Envelope) -> None:
        n = next(counter)
        bus.send([env(f"loop-{n}")])
        handler.plan[f"loop-{n}"] = forever

    handler.plan["start"] = forever
    bus.send([env("start")])

    with pytest.raises(RuntimeError, match="max_deliveries=50"):
        bus.run(clock.advance_to, max_deliveries=50)

    assert bus.stats.delivered == 50


def test_run_with_exactly_max_deliveries_is_not_a_runaway() -> None:
    """Reaching max_deliveries and then going idle ends normally."""
    bus, clock, handler = make_bus()
    bus.send([env(f"m{n}", at=T0 + n * MINUTE) for n in range(5)])

    bus.run(clock.advance_to, max_deliveries=5)

    assert len(handler.got) == 5


def test_run_raises_when_other_due_never_ends() -> None:
    """An endless stream of other changes without until trips max_advances."""
    bus, clock, _ = make_bus()

    with pytest.raises(RuntimeError, match="max_advances=10"):
        bus.run(clock.advance_to, other_due=lambda: clock.now() + MINUTE, max_advances=10)


def test_run_raises_when_other_due_makes_no_progress() -> None:
    """other_due() stuck at now with nothing delivered is reported instead of spinning forever."""
    bus, clock, _ = make_bus()

    with pytest.raises(RuntimeError, match="no progress"):
        bus.run(clock.advance_to, other_due=clock.now)


def test_run_raises_when_advance_to_does_not_move_the_clock() -> None:
    """An advance_to that ignores the bus's clock is a wiring error, reported at once."""
    bus, _, _ = make_bus()
    bus.send([env("later", at=T0 + MINUTE)])

    with pytest.raises(RuntimeError, match="left the clock"):
        bus.run(lambda _: None)


# --------------------------------------------------------------------------- threads and clocks


def test_sends_from_other_threads_are_all_delivered_once() -> None:
    """Concurrent senders on other threads lose nothing while the bus delivers."""
    bus, _, handler = make_bus()
    barrier = threading.Barrier(4)

    def sender(prefix: str) -> None:
        barrier.wait()
        for n in range(200):
            bus.send([env(f"{prefix}-{n}", session=prefix)])

    threads = [threading.Thread(target=sender, args=(f"w{i}",)) for i in range(4)]
    for thread in threads:
        thread.start()
    while any(t.is_alive() for t in threads):
        bus.deliver_due()
    for thread in threads:
        thread.join()
    bus.deliver_due()

    assert sorted(handler.got) == sorted(f"w{i}-{n}" for i in range(4) for n in range(200))
    for i in range(4):
        in_session = [m for m in handler.got if m.startswith(f"w{i}-")]
        assert in_session == [f"w{i}-{n}" for n in range(200)]


def test_system_clock_is_timezone_aware_utc() -> None:
    """SystemClock.now() is an aware UTC datetime, as the bus requires."""
    now = SystemClock().now()
    assert now.utcoffset() == timedelta(0)


# --------------------------------------------------------------------------- property: nothing is lost

WINDOW = timedelta(minutes=30)
MAX_DELIVERIES = 3

send_spec = st.tuples(
    st.integers(0, 7),  # message id (small range: duplicates happen)
    st.sampled_from(["office", "cad", "dev"]),  # session
    st.none() | st.integers(-10, 90),  # scheduled offset in minutes from send time
    st.sampled_from(["ok", "fail1", "fail2", "fail5", "dead"]),  # handler behaviour
)
step_spec = st.tuples(st.integers(0, 40), st.lists(send_spec, max_size=4), st.booleans())


@settings(max_examples=200, deadline=None)
@given(steps=st.lists(step_spec, max_size=12))
def test_every_accepted_message_is_delivered_once_or_dead_lettered(
    steps: list[tuple[int, list[tuple[int, str, int | None, str]], bool]],
) -> None:
    """With random schedules, duplicates and failures, each accepted message completes once or is dead-lettered."""
    clock = FakeClock()
    attempts: Counter[int] = Counter()
    completed: list[int] = []
    first_delivery: dict[int, datetime] = {}
    deliveries: list[int] = []

    def handler(envelope: Envelope) -> None:
        body = json.loads(envelope.body)
        key, mode = body["send"], body["mode"]
        first_delivery.setdefault(key, clock.now())
        attempts[key] += 1
        deliveries.append(key)
        if mode == "dead":
            raise DeadLetter("Refused")
        if mode.startswith("fail") and attempts[key] <= int(mode[4:]):
            raise RuntimeError(f"failure {attempts[key]}")
        completed.append(key)

    bus = LocalBus(clock, handler, max_delivery_count=MAX_DELIVERIES, duplicate_window=WINDOW)
    accepted_at: dict[str, datetime] = {}
    expected: dict[int, tuple[str, datetime, str]] = {}  # send index -> (session, visible at, mode)
    dropped = 0
    send_index = 0
    for advance, batch, deliver_now in steps:
        clock.advance(advance * MINUTE)
        envelopes = []
        for message_no, session, offset, mode in batch:
            message_id = f"m{message_no}"
            at = None if offset is None else clock.now() + offset * MINUTE
            body = json.dumps({"send": send_index, "mode": mode})
            envelopes.append(
                Envelope(message_id=message_id, session_id=session, subject="x", body=body, scheduled_for=at)
            )
            seen = accepted_at.get(message_id)
            if seen is not None and clock.now() - seen < WINDOW:
                dropped += 1
            else:
                accepted_at[message_id] = clock.now()
                expected[send_index] = (session, max(clock.now(), at or clock.now()), mode)
            send_index += 1
        bus.send(envelopes)
        if deliver_now:
            bus.deliver_due()
    bus.run(clock.advance_to)

    dead = [json.loads(d.envelope.body)["send"] for d in bus.dead_letters]
    assert Counter(completed) + Counter(dead) == Counter(list(expected))  # each exactly once, none lost
    should_die = {k for k, (_, _, mode) in expected.items() if mode in {"dead", "fail5"}}
    assert set(dead) == should_die
    assert bus.stats.duplicates_dropped == dropped == len(bus.duplicates)
    assert bus.stats.accepted == len(expected)
    assert bus.queued_count() == 0
    for key, (_, visible_at, _) in expected.items():
        assert first_delivery[key] >= visible_at
    for session in {s for s, _, _ in expected.values()}:
        mine = [k for k in deliveries if expected[k][0] == session]
        runs = [k for i, k in enumerate(mine) if i == 0 or mine[i - 1] != k]  # one run per message: no interleaving
        assert runs == sorted(runs, key=lambda k: (expected[k][1], k))  # session FIFO by (visible, sequence)
