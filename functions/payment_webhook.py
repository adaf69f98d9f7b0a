"""HTTP trigger: Stripe posts payment events here (Stripe-Signature verified in the service).

Anonymous at the host level: Stripe cannot send a function key; the HMAC signature is the auth."""

from __future__ import annotations

import json

import azure.functions as func

bp = func.Blueprint()


@bp.route(route="webhooks/stripe", methods=["POST"], auth_level=func.AuthLevel.ANONYMOUS)
def payment_webhook(req: func.HttpRequest) -> func.HttpResponse:
    from jobs.webhooks import stripe_event

    reply = stripe_event(req.get_body(), dict(req.headers))
    return func.HttpResponse(json.dumps(reply.body), status_code=reply.status, mimetype="application/json")
