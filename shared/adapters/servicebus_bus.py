"""The production bus: envelopes sent to a session-enabled Service Bus queue with azure-servicebus.

The client is built by the caller (bootstrap), lazily: pass a factory and nothing connects until the
first send. One sender is opened on first use and reused (AMQP links are costly to open); the sync
sender is not thread-safe, so sends are serialized by a lock.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from datetime import UTC
from types import TracebackType
from typing import Any, Protocol, runtime_checkable

from azure.servicebus import ServiceBusMessage
from azure.servicebus.exceptions import MessageSizeExceededError

from shared.domain.commands import Envelope

CONTENT_TYPE = "application/json"


class MessageBatch(Protocol):
    """The part of ``ServiceBusMessageBatch`` used here."""

    def add_message(self, message: ServiceBusMessage) -> None: ...

    def __len__(self) -> int: ...


class Sender(Protocol):
    """The part of ``ServiceBusSender`` used here."""

    def create_message_batch(self) -> MessageBatch: ...

    def send_messages(self, message: MessageBatch) -> None: ...

    def close(self) -> None: ...


@runtime_checkable
class SenderSource(Protocol):
    """The part of ``ServiceBusClient`` used here."""

    def get_queue_sender(self, queue_name: str) -> Any: ...


def build_message(envelope: Envelope) -> ServiceBusMessage:
    """The Service Bus message for one envelope: id for duplicate detection, session = workload."""
    scheduled = envelope.scheduled_for
    if scheduled is not None:
        if scheduled.tzinfo is None or scheduled.utcoffset() is None:
            raise ValueError(
                f"scheduled_for of message {envelope.message_id!r} must be timezone-aware, got {scheduled.isoformat()}"
            )
        scheduled = scheduled.astimezone(UTC)
    return ServiceBusMessage(
        envelope.body,
        message_id=envelope.message_id,
        session_id=envelope.session_id,
        subject=envelope.subject,
        content_type=CONTENT_TYPE,
        application_properties={"kind": envelope.subject, "workload": envelope.session_id},
        scheduled_enqueue_time_utc=scheduled,
    )


class ServiceBusBus:
    """``Bus`` on a Service Bus queue: one batch per session, split only when a batch is full."""

    def __init__(self, client: SenderSource | Callable[[], SenderSource], queue_name: str) -> None:
        if not queue_name:
            raise ValueError("queue_name must not be empty")
        self._client_or_factory = client
        self._queue_name = queue_name
        self._sender: Sender | None = None
        self._lock = threading.Lock()

    def send(self, envelopes: Iterable[Envelope]) -> None:
        """Send every envelope; each session's messages go in order, in as few batches as fit.

        Messages are built (and checked) before anything is sent. Messages of different sessions never
        share a batch, so this also works on a partitioned queue, where a batch must be one partition.
        """
        by_session: dict[str, list[ServiceBusMessage]] = {}
        for envelope in envelopes:
            by_session.setdefault(envelope.session_id, []).append(build_message(envelope))
        if not by_session:
            return
        with self._lock:
            sender = self._get_sender()
            for messages in by_session.values():
                _send_in_batches(sender, messages)

    def close(self) -> None:
        """Close the sender if one was opened (the client belongs to the caller)."""
        with self._lock:
            if self._sender is not None:
                sender, self._sender = self._sender, None
                sender.close()

    def __enter__(self) -> ServiceBusBus:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def _get_sender(self) -> Sender:
        if self._sender is None:
            source = self._client_or_factory
            client = source if isinstance(source, SenderSource) else source()
            self._sender = client.get_queue_sender(queue_name=self._queue_name)
        return self._sender


def _send_in_batches(sender: Sender, messages: list[ServiceBusMessage]) -> None:
    batch: MessageBatch = sender.create_message_batch()
    for message in messages:
        try:
            batch.add_message(message)
        except MessageSizeExceededError:
            if len(batch) == 0:
                raise  # this one message alone is over the limit: nothing to split
            sender.send_messages(batch)
            batch = sender.create_message_batch()
            batch.add_message(message)
    if len(batch):
        sender.send_messages(batch)
