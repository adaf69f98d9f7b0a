"""After import: point the solution's webhook service endpoint at the function app, and make sure
the webhook steps exist.

The solution ships the endpoint with a placeholder URL and no key (no secret may travel in a
solution zip). This writes the real URL and key through the Web API, keeping the ids the solution
uses, and creates any step that is missing (an environment where the solution was not imported,
such as the sandbox). Steps that exist are left alone; their images come from the solution.
References: https://learn.microsoft.com/power-apps/developer/data-platform/register-web-hook and
the serviceendpoint / sdkmessageprocessingstep table references (authtype 4 = WebhookKey: Dataverse
appends `?code=<key>` to the URL, which an Azure Functions function key accepts).

`dv` is a dataverse.client.DataverseClient (typed loosely so solution/ does not import app code).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from shared.errors import FatalError, NotFoundError
from solution.components import ENDPOINT_ID, ENDPOINT_NAME, STEPS, Step

WEBHOOK_ROUTE = "/api/webhooks/dataverse"


@dataclass(frozen=True)
class ConnectResult:
    endpoint_id: str
    url: str
    endpoint_created: bool
    steps_created: int
    steps_present: int


def webhook_url(function_url: str) -> str:
    """Base app URL -> the webhook function's URL; a URL that already has a path is kept."""
    url = function_url.rstrip("/")
    if "://" not in url:
        raise ValueError(f"not an absolute URL: {function_url!r}")
    has_path = "/" in url.split("://", 1)[1]
    return url if has_path else url + WEBHOOK_ROUTE


def _exists(dv: Any, entity_set: str, row_id: str, id_column: str) -> bool:
    try:
        dv.get(entity_set, row_id, select=[id_column])
    except NotFoundError:
        return False
    return True


def _one_id(dv: Any, entity_set: str, id_column: str, filter: str) -> str:
    rows = list(dv.list(entity_set, select=[id_column], filter=filter, top=1))
    if not rows:
        raise FatalError(f"no {entity_set} row matches {filter}")
    return str(rows[0][id_column])


def _step_record(dv: Any, step: Step) -> dict[str, Any]:
    message_id = _one_id(dv, "sdkmessages", "sdkmessageid", f"name eq '{step.message}'")
    filter_id = _one_id(dv, "sdkmessagefilters", "sdkmessagefilterid",
                        f"primaryobjecttypecode eq '{step.entity}' and _sdkmessageid_value eq {message_id}")
    return {
        "sdkmessageprocessingstepid": step.id,
        "name": step.name,
        "description": f"Webhook to CSPBridge on {step.message} of {step.entity}",
        "stage": 40,
        "mode": 1,
        "rank": 1,
        "asyncautodelete": True,
        "supporteddeployment": 0,
        "filteringattributes": ",".join(step.filtering) or None,
        "eventhandler_serviceendpoint@odata.bind": f"/serviceendpoints({ENDPOINT_ID})",
        "sdkmessageid@odata.bind": f"/sdkmessages({message_id})",
        "sdkmessagefilterid@odata.bind": f"/sdkmessagefilters({filter_id})",
    }


def connect(dv: Any, function_url: str, key: str) -> ConnectResult:
    if not key:
        raise ValueError("the webhook key is empty; set CSPB_WEBHOOK_KEY")
    url = webhook_url(function_url)
    # connectionmode (Normal) and userclaim (None) are left at their platform defaults.
    endpoint = {
        "name": ENDPOINT_NAME,
        "description": "CSPBridge webhook (set by cspbridge solution connect)",
        "contract": 8,  # Webhook
        "authtype": 4,  # WebhookKey
        "authvalue": key,
        "url": url,
        "messageformat": 2,  # JSON
    }
    created = not _exists(dv, "serviceendpoints", ENDPOINT_ID, "serviceendpointid")
    if created:
        dv.create("serviceendpoints", {"serviceendpointid": ENDPOINT_ID, **endpoint})
    else:
        dv.update("serviceendpoints", ENDPOINT_ID, endpoint)
    made = present = 0
    for step in STEPS:
        if _exists(dv, "sdkmessageprocessingsteps", step.id, "sdkmessageprocessingstepid"):
            present += 1
            continue
        dv.create("sdkmessageprocessingsteps", _step_record(dv, step))
        made += 1
    return ConnectResult(ENDPOINT_ID, url, created, made, present)
