"""Service Bus trigger: bill one batch of contracts (a fan-out message of the invoice run).

Only RetriableError escapes: the host abandons the message and Service Bus re-delivers it,
dead-lettering after the queue's MaxDeliveryCount. A re-delivered batch bills nothing twice."""

from __future__ import annotations

import logging

import azure.functions as func

from shared.errors import IntegrationError, RetriableError

bp = func.Blueprint()
log = logging.getLogger(__name__)


@bp.service_bus_queue_trigger(arg_name="msg", queue_name="cspb-billing", connection="CSPB_SERVICEBUS")
def billing_worker(msg: func.ServiceBusMessage) -> None:
    from jobs import billing_fanout
    from shared.queue import decode

    _, body = decode(msg.get_body())
    try:
        billing_fanout.handle_message(body)
    except RetriableError:
        raise
    except IntegrationError as exc:
        # Recorded on the batch's sync run row; a retry would fail the same way.
        log.error("billing batch failed: %s", exc)
