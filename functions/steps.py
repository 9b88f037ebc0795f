"""The step queue (sessions by workload): chains the pipeline, one message per step."""

from __future__ import annotations

import logging

import azure.functions as func

from shared import bootstrap
from shared.names import SERVICE_BUS_CONNECTION, STEP_QUEUE

bp = func.Blueprint()
log = logging.getLogger("avdimage.steps")


@bp.function_name("image_steps")
@bp.service_bus_queue_trigger(
    arg_name="message", queue_name=STEP_QUEUE, connection=SERVICE_BUS_CONNECTION, is_sessions_enabled=True
)
def image_steps(message: func.ServiceBusMessage) -> None:
    subject = message.subject or message.label or ""
    handled = bootstrap.entrypoints().step_message(message.message_id or "", message.get_body(), subject)
    log.info("step %s: sent %d, %s", message.message_id, len(handled.sent), handled.rejected or "ok")
