"""The Service Bus adapter builds faithful messages and sends them per session, in order, offline."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from azure.servicebus import ServiceBusMessage, ServiceBusMessageBatch
from azure.servicebus.exceptions import MessageSizeExceededError

from shared.adapters.messaging import Bus
from shared.adapters.servicebus_bus import ServiceBusBus, build_message
from shared.domain.commands import ContinueRun, Envelope

T0 = datetime(2026, 11, 10, 8, 0, tzinfo=UTC)


def env(message_id: str, session: str = "office", at: datetime | None = None, body: str = '{"k": 1}') -> Envelope:
    return Envelope(message_id=message_id, session_id=session, subject="continue-run", body=body, scheduled_for=at)


class FakeSender:
    """Captures sent batches; real ServiceBusMessageBatch objects (offline) so size limits are real."""

    def __init__(self, max_size_in_bytes: int = 256 * 1024) -> None:
        self.max_size_in_bytes = max_size_in_bytes
        self.sent: list[list[ServiceBusMessage]] = []
        self.closed = False

    def create_message_batch(self) -> ServiceBusMessageBatch:
        return ServiceBusMessageBatch(max_size_in_bytes=self.max_size_in_bytes)

    def send_messages(self, message: ServiceBusMessageBatch) -> None:
        self.sent.append(list(message._messages))

    def close(self) -> None:
        self.closed = True


class FakeClient:
    """Hands out one FakeSender per queue and remembers which queues were asked for."""

    def __init__(self, sender: FakeSender) -> None:
        self.sender = sender
        self.queues: list[str] = []

    def get_queue_sender(self, queue_name: str) -> FakeSender:
        self.queues.append(queue_name)
        return self.sender


def ids(batch: list[ServiceBusMessage]) -> list[str | None]:
    return [m.message_id for m in batch]


# --------------------------------------------------------------------------- build_message


def test_build_message_carries_every_envelope_property() -> None:
    """The message has the body, id, session, subject, JSON content type and kind/workload properties."""
    command = ContinueRun(workload="office", run_id="run-0001", step="sysprep", attempt=2)
    envelope = Envelope.wrap(command)

    message = build_message(envelope)

    assert str(message) == envelope.body
    assert b"".join(message.body) == envelope.body.encode()
    assert message.message_id == "office:run-0001:sysprep:2"
    assert message.session_id == "office"
    assert message.subject == "continue-run"
    assert message.content_type == "application/json"
    assert message.application_properties == {"kind": "continue-run", "workload": "office"}
    assert message.scheduled_enqueue_time_utc is None
    assert ContinueRun.model_validate_json(str(message)) == command


def test_build_message_schedules_in_utc() -> None:
    """scheduled_for becomes scheduled_enqueue_time_utc, converted to UTC, and rides in the AMQP annotations."""
    plus_two = timezone(timedelta(hours=2))
    envelope = env("recheck", at=datetime(2026, 11, 10, 10, 5, tzinfo=plus_two))

    message = build_message(envelope)

    assert message.scheduled_enqueue_time_utc == T0 + timedelta(minutes=5)
    assert message.scheduled_enqueue_time_utc is not None
    assert message.scheduled_enqueue_time_utc.utcoffset() == timedelta(0)
    annotations = message.raw_amqp_message.annotations or {}
    assert annotations[b"x-opt-scheduled-enqueue-time"] == T0 + timedelta(minutes=5)


def test_build_message_refuses_a_naive_schedule() -> None:
    """A naive scheduled_for is ambiguous and raises ValueError naming the message."""
    with pytest.raises(ValueError, match="'recheck' must be timezone-aware"):
        build_message(env("recheck", at=datetime(2026, 11, 10, 8, 5)))


# --------------------------------------------------------------------------- send


def test_send_uses_one_batch_per_session_in_order() -> None:
    """All of a session's messages go in one batch, in send order; sessions never share a batch."""
    sender = FakeSender()
    bus = ServiceBusBus(FakeClient(sender), "steps")

    bus.send([env("a1", "office"), env("b1", "cad"), env("a2", "office", at=T0)])

    assert [ids(batch) for batch in sender.sent] == [["a1", "a2"], ["b1"]]
    assert [m.session_id for m in sender.sent[0]] == ["office", "office"]
    assert sender.sent[0][1].scheduled_enqueue_time_utc == T0


def test_send_splits_a_session_only_when_the_batch_is_full() -> None:
    """When a batch fills up it is sent and a new one started; order within the session is kept."""
    sender = FakeSender(max_size_in_bytes=1024)
    bus = ServiceBusBus(FakeClient(sender), "steps")
    body = '{"pad": "' + "x" * 300 + '"}'

    bus.send([env(f"m{n}", body=body) for n in range(5)])

    assert len(sender.sent) > 1
    assert [i for batch in sender.sent for i in ids(batch)] == [f"m{n}" for n in range(5)]
    assert all(batch for batch in sender.sent)


def test_send_refuses_a_message_too_big_for_any_batch() -> None:
    """A single message larger than a batch raises MessageSizeExceededError instead of being dropped."""
    sender = FakeSender(max_size_in_bytes=512)
    bus = ServiceBusBus(FakeClient(sender), "steps")

    with pytest.raises(MessageSizeExceededError):
        bus.send([env("huge", body='"' + "x" * 2000 + '"')])

    assert sender.sent == []


def test_send_builds_every_message_before_sending_any() -> None:
    """A bad envelope anywhere in the call stops it before anything reaches the queue."""
    sender = FakeSender()
    bus = ServiceBusBus(FakeClient(sender), "steps")

    with pytest.raises(ValueError, match="timezone-aware"):
        bus.send([env("fine"), env("naive", "cad", at=datetime(2026, 11, 10, 8, 5))])

    assert sender.sent == []


def test_client_factory_is_called_lazily_once_and_sender_reused() -> None:
    """A factory is not called until the first send, then its one sender serves every later send."""
    sender = FakeSender()
    clients: list[FakeClient] = []

    def factory() -> FakeClient:
        clients.append(FakeClient(sender))
        return clients[-1]

    bus = ServiceBusBus(factory, "steps")
    assert clients == []

    bus.send([])
    assert clients == []
    bus.send([env("a")])
    bus.send([env("b")])

    assert len(clients) == 1
    assert clients[0].queues == ["steps"]
    assert [ids(batch) for batch in sender.sent] == [["a"], ["b"]]


def test_close_closes_the_sender_and_a_later_send_opens_a_new_one() -> None:
    """close() (or leaving the with block) closes the opened sender; the client stays the caller's."""
    sender = FakeSender()
    client = FakeClient(sender)

    with ServiceBusBus(client, "steps") as bus:
        bus.send([env("a")])
    assert sender.closed

    bus.send([env("b")])
    assert client.queues == ["steps", "steps"]


def test_close_without_a_send_opens_nothing() -> None:
    """Closing a bus that never sent does not create a sender."""
    client = FakeClient(FakeSender())
    ServiceBusBus(client, "steps").close()
    assert client.queues == []


def test_servicebus_bus_is_a_bus_and_needs_a_queue_name() -> None:
    """ServiceBusBus satisfies the Bus port; an empty queue name is refused."""
    sender = FakeSender()
    bus: Bus = ServiceBusBus(FakeClient(sender), "steps")
    bus.send(iter([env("through-the-port")]))
    assert [ids(batch) for batch in sender.sent] == [["through-the-port"]]
    with pytest.raises(ValueError, match="queue_name"):
        ServiceBusBus(FakeClient(FakeSender()), "")
