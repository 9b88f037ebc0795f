"""Event Grid delivery of ARM resource events (EventGrid schema or CloudEvents 1.0)."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from simulator.clock import VirtualClock
    from simulator.timing import Latency

Schema = Literal["eventgrid", "cloudevents"]
EventCallback = Callable[[list[dict[str, Any]]], None]

TENANT_ID = "11111111-1111-1111-1111-111111111111"
CALLER_OBJECT_ID = "22222222-2222-2222-2222-222222222222"


@dataclass
class _Subscription:
    callback: EventCallback
    schema: Schema


def to_cloudevent(event: dict[str, Any]) -> dict[str, Any]:
    """The CloudEvents 1.0 form of an EventGrid-schema event."""
    return {
        "specversion": "1.0",
        "id": event["id"],
        "source": event["topic"],
        "subject": event["subject"],
        "type": event["eventType"],
        "time": event["eventTime"],
        "datacontenttype": "application/json",
        "data": event["data"],
    }


class EventBus:
    """Subscribers get each batch after a delivery latency on the virtual clock (at once without one).

    Each batch draws its own latency, so events can arrive out of order, as Event Grid allows.
    ``history`` keeps every event when it is published (its ``eventTime``), delivered or not.
    """

    def __init__(self, clock: VirtualClock | None = None, latency: Latency | None = None) -> None:
        self._subscribers: list[_Subscription] = []
        self.history: list[dict[str, Any]] = []
        self.clock = clock
        self.latency = latency

    def subscribe(self, callback: EventCallback, schema: Schema = "eventgrid") -> Callable[[], None]:
        """Register ``callback``; returns a function that unsubscribes it."""
        if schema not in ("eventgrid", "cloudevents"):
            raise ValueError(f"unknown schema {schema!r}")
        sub = _Subscription(callback, schema)
        self._subscribers.append(sub)

        def unsubscribe() -> None:
            if sub in self._subscribers:
                self._subscribers.remove(sub)

        return unsubscribe

    def publish(self, events: list[dict[str, Any]]) -> None:
        self.history.extend(events)
        delay = self.latency.next() if self.latency is not None else 0.0
        if delay > 0 and self.clock is not None:
            self.clock.schedule_in(delay, lambda: self._deliver(events))
        else:
            self._deliver(events)

    def _deliver(self, events: list[dict[str, Any]]) -> None:
        for sub in list(self._subscribers):
            batch = events if sub.schema == "eventgrid" else [to_cloudevent(e) for e in events]
            sub.callback(batch)

    def clear_history(self) -> None:
        self.history.clear()

    def reset(self) -> None:
        self._subscribers.clear()
        self.history.clear()


def arm_event(
    *,
    subscription_id: str,
    resource_id: str,
    operation_name: str,
    kind: Literal["Write", "Action", "Delete"],
    succeeded: bool,
    event_time: str,
    correlation_id: str,
    http_method: str,
    url: str,
) -> dict[str, Any]:
    """One ``Microsoft.Resources.Resource{Kind}{Success|Failure}`` event in EventGrid schema."""
    provider = operation_name.split("/", 1)[0]
    status = "Succeeded" if succeeded else "Failed"
    return {
        "id": str(uuid.uuid4()),
        "topic": f"/subscriptions/{subscription_id}",
        "subject": resource_id,
        "eventType": f"Microsoft.Resources.Resource{kind}{'Success' if succeeded else 'Failure'}",
        "eventTime": event_time,
        "data": {
            "authorization": {
                "scope": resource_id,
                "action": operation_name,
                "evidence": {"role": "Contributor", "principalType": "ServicePrincipal"},
            },
            "claims": {
                "aud": "https://management.core.windows.net/",
                "http://schemas.microsoft.com/identity/claims/objectidentifier": CALLER_OBJECT_ID,
                "http://schemas.microsoft.com/identity/claims/tenantid": TENANT_ID,
            },
            "correlationId": correlation_id,
            "httpRequest": {
                "clientRequestId": correlation_id,
                "clientIpAddress": "127.0.0.1",
                "method": http_method,
                "url": url,
            },
            "resourceProvider": provider,
            "resourceUri": resource_id,
            "operationName": operation_name,
            "status": status,
            "subscriptionId": subscription_id,
            "tenantId": TENANT_ID,
        },
        "dataVersion": "2",
        "metadataVersion": "1",
    }
