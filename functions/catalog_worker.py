"""Service Bus trigger: sync one market's price sheet into the price lists it feeds (a fan-out message).

Only RetriableError escapes: the host abandons the message and Service Bus re-delivers it,
dead-lettering after the queue's MaxDeliveryCount. A market already synced in the run is skipped."""

from __future__ import annotations

import azure.functions as func

bp = func.Blueprint()


@bp.service_bus_queue_trigger(arg_name="msg", queue_name="cspb-catalog-sync",
                              connection="CSPB_SERVICEBUS")
def catalog_worker(msg: func.ServiceBusMessage) -> None:
    from jobs.sync import catalog_market_message
    from shared.queue import decode

    _, body = decode(msg.get_body())
    catalog_market_message(body)
