"""The step queue's dead-letter subqueue: a step message that can never run ends its run."""

from __future__ import annotations

import logging

import azure.functions as func

from shared import bootstrap
from shared.names import SERVICE_BUS_CONNECTION, STEP_QUEUE

bp = func.Blueprint()
log = logging.getLogger("avdimage.dead_letters")
DEAD_LETTER_QUEUE = f"{STEP_QUEUE}/$DeadLetterQueue"


@bp.function_name("image_steps_dead_letters")
@bp.service_bus_queue_trigger(arg_name="message", queue_name=DEAD_LETTER_QUEUE, connection=SERVICE_BUS_CONNECTION)
def image_steps_dead_letters(message: func.ServiceBusMessage) -> None:
    properties = message.application_properties or {}
    reason = str(message.dead_letter_reason or properties.get("DeadLetterReason", "") or "")
    description = str(message.dead_letter_error_description or properties.get("DeadLetterErrorDescription", "") or "")
    handled = bootstrap.entrypoints().dead_letter(message.message_id or "", message.get_body(), reason, description)
    log.warning("dead letter %s: %s", message.message_id, handled.rejected or handled.note)
