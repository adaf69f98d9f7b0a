"""HTTP trigger: Dataverse posts a RemoteExecutionContext here when a change log row changes.

Anonymous at the host level on purpose: the key check (x-functions-key, the configured header
or ?code=) happens in sync.inbox (through jobs.webhooks) so a wrong key is a plain 401 we can test, not a host page.
"""

from __future__ import annotations

import json

import azure.functions as func

bp = func.Blueprint()


@bp.route(route="webhooks/dataverse", methods=["POST"], auth_level=func.AuthLevel.ANONYMOUS)
def dataverse_webhook(req: func.HttpRequest) -> func.HttpResponse:
    from jobs.webhooks import dataverse_change

    delivery = dataverse_change(req.get_body(), dict(req.headers), dict(req.params))
    return func.HttpResponse(json.dumps(delivery.body()), status_code=delivery.status,
                             headers=delivery.headers(), mimetype="application/json")
