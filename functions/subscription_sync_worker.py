"""Service Bus trigger: sync one provider account's subscriptions (a fan-out message).

Only RetriableError escapes: the host abandons the message and Service Bus re-delivers it,
dead-lettering after the queue's MaxDeliveryCount."""

from __future__ import annotations

import azure.functions as func

bp = func.Blueprint()


@bp.service_bus_queue_trigger(arg_name="msg", queue_name="cspb-subscription-sync",
                              connection="CSPB_SERVICEBUS")
def subscription_sync_worker(msg: func.ServiceBusMessage) -> None:
    from jobs.sync import subscription_sync_message
    from shared.queue import decode

    _, body = decode(msg.get_body())
    subscription_sync_message(body)
