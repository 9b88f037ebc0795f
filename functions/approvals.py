"""The approvals queue: approval systems promote versions and request rollbacks (docs/contracts)."""

from __future__ import annotations

import logging

import azure.functions as func

from shared import bootstrap
from shared.names import APPROVAL_QUEUE, SERVICE_BUS_CONNECTION

bp = func.Blueprint()
log = logging.getLogger("avdimage.approvals")


@bp.function_name("image_approvals")
@bp.service_bus_queue_trigger(arg_name="message", queue_name=APPROVAL_QUEUE, connection=SERVICE_BUS_CONNECTION)
def image_approvals(message: func.ServiceBusMessage) -> None:
    handled = bootstrap.entrypoints().approval(message.message_id or "", message.get_body())
    log.info("approval %s: %s", message.message_id, handled.rejected or handled.note)
