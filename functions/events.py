"""Event Grid: ARM events for VMs, disks, snapshots and gallery image versions continue waiting
steps and retention.

The worker hands this trigger a `func.EventGridEvent` for the Event Grid schema and a
`func.CloudEvent` for the CloudEvents v1.0 schema (azure.functions decodes by the payload's
`specversion`, whatever the annotation says); both become the same dict for the router.
"""

from __future__ import annotations

import logging
from typing import Any

import azure.functions as func

from shared import bootstrap

bp = func.Blueprint()
log = logging.getLogger("avdimage.events")


def as_dict(event: func.EventGridEvent | func.CloudEvent) -> dict[str, Any]:
    """The event in the schema it was delivered in (the router reads both)."""
    if isinstance(event, func.CloudEvent):
        return {
            "id": event.id,
            "source": event.source,
            "subject": event.subject,
            "type": event.type,
            "time": event.time.isoformat() if event.time else None,
            "specversion": event.specversion,
            "data": event.get_json(),
        }
    return {
        "id": event.id,
        "topic": event.topic,
        "subject": event.subject,
        "eventType": event.event_type,
        "eventTime": event.event_time.isoformat() if event.event_time else None,
        "dataVersion": event.data_version,
        "data": event.get_json(),
    }


@bp.function_name("arm_events")
@bp.event_grid_trigger(arg_name="event")
def arm_events(event: func.EventGridEvent) -> None:
    raw = as_dict(event)
    # Decided from the event (and the catalog's files) before any wiring: no client, record store
    # or domain is loaded.
    from shared.steps.event_sight import ignored_at_sight

    note = ignored_at_sight(raw) or bootstrap.ignored_before_wiring(raw)
    if not note:
        handled = bootstrap.entrypoints().arm_event(raw)
        note = handled.rejected or handled.note
    log.info("event %s %s: %s", raw.get("eventType", raw.get("type")), raw["subject"], note)
