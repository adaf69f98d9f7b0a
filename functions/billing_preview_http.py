"""HTTP trigger: what a seat or term change would cost or refund, for the Dynamics subscription
form. GET /api/billing/preview?subscription=ID&quantity=N[&term=P1Y][&date=YYYY-MM-DD]. Function
key auth (the form calls it with the key); the answer comes from the run's own planner."""

from __future__ import annotations

import json

import azure.functions as func

bp = func.Blueprint()


@bp.route(route="billing/preview", methods=["GET", "POST"], auth_level=func.AuthLevel.FUNCTION)
def billing_preview(req: func.HttpRequest) -> func.HttpResponse:
    from jobs.billing import preview_change_request

    params = dict(req.params)
    if req.method == "POST" and req.get_body():
        try:
            body = json.loads(req.get_body())
        except ValueError:
            return func.HttpResponse(json.dumps({"error": "body is not JSON"}), status_code=400,
                                     mimetype="application/json")
        if not isinstance(body, dict):
            return func.HttpResponse(json.dumps({"error": "body must be a JSON object"}), status_code=400,
                                     mimetype="application/json")
        params.update({k: str(v) for k, v in body.items() if v is not None})
    status, answer = preview_change_request(params)
    return func.HttpResponse(json.dumps(answer), status_code=status, mimetype="application/json")
