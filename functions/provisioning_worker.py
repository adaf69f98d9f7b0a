"""Service Bus trigger: provision one license change log (enqueued by the Dataverse webhook).

Only RetriableError escapes: the host abandons the message and Service Bus re-delivers it with
the same change log, so the same idempotency key goes to the provider."""

from __future__ import annotations

import azure.functions as func

bp = func.Blueprint()


@bp.service_bus_queue_trigger(arg_name="msg", queue_name="cspb-provisioning",
                              connection="CSPB_SERVICEBUS")
def provisioning_worker(msg: func.ServiceBusMessage) -> None:
    from jobs.worker import handle
    from shared import telemetry
    from shared.queue import decode

    _, body = decode(msg.get_body())
    outcome = handle(body)
    if outcome is not None and outcome.status == "Provisioned":
        telemetry.count("provisioned")
    elif outcome is not None and outcome.status == "Failed":
        telemetry.count("provisioning_failed")
