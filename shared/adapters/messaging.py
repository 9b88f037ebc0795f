"""The bus port: what handlers and entry points need from a message bus, and its dead-letter vocabulary.

Two adapters implement ``Bus``: ``LocalBus`` (in-process, Service Bus semantics on an injected
clock) and ``ServiceBusBus`` (azure-servicebus). Nothing here imports azure.*.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from shared.domain.commands import Envelope

MAX_DELIVERY_COUNT_EXCEEDED = "MaxDeliveryCountExceeded"
"""Service Bus's dead-letter reason when a message was delivered ``maxDeliveryCount`` times."""


class Bus(Protocol):
    """Sends envelopes: duplicate ids are dropped by the bus, one session per workload."""

    def send(self, envelopes: Iterable[Envelope]) -> None: ...


class DeadLetter(Exception):
    """Raised by a handler to dead-letter the message at once: retrying cannot help."""

    def __init__(self, reason: str, description: str = "") -> None:
        super().__init__(f"{reason}: {description}" if description else reason)
        self.reason = reason
        self.description = description


@dataclass(frozen=True)
class DeadLetteredMessage:
    """A message moved to the dead-letter queue, with why, after how many deliveries, and when."""

    envelope: Envelope
    reason: str
    description: str
    delivery_count: int
    at: datetime
