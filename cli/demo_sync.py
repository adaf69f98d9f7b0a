"""The sync part of `cspbridge demo`: catalog, provider accounts, subscriptions, then a sales rep's
seat change travelling the production path (Dataverse webhook -> our HTTP function -> inbox ->
queue -> worker -> Partner Center -> result on the change log), all against the sandboxes.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from dataverse.stores.accounts import create_account
from dataverse.tables import EntitySet, MappingStatus, Provider, SubscriptionKind, SubscriptionStatus
from jobs.sync import price_sheet_rows
from shared.errors import IntegrationError
from shared.logging import get_logger
from shared.queue import PROVISIONING_QUEUE, drain, get_queue
from sync import provisioning
from sync.catalog_sync import run_catalog_sync
from sync.provider_accounts import run_provider_account_sync
from sync.subscription_sync import run_subscription_sync

STEP_SET = "sdkmessageprocessingsteps"
ENDPOINT_SET = "serviceendpoints"
logger = get_logger(__name__)

STATUS_NAMES = {1: "Awaiting", 2: "Provisioned", 3: "Failed", 4: "NotApplicable", 5: "Refused"}


def serve_webhook_function() -> Any:
    """Host the dataverse_webhook function on 127.0.0.1 (what `func start` does locally)."""
    import azure.functions as func
    from werkzeug.wrappers import Request, Response

    from functions.dataverse_webhook import dataverse_webhook
    from sandbox._server import RunningServer

    handler = dataverse_webhook.build().get_user_function()

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        request = Request(environ)
        out = handler(func.HttpRequest(request.method, request.url, headers=dict(request.headers),
                                       params=dict(request.args), body=request.get_data()))
        return Response(out.get_body(), status=out.status_code, content_type="application/json")(
            environ, start_response)

    return RunningServer(app, port=0).start()


def unregister_webhook(dv: Any, endpoint_id: str) -> int:
    """Remove a webhook registration: its SDK message processing steps, then the service endpoint
    (Dataverse keeps an endpoint that still has steps). Returns the number of steps removed."""
    steps = list(dv.list(STEP_SET, select=["sdkmessageprocessingstepid"],
                         filter=f"_eventhandler_value eq {endpoint_id}"))
    for step in steps:
        dv.delete(STEP_SET, step["sdkmessageprocessingstepid"])
    dv.delete(ENDPOINT_SET, endpoint_id)
    return len(steps)


def _ensure_mapped_accounts(dv: Any, pc: Any, wanted: int, crm_accounts: Sequence[dict[str, str]] | None = None) -> int:
    """A tenant admin's first step: CRM accounts for the provider's customers (domains make them map).
    `crm_accounts` (name, domain) are the customers the partner's CRM holds; without it the first
    `wanted` unmapped provider accounts by name (never by row id: ids are random GUIDs)."""
    if crm_accounts is not None:
        existing = {(r.get("cspb_domain") or "").lower() for r in dv.list(EntitySet.ACCOUNTS, select=["cspb_domain"])}
        created = 0
        for acct in crm_accounts:
            if acct["domain"].lower() not in existing:
                create_account(dv, acct["name"], domain=acct["domain"])
                created += 1
        return created
    unmapped = sorted((r for r in dv.list(EntitySet.PROVIDER_ACCOUNTS, select=["cspb_name", "cspb_domain",
                                                                               "cspb_mappingstatus"])
                       if r.get("cspb_mappingstatus") == MappingStatus.UNMAPPED and r.get("cspb_domain")),
                      key=lambda r: (r.get("cspb_name") or "", r["cspb_domain"]))
    for row in unmapped[:wanted]:
        create_account(dv, row["cspb_name"], domain=row["cspb_domain"])
    return min(wanted, len(unmapped))


def _pick_subscription(dv: Any, provider_subscription_id: str | None = None) -> dict[str, Any] | None:
    mapped = {r["cspb_provideraccountid"] for r in dv.list(
        EntitySet.PROVIDER_ACCOUNTS, select=["cspb_provideraccountid", "cspb_mappingstatus"])
        if r.get("cspb_mappingstatus") == MappingStatus.MAPPED}
    for row in dv.list(EntitySet.SUBSCRIPTIONS, select=["cspb_subscriptionid", "cspb_quantity", "cspb_kind",
                                                        "cspb_status", "_cspb_provideraccount_value",
                                                        "cspb_providersubscriptionid", "cspb_name"],
                       filter=f"cspb_status eq {int(SubscriptionStatus.ACTIVE)} and "
                              f"cspb_kind eq {int(SubscriptionKind.LICENSE)}", orderby="cspb_providersubscriptionid"):
        if row.get("_cspb_provideraccount_value") in mapped and row.get("cspb_providersubscriptionid"):
            if provider_subscription_id is None or \
                    row["cspb_providersubscriptionid"].lower() == provider_subscription_id.lower():
                return row
    return None


def run_demo_flow(dv: Any, pc: Any, *, dv_app: Any = None, currencies: tuple[str, ...] = ("USD", "EUR"),
                  seat_delta: int = 2, map_accounts: int = 3, crm_accounts: Sequence[dict[str, str]] | None = None,
                  rep_subscription: str | None = None, now: datetime | None = None) -> dict[str, Any]:
    """Run the four sync steps against sandbox clients and return a summary dict.

    `dv`: DataverseClient; `pc`: distributors.partnercenter_adapter.PartnerCenterAdapter;
    `dv_app`: the Dataverse sandbox app (DataverseSandbox) so its webhook can be registered to the
    function; without it the change log is handed to the worker directly (no webhook hop).
    Settings must point the function at the same Dataverse (CSPB_DATAVERSE_URL, CSPB_WEBHOOK_KEY).
    `crm_accounts`: the accounts the partner's CRM holds (see _ensure_mapped_accounts);
    `rep_subscription`: the provider subscription the rep changes (default: the first by id);
    `now`: when the rep makes the change (the demo's as-of date).
    """
    from shared.config import get_settings

    out: dict[str, Any] = {}
    accounts = run_provider_account_sync(dv, {Provider.PARTNER_CENTER: pc})
    if _ensure_mapped_accounts(dv, pc, map_accounts, crm_accounts):
        accounts = run_provider_account_sync(dv, {Provider.PARTNER_CENTER: pc})
    out["accounts"] = {"status": accounts.run["status"], "unmapped": len(accounts.unmapped),
                       "counts": accounts.run["counts"]}
    subs = run_subscription_sync(dv, {Provider.PARTNER_CENTER: pc})
    out["subscriptions"] = {"status": subs["status"], "counts": subs["counts"]}
    # After the subscriptions: the catalog brings in the products they use (plus the allow-list)
    # and gives the subscriptions it found their catalog price.
    catalog = run_catalog_sync(dv, price_sheet_rows(pc, currencies), currencies=currencies,
                               today=(now or datetime.now(UTC)).date())
    out["catalog"] = {"status": catalog.run["status"], "written": catalog.written,
                      "prices": catalog.run["counts"].get("pricesCreated", 0),
                      "subscriptionsPriced": catalog.run["counts"].get("subscriptionsPriced", 0)}

    target = _pick_subscription(dv, rep_subscription) or _pick_subscription(dv)
    now = now or datetime.now(UTC)
    if target is None:
        out["seat_change"] = {"status": "skipped", "reason": "no active license subscription on a mapped account"}
        return out
    old_q = int(target.get("cspb_quantity") or 0)
    new_q = old_q + seat_delta
    server = None
    endpoint_id: str | None = None
    queue = get_queue(PROVISIONING_QUEUE)
    try:
        if dv_app is not None:
            server = serve_webhook_function()
            endpoint_id = dv_app.register_webhook(f"{server.url}/api/webhooks/dataverse",
                                                  get_settings().webhook_key.reveal(), ["cspb_licensechangelog"],
                                                  ("Create",))
        key = f"demo-rep-{now:%Y%m%d%H%M%S%f}-{target['cspb_providersubscriptionid'][:8]}"
        log_id = dv.create(EntitySet.LICENSE_CHANGE_LOGS, {
            "cspb_changekey": key, "cspb_name": f"Rep adds {seat_delta} seats", "cspb_changetype": 2,
            "cspb_oldquantity": old_q, "cspb_newquantity": new_q, "cspb_origin": 1, "cspb_provisioningstatus": 1,
            "cspb_requestedby": "demo.rep@partner.example", "cspb_effectivedate": now.isoformat(),
            "cspb_subscription@odata.bind": f"/{EntitySet.SUBSCRIPTIONS}({target['cspb_subscriptionid']})"})
        if dv_app is not None:
            dv_app.wait_for_webhooks(timeout=15.0)
        else:
            queue.send({"entity": "cspb_licensechangelog", "recordId": log_id}, message_id=key)
        # The demo's clock is its as-of date: the change log is dated then, so it is due then.
        drained = drain(queue, lambda m: provisioning.handle_message(
            m.body, dv=dv, adapters={Provider.PARTNER_CENTER: pc}, now=now, delivery_count=m.delivery_count,
            max_attempts=queue.max_deliveries))
    finally:
        # Unregistered before the function stops: a webhook left behind would post every later
        # change log to a port nobody listens on.
        if endpoint_id is not None:
            try:
                unregister_webhook(dv, endpoint_id)
            except IntegrationError as exc:
                logger.warning("could not unregister the demo webhook %s: %s", endpoint_id, exc)
        if server is not None:
            server.stop()
    log = dv.get(EntitySet.LICENSE_CHANGE_LOGS, log_id, select=["cspb_provisioningstatus", "cspb_error"])
    account = dv.get(EntitySet.PROVIDER_ACCOUNTS, target["_cspb_provideraccount_value"], select=["cspb_externalid"])
    remote = pc.get_subscription(target["cspb_providersubscriptionid"], company_id=account["cspb_externalid"])
    out["seat_change"] = {
        "subscription": target.get("cspb_name"), "from": old_q, "to": new_q,
        "via_webhook": dv_app is not None, "messages": drained.completed,
        "status": STATUS_NAMES.get(log.get("cspb_provisioningstatus"), "?"), "error": log.get("cspb_error"),
        "partner_center_quantity": remote.quantity,
    }
    return out
