"""Event Grid: ARM events for VMs and gallery image versions continue waiting steps and retention."""

from __future__ import annotations

import logging

import azure.functions as func

from shared import bootstrap

bp = func.Blueprint()
log = logging.getLogger("avdimage.events")


@bp.function_name("arm_events")
@bp.event_grid_trigger(arg_name="event")
def arm_events(event: func.EventGridEvent) -> None:
    raw = {
        "id": event.id,
        "topic": event.topic,
        "subject": event.subject,
        "eventType": event.event_type,
        "eventTime": event.event_time.isoformat() if event.event_time else None,
        "dataVersion": event.data_version,
        "data": event.get_json(),
    }
    handled = bootstrap.entrypoints().arm_event(raw)
    log.info("event %s %s: %s", event.event_type, event.subject, handled.rejected or handled.note)
