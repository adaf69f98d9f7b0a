"""HTTP trigger: Authorize.Net posts payment notifications here (X-ANET-Signature verified in the service).

Anonymous at the host level: Authorize.Net cannot send a function key; the HMAC signature is the auth."""

from __future__ import annotations

import json

import azure.functions as func

bp = func.Blueprint()


@bp.route(route="webhooks/authorizenet", methods=["POST"], auth_level=func.AuthLevel.ANONYMOUS)
def authorizenet_webhook(req: func.HttpRequest) -> func.HttpResponse:
    from jobs.webhooks import authorizenet_notification

    status, body = authorizenet_notification(req.get_body(), dict(req.headers))
    return func.HttpResponse(json.dumps(body), status_code=status, mimetype="application/json")
